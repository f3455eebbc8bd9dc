// Command frontend is the example service users call: GET /api/hash asks
// the backend for the work and returns its answer, so one request makes a
// trace across two services.
//
//	frontend -backend http://HOST:PORT [-addr 127.0.0.1:0] [-log FILE] [-zipkin URL]
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	zipkinhttp "github.com/openzipkin/zipkin-go/middleware/http"

	"github.com/obs-toolkit/obs/examples/internal/svc"
	"github.com/obs-toolkit/obs/logfmt"
)

type frontend struct {
	s        *svc.Service
	backend  string
	client   *zipkinhttp.Client
	requests atomic.Int64
	failures atomic.Int64
}

func main() {
	var f svc.Flags
	f.Register(flag.CommandLine)
	backendURL := flag.String("backend", "", "base URL of the backend service (required)")
	flag.Parse()
	if *backendURL == "" {
		svc.Fatal("frontend", fmt.Errorf("-backend URL is required"))
	}
	if u, err := url.Parse(*backendURL); err != nil || u.Host == "" {
		svc.Fatal("frontend", fmt.Errorf("-backend %q is not a URL like http://127.0.0.1:8081", *backendURL))
	}
	s, err := svc.Start("frontend", f)
	if err != nil {
		svc.Fatal("frontend", err)
	}
	client, err := zipkinhttp.NewClient(s.Tracer, zipkinhttp.ClientTrace(false),
		zipkinhttp.WithClient(&http.Client{Timeout: 10 * time.Second}))
	if err != nil {
		svc.Fatal("frontend", err)
	}
	fe := &frontend{s: s, backend: *backendURL, client: client}
	s.Expose("requests", fe.requests.Load)
	s.Expose("failures", fe.failures.Load)
	s.Expose("backend", func() string { return fe.backend })
	mux := http.NewServeMux()
	svc.Handle(mux, "GET /api/hash", fe.hash)
	svc.Handle(mux, "GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	os.Exit(s.Run(mux))
}

// hash handles GET /api/hash?n=ROUNDS[&delay=D] by calling the backend's
// /work with the same parameters.
func (fe *frontend) hash(w http.ResponseWriter, r *http.Request) {
	fe.requests.Add(1)
	start := time.Now()
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet,
		fe.backend+"/work?"+r.URL.RawQuery, nil)
	if err != nil {
		fe.fail(w, http.StatusBadRequest, "bad request", err)
		return
	}
	resp, err := fe.client.DoWithAppSpan(req, "call backend")
	if err != nil {
		fe.fail(w, http.StatusBadGateway, "backend unreachable", err)
		return
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		fe.fail(w, http.StatusBadGateway, "backend reply unreadable", err)
		return
	}
	if resp.StatusCode != http.StatusOK {
		fe.fail(w, resp.StatusCode, "backend refused", fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body))))
		return
	}
	var work json.RawMessage = body
	took := time.Since(start)
	fe.s.Log.Info("hash served", logfmt.Req(r), "micros", took.Microseconds())
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"backend": work, "micros": took.Microseconds()})
}

func (fe *frontend) fail(w http.ResponseWriter, code int, what string, err error) {
	fe.failures.Add(1)
	fe.s.Log.Error(what, logfmt.Err(err), "status", code)
	http.Error(w, what, code)
}
