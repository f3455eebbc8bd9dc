package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/obs-toolkit/obs/internal/output"
	"github.com/obs-toolkit/obs/tracing"
	"github.com/obs-toolkit/obs/tracing/view"
)

// otlpAddr is where the last startTraceServe serves --otlp-listen.
var otlpAddr string

// startTraceServe runs `obs trace serve` in process on a loopback port,
// with a second listener for OTLP.
func startTraceServe(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	done := make(chan error, 1)
	var out, errb strings.Builder
	o := &traceServeOptions{io: output.Buffer(&out, &errb), listen: "127.0.0.1:0", data: t.TempDir(),
		retention: time.Hour, maxBody: 1 << 20, maxInflight: 1 << 24, ready: func(a string) { addr <- a },
		otlpListen: "127.0.0.1:0", otlpReady: func(a string) { otlpAddr = "http://" + a }}
	go func() { done <- runTraceServe(ctx, o) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	select {
	case a := <-addr:
		return "http://" + a
	case err := <-done:
		t.Fatalf("serve exited: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not start")
	}
	return ""
}

func writeSpans(t *testing.T, spans []tracing.Span) string {
	p := filepath.Join(t.TempDir(), "spans.json")
	if err := os.WriteFile(p, tracing.EncodeJSONV2(spans), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func demoTrace(low uint64, ts int64, slow bool) []tracing.Span {
	tid := tracing.TraceID{Low: low}
	fe := &tracing.Endpoint{ServiceName: "frontend"}
	be := &tracing.Endpoint{ServiceName: "backend"}
	d := int64(20000)
	if slow {
		d = 90000
	}
	return []tracing.Span{
		{TraceID: tid, ID: 1, Kind: tracing.KindServer, Name: "get /", Timestamp: ts, Duration: d + 10000, LocalEndpoint: fe},
		{TraceID: tid, ParentID: 1, ID: 2, Kind: tracing.KindClient, Name: "get /work", Timestamp: ts + 1000, Duration: d, LocalEndpoint: fe, RemoteEndpoint: be},
		{TraceID: tid, ParentID: 1, ID: 2, Kind: tracing.KindServer, Name: "get /work", Timestamp: ts + 2000, Duration: d - 2000, Shared: true, LocalEndpoint: be,
			Tags: map[string]string{"error": "bad"}},
	}
}

func TestTraceCommands(t *testing.T) {
	base := startTraceServe(t)
	now := time.Now().UnixMicro()
	file := writeSpans(t, append(demoTrace(0xa1, now-2e6, false), demoTrace(0xb2, now-1e6, true)...))
	code, out, errs := runObs(t, "trace", "import", "--server", base, file, "--json")
	if code != 0 || !strings.Contains(out, `"spans": 6`) || !strings.Contains(out, `"traces": 2`) {
		t.Fatalf("import: %d %s %s", code, out, errs)
	}
	code, out, errs = runObs(t, "trace", "ls", "--server", base, "--json", "--since", "5m")
	var ls []traceSummary
	if code != 0 || json.Unmarshal([]byte(out), &ls) != nil || len(ls) != 2 || ls[0].TraceID != "00000000000000b2" || ls[0].Errors != 1 {
		t.Fatalf("ls: %d %s %s", code, out, errs)
	}
	code, out, _ = runObs(t, "trace", "ls", "--server", base, "--json", "--min-duration", "50ms")
	if json.Unmarshal([]byte(out), &ls) != nil || len(ls) != 1 || ls[0].TraceID != "00000000000000b2" {
		t.Fatalf("ls --min-duration: %d %s", code, out)
	}
	code, out, _ = runObs(t, "trace", "ls", "--server", base, "--service", "frontend", "--span", "get /")
	if code != 0 || strings.Count(out, "frontend: get /") != 2 {
		t.Fatalf("ls table: %s", out)
	}
	code, out, _ = runObs(t, "trace", "show", "--server", base, "b2", "--json")
	var tj view.TraceJSON
	if code != 0 || json.Unmarshal([]byte(out), &tj) != nil || len(tj.Spans) != 3 || tj.Spans[2].Depth != 2 || !tj.Spans[2].Error {
		t.Fatalf("show --json: %d %s", code, out)
	}
	code, out, _ = runObs(t, "trace", "show", "--server", base, "b2", "--tags")
	if code != 0 || !strings.Contains(out, "! backend: get /work") || !strings.Contains(out, "error=bad") {
		t.Fatalf("show: %s", out)
	}
	code, out, _ = runObs(t, "trace", "deps", "--server", base, "--json")
	if code != 0 || !strings.Contains(out, `"parent": "frontend"`) || !strings.Contains(out, `"callCount": 2`) || !strings.Contains(out, `"errorCount": 2`) {
		t.Fatalf("deps: %s", out)
	}
	code, out, _ = runObs(t, "trace", "top", "--server", base, "--json")
	var stats []view.Stat
	if code != 0 || json.Unmarshal([]byte(out), &stats) != nil || len(stats) != 3 || stats[0].Count != 2 {
		t.Fatalf("top: %s", out)
	}
	code, out, _ = runObs(t, "trace", "diff", "--server", base, "a1", "b2", "--json")
	var rows []view.DiffRow
	if code != 0 || json.Unmarshal([]byte(out), &rows) != nil || len(rows) != 3 || rows[1].Delta != 70000 {
		t.Fatalf("diff: %s", out)
	}
	exp := filepath.Join(t.TempDir(), "out.json")
	if code, _, errs := runObs(t, "trace", "export", "--server", base, "a1", "b2", "-o", exp); code != 0 {
		t.Fatalf("export: %s", errs)
	}
	b, _ := os.ReadFile(exp)
	if spans, err := tracing.DecodeJSONV2(b); err != nil || len(spans) != 6 {
		t.Fatalf("exported %d spans: %v", len(spans), err)
	}
	// The exported file works as a diff side too.
	if code, _, errs := runObs(t, "trace", "diff", "--server", base, "a1", exp); code != 0 {
		t.Fatalf("diff with file: %s", errs)
	}

	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"trace", "show", "--server", base, "ffff"}, 1, "not found"},
		{[]string{"trace", "show", "--server", base, "xyz"}, 1, "not hex"},
		{[]string{"trace", "ls", "--server", "http://127.0.0.1:1"}, 1, "cannot reach"},
		{[]string{"trace", "ls", "--since", "soon"}, 2, "bad duration"},
		{[]string{"trace", "ls", "--limit", "0"}, 2, "--limit"},
		{[]string{"trace", "import", "--server", base, "/no/such/file"}, 1, "no such file"},
		{[]string{"trace", "import", "--server", base, exp + "x"}, 1, "no such file"},
	} {
		code, _, errs := runObs(t, c.args...)
		if code != c.code || !strings.Contains(errs, c.want) || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
			t.Errorf("%v: exit %d %q; want %d with %q on one line", c.args, code, errs, c.code, c.want)
		}
	}
	// OTLP/HTTP on the second listener lands in the same store.
	body := fmt.Sprintf(`{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"otel"}}]},`+
		`"scopeSpans":[{"spans":[{"traceId":"000000000000000000000000000000c3","spanId":"0000000000000001","name":"w","kind":2,`+
		`"startTimeUnixNano":"%d","endTimeUnixNano":"%d"}]}]}]}`, now*1000, now*1000+1e6)
	resp, err := http.Post(otlpAddr+"/v1/traces", "application/json", strings.NewReader(body))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("otlp post: %v %v", err, resp)
	}
	resp.Body.Close()
	if code, out, errs := runObs(t, "trace", "show", "--server", base, "c3", "--json"); code != 0 || !strings.Contains(out, `"service": "otel"`) {
		t.Fatalf("otlp span: %d %s %s", code, out, errs)
	}

	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(`[{"traceId":"1"}]`), 0o644)
	if code, _, errs := runObs(t, "trace", "import", "--server", base, bad); code != 1 || !strings.Contains(errs, "no id") {
		t.Errorf("bad import: %d %s", code, errs)
	}
}
