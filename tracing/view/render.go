package view

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// Style says how to draw: width in columns, colour escapes allowed, tags
// listed under each span.
type Style struct {
	Width int
	Color bool
	Tags  bool
}

const (
	cRed  = "\x1b[31m"
	cYel  = "\x1b[33m"
	cBold = "\x1b[1m"
	cDim  = "\x1b[2m"
	cOff  = "\x1b[0m"
)

// FormatDuration prints microseconds the way Lens does: µs under 1ms,
// then ms and s with up to three significant decimals.
func FormatDuration(us int64) string {
	switch {
	case us < 1000:
		return fmt.Sprintf("%dµs", us)
	case us < 1000000:
		return trimFloat(float64(us)/1000) + "ms"
	default:
		return trimFloat(float64(us)/1e6) + "s"
	}
}

func trimFloat(f float64) string {
	s := fmt.Sprintf("%.3f", f)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

func label(n *Node) string {
	svc := n.Span.LocalServiceName()
	if svc == "" {
		svc = "unknown"
	}
	name := n.Span.Name
	if name == "" {
		name = "unknown"
	}
	return svc + ": " + name
}

func runeLen(s string) int { return utf8.RuneCountInString(s) }

func clipRunes(s string, n int) string {
	if runeLen(s) <= n {
		return s
	}
	if n <= 1 {
		return "…"
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// Waterfall writes the trace as an indented tree with one bar per span on a
// shared time axis. Critical-path bars are solid (bold with colour),
// others light; "!" marks errors; "~" marks spans moved for clock skew.
func Waterfall(w io.Writer, t *Tree, st Style) {
	width := st.Width
	if width <= 0 {
		width = 120
	}
	if width < 60 {
		width = 60
	}
	total := t.End - t.Start
	services := map[string]bool{}
	errs := 0
	for _, n := range t.Nodes {
		services[n.Span.LocalServiceName()] = true
		if n.Span.IsError() {
			errs++
		}
	}
	if len(t.Nodes) > 0 {
		parts := []string{"trace " + t.Nodes[0].Span.TraceID.String(), FormatDuration(total),
			fmt.Sprintf("%d spans", len(t.Nodes)), fmt.Sprintf("%d services", len(services))}
		if errs > 0 {
			parts = append(parts, fmt.Sprintf("%d errors", errs))
		}
		if t.Start > 0 {
			parts = append(parts, time.UnixMicro(t.Start).UTC().Format("2006-01-02 15:04:05.000Z"))
		}
		line := ""
		for _, p := range parts {
			if line != "" && runeLen(line)+2+runeLen(p) > width {
				fmt.Fprintln(w, line)
				line = ""
			}
			if line != "" {
				line += "  "
			}
			line += p
		}
		fmt.Fprintln(w, line)
	}
	labelW := 0
	for _, n := range t.Nodes {
		if l := 2*n.Depth + 2 + runeLen(label(n)); l > labelW {
			labelW = l
		}
	}
	maxLabel := width * 45 / 100
	if labelW > maxLabel {
		labelW = maxLabel
	}
	const numW = 9
	barW := width - labelW - 2*numW - 4
	if barW < 10 {
		barW = 10
	}
	fmt.Fprintf(w, "%-*s %*s %*s  %s\n", labelW, "SPAN", numW, "DURATION", numW, "SELF", "0"+strings.Repeat(" ", max(0, barW-1-len(FormatDuration(total))))+FormatDuration(total))
	for _, n := range t.Nodes {
		mark := "  "
		if n.Span.IsError() {
			mark = "! "
		} else if n.Skew != 0 {
			mark = "~ "
		}
		lb := clipRunes(strings.Repeat("  ", n.Depth)+mark+label(n), labelW)
		pad := labelW - runeLen(lb)
		if st.Color && n.Span.IsError() {
			lb = cRed + lb + cOff
		} else if st.Color && n.Critical {
			lb = cBold + lb + cOff
		}
		dur := "-"
		if n.Span.Duration > 0 {
			dur = FormatDuration(n.Span.Duration)
		}
		self := ""
		if n.Span.Duration > 0 {
			self = FormatDuration(n.Self)
		}
		fmt.Fprintf(w, "%s%s %*s %*s  %s\n", lb, strings.Repeat(" ", pad), numW, dur, numW, self, bar(n, t, barW, st.Color))
		if st.Tags {
			writeTags(w, n, labelW, st)
		}
	}
}

func bar(n *Node, t *Tree, w int, color bool) string {
	total := t.End - t.Start
	if total <= 0 || n.Span.Timestamp == 0 {
		return ""
	}
	off := int(float64(n.Span.Timestamp-t.Start) / float64(total) * float64(w))
	l := int(math.Round(float64(n.Span.Duration) / float64(total) * float64(w)))
	if l < 1 {
		l = 1
	}
	if off >= w {
		off = w - 1
	}
	if off+l > w {
		l = w - off
	}
	ch := "░"
	if n.Critical {
		ch = "█"
	}
	b := strings.Repeat(" ", off) + strings.Repeat(ch, l)
	if color {
		switch {
		case n.Span.IsError():
			b = strings.Repeat(" ", off) + cRed + strings.Repeat(ch, l) + cOff
		case n.Critical:
			b = strings.Repeat(" ", off) + cYel + strings.Repeat(ch, l) + cOff
		}
	}
	return b
}

func writeTags(w io.Writer, n *Node, indent int, st Style) {
	pre := strings.Repeat(" ", 2*n.Depth+4)
	line := func(s string) {
		if st.Color {
			s = cDim + s + cOff
		}
		fmt.Fprintln(w, pre+s)
	}
	s := n.Span
	line(fmt.Sprintf("id=%s kind=%s", s.ID, orDash(s.Kind.String())))
	if r := s.RemoteEndpoint; r != nil {
		addr := r.ServiceName
		if r.IPv4.IsValid() {
			addr += " " + r.IPv4.String()
		} else if r.IPv6.IsValid() {
			addr += " " + r.IPv6.String()
		}
		if r.Port != 0 {
			addr += fmt.Sprintf(":%d", r.Port)
		}
		line("remote=" + strings.TrimSpace(addr))
	}
	for _, k := range s.SortedTagKeys() {
		line(k + "=" + s.Tags[k])
	}
	for _, a := range s.Annotations {
		line(fmt.Sprintf("@+%s %s", FormatDuration(a.Timestamp-s.Timestamp), a.Value))
	}
	if n.Skew != 0 {
		line(fmt.Sprintf("clock skew corrected by %s", FormatDuration(abs(n.Skew))))
	}
	_ = indent
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// SpanJSON is one span of `obs trace show --json`.
type SpanJSON struct {
	ID         string            `json:"id"`
	ParentID   string            `json:"parentId,omitempty"`
	Service    string            `json:"service"`
	Name       string            `json:"name"`
	Kind       string            `json:"kind,omitempty"`
	Depth      int               `json:"depth"`
	Timestamp  int64             `json:"timestamp"`
	Offset     int64             `json:"offset"`
	Duration   int64             `json:"duration"`
	Self       int64             `json:"self"`
	Error      bool              `json:"error"`
	Critical   bool              `json:"critical"`
	SkewFixed  int64             `json:"skewCorrection,omitempty"`
	Remote     string            `json:"remoteService,omitempty"`
	Tags       map[string]string `json:"tags,omitempty"`
	Annotation []string          `json:"annotations,omitempty"`
}

// TraceJSON is `obs trace show --json`.
type TraceJSON struct {
	TraceID  string     `json:"traceId"`
	Start    int64      `json:"start"`
	Duration int64      `json:"duration"`
	Services []string   `json:"services"`
	Spans    []SpanJSON `json:"spans"`
}

// JSON describes the tree for scripts; times are microseconds.
func JSON(t *Tree) TraceJSON {
	out := TraceJSON{Start: t.Start, Duration: t.End - t.Start, Services: []string{}, Spans: []SpanJSON{}}
	svcs := map[string]bool{}
	for _, n := range t.Nodes {
		s := n.Span
		out.TraceID = s.TraceID.String()
		j := SpanJSON{ID: s.ID.String(), Service: s.LocalServiceName(), Name: s.Name, Kind: s.Kind.String(), Depth: n.Depth,
			Timestamp: s.Timestamp, Duration: s.Duration, Self: n.Self, Error: s.IsError(), Critical: n.Critical,
			SkewFixed: n.Skew, Remote: s.RemoteServiceName(), Tags: s.Tags}
		if s.Timestamp != 0 {
			j.Offset = s.Timestamp - t.Start
		}
		if s.ParentID != 0 {
			j.ParentID = s.ParentID.String()
		}
		for _, a := range s.Annotations {
			j.Annotation = append(j.Annotation, a.Value)
		}
		if !svcs[j.Service] && j.Service != "" {
			svcs[j.Service] = true
			out.Services = append(out.Services, j.Service)
		}
		out.Spans = append(out.Spans, j)
	}
	sort.Strings(out.Services)
	return out
}
