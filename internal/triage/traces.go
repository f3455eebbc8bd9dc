package triage

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/obs-toolkit/obs/internal/procfs"
	"github.com/obs-toolkit/obs/tracing"
	"github.com/obs-toolkit/obs/tracing/client"
)

// TraceLine is one trace in the traces section.
type TraceLine struct {
	TraceID  string        `json:"trace_id"`
	Root     string        `json:"root"` // service and name of the earliest span
	Duration time.Duration `json:"duration_ns"`
	Spans    int           `json:"spans"`
	Error    string        `json:"error,omitempty"` // the first error tag
}

// Traces is the traces section's data.
type Traces struct {
	Server   string        `json:"server"`
	Service  string        `json:"service"`
	Lookback time.Duration `json:"lookback_ns"`
	Seen     int           `json:"traces_seen"`
	P50      time.Duration `json:"p50_ns"`
	P99      time.Duration `json:"p99_ns"`
	Slowest  []TraceLine   `json:"slowest,omitempty"`
	Errors   []TraceLine   `json:"errors,omitempty"`
}

// traceLookback is how far back the traces section looks.
const traceLookback = 15 * time.Minute

func tracesSection(ctx context.Context, e *env, s *Section) {
	if e.opts.TracesURL == "" {
		s.Status = Skipped
		s.note("no trace server given (--traces URL of a Zipkin API, e.g. obs trace serve)")
		return
	}
	c, err := client.New(e.opts.TracesURL)
	if err != nil {
		s.miss("trace server %s: %v", e.opts.TracesURL, err)
		return
	}
	svc := e.service()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	t := &Traces{Server: e.opts.TracesURL, Service: svc, Lookback: traceLookback}
	now := time.Now()
	q := tracing.Query{ServiceName: svc, EndTs: now.UnixMilli(), Lookback: traceLookback.Milliseconds(), Limit: 200}
	all, err := c.Traces(ctx, q)
	if err != nil {
		s.miss("recent traces of %q from %s: %v", svc, e.opts.TracesURL, oneLine(err))
		return
	}
	s.Data = t
	t.Seen = len(all)
	lines := make([]TraceLine, 0, len(all))
	for _, tr := range all {
		if l, ok := traceLine(tr); ok {
			lines = append(lines, l)
		}
	}
	sort.Slice(lines, func(i, j int) bool { return lines[i].Duration > lines[j].Duration })
	if n := len(lines); n > 0 {
		t.P50 = lines[n/2].Duration
		t.P99 = lines[(n-1)/100].Duration
	}
	for i, l := range lines {
		if i == 5 {
			break
		}
		t.Slowest = append(t.Slowest, l)
	}
	eq := q
	eq.AnnotationQuery = map[string]string{"error": ""}
	eq.Limit = 20
	errs, err := c.Traces(ctx, eq)
	if err != nil {
		s.miss("error traces: %v", oneLine(err))
	}
	for _, tr := range errs {
		if l, ok := traceLine(tr); ok {
			t.Errors = append(t.Errors, l)
		}
	}
	seen := fmt.Sprint(t.Seen)
	if t.Seen >= q.Limit {
		seen = fmt.Sprintf("the latest %d", t.Seen)
	}
	s.note("%s traces of %q in the last %s at %s; root duration p50 %s, p99 %s",
		seen, svc, traceLookback, e.opts.TracesURL, t.P50.Round(time.Microsecond), t.P99.Round(time.Microsecond))
	for _, l := range t.Slowest {
		s.note("  slow  %s  %10s  %3d spans  %s", l.TraceID, l.Duration.Round(time.Microsecond), l.Spans, l.Root)
	}
	if len(t.Errors) > 0 {
		s.finding("%d trace(s) with errors in the last %s", len(t.Errors), traceLookback)
	}
	for i, l := range t.Errors {
		if i == 5 {
			s.note("  ... %d more error traces in traces.json", len(t.Errors)-5)
			break
		}
		s.note("  error %s  %10s  %s: %s", l.TraceID, l.Duration.Round(time.Microsecond), l.Root, l.Error)
	}
	if t.Seen == 0 {
		s.note("no traces: is the service reporting to this server under the name %q?", svc)
	}
	var spans []tracing.Span
	pick := map[string]bool{}
	for _, l := range append(append([]TraceLine(nil), t.Slowest...), t.Errors...) {
		pick[l.TraceID] = true
	}
	for _, tr := range append(all, errs...) {
		if len(tr) > 0 && pick[tr[0].TraceID.String()] {
			spans = append(spans, tr...)
			delete(pick, tr[0].TraceID.String())
		}
	}
	if len(spans) > 0 {
		e.write(s, "traces.json", tracing.EncodeJSONV2(spans))
	}
}

// traceLine summarises one trace by its earliest span.
func traceLine(tr []tracing.Span) (TraceLine, bool) {
	if len(tr) == 0 {
		return TraceLine{}, false
	}
	root := &tr[0]
	for i := range tr {
		sp := &tr[i]
		if sp.ParentID == 0 || sp.Timestamp < root.Timestamp {
			root = sp
			if sp.ParentID == 0 {
				break
			}
		}
	}
	l := TraceLine{TraceID: root.TraceID.String(), Root: root.LocalServiceName() + " " + root.Name,
		Duration: time.Duration(root.Duration) * time.Microsecond, Spans: len(tr)}
	for i := range tr {
		if v, ok := tr[i].Tags["error"]; ok {
			l.Error = strings.TrimSpace(fmt.Sprintf("%s %s", tr[i].Name, v))
			break
		}
	}
	return l, true
}

// service is the name the service reports traces under: the option, the
// agent's name, or the process's comm.
func (e *env) service() string {
	if e.opts.Service != "" {
		return e.opts.Service
	}
	if e.agent != nil {
		if n := e.agent.c.Hello().Name; n != "" {
			return n
		}
	}
	return procfs.Comm(e.pid)
}
