// Package server is obs's Zipkin-compatible HTTP server: span ingest on
// /api/v2/spans and /api/v1/spans in every Zipkin encoding, the complete
// /api/v2 query API over the embedded store, and /metrics. A 202 is sent
// only after the spans are fsynced; memory is bounded by a body limit and
// an in-flight byte budget, past which requests are refused (429/503)
// rather than queued.
package server

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/obs-toolkit/obs/tracing"
	"github.com/obs-toolkit/obs/tracing/store"
)

// Config tunes a Server.
type Config struct {
	// MaxBody bounds one request body after decompression (default 16 MiB).
	MaxBody int64
	// MaxInflight bounds the bytes of bodies being decoded and stored at
	// once (default 256 MiB); requests past it get 429.
	MaxInflight int64
	// WriteTimeout bounds the wait for a place in the store's queue
	// (default 5s); past it the request gets 503.
	WriteTimeout time.Duration
	// Forward, when set, gets every batch once it is stored (it must not
	// block), and adds its metrics to /metrics.
	Forward Forwarder
}

// Forwarder passes stored spans on (to Kafka, in obs).
type Forwarder interface {
	Enqueue([]tracing.Span)
	WriteMetrics(io.Writer)
}

// Server serves one store.
type Server struct {
	st       *store.Store
	cfg      Config
	inflight atomic.Int64
	m        metrics
}

type metrics struct {
	mu       sync.Mutex
	spans    map[string]uint64 // by format
	messages map[string]uint64
	dropped  map[string]uint64 // by reason
	bytes    atomic.Uint64
	// ingest latency histogram (seconds)
	lat [13]atomic.Uint64 // one per latBuckets entry, then +Inf
	sum atomic.Uint64     // nanoseconds
}

var latBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}

func (m *metrics) inc(mp map[string]uint64, k string, n uint64) {
	m.mu.Lock()
	mp[k] += n
	m.mu.Unlock()
}

// New returns a server over st.
func New(st *store.Store, cfg Config) *Server {
	if cfg.MaxBody == 0 {
		cfg.MaxBody = 16 << 20
	}
	if cfg.MaxInflight == 0 {
		cfg.MaxInflight = 256 << 20
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = 5 * time.Second
	}
	return &Server{st: st, cfg: cfg, m: metrics{spans: map[string]uint64{}, messages: map[string]uint64{}, dropped: map[string]uint64{}}}
}

// Handler routes every endpoint.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v2/spans", s.spans)
	mux.HandleFunc("/api/v1/spans", s.ingestV1)
	mux.HandleFunc("/v1/traces", s.ingestOTLP)
	mux.HandleFunc("/api/v2/services", s.get(s.services))
	mux.HandleFunc("/api/v2/remoteServices", s.get(s.remoteServices))
	mux.HandleFunc("/api/v2/traces", s.get(s.traces))
	mux.HandleFunc("/api/v2/trace/", s.get(s.trace))
	mux.HandleFunc("/api/v2/traceMany", s.get(s.traceMany))
	mux.HandleFunc("/api/v2/dependencies", s.get(s.dependencies))
	mux.HandleFunc("/api/v2/autocompleteKeys", s.get(s.autocompleteKeys))
	mux.HandleFunc("/api/v2/autocompleteValues", s.get(s.autocompleteValues))
	mux.HandleFunc("/metrics", s.get(s.metrics))
	mux.HandleFunc("/prometheus", s.get(s.metrics))
	mux.HandleFunc("/health", s.get(func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Type", "application/json")
		_, err := io.WriteString(w, `{"status":"UP","zipkin":{"status":"UP","details":{"store":"bbolt"}}}`)
		return err
	}))
	return mux
}

// httpError is an error with a status; its message is one line.
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

func badRequest(format string, a ...any) error {
	return &httpError{http.StatusBadRequest, fmt.Sprintf(format, a...)}
}

func writeError(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	var he *httpError
	if errors.As(err, &he) {
		code = he.code
	}
	msg := strings.ReplaceAll(err.Error(), "\n", " ")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if code == http.StatusServiceUnavailable || code == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "1")
	}
	w.WriteHeader(code)
	fmt.Fprintln(w, msg)
}

func (s *Server) get(h func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		if r.Method == http.MethodOptions {
			w.Header().Set("Access-Control-Allow-Methods", "GET, POST")
			w.Header().Set("Access-Control-Allow-Headers", "Content-Type, Content-Encoding")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			writeError(w, &httpError{http.StatusMethodNotAllowed, r.Method + " not allowed on " + r.URL.Path})
			return
		}
		if err := h(w, r); err != nil {
			writeError(w, err)
		}
	}
}

func (s *Server) spans(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == http.MethodOptions {
		s.get(s.spanNames)(w, r)
		return
	}
	s.ingest(w, r, 2)
}

func (s *Server) ingestV1(w http.ResponseWriter, r *http.Request) { s.ingest(w, r, 1) }

// ingestOTLP is OTLP/HTTP's trace endpoint (protobuf or JSON); success is
// 200 with an empty ExportTraceServiceResponse in the request's encoding.
func (s *Server) ingestOTLP(w http.ResponseWriter, r *http.Request) { s.ingest(w, r, otlpVersion) }

const otlpVersion = 0

// Ingest errors by reason, for /metrics.
const (
	dropInvalid    = "invalid"
	dropTooLarge   = "too_large"
	dropOverloaded = "overloaded"
	dropStore      = "store"
)

func (s *Server) ingest(w http.ResponseWriter, r *http.Request, version int) {
	start := time.Now()
	if r.Method != http.MethodPost {
		writeError(w, &httpError{http.StatusMethodNotAllowed, r.Method + " not allowed on " + r.URL.Path})
		return
	}
	w.Header().Set("Access-Control-Allow-Origin", "*")
	if r.ContentLength > s.cfg.MaxBody {
		s.m.inc(s.m.dropped, dropTooLarge, 1)
		writeError(w, &httpError{http.StatusRequestEntityTooLarge, fmt.Sprintf("body of %d bytes is over the %d byte limit", r.ContentLength, s.cfg.MaxBody)})
		return
	}
	// Reserve memory for the body before reading it; an unknown length
	// reserves the limit.
	reserve := r.ContentLength
	if reserve <= 0 || r.Header.Get("Content-Encoding") != "" {
		reserve = s.cfg.MaxBody
		if r.ContentLength > 0 && r.ContentLength*8 < reserve {
			reserve = r.ContentLength * 8
		}
	}
	if s.inflight.Add(reserve) > s.cfg.MaxInflight {
		s.inflight.Add(-reserve)
		s.m.inc(s.m.dropped, dropOverloaded, 1)
		writeError(w, &httpError{http.StatusTooManyRequests, "server is over its in-flight memory budget, retry later"})
		return
	}
	defer s.inflight.Add(-reserve)

	body, err := s.readBody(r)
	if err != nil {
		if he := (*httpError)(nil); errors.As(err, &he) && he.code == http.StatusRequestEntityTooLarge {
			s.m.inc(s.m.dropped, dropTooLarge, 1)
		} else {
			s.m.inc(s.m.dropped, dropInvalid, 1)
		}
		writeError(w, err)
		return
	}
	s.m.bytes.Add(uint64(len(body)))
	ct := strings.ToLower(r.Header.Get("Content-Type"))
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = strings.TrimSpace(ct[:i])
	}
	var format string
	var spans []tracing.Span
	switch {
	case version == otlpVersion && ct == "application/json":
		format = "otlp_json"
		spans, err = tracing.DecodeOTLPJSON(body)
	case version == otlpVersion:
		format = "otlp_proto"
		spans, err = tracing.DecodeOTLPProto(body)
	case version == 2 && (ct == "application/x-protobuf" || ct == "application/protobuf"):
		format = "proto3"
		spans, err = tracing.DecodeProto3(body)
	case version == 2:
		format = "json_v2"
		spans, err = tracing.DecodeJSONV2(body)
	case ct == "application/x-thrift" || ct == "application/vnd.apache.thrift.binary":
		format = "thrift"
		spans, err = tracing.DecodeThrift(body)
	default:
		format = "json_v1"
		spans, err = tracing.DecodeJSONV1(body)
	}
	if err != nil {
		s.m.inc(s.m.dropped, dropInvalid, 1)
		writeError(w, badRequest("cannot read %s body: %s", format, strings.TrimPrefix(err.Error(), "invalid span: ")))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.WriteTimeout)
	defer cancel()
	if err := s.st.Write(ctx, spans); err != nil {
		s.m.inc(s.m.dropped, dropStore, 1)
		if errors.Is(err, store.ErrBusy) || errors.Is(err, store.ErrClosed) {
			writeError(w, &httpError{http.StatusServiceUnavailable, "store is busy, retry later"})
		} else {
			writeError(w, err)
		}
		return
	}
	s.m.inc(s.m.messages, format, 1)
	s.m.inc(s.m.spans, format, uint64(len(spans)))
	if s.cfg.Forward != nil {
		s.cfg.Forward.Enqueue(spans)
	}
	switch format {
	case "otlp_json":
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "{}")
	case "otlp_proto":
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	default:
		w.WriteHeader(http.StatusAccepted)
	}
	d := time.Since(start)
	s.m.sum.Add(uint64(d))
	sec := d.Seconds()
	i := sort.SearchFloat64s(latBuckets, sec)
	s.m.lat[i].Add(1)
}

// readBody reads the body, undoing gzip or deflate, within MaxBody.
func (s *Server) readBody(r *http.Request) ([]byte, error) {
	tooLarge := &httpError{http.StatusRequestEntityTooLarge, fmt.Sprintf("body is over the %d byte limit", s.cfg.MaxBody)}
	raw, err := readLimited(r.Body, s.cfg.MaxBody)
	if err != nil {
		if errors.Is(err, errTooLarge) {
			return nil, tooLarge
		}
		return nil, badRequest("cannot read body: %v", err)
	}
	enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding")))
	var zr io.Reader
	switch enc {
	case "", "identity":
		if len(raw) == 0 {
			return nil, badRequest("empty body")
		}
		return raw, nil
	case "gzip", "x-gzip":
		g, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, badRequest("cannot read gzip body: %v", err)
		}
		zr = g
	case "deflate":
		// HTTP's deflate is zlib-wrapped; some clients send raw deflate.
		if z, err := zlib.NewReader(bytes.NewReader(raw)); err == nil {
			zr = z
		} else {
			zr = flate.NewReader(bytes.NewReader(raw))
		}
	default:
		return nil, &httpError{http.StatusUnsupportedMediaType, fmt.Sprintf("unsupported Content-Encoding %q", enc)}
	}
	out, err := readLimited(zr, s.cfg.MaxBody)
	if err != nil {
		if errors.Is(err, errTooLarge) {
			return nil, tooLarge
		}
		return nil, badRequest("cannot decompress %s body: %v", enc, err)
	}
	if len(out) == 0 {
		return nil, badRequest("empty body")
	}
	return out, nil
}

var errTooLarge = errors.New("too large")

func readLimited(r io.Reader, max int64) ([]byte, error) {
	var buf bytes.Buffer
	n, err := buf.ReadFrom(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if n > max {
		return nil, errTooLarge
	}
	return buf.Bytes(), nil
}

func writeJSON(w http.ResponseWriter, v any) error {
	w.Header().Set("Content-Type", "application/json")
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

func writeSpansJSON(w http.ResponseWriter, b []byte) error {
	w.Header().Set("Content-Type", "application/json")
	_, err := w.Write(b)
	return err
}

func (s *Server) services(w http.ResponseWriter, r *http.Request) error {
	v, err := s.st.Services()
	if err != nil {
		return err
	}
	return writeJSON(w, v)
}

func requireParam(r *http.Request, name string) (string, error) {
	v := strings.TrimSpace(r.URL.Query().Get(name))
	if v == "" {
		return "", badRequest("%s is required", name)
	}
	return v, nil
}

func (s *Server) spanNames(w http.ResponseWriter, r *http.Request) error {
	svc, err := requireParam(r, "serviceName")
	if err != nil {
		return err
	}
	v, err := s.st.SpanNames(strings.ToLower(svc))
	if err != nil {
		return err
	}
	return writeJSON(w, v)
}

func (s *Server) remoteServices(w http.ResponseWriter, r *http.Request) error {
	svc, err := requireParam(r, "serviceName")
	if err != nil {
		return err
	}
	v, err := s.st.RemoteServices(strings.ToLower(svc))
	if err != nil {
		return err
	}
	return writeJSON(w, v)
}

func intParam(r *http.Request, name string, def int64) (int64, error) {
	v := strings.TrimSpace(r.URL.Query().Get(name))
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, badRequest("%s must be a non-negative integer, got %q", name, v)
	}
	return n, nil
}

// ParseQuery reads /api/v2/traces parameters with Zipkin's defaults (endTs
// now, lookback one day, limit 10; "all" span name means any).
func ParseQuery(r *http.Request) (tracing.Query, error) {
	q := tracing.Query{}
	p := r.URL.Query()
	q.ServiceName = strings.ToLower(strings.TrimSpace(p.Get("serviceName")))
	q.RemoteServiceName = strings.ToLower(strings.TrimSpace(p.Get("remoteServiceName")))
	q.SpanName = strings.ToLower(strings.TrimSpace(p.Get("spanName")))
	if q.SpanName == "all" {
		q.SpanName = ""
	}
	if a := strings.TrimSpace(p.Get("annotationQuery")); a != "" {
		q.AnnotationQuery = tracing.ParseAnnotationQuery(a)
	}
	var err error
	if q.MinDuration, err = intParam(r, "minDuration", 0); err != nil {
		return q, err
	}
	if q.MaxDuration, err = intParam(r, "maxDuration", 0); err != nil {
		return q, err
	}
	if q.MaxDuration > 0 && q.MinDuration == 0 {
		return q, badRequest("maxDuration is only valid with minDuration")
	}
	if q.MaxDuration > 0 && q.MaxDuration < q.MinDuration {
		return q, badRequest("maxDuration should be >= minDuration")
	}
	if q.EndTs, err = intParam(r, "endTs", time.Now().UnixMilli()); err != nil {
		return q, err
	}
	if q.EndTs == 0 {
		return q, badRequest("endTs should be positive, in epoch milliseconds")
	}
	if q.Lookback, err = intParam(r, "lookback", 86400000); err != nil {
		return q, err
	}
	limit, err := intParam(r, "limit", 10)
	if err != nil {
		return q, err
	}
	if limit == 0 {
		return q, badRequest("limit should be greater than 0")
	}
	if limit > 100000 {
		limit = 100000
	}
	q.Limit = int(limit)
	return q, nil
}

func (s *Server) traces(w http.ResponseWriter, r *http.Request) error {
	q, err := ParseQuery(r)
	if err != nil {
		return err
	}
	ts, err := s.st.Traces(q)
	if err != nil {
		return err
	}
	return writeSpansJSON(w, encodeTraces(ts))
}

func encodeTraces(ts [][]tracing.Span) []byte {
	b := []byte{'['}
	for i, t := range ts {
		if i > 0 {
			b = append(b, ',')
		}
		b = tracing.AppendJSONV2(b, t)
	}
	return append(b, ']')
}

func (s *Server) trace(w http.ResponseWriter, r *http.Request) error {
	raw := strings.TrimPrefix(r.URL.Path, "/api/v2/trace/")
	id, err := tracing.ParseTraceID(raw)
	if err != nil {
		return badRequest("%s", strings.TrimPrefix(err.Error(), "invalid span: "))
	}
	t, err := s.st.Trace(id)
	if err != nil {
		return err
	}
	if len(t) == 0 {
		return &httpError{http.StatusNotFound, "trace " + id.String() + " not found"}
	}
	return writeSpansJSON(w, tracing.EncodeJSONV2(t))
}

func (s *Server) traceMany(w http.ResponseWriter, r *http.Request) error {
	raw, err := requireParam(r, "traceIds")
	if err != nil {
		return err
	}
	var out [][]tracing.Span
	seen := map[tracing.TraceID]bool{}
	for _, f := range strings.Split(raw, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		id, err := tracing.ParseTraceID(f)
		if err != nil {
			return badRequest("%s", strings.TrimPrefix(err.Error(), "invalid span: "))
		}
		if seen[id] {
			continue
		}
		seen[id] = true
		t, err := s.st.Trace(id)
		if err != nil {
			return err
		}
		if len(t) > 0 {
			out = append(out, t)
		}
	}
	return writeSpansJSON(w, encodeTraces(out))
}

func (s *Server) dependencies(w http.ResponseWriter, r *http.Request) error {
	if _, err := requireParam(r, "endTs"); err != nil {
		return err
	}
	end, err := intParam(r, "endTs", 0)
	if err != nil {
		return err
	}
	if end == 0 {
		return badRequest("endTs should be positive, in epoch milliseconds")
	}
	lookback, err := intParam(r, "lookback", 86400000)
	if err != nil {
		return err
	}
	links, err := s.st.Dependencies(end, lookback)
	if err != nil {
		return err
	}
	return writeJSON(w, links)
}

func (s *Server) autocompleteKeys(w http.ResponseWriter, r *http.Request) error {
	v, err := s.st.AutocompleteKeys()
	if err != nil {
		return err
	}
	return writeJSON(w, v)
}

func (s *Server) autocompleteValues(w http.ResponseWriter, r *http.Request) error {
	key, err := requireParam(r, "key")
	if err != nil {
		return err
	}
	v, err := s.st.AutocompleteValues(key)
	if err != nil {
		return err
	}
	return writeJSON(w, v)
}

func (s *Server) metrics(w http.ResponseWriter, r *http.Request) error {
	var b strings.Builder
	family := func(name, typ, help string) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	}
	labelled := func(name, label string, m map[string]uint64) {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "%s{%s=%q} %d\n", name, label, k, m[k])
		}
	}
	s.m.mu.Lock()
	family("obs_trace_spans_received_total", "counter", "Spans accepted (stored durably), by encoding.")
	labelled("obs_trace_spans_received_total", "format", s.m.spans)
	family("obs_trace_messages_received_total", "counter", "Ingest requests accepted, by encoding.")
	labelled("obs_trace_messages_received_total", "format", s.m.messages)
	family("obs_trace_messages_dropped_total", "counter", "Ingest requests refused, by reason.")
	labelled("obs_trace_messages_dropped_total", "reason", s.m.dropped)
	s.m.mu.Unlock()
	family("obs_trace_bytes_received_total", "counter", "Decompressed ingest body bytes.")
	fmt.Fprintf(&b, "obs_trace_bytes_received_total %d\n", s.m.bytes.Load())
	family("obs_trace_ingest_seconds", "histogram", "Ingest request latency until the 202 (durable).")
	var cum uint64
	for i, le := range latBuckets {
		cum += s.m.lat[i].Load()
		fmt.Fprintf(&b, "obs_trace_ingest_seconds_bucket{le=\"%g\"} %d\n", le, cum)
	}
	cum += s.m.lat[len(latBuckets)].Load()
	fmt.Fprintf(&b, "obs_trace_ingest_seconds_bucket{le=\"+Inf\"} %d\n", cum)
	fmt.Fprintf(&b, "obs_trace_ingest_seconds_sum %g\nobs_trace_ingest_seconds_count %d\n", float64(s.m.sum.Load())/1e9, cum)
	family("obs_trace_store_commits_total", "counter", "Write-ahead group commits (one fdatasync each); a 202 follows its commit.")
	fmt.Fprintf(&b, "obs_trace_store_commits_total %d\n", s.st.Commits.Load())
	family("obs_trace_store_commit_seconds_total", "counter", "Time spent in write-ahead group commits.")
	fmt.Fprintf(&b, "obs_trace_store_commit_seconds_total %g\n", float64(s.st.CommitNano.Load())/1e9)
	family("obs_trace_store_index_commits_total", "counter", "Index (bbolt) transactions.")
	fmt.Fprintf(&b, "obs_trace_store_index_commits_total %d\n", s.st.IndexCommits.Load())
	family("obs_trace_store_index_seconds_total", "counter", "Time spent in index transactions.")
	fmt.Fprintf(&b, "obs_trace_store_index_seconds_total %g\n", float64(s.st.IndexNano.Load())/1e9)
	family("obs_trace_store_index_errors_total", "counter", "Index transactions that failed and were retried.")
	fmt.Fprintf(&b, "obs_trace_store_index_errors_total %d\n", s.st.IndexErrors.Load())
	family("obs_trace_store_index_lag", "gauge", "Acknowledged write-ahead records not yet indexed.")
	fmt.Fprintf(&b, "obs_trace_store_index_lag %d\n", s.st.IndexLag())
	family("obs_trace_store_spans_total", "counter", "Spans indexed in the store.")
	fmt.Fprintf(&b, "obs_trace_store_spans_total %d\n", s.st.Spans.Load())
	family("obs_trace_store_spans_swept_total", "counter", "Spans deleted by retention.")
	fmt.Fprintf(&b, "obs_trace_store_spans_swept_total %d\n", s.st.Swept.Load())
	family("obs_trace_store_queue_depth", "gauge", "Requests waiting for the group commit.")
	fmt.Fprintf(&b, "obs_trace_store_queue_depth %d\n", s.st.QueueDepth())
	family("obs_trace_inflight_bytes", "gauge", "Body bytes reserved by requests in flight.")
	fmt.Fprintf(&b, "obs_trace_inflight_bytes %d\n", s.inflight.Load())
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	if s.cfg.Forward != nil {
		s.cfg.Forward.WriteMetrics(&b)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Serve runs the HTTP server on ln until ctx ends, then shuts down
// gracefully (in-flight ingest requests finish and are answered).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
		return nil
	}
}
