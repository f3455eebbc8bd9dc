package server

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	zipkin "github.com/openzipkin/zipkin-go"
	"github.com/openzipkin/zipkin-go/model"
	zhttp "github.com/openzipkin/zipkin-go/reporter/http"

	"github.com/obs-toolkit/obs/tracing"
	"github.com/obs-toolkit/obs/tracing/store"
)

// start runs a server on a loopback port over a store in dir.
func start(t *testing.T, dir string, cfg Config) (string, *store.Store) {
	t.Helper()
	st, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { New(st, cfg).Serve(ctx, ln); close(done) }()
	t.Cleanup(func() { cancel(); <-done; st.Close() })
	return "http://" + ln.Addr().String(), st
}

func get(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	code, b := get(t, url)
	if code != 200 {
		t.Fatalf("GET %s: %d %s", url, code, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %v: %s", url, err, b)
	}
}

func post(t *testing.T, url, ctype, enc string, body []byte) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if enc != "" {
		req.Header.Set("Content-Encoding", enc)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestZipkinGoReporter sends spans with the real zipkin-go tracer and HTTP
// reporter, then reads them back through the query API.
func TestZipkinGoReporter(t *testing.T) {
	base, _ := start(t, t.TempDir(), Config{})
	rep := zhttp.NewReporter(base+"/api/v2/spans", zhttp.BatchInterval(50*time.Millisecond))
	fe, _ := zipkin.NewEndpoint("Frontend", "127.0.0.1:8080")
	tr, err := zipkin.NewTracer(rep, zipkin.WithLocalEndpoint(fe), zipkin.WithTraceID128Bit(true))
	if err != nil {
		t.Fatal(err)
	}
	root := tr.StartSpan("GET /checkout", zipkin.Kind(model.Server))
	root.Tag("http.path", "/checkout")
	child := tr.StartSpan("query", zipkin.Kind(model.Client), zipkin.Parent(root.Context()),
		zipkin.RemoteEndpoint(&model.Endpoint{ServiceName: "postgres", Port: 5432}))
	child.Tag("error", "timeout")
	child.Annotate(time.Now(), "retry")
	time.Sleep(2 * time.Millisecond)
	child.Finish()
	root.Finish()
	if err := rep.Close(); err != nil {
		t.Fatal(err)
	}
	tid := root.Context().TraceID.String()

	var spans []map[string]any
	getJSON(t, base+"/api/v2/trace/"+tid, &spans)
	if len(spans) != 2 {
		t.Fatalf("trace %s has %d spans, want 2", tid, len(spans))
	}
	if spans[0]["name"] != "get /checkout" || spans[0]["kind"] != "SERVER" || spans[0]["traceId"] != tid {
		t.Fatalf("root span: %v", spans[0])
	}
	if spans[1]["parentId"] != root.Context().ID.String() {
		t.Fatalf("child parent: %v", spans[1])
	}
	var names []string
	getJSON(t, base+"/api/v2/services", &names)
	if fmt.Sprint(names) != "[frontend]" {
		t.Fatalf("services %v", names)
	}
	getJSON(t, base+"/api/v2/spans?serviceName=frontend", &names)
	if fmt.Sprint(names) != "[get /checkout query]" {
		t.Fatalf("span names %v", names)
	}
	getJSON(t, base+"/api/v2/remoteServices?serviceName=frontend", &names)
	if fmt.Sprint(names) != "[postgres]" {
		t.Fatalf("remote services %v", names)
	}
	var traces [][]map[string]any
	getJSON(t, base+"/api/v2/traces?serviceName=frontend&annotationQuery=error%20and%20http.path=/checkout", &traces)
	if len(traces) != 1 || len(traces[0]) != 2 {
		t.Fatalf("annotationQuery found %d traces", len(traces))
	}
	getJSON(t, base+"/api/v2/traces?serviceName=frontend&annotationQuery=http.path=/other", &traces)
	if len(traces) != 0 {
		t.Fatalf("non-matching annotationQuery found %d traces", len(traces))
	}
	var links []tracing.DependencyLink
	getJSON(t, fmt.Sprintf("%s/api/v2/dependencies?endTs=%d&lookback=60000", base, time.Now().UnixMilli()+1000), &links)
	if len(links) != 1 || links[0] != (tracing.DependencyLink{Parent: "frontend", Child: "postgres", CallCount: 1, ErrorCount: 1}) {
		t.Fatalf("dependencies %+v", links)
	}
	getJSON(t, base+"/api/v2/autocompleteValues?key=http.path", &names)
	if fmt.Sprint(names) != "[/checkout]" {
		t.Fatalf("autocomplete values %v", names)
	}
	code, b := get(t, base+"/metrics")
	if code != 200 || !strings.Contains(string(b), `obs_trace_spans_received_total{format="json_v2"} 2`) {
		t.Fatalf("metrics %d:\n%s", code, b)
	}
}

func sample(trace uint64, svc string, ts int64) []tracing.Span {
	tid := tracing.TraceID{Low: trace}
	return []tracing.Span{
		{TraceID: tid, ID: 1, Kind: tracing.KindServer, Name: "get /a", Timestamp: ts, Duration: 5000,
			LocalEndpoint: &tracing.Endpoint{ServiceName: svc}, Tags: map[string]string{"http.path": "/a"}},
		{TraceID: tid, ParentID: 1, ID: 2, Kind: tracing.KindClient, Name: "call", Timestamp: ts + 100, Duration: 3000,
			LocalEndpoint: &tracing.Endpoint{ServiceName: svc}, RemoteEndpoint: &tracing.Endpoint{ServiceName: "backend"}},
		{TraceID: tid, ParentID: 1, ID: 2, Kind: tracing.KindServer, Name: "call", Timestamp: ts + 200, Duration: 2000, Shared: true,
			LocalEndpoint: &tracing.Endpoint{ServiceName: "backend"}, Tags: map[string]string{"error": ""}},
	}
}

func TestIngestFormats(t *testing.T) {
	base, _ := start(t, t.TempDir(), Config{MaxBody: 1 << 16})
	now := time.Now().UnixMicro()
	gz := func(b []byte) []byte {
		var buf bytes.Buffer
		w := gzip.NewWriter(&buf)
		w.Write(b)
		w.Close()
		return buf.Bytes()
	}
	zl := func(b []byte) []byte {
		var buf bytes.Buffer
		w := zlib.NewWriter(&buf)
		w.Write(b)
		w.Close()
		return buf.Bytes()
	}
	cases := []struct {
		path, ctype, enc string
		body             []byte
	}{
		{"/api/v2/spans", "application/json", "", tracing.EncodeJSONV2(sample(1, "a", now))},
		{"/api/v2/spans", "application/x-protobuf", "", tracing.EncodeProto3(sample(2, "a", now))},
		{"/api/v1/spans", "application/json", "", tracing.EncodeJSONV1(sample(3, "a", now))},
		{"/api/v1/spans", "application/x-thrift", "", tracing.EncodeThrift(sample(4, "a", now))},
		{"/api/v2/spans", "application/json", "gzip", gz(tracing.EncodeJSONV2(sample(5, "a", now)))},
		{"/api/v2/spans", "application/x-protobuf", "deflate", zl(tracing.EncodeProto3(sample(6, "a", now)))},
	}
	for i, c := range cases {
		if code, msg := post(t, base+c.path, c.ctype, c.enc, c.body); code != 202 {
			t.Fatalf("case %d %s %s: %d %s", i, c.ctype, c.enc, code, msg)
		}
		id := fmt.Sprintf("%016x", i+1)
		var spans []map[string]any
		getJSON(t, base+"/api/v2/trace/"+id, &spans)
		if len(spans) != 3 {
			t.Fatalf("case %d: trace %s has %d spans: %v", i, id, len(spans), spans)
		}
	}
	bad := []struct {
		path, ctype, enc string
		body             []byte
		code             int
		want             string
	}{
		{"/api/v2/spans", "application/json", "", []byte(`[{"traceId":"zz","id":"1"}]`), 400, "not hex"},
		{"/api/v2/spans", "application/json", "", []byte(`{"traceId":"1"}`), 400, "list of spans"},
		{"/api/v2/spans", "application/json", "", nil, 400, "empty body"},
		{"/api/v2/spans", "application/x-protobuf", "", []byte{0x0a, 0x03, 0x0a, 0x01, 1}, 400, "8 or 16 bytes"},
		{"/api/v2/spans", "application/json", "gzip", []byte("not gzip"), 400, "gzip"},
		{"/api/v2/spans", "application/json", "br", []byte("x"), 415, "Content-Encoding"},
		{"/api/v2/spans", "application/json", "", bytes.Repeat([]byte(" "), 1<<17), 413, "limit"},
		{"/api/v2/spans", "application/json", "gzip", gz(bytes.Repeat([]byte(" "), 1<<20)), 413, "limit"},
	}
	for i, c := range bad {
		code, msg := post(t, base+c.path, c.ctype, c.enc, c.body)
		if code != c.code || !strings.Contains(msg, c.want) || strings.Count(msg, "\n") != 1 {
			t.Errorf("bad case %d: got %d %q, want %d with %q on one line", i, code, msg, c.code, c.want)
		}
	}
	if code, msg := get(t, base+"/api/v2/trace/0000000000000099"); code != 404 {
		t.Errorf("missing trace: %d %s", code, msg)
	}
	if code, _ := get(t, base+"/api/v2/traces?limit=x"); code != 400 {
		t.Errorf("bad limit: %d", code)
	}
	var many [][]map[string]any
	getJSON(t, base+"/api/v2/traceMany?traceIds=0000000000000001,2,99", &many)
	if len(many) != 2 {
		t.Errorf("traceMany found %d", len(many))
	}
}

func TestOTLPIngest(t *testing.T) {
	base, _ := start(t, t.TempDir(), Config{})
	now := time.Now().UnixNano()
	body := fmt.Sprintf(`{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"otel-svc"}}]},
	  "scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"work","kind":2,
	  "startTimeUnixNano":"%d","endTimeUnixNano":"%d"}]}]}]}`, now, now+5e6)
	code, msg := post(t, base+"/v1/traces", "application/json", "", []byte(body))
	if code != 200 || msg != "{}" {
		t.Fatalf("otlp json: %d %q", code, msg)
	}
	var spans []map[string]any
	getJSON(t, base+"/api/v2/trace/5b8efff798038103d269b633813fc60c", &spans)
	if len(spans) != 1 || spans[0]["name"] != "work" || spans[0]["duration"] != float64(5000) {
		t.Fatalf("otlp span: %v", spans)
	}
	// An empty request is valid protobuf: nothing to store.
	if code, _ := post(t, base+"/v1/traces", "application/x-protobuf", "", []byte{0x0a, 0x00}); code != 200 {
		t.Fatalf("otlp proto: %d", code)
	}
	if code, msg := post(t, base+"/v1/traces", "application/x-protobuf", "", []byte{0x0a, 0x05, 1}); code != 400 || !strings.Contains(msg, "otlp_proto") {
		t.Fatalf("bad otlp proto: %d %q", code, msg)
	}
}

func TestOverloadBudget(t *testing.T) {
	base, _ := start(t, t.TempDir(), Config{MaxBody: 1 << 20, MaxInflight: 100})
	code, msg := post(t, base+"/api/v2/spans", "application/json", "", tracing.EncodeJSONV2(sample(1, "a", 1)))
	if code != http.StatusTooManyRequests || !strings.Contains(msg, "budget") {
		t.Fatalf("got %d %s", code, msg)
	}
}

func TestQueryParameters(t *testing.T) {
	base, _ := start(t, t.TempDir(), Config{})
	now := time.Now()
	nowUs := now.UnixMicro()
	var all []tracing.Span
	for i := uint64(1); i <= 20; i++ {
		spans := sample(i, fmt.Sprintf("svc%d", i%2), nowUs-int64(i)*60e6) // one a minute back
		spans[0].Duration = int64(i) * 1000
		if i%5 == 0 {
			spans[1].Name = "special"
		}
		all = append(all, spans...)
	}
	if code, msg := post(t, base+"/api/v2/spans", "", "", tracing.EncodeJSONV2(all)); code != 202 {
		t.Fatal(code, msg)
	}
	count := func(q string) int {
		var traces [][]tracing.Span
		code, b := get(t, base+"/api/v2/traces?"+q)
		if code != 200 {
			t.Fatalf("%s: %d %s", q, code, b)
		}
		traces, err := tracing.DecodeJSONV2Traces(b)
		if err != nil {
			t.Fatal(err)
		}
		for i := 1; i < len(traces); i++ {
			if tracing.TraceTimestamp(traces[i]) > tracing.TraceTimestamp(traces[i-1]) {
				t.Fatalf("%s: not newest first", q)
			}
		}
		return len(traces)
	}
	end := now.UnixMilli()
	for q, want := range map[string]int{
		"limit=100":                     20,
		"":                              10,
		"serviceName=svc0&limit=100":    10,
		"serviceName=backend&limit=100": 20,
		"serviceName=svc1&spanName=special&limit=100":                                  2, // 5, 15
		"spanName=special&limit=100":                                                   4,
		"serviceName=svc0&remoteServiceName=backend&limit=100":                         10,
		"serviceName=svc0&remoteServiceName=nope":                                      0,
		"minDuration=15000&limit=100":                                                  6,
		"minDuration=15000&maxDuration=17000&limit=100":                                3,
		"serviceName=svc0&minDuration=15000&limit=100":                                 3, // 16 18 20
		fmt.Sprintf("endTs=%d&lookback=%d&limit=100", end, 5*60000+30000):              5,
		fmt.Sprintf("endTs=%d&lookback=%d&limit=100", end-10*60000+1000, 60000):        1,
		"annotationQuery=error&limit=100":                                              20,
		"serviceName=svc0&annotationQuery=error&limit=100":                             0, // error is on backend's span
		"serviceName=backend&annotationQuery=error&limit=100":                          20,
		"serviceName=svc0&annotationQuery=http.path%3D%2Fa&limit=100":                  10,
		"serviceName=svc0&annotationQuery=http.path%3D%2Fa%20and%20error&limit=100":    0,
		"annotationQuery=http.path%3D%2Fa%20and%20error&limit=100":                     20,
		"serviceName=svc1&spanName=special&annotationQuery=http.path%3D%2Fa&limit=100": 2,
	} {
		if got := count(q); got != want {
			t.Errorf("traces?%s: %d traces, want %d", q, got, want)
		}
	}
	var links []tracing.DependencyLink
	getJSON(t, fmt.Sprintf("%s/api/v2/dependencies?endTs=%d&lookback=%d", base, end, 3600000), &links)
	want := []tracing.DependencyLink{{Parent: "svc0", Child: "backend", CallCount: 10, ErrorCount: 10}, {Parent: "svc1", Child: "backend", CallCount: 10, ErrorCount: 10}}
	if fmt.Sprint(links) != fmt.Sprint(want) {
		t.Errorf("dependencies %+v", links)
	}
	if code, _ := get(t, base+"/api/v2/dependencies"); code != 400 {
		t.Errorf("dependencies without endTs: %d", code)
	}
}

// TestKillNine posts spans to a child server process, kills it with SIGKILL
// mid-stream, and checks that every span acknowledged with 202 is in the
// store when it is opened again.
func TestKillNine(t *testing.T) {
	if os.Getenv("OBS_TRACE_CHILD_DIR") != "" {
		t.Skip("child")
	}
	dir := t.TempDir()
	addrFile := filepath.Join(dir, "addr")
	cmd := exec.Command(os.Args[0], "-test.run=^TestChildServer$")
	cmd.Env = append(os.Environ(), "OBS_TRACE_CHILD_DIR="+dir, "OBS_TRACE_CHILD_ADDR="+addrFile)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var base string
	for deadline := time.Now().Add(60 * time.Second); ; {
		if b, err := os.ReadFile(addrFile); err == nil && len(b) > 0 && bytes.HasSuffix(b, []byte("\n")) {
			base = "http://" + strings.TrimSpace(string(b))
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("child server did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	var mu sync.Mutex
	acked := map[uint64]bool{}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	client := &http.Client{Timeout: 30 * time.Second}
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := uint64(w)<<32 | uint64(i+1)
				body := tracing.EncodeJSONV2(sample(id, "kill", time.Now().UnixMicro()))
				resp, err := client.Post(base+"/api/v2/spans", "application/json", bytes.NewReader(body))
				if err != nil {
					return // the server died
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 202 {
					mu.Lock()
					acked[id] = true
					mu.Unlock()
				}
			}
		}(w)
	}
	// Let some requests through, then kill.
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 200 || time.Now().After(deadline) {
			break
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	close(stop)
	wg.Wait()
	if len(acked) == 0 {
		t.Fatal("no request was acknowledged before the kill")
	}
	st, err := store.Open(filepath.Join(dir, "data"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	lost := 0
	for id := range acked {
		spans, err := st.Trace(tracing.TraceID{Low: id})
		if err != nil {
			t.Fatal(err)
		}
		if len(spans) != 3 {
			lost++
			t.Logf("trace %x: %d spans", id, len(spans))
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d acknowledged traces lost after kill -9", lost, len(acked))
	}
	t.Logf("%d acknowledged traces all present after kill -9", len(acked))
}

// TestChildServer is the child half of TestKillNine.
func TestChildServer(t *testing.T) {
	dir := os.Getenv("OBS_TRACE_CHILD_DIR")
	if dir == "" {
		t.Skip("runs only as TestKillNine's child")
	}
	st, err := store.Open(filepath.Join(dir, "data"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(os.Getenv("OBS_TRACE_CHILD_ADDR"), []byte(ln.Addr().String()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err = New(st, Config{}).Serve(context.Background(), ln)
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		t.Fatal(err)
	}
}
