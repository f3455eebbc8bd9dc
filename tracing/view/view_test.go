package view

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/obs-toolkit/obs/tracing"
)

func ep(s string) *tracing.Endpoint { return &tracing.Endpoint{ServiceName: s} }

// A frontend server span calling a backend whose clock runs 18ms early,
// which queries a database; and a local render step.
func skewedTrace() []tracing.Span {
	tid := tracing.TraceID{Low: 0xabc}
	return []tracing.Span{
		{TraceID: tid, ID: 1, Kind: tracing.KindServer, Name: "get /checkout", Timestamp: 1000000, Duration: 120000, LocalEndpoint: ep("frontend")},
		{TraceID: tid, ParentID: 1, ID: 2, Kind: tracing.KindClient, Name: "get /price", Timestamp: 1010000, Duration: 60000, LocalEndpoint: ep("frontend"), RemoteEndpoint: ep("backend")},
		{TraceID: tid, ParentID: 1, ID: 2, Kind: tracing.KindServer, Name: "get /price", Timestamp: 1002000, Duration: 40000, Shared: true, LocalEndpoint: ep("backend"), Tags: map[string]string{"error": "boom"}},
		{TraceID: tid, ParentID: 2, ID: 3, Kind: tracing.KindClient, Name: "select", Timestamp: 1005000, Duration: 30000, LocalEndpoint: ep("backend"), RemoteEndpoint: ep("postgres")},
		{TraceID: tid, ParentID: 1, ID: 4, Name: "render", Timestamp: 1075000, Duration: 40000, LocalEndpoint: ep("frontend")},
		{TraceID: tid, ParentID: 1, ID: 5, Name: "log", Timestamp: 1030000, Duration: 5000, LocalEndpoint: ep("frontend")},
	}
}

func find(t *Tree, svc, name string) *Node {
	for _, n := range t.Nodes {
		if n.Span.LocalServiceName() == svc && n.Span.Name == name {
			return n
		}
	}
	return nil
}

func TestTreeSkewSelfCritical(t *testing.T) {
	tr := Build(skewedTrace())
	if len(tr.Roots) != 1 || len(tr.Nodes) != 6 {
		t.Fatalf("roots %d nodes %d", len(tr.Roots), len(tr.Nodes))
	}
	client := find(tr, "frontend", "get /price")
	server := find(tr, "backend", "get /price")
	query := find(tr, "backend", "select")
	if server.Parent != client || query.Parent != server {
		t.Fatalf("shared server span not under its client, or child not under the server")
	}
	// Centred in the client: (60-40)/2 = 10ms after the client's start.
	if server.Span.Timestamp != 1020000 || server.Skew != 18000 || query.Span.Timestamp != 1023000 {
		t.Fatalf("skew: server at %d (skew %d), query at %d", server.Span.Timestamp, server.Skew, query.Span.Timestamp)
	}
	root := tr.Roots[0]
	// Root 120ms minus children [10,70] [75,115] (log [30,35] is inside).
	if root.Self != 20000 {
		t.Fatalf("root self %d", root.Self)
	}
	if client.Self != 20000 || server.Self != 10000 {
		t.Fatalf("self: client %d server %d", client.Self, server.Self)
	}
	if !root.Critical || !find(tr, "frontend", "render").Critical || !client.Critical || !server.Critical || !query.Critical {
		t.Fatal("critical path misses a span")
	}
	if find(tr, "frontend", "log").Critical {
		t.Fatal("log runs in parallel with get /price and is not critical")
	}
}

func TestWaterfallFitsWidth(t *testing.T) {
	tr := Build(skewedTrace())
	for _, w := range []int{60, 80, 150} {
		var b bytes.Buffer
		Waterfall(&b, tr, Style{Width: w, Tags: true})
		out := b.String()
		for _, l := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
			if n := utf8.RuneCountInString(l); n > w {
				t.Errorf("width %d: line of %d: %q", w, n, l)
			}
		}
		if !strings.Contains(out, "! backend: get /price") || !strings.Contains(out, "error=boom") || !strings.Contains(out, "clock skew corrected by 18ms") {
			t.Errorf("width %d: missing marks:\n%s", w, out)
		}
	}
	var b bytes.Buffer
	Waterfall(&b, tr, Style{Width: 100})
	lines := strings.Split(b.String(), "\n")
	// The log span is not critical: light bar.
	for _, l := range lines {
		if strings.Contains(l, "frontend: log") && (!strings.Contains(l, "░") || strings.Contains(l, "█")) {
			t.Errorf("non-critical bar: %q", l)
		}
		if strings.Contains(l, "frontend: render") && !strings.Contains(l, "█") {
			t.Errorf("critical bar: %q", l)
		}
	}
}

func TestTopAndDiff(t *testing.T) {
	a := skewedTrace()
	b := skewedTrace()
	b[4].Duration = 80000 // render slower
	b = append(b, tracing.Span{TraceID: b[0].TraceID, ParentID: 1, ID: 9, Name: "cache", Timestamp: 1001000, Duration: 100, LocalEndpoint: ep("frontend")})
	rows := Diff(Build(a), Build(b))
	var render, cache *DiffRow
	for i := range rows {
		switch rows[i].Path {
		case "frontend: get /checkout > frontend: render":
			render = &rows[i]
		case "frontend: get /checkout > frontend: cache":
			cache = &rows[i]
		}
	}
	if render == nil || render.Delta != 40000 || cache == nil || cache.A != -1 || cache.B != 100 {
		t.Fatalf("diff rows %+v", rows)
	}
	stats := Top([][]tracing.Span{a, b})
	if stats[0].Service != "frontend" || stats[0].Name != "get /checkout" || stats[0].Count != 2 {
		t.Fatalf("top %+v", stats[0])
	}
	for _, s := range stats {
		if s.Name == "render" && (s.P50 != 40000 || s.P99 != 80000 || s.Max != 80000) {
			t.Fatalf("render stat %+v", s)
		}
		if s.Service == "backend" && s.Name == "get /price" && s.Errors != 2 {
			t.Fatalf("errors %+v", s)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	for us, want := range map[int64]string{0: "0µs", 999: "999µs", 1000: "1ms", 1500: "1.5ms", 123456: "123.456ms", 2500000: "2.5s"} {
		if got := FormatDuration(us); got != want {
			t.Errorf("%d: %s want %s", us, got, want)
		}
	}
}

// Any decodable trace builds and renders: cycles, orphans, missing times.
func FuzzBuild(f *testing.F) {
	f.Add(tracing.EncodeJSONV2(skewedTrace()))
	f.Add([]byte(`[{"traceId":"1","id":"1","parentId":"2"},{"traceId":"1","id":"2","parentId":"1","kind":"SERVER","shared":true},{"traceId":"1","id":"2","kind":"CLIENT","timestamp":5}]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		spans, err := tracing.DecodeJSONV2(b)
		if err != nil || len(spans) > 200 {
			return
		}
		tr := Build(spans)
		if len(tr.Nodes) != len(tracing.MergeTrace(spans)) {
			t.Fatalf("%d nodes for %d spans", len(tr.Nodes), len(spans))
		}
		var out bytes.Buffer
		Waterfall(&out, tr, Style{Width: 80, Tags: true})
		JSON(tr)
		Diff(tr, tr)
	})
}
