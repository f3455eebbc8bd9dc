package postmortem

import (
	"encoding/xml"
	"fmt"
	"io"
	"sort"
	"strings"
	"syscall"
	"time"
)

// Summary is one core in CI mode.
type Summary struct {
	Core       string        `json:"core"`
	Exe        string        `json:"exe,omitempty"`
	Crashed    bool          `json:"crashed"`
	Reason     string        `json:"reason"` // the panic, fatal error or signal, or "no crash"
	Signal     string        `json:"signal,omitempty"`
	GoVersion  string        `json:"go_version,omitempty"`
	Goroutines int           `json:"goroutines"`
	Top        []BucketLine  `json:"top_buckets"`
	Leaked     int           `json:"leaked"`
	Suspects   int           `json:"suspects"`
	LeakWhy    []string      `json:"leak_why,omitempty"`
	Crashing   []Frame       `json:"crashing_stack,omitempty"`
	Error      string        `json:"error,omitempty"` // what could not be analysed
	Elapsed    time.Duration `json:"elapsed_ns"`
}

// BucketLine is a bucket in a summary.
type BucketLine struct {
	Count int    `json:"count"`
	State string `json:"state"`
	Top   string `json:"top"`
}

// crashSignals are the signals that mean the process died of a fault or
// an abort (a Go panic with GOTRACEBACK=crash aborts).
var crashSignals = map[int]bool{int(syscall.SIGSEGV): true, int(syscall.SIGABRT): true, int(syscall.SIGBUS): true,
	int(syscall.SIGILL): true, int(syscall.SIGFPE): true, int(syscall.SIGTRAP): true, int(syscall.SIGSYS): true,
	int(syscall.SIGQUIT): true}

// Summarize is the CI view of a core: did it crash, why, the biggest
// goroutine buckets and the leaks.
func (c *Core) Summarize() *Summary {
	start := time.Now()
	s := &Summary{Core: c.Path, Exe: c.ExePath, GoVersion: c.GoVersion(), Reason: "no crash"}
	defer func() { s.Elapsed = time.Since(start) }()
	in, err := c.Info()
	if err != nil {
		s.Error = err.Error()
		return s
	}
	if in.Signal != nil {
		s.Signal = in.Signal.Name
		if crashSignals[in.Signal.Number] {
			s.Crashed = true
			s.Reason = "signal " + in.Signal.Name
		}
	}
	if in.Panic != nil {
		s.Crashed = true
		s.Reason = in.Panic.Kind + ": " + in.Panic.Message
	}
	if in.Crashing != nil {
		s.Crashing = in.Crashing.Frames
	}
	if in.GoError != "" {
		s.Error = in.GoError
		return s
	}
	gs, err := c.Goroutines(GoroutineOptions{})
	if err != nil {
		s.Error = err.Error()
		return s
	}
	s.Goroutines = len(gs)
	for i, b := range BucketGoroutines(gs) {
		if i == 5 {
			break
		}
		st := b.Status
		if b.WaitReason != "" {
			st += ": " + b.WaitReason
		}
		s.Top = append(s.Top, BucketLine{b.Count, st, b.Top().Func})
	}
	rep, err := c.Leaks(LeakOptions{})
	if err != nil {
		s.Error = "leaks: " + err.Error()
		return s
	}
	s.Leaked, s.Suspects = rep.Leaked, len(rep.Suspects)
	for _, x := range append(rep.Certain, rep.Suspects...) {
		s.LeakWhy = append(s.LeakWhy, x.Why)
	}
	return s
}

// WriteJUnit writes one test case per core; a crashed core is a failure.
func WriteJUnit(w io.Writer, ss []*Summary) error {
	type failure struct {
		Message string `xml:"message,attr"`
		Type    string `xml:"type,attr"`
		Text    string `xml:",chardata"`
	}
	type tcase struct {
		Name      string   `xml:"name,attr"`
		Classname string   `xml:"classname,attr"`
		Time      string   `xml:"time,attr"`
		Failure   *failure `xml:"failure,omitempty"`
		SystemOut string   `xml:"system-out,omitempty"`
	}
	type suite struct {
		XMLName  xml.Name `xml:"testsuite"`
		Name     string   `xml:"name,attr"`
		Tests    int      `xml:"tests,attr"`
		Failures int      `xml:"failures,attr"`
		Cases    []tcase  `xml:"testcase"`
	}
	su := suite{Name: "obs core report", Tests: len(ss)}
	for _, s := range ss {
		tc := tcase{Name: s.Core, Classname: "core", Time: fmt.Sprintf("%.3f", s.Elapsed.Seconds()), SystemOut: summaryText(s)}
		if s.Crashed {
			su.Failures++
			tc.Failure = &failure{Message: s.Reason, Type: "crash", Text: stackText(s.Crashing)}
		}
		su.Cases = append(su.Cases, tc)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(su); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func stackText(fr []Frame) string {
	var b strings.Builder
	for _, f := range fr {
		fmt.Fprintf(&b, "%s\n    %s:%d\n", f.Func, f.File, f.Line)
	}
	return b.String()
}

func summaryText(s *Summary) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s; %d goroutines, %d leaked, %d suspect buckets\n", s.Core, s.Reason, s.Goroutines, s.Leaked, s.Suspects)
	for _, t := range s.Top {
		fmt.Fprintf(&b, "  %5d  %s  %s\n", t.Count, t.State, t.Top)
	}
	for _, w := range s.LeakWhy {
		fmt.Fprintf(&b, "  - %s\n", w)
	}
	if s.Error != "" {
		fmt.Fprintf(&b, "  not analysed: %s\n", s.Error)
	}
	return b.String()
}

// WriteMarkdown writes a section per core.
func WriteMarkdown(w io.Writer, ss []*Summary) error {
	var b strings.Builder
	crashed := 0
	for _, s := range ss {
		if s.Crashed {
			crashed++
		}
	}
	fmt.Fprintf(&b, "# Core report\n\n%d core(s), %d crashed.\n", len(ss), crashed)
	for _, s := range ss {
		status := "ok"
		if s.Crashed {
			status = "CRASHED"
		}
		fmt.Fprintf(&b, "\n## %s: %s\n\n", mdEscape(s.Core), status)
		fmt.Fprintf(&b, "- reason: %s\n", mdEscape(s.Reason))
		if s.GoVersion != "" {
			fmt.Fprintf(&b, "- go: %s\n", s.GoVersion)
		}
		fmt.Fprintf(&b, "- goroutines: %d, leaked for certain: %d, suspect buckets: %d\n", s.Goroutines, s.Leaked, s.Suspects)
		if s.Error != "" {
			fmt.Fprintf(&b, "- not analysed: %s\n", mdEscape(s.Error))
		}
		if len(s.Crashing) > 0 {
			fmt.Fprintf(&b, "\n```\n%s```\n", stackText(s.Crashing))
		}
		if len(s.Top) > 0 {
			fmt.Fprintf(&b, "\n| count | state | top |\n|---:|---|---|\n")
			for _, t := range s.Top {
				fmt.Fprintf(&b, "| %d | %s | `%s` |\n", t.Count, mdEscape(t.State), t.Top)
			}
		}
		for _, why := range s.LeakWhy {
			fmt.Fprintf(&b, "\n> %s\n", mdEscape(why))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func mdEscape(s string) string {
	return strings.NewReplacer("|", `\|`, "<", "&lt;", ">", "&gt;").Replace(s)
}

// Diff is the growth between two cores of the same program.
type Diff struct {
	Old, New   string     `json:"-"`
	SameBinary bool       `json:"same_binary"`
	Goroutines [2]int     `json:"goroutines"`
	Buckets    []DiffLine `json:"buckets"`
	Types      []DiffLine `json:"types"`
	Sites      []DiffLine `json:"sites"`
	Warnings   []string   `json:"warnings,omitempty"`
}

// DiffLine is one key's figures in both cores.
type DiffLine struct {
	Key      string `json:"key"`
	Old      int64  `json:"old"`
	New      int64  `json:"new"`
	Delta    int64  `json:"delta"`
	OldBytes int64  `json:"old_bytes,omitempty"`
	NewBytes int64  `json:"new_bytes,omitempty"`
}

// DiffCores compares goroutine buckets (by stack and state), census
// types and heap-profile allocation sites (in-use) between two cores.
func DiffCores(old, cur *Core) (_ *Diff, err error) {
	defer guard(&err, "diff")
	d := &Diff{Old: old.Path, New: cur.Path}
	d.SameBinary = old.Build != nil && cur.Build != nil && old.Build.String() == cur.Build.String()
	if !d.SameBinary {
		d.Warnings = append(d.Warnings, "the cores come from different builds: keys may not line up")
	}
	bucketCounts := func(c *Core) (map[string]int64, int, error) {
		gs, err := c.Goroutines(GoroutineOptions{})
		if err != nil {
			return nil, 0, err
		}
		m := map[string]int64{}
		for _, b := range BucketGoroutines(gs) {
			st := b.Status
			if b.WaitReason != "" {
				st += ": " + b.WaitReason
			}
			top := b.Top()
			m[fmt.Sprintf("%s [%s] %s:%d", top.Func, st, shortPath(top.File), top.Line)] += int64(b.Count)
		}
		return m, len(gs), nil
	}
	ob, on, err := bucketCounts(old)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", old.Path, err)
	}
	nb, nn, err := bucketCounts(cur)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cur.Path, err)
	}
	d.Goroutines = [2]int{on, nn}
	d.Buckets = diffMaps(ob, nb, nil, nil)
	oc, err1 := old.Census()
	nc, err2 := cur.Census()
	if err1 == nil && err2 == nil {
		oo, ob2, no, nb2 := map[string]int64{}, map[string]int64{}, map[string]int64{}, map[string]int64{}
		for _, t := range oc.Types {
			oo[t.Type], ob2[t.Type] = t.Objects, t.Bytes
		}
		for _, t := range nc.Types {
			no[t.Type], nb2[t.Type] = t.Objects, t.Bytes
		}
		d.Types = diffMaps(oo, no, ob2, nb2)
	} else {
		d.Warnings = append(d.Warnings, fmt.Sprintf("census unavailable: %v %v", err1, err2))
	}
	op, err1 := old.HeapProfile()
	np, err2 := cur.HeapProfile()
	if err1 == nil && err2 == nil {
		sites := func(p *HeapProfile) (map[string]int64, map[string]int64) {
			objs, bytes := map[string]int64{}, map[string]int64{}
			for _, s := range p.Sites {
				f := s.Site()
				k := fmt.Sprintf("%s %s:%d", f.Func, shortPath(f.File), f.Line)
				objs[k] += s.InUseObjects
				bytes[k] += s.InUseBytes
			}
			return objs, bytes
		}
		oo, ob2 := sites(op)
		no, nb2 := sites(np)
		d.Sites = diffMaps(oo, no, ob2, nb2)
	} else {
		d.Warnings = append(d.Warnings, fmt.Sprintf("heap profile unavailable: %v %v", err1, err2))
	}
	return d, nil
}

func diffMaps(o, n, ob, nb map[string]int64) []DiffLine {
	keys := map[string]bool{}
	for k := range o {
		keys[k] = true
	}
	for k := range n {
		keys[k] = true
	}
	var out []DiffLine
	for k := range keys {
		l := DiffLine{Key: k, Old: o[k], New: n[k], Delta: n[k] - o[k]}
		if ob != nil {
			l.OldBytes, l.NewBytes = ob[k], nb[k]
		}
		if l.Delta == 0 && l.OldBytes == l.NewBytes {
			continue
		}
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool {
		di, dj := abs(out[i].Delta), abs(out[j].Delta)
		if ob != nil {
			di, dj = abs(out[i].NewBytes-out[i].OldBytes), abs(out[j].NewBytes-out[j].OldBytes)
		}
		if di != dj {
			return di > dj
		}
		return out[i].Key < out[j].Key
	})
	return out
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}
