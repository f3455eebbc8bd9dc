package demotest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/obs-toolkit/obs/repl"
)

// span is the part of a Zipkin v2 span the test looks at.
type span struct {
	TraceID       string `json:"traceId"`
	ID            string `json:"id"`
	ParentID      string `json:"parentId"`
	Name          string `json:"name"`
	Kind          string `json:"kind"`
	LocalEndpoint struct {
		ServiceName string `json:"serviceName"`
	} `json:"localEndpoint"`
}

// collector is a minimal Zipkin /api/v2/spans endpoint.
type collector struct {
	mu    sync.Mutex
	spans []span
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/api/v2/spans" {
		http.NotFound(w, r)
		return
	}
	var got []span
	b, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(b, &got); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	c.spans = append(c.spans, got...)
	c.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
}

func (c *collector) snapshot() []span {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]span(nil), c.spans...)
}

func readLog(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var recs []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("%s: not a JSON record: %q", path, sc.Text())
		}
		recs = append(recs, m)
	}
	return recs
}

func TestRequestFlowsEndToEnd(t *testing.T) {
	col := &collector{}
	zs := httptest.NewServer(col)
	defer zs.Close()
	dir := t.TempDir()
	fe, be := StartPair(t, dir, zs.URL)

	code, body := Get(t, fe.URL+"/api/hash?n=3000")
	if code != http.StatusOK {
		t.Fatalf("frontend: %d %s", code, body)
	}
	var res struct {
		Backend struct {
			Rounds int    `json:"rounds"`
			Digest string `json:"digest"`
			Sorted int    `json:"sorted"`
		} `json:"backend"`
	}
	if err := json.Unmarshal(body, &res); err != nil {
		t.Fatalf("frontend reply %q: %v", body, err)
	}
	if res.Backend.Rounds != 3000 || res.Backend.Sorted != 3000 || len(res.Backend.Digest) != 16 {
		t.Fatalf("backend's work did not come through: %s", body)
	}
	// The work is deterministic: the same n gives the same digest.
	_, again := Get(t, fe.URL+"/api/hash?n=3000")
	if !strings.Contains(string(again), res.Backend.Digest) {
		t.Errorf("digest changed between runs: %s vs %s", body, again)
	}
	// Bad input is refused by the backend and passed on, not a 500.
	if code, body := Get(t, fe.URL+"/api/hash?n=-4"); code != http.StatusBadRequest {
		t.Errorf("n=-4: %d %s, want 400", code, body)
	}

	// The REPL agent in each service serves its counters.
	for _, c := range []struct {
		p    *Proc
		name string
		want string
	}{{fe, "requests", "3"}, {fe, "failures", "1"}, {be, "requests", "2"}} {
		cl, err := repl.Dial(strconv.Itoa(c.p.Pid()))
		if err != nil {
			t.Fatalf("dial agent of pid %d: %v", c.p.Pid(), err)
		}
		var out strings.Builder
		err = cl.Do(context.Background(), "get", []string{c.name}, &out)
		cl.Close()
		if err != nil || strings.TrimSpace(out.String()) != c.want {
			t.Errorf("pid %d get %s = %q, %v; want %s", c.p.Pid(), c.name, out.String(), err, c.want)
		}
	}

	// Spans from both services, joined in one trace: frontend server ->
	// frontend client -> backend server -> backend's own work span.
	var trace map[string][]span
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		trace = map[string][]span{}
		for _, s := range col.snapshot() {
			trace[s.TraceID] = append(trace[s.TraceID], s)
		}
		if complete(trace) != "" {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	id := complete(trace)
	if id == "" {
		t.Fatalf("no trace with spans from both services: %+v", col.snapshot())
	}
	// zipkin-go shares span ids across RPCs by default: the backend's
	// server span carries the id of the frontend's client span.
	clients := map[string]bool{}
	for _, s := range trace[id] {
		if s.LocalEndpoint.ServiceName == "frontend" && s.Kind == "CLIENT" {
			clients[s.ID] = true
		}
	}
	for _, s := range trace[id] {
		if s.LocalEndpoint.ServiceName == "backend" && s.Kind == "SERVER" && !clients[s.ID] && !clients[s.ParentID] {
			t.Errorf("backend server span %+v is not joined to a frontend client span", s)
		}
	}

	// Both log JSON records; the backend's carry the trace id.
	var sawTrace bool
	for _, r := range readLog(t, be.Log) {
		if r["msg"] == "work done" && r["trace_id"] == id {
			sawTrace = true
		}
		// bunyan's core fields, as obs logs and the bunyan CLI expect.
		if r["name"] != "backend" || r["v"] != float64(0) || r["hostname"] == nil || r["pid"] != float64(be.Pid()) {
			t.Errorf("backend record is not a bunyan record: %v", r)
		}
	}
	if !sawTrace {
		t.Errorf("no backend log record for trace %s", id)
	}
	var served int
	for _, r := range readLog(t, fe.Log) {
		if r["msg"] == "hash served" {
			served++
			if req, _ := r["req"].(map[string]any); req["method"] != "GET" || !strings.HasPrefix(fmt.Sprint(req["url"]), "/api/hash?n=3000") {
				t.Errorf("frontend record without bunyan's req: %v", r)
			}
		}
		if r["msg"] == "backend refused" && r["level"] != float64(50) {
			t.Errorf("refusal not logged at bunyan error (50): %v", r)
		}
	}
	if served != 2 {
		t.Errorf("frontend logged %d served requests, want 2", served)
	}
}

// complete returns the id of a trace holding the four expected spans.
func complete(traces map[string][]span) string {
	for id, spans := range traces {
		var feServer, feClient, beServer, beWork bool
		for _, s := range spans {
			switch {
			case s.LocalEndpoint.ServiceName == "frontend" && s.Kind == "SERVER" && s.Name == "get /api/hash":
				feServer = true
			case s.LocalEndpoint.ServiceName == "frontend" && s.Kind == "CLIENT":
				feClient = true
			case s.LocalEndpoint.ServiceName == "backend" && s.Kind == "SERVER" && s.Name == "get /work":
				beServer = true
			case s.LocalEndpoint.ServiceName == "backend" && s.Name == "hash+sort":
				beWork = true
			}
		}
		if feServer && feClient && beServer && beWork {
			return id
		}
	}
	return ""
}

func TestFrontendRefusesBadFlags(t *testing.T) {
	feBin, _ := Build(t, t.TempDir())
	for _, args := range [][]string{{}, {"-backend", "not a url"}, {"-backend", "http://127.0.0.1:1", "-addr", "256.0.0.1:0"}} {
		out, err := runBin(feBin, args...)
		if err == nil {
			t.Errorf("frontend %q: exit 0, want 1", args)
		}
		if n := strings.Count(strings.TrimSpace(out), "\n"); n != 0 || !strings.HasPrefix(out, "frontend: ") {
			t.Errorf("frontend %q: want one line starting 'frontend: ', got %q", args, out)
		}
	}
}

func runBin(bin string, args ...string) (string, error) {
	out, err := exec.Command(bin, args...).CombinedOutput()
	return string(out), err
}
