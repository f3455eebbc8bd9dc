package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/obs-toolkit/obs/internal/output"
	"github.com/obs-toolkit/obs/tracing"
	"github.com/obs-toolkit/obs/tracing/client"
	"github.com/obs-toolkit/obs/tracing/forward"
	"github.com/obs-toolkit/obs/tracing/server"
	"github.com/obs-toolkit/obs/tracing/store"
	"github.com/obs-toolkit/obs/tracing/view"
)

func init() { register(newTraceCmd) }

func newTraceCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "trace",
		Short: "Collect, store and read distributed traces (Zipkin-compatible)",
		Long: `obs trace is a Zipkin-compatible span collector and store ('serve'), and a
terminal trace viewer that reads any Zipkin v2 API ('ls', 'show', 'deps',
'top', 'diff', 'import', 'export'; --server, default ` + client.DefaultServer + `).`,
	}
	var srv string
	c.PersistentFlags().StringVar(&srv, "server", client.DefaultServer, "Zipkin v2 API base URL to read from (not used by serve)")
	cl := func() (*client.Client, error) {
		cc, err := client.New(srv)
		if err != nil {
			return nil, output.Usagef("%v", err)
		}
		return cc, nil
	}
	c.AddCommand(newTraceServeCmd(g), newTraceLsCmd(g, cl), newTraceShowCmd(g, cl), newTraceDepsCmd(g, cl),
		newTraceTopCmd(g, cl), newTraceDiffCmd(g, cl), newTraceImportCmd(g, cl), newTraceExportCmd(g, cl))
	return c
}

// parseSince reads a Go duration, also accepting a days suffix ("2d").
func parseSince(s string) (time.Duration, error) {
	if strings.HasSuffix(s, "d") {
		n, err := strconv.ParseFloat(strings.TrimSuffix(s, "d"), 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("bad duration %q", s)
		}
		return time.Duration(n * 24 * float64(time.Hour)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("bad duration %q (use e.g. 30s, 15m, 2h, 3d)", s)
	}
	return d, nil
}

func signalContext(parent context.Context) (context.Context, context.CancelFunc) {
	if parent == nil {
		parent = context.Background()
	}
	return signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
}

// ---- serve

type traceServeOptions struct {
	io          *output.IO
	listen      string
	data        string
	retention   time.Duration
	maxBody     int64
	maxInflight int64
	json        bool
	kafka       string
	kafkaTopic  string
	otlpListen  string
	ready       func(addr string) // tests
	otlpReady   func(addr string) // tests
}

func newTraceServeCmd(g *globals) *cobra.Command {
	o := &traceServeOptions{}
	c := &cobra.Command{
		Use:   "serve",
		Short: "Run the Zipkin-compatible collector, store and query API",
		Long: `Run a Zipkin-compatible server: services send spans to POST /api/v2/spans
(JSON v2 or application/x-protobuf) or /api/v1/spans (v1 JSON or
application/x-thrift), gzip or deflate encoded; OpenTelemetry SDKs can send
OTLP/HTTP (protobuf or JSON) to /v1/traces on the same port, or on
--otlp-listen (127.0.0.1:4318 is the SDKs' default). Zipkin's UI (Lens), Grafana's
Zipkin data source and the obs trace commands read the /api/v2 query API.
Prometheus metrics are at /metrics.

A 202 answer means the spans are on disk (fsynced): they survive kill -9.
Bodies over --max-body get 413; past --max-inflight bytes of bodies in work,
requests get 429, and 503 when the store's queue is full. Spans older than
--retention are deleted by a background sweep.

--kafka BROKERS also forwards every accepted batch to Kafka (topic
--kafka-topic) in Zipkin's Kafka format, one JSON v2 list per message, for a
Zipkin cluster's Kafka collector; forwarding never slows ingest (a bounded
queue; what cannot be queued or delivered is counted in /metrics).

--json prints one line when listening: listen (address), url, data (store
directory), retention (seconds).`,
		Example: `  obs trace serve
  obs trace serve --listen 127.0.0.1:9411 --data /var/lib/obs/traces --retention 168h`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			o.io = g.IO()
			return runTraceServe(c.Context(), o)
		},
	}
	c.Flags().StringVar(&o.listen, "listen", "127.0.0.1:9411", "address to listen on (loopback unless you say otherwise)")
	c.Flags().StringVar(&o.data, "data", store.DefaultDir(), "store directory")
	c.Flags().DurationVar(&o.retention, "retention", 72*time.Hour, "keep spans this long (0 keeps them forever)")
	c.Flags().Int64Var(&o.maxBody, "max-body", 16<<20, "largest accepted body in bytes, after decompression")
	c.Flags().Int64Var(&o.maxInflight, "max-inflight", 256<<20, "bytes of request bodies being decoded and stored at once")
	c.Flags().BoolVar(&o.json, "json", false, "print the listening address as JSON")
	c.Flags().StringVar(&o.kafka, "kafka", "", "also forward spans to these Kafka brokers (host:port,...)")
	c.Flags().StringVar(&o.kafkaTopic, "kafka-topic", "zipkin", "Kafka topic for --kafka")
	c.Flags().StringVar(&o.otlpListen, "otlp-listen", "", "also serve on this address (e.g. 127.0.0.1:4318, OTLP/HTTP's default) for OpenTelemetry SDKs")
	return c
}

func runTraceServe(ctx context.Context, o *traceServeOptions) error {
	if o.retention < 0 {
		return output.Usagef("--retention must not be negative")
	}
	if o.maxBody <= 0 || o.maxInflight <= 0 {
		return output.Usagef("--max-body and --max-inflight must be positive")
	}
	// Ingest allocates in short-lived bursts; collect less often, within a
	// memory limit that the in-flight budget already bounds.
	debug.SetGCPercent(400)
	debug.SetMemoryLimit(2*o.maxInflight + 512<<20)
	st, err := store.Open(o.data, store.Options{Retention: o.retention})
	if err != nil {
		return output.Failf("%v", err)
	}
	defer st.Close()
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return output.Failf("listen on %s: %v", o.listen, err)
	}
	// Both listeners are opened before the server announces itself, so a
	// bad --otlp-listen fails alone, in one line.
	var oln net.Listener
	if o.otlpListen != "" {
		if oln, err = net.Listen("tcp", o.otlpListen); err != nil {
			ln.Close()
			return output.Failf("listen on %s: %v", o.otlpListen, err)
		}
	}
	ctx, cancel := signalContext(ctx)
	defer cancel()
	addr := ln.Addr().String()
	if o.json {
		line, _ := json.Marshal(map[string]any{"listen": addr, "url": "http://" + addr, "data": o.data, "retention": int64(o.retention.Seconds())})
		fmt.Fprintf(o.io.Out, "%s\n", line)
	} else {
		fmt.Fprintf(o.io.Err, "obs trace serve: listening on http://%s, store %s, retention %s\n", addr, o.data, o.retention)
	}
	if o.ready != nil {
		o.ready(addr)
	}
	cfg := server.Config{MaxBody: o.maxBody, MaxInflight: o.maxInflight}
	if o.kafka != "" {
		fw, err := forward.New(forward.Config{Brokers: strings.Split(o.kafka, ","), Topic: o.kafkaTopic})
		if err != nil {
			return output.Failf("%v", err)
		}
		defer func() {
			if err := fw.Close(10 * time.Second); err != nil {
				o.io.Warnf("%v", err)
			}
		}()
		cfg.Forward = fw
	}
	srv := server.New(st, cfg)
	errc := make(chan error, 1)
	if oln != nil {
		if !o.json {
			fmt.Fprintf(o.io.Err, "obs trace serve: OTLP/HTTP also on http://%s/v1/traces\n", oln.Addr())
		}
		if o.otlpReady != nil {
			o.otlpReady(oln.Addr().String())
		}
		go func() { errc <- srv.Serve(ctx, oln) }()
	}
	if err := srv.Serve(ctx, ln); err != nil && !errors.Is(err, net.ErrClosed) {
		return output.Failf("serve: %v", err)
	}
	if o.otlpListen != "" {
		if err := <-errc; err != nil && !errors.Is(err, net.ErrClosed) {
			return output.Failf("serve %s: %v", o.otlpListen, err)
		}
	}
	return nil
}

// ---- ls

type traceLsOptions struct {
	io      *output.IO
	client  func() (*client.Client, error)
	service string
	span    string
	remote  string
	minDur  time.Duration
	maxDur  time.Duration
	since   string
	errOnly bool
	query   string
	limit   int
	json    bool
}

// traceSummary is one row of `obs trace ls --json`.
type traceSummary struct {
	TraceID  string   `json:"traceId"`
	Start    int64    `json:"start"`
	Duration int64    `json:"duration"`
	Spans    int      `json:"spans"`
	Errors   int      `json:"errors"`
	Services []string `json:"services"`
	Root     string   `json:"root"`
}

func summarize(t []tracing.Span) traceSummary {
	tr := view.Build(t)
	j := view.JSON(tr)
	s := traceSummary{TraceID: j.TraceID, Start: tr.Start, Duration: tr.End - tr.Start, Spans: len(j.Spans), Services: j.Services}
	for _, sp := range j.Spans {
		if sp.Error {
			s.Errors++
		}
	}
	if len(tr.Roots) > 0 {
		r := tr.Roots[0].Span
		s.Root = r.LocalServiceName() + ": " + r.Name
	}
	return s
}

func (o *traceLsOptions) toQuery() (tracing.Query, error) {
	q := tracing.Query{ServiceName: strings.ToLower(o.service), SpanName: strings.ToLower(o.span),
		RemoteServiceName: strings.ToLower(o.remote), Limit: o.limit}
	if o.limit <= 0 {
		return q, output.Usagef("--limit must be positive")
	}
	since, err := parseSince(o.since)
	if err != nil {
		return q, output.Usagef("--since: %v", err)
	}
	q.EndTs = time.Now().UnixMilli()
	q.Lookback = since.Milliseconds()
	q.MinDuration = o.minDur.Microseconds()
	q.MaxDuration = o.maxDur.Microseconds()
	if q.MaxDuration > 0 && q.MinDuration == 0 {
		q.MinDuration = 1
	}
	if o.query != "" {
		q.AnnotationQuery = tracing.ParseAnnotationQuery(o.query)
	}
	if o.errOnly {
		if q.AnnotationQuery == nil {
			q.AnnotationQuery = map[string]string{}
		}
		q.AnnotationQuery["error"] = ""
	}
	return q, nil
}

func newTraceLsCmd(g *globals, cl func() (*client.Client, error)) *cobra.Command {
	o := &traceLsOptions{client: cl}
	c := &cobra.Command{
		Use:   "ls",
		Short: "List recent traces matching filters, newest first",
		Long: `List recent traces, newest first, from any Zipkin v2 API.

--json prints an array of: traceId, start (epoch µs), duration (µs), spans,
errors (spans with an error tag), services, root ("service: span name").`,
		Example: `  obs trace ls --service frontend --since 15m
  obs trace ls --error --min-duration 100ms
  obs trace ls --query 'http.path=/api/hash and http.method=GET'`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			o.io = g.IO()
			return runTraceLs(c.Context(), o)
		},
	}
	c.Flags().StringVar(&o.service, "service", "", "only traces with spans of this service")
	c.Flags().StringVar(&o.span, "span", "", "only traces with a span of this name (of --service)")
	c.Flags().StringVar(&o.remote, "remote", "", "only traces calling this remote service")
	c.Flags().DurationVar(&o.minDur, "min-duration", 0, "only traces with a span at least this long")
	c.Flags().DurationVar(&o.maxDur, "max-duration", 0, "with --min-duration: and at most this long")
	c.Flags().StringVar(&o.since, "since", "1h", "how far back to look (30s, 15m, 2h, 3d)")
	c.Flags().BoolVar(&o.errOnly, "error", false, "only traces with an error")
	c.Flags().StringVar(&o.query, "query", "", "Zipkin annotationQuery, e.g. 'error and http.path=/x'")
	c.Flags().IntVar(&o.limit, "limit", 20, "at most this many traces")
	c.Flags().BoolVar(&o.json, "json", false, "print JSON")
	return c
}

// fetch asks the server for the traces the filters select.
func (o *traceLsOptions) fetch(ctx context.Context) ([][]tracing.Span, error) {
	q, err := o.toQuery()
	if err != nil {
		return nil, err
	}
	cc, err := o.client()
	if err != nil {
		return nil, err
	}
	traces, err := cc.Traces(ctx, q)
	if err != nil {
		return nil, output.Failf("%v", err)
	}
	return traces, nil
}

func runTraceLs(ctx context.Context, o *traceLsOptions) error {
	traces, err := o.fetch(ctx)
	if err != nil {
		return err
	}
	rows := make([]traceSummary, 0, len(traces))
	for _, t := range traces {
		rows = append(rows, summarize(t))
	}
	if o.json {
		return o.io.JSON(rows)
	}
	if len(rows) == 0 {
		fmt.Fprintln(o.io.Err, "no traces match")
		return nil
	}
	tb := output.NewTable("TRACE ID", "START", "DURATION", "SPANS", "ERRORS", "ROOT").AlignRight(2, 3, 4)
	for _, r := range rows {
		start := "-"
		if r.Start > 0 {
			start = time.UnixMicro(r.Start).Local().Format("15:04:05.000")
		}
		errs := ""
		if r.Errors > 0 {
			errs = o.io.Paint(output.Red, strconv.Itoa(r.Errors))
		}
		tb.Row(r.TraceID, start, view.FormatDuration(r.Duration), r.Spans, errs, r.Root)
	}
	tb.Render(o.io)
	return nil
}

// ---- show

func newTraceShowCmd(g *globals, cl func() (*client.Client, error)) *cobra.Command {
	var tags, asJSON bool
	c := &cobra.Command{
		Use:   "show TRACEID",
		Short: "Show one trace as a waterfall: tree, durations, self time, critical path",
		Long: `Show one trace as a waterfall: spans indented under their parents, bars on
one time axis scaled to the terminal width, duration and self time (not
covered by children). Solid bars (yellow with colour) are the critical path;
"!" marks a span with an error tag; "~" a span moved to correct clock skew
between hosts (the server centred within its client span, as Zipkin Lens
does). --tags lists tags, annotations and remote endpoints under each span.

--json prints: traceId, start (epoch µs), duration (µs), services, spans
(id, parentId, service, name, kind, depth, timestamp, offset, duration, self,
error, critical, skewCorrection, remoteService, tags, annotations).`,
		Example: `  obs trace show 5af7183fb1d4cf5f86f7da1c2b7b3c4d --tags`,
		Args:    cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			io := g.IO()
			cc, err := cl()
			if err != nil {
				return err
			}
			spans, err := cc.Trace(c.Context(), args[0])
			if err != nil {
				return output.Failf("%v", err)
			}
			t := view.Build(spans)
			if asJSON {
				return io.JSON(view.JSON(t))
			}
			view.Waterfall(io.Out, t, view.Style{Width: io.Width, Color: io.Color, Tags: tags})
			return nil
		},
	}
	c.Flags().BoolVar(&tags, "tags", false, "list tags and annotations under each span")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

// ---- deps

func newTraceDepsCmd(g *globals, cl func() (*client.Client, error)) *cobra.Command {
	var since string
	var asJSON bool
	c := &cobra.Command{
		Use:   "deps",
		Short: "Show the service dependency graph: calls and errors per caller and callee",
		Long: `Show which service calls which over a window, with call and error counts,
including uninstrumented peers (a database named only as a client's remote
service).

--json prints Zipkin's links: parent, child, callCount, errorCount.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			io := g.IO()
			d, err := parseSince(since)
			if err != nil {
				return output.Usagef("--since: %v", err)
			}
			cc, err := cl()
			if err != nil {
				return err
			}
			links, err := cc.Dependencies(c.Context(), time.Now().UnixMilli(), d.Milliseconds())
			if err != nil {
				return output.Failf("%v", err)
			}
			if asJSON {
				if links == nil {
					links = []tracing.DependencyLink{}
				}
				return io.JSON(links)
			}
			if len(links) == 0 {
				fmt.Fprintln(io.Err, "no dependencies in the window")
				return nil
			}
			tb := output.NewTable("CALLER", "", "CALLEE", "CALLS", "ERRORS").AlignRight(3, 4)
			for _, l := range links {
				e := ""
				if l.ErrorCount > 0 {
					e = io.Paint(output.Red, strconv.FormatInt(l.ErrorCount, 10))
				}
				tb.Row(l.Parent, "->", l.Child, l.CallCount, e)
			}
			tb.Render(io)
			return nil
		},
	}
	c.Flags().StringVar(&since, "since", "24h", "window to look back over")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

// ---- top

func newTraceTopCmd(g *globals, cl func() (*client.Client, error)) *cobra.Command {
	o := &traceLsOptions{client: cl}
	c := &cobra.Command{
		Use:   "top",
		Short: "Latency per service and span name over a window: count, errors, p50, p90, p99, max",
		Long: `Fetch up to --limit traces from the window and summarise every span by
service and span name: count, errors, p50/p90/p99 and max duration (nearest
rank), largest total time first.

--json prints an array of: service, name, count, errors, p50, p90, p99, max,
total (µs).`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			io := g.IO()
			traces, err := o.fetch(c.Context())
			if err != nil {
				return err
			}
			stats := view.Top(traces)
			if o.json {
				return io.JSON(stats)
			}
			if len(stats) == 0 {
				fmt.Fprintln(io.Err, "no spans in the window")
				return nil
			}
			fmt.Fprintf(io.Err, "%d traces\n", len(traces))
			tb := output.NewTable("SERVICE", "SPAN", "COUNT", "ERRORS", "P50", "P90", "P99", "MAX").AlignRight(2, 3, 4, 5, 6, 7)
			for _, s := range stats {
				e := ""
				if s.Errors > 0 {
					e = io.Paint(output.Red, strconv.Itoa(s.Errors))
				}
				tb.Row(s.Service, s.Name, s.Count, e, view.FormatDuration(s.P50), view.FormatDuration(s.P90),
					view.FormatDuration(s.P99), view.FormatDuration(s.Max))
			}
			tb.Render(io)
			return nil
		},
	}
	c.Flags().StringVar(&o.service, "service", "", "only traces with spans of this service")
	c.Flags().StringVar(&o.span, "span", "", "only traces with a span of this name")
	c.Flags().StringVar(&o.since, "since", "1h", "window to look back over")
	c.Flags().DurationVar(&o.minDur, "min-duration", 0, "only traces with a span at least this long")
	c.Flags().BoolVar(&o.errOnly, "error", false, "only traces with an error")
	c.Flags().IntVar(&o.limit, "limit", 1000, "traces to sample")
	c.Flags().BoolVar(&o.json, "json", false, "print JSON")
	return c
}

// ---- diff

func newTraceDiffCmd(g *globals, cl func() (*client.Client, error)) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "diff TRACE_A TRACE_B",
		Short: "Compare two traces span by span (matched by service, name and parent)",
		Long: `Compare two traces: spans are matched by service, span name and their path
from the root (repeats numbered in time order), and durations listed side by
side with the change. A trace id or a file of JSON v2 spans (as 'export'
writes) may be given for either side.

--json prints an array of: path, depth, a, b (µs, -1 when absent), delta,
errorA, errorB.`,
		Args: cobra.ExactArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			io := g.IO()
			var trees [2]*view.Tree
			for i, a := range args {
				spans, err := loadTraceArg(c.Context(), cl, a)
				if err != nil {
					return err
				}
				trees[i] = view.Build(spans)
			}
			rows := view.Diff(trees[0], trees[1])
			if asJSON {
				return io.JSON(rows)
			}
			tb := output.NewTable("SPAN", "A", "B", "DELTA").AlignRight(1, 2, 3)
			d := func(v int64) string {
				if v < 0 {
					return "-"
				}
				return view.FormatDuration(v)
			}
			for _, r := range rows {
				name := r.Path
				if i := strings.LastIndex(name, " > "); i >= 0 {
					name = name[i+3:]
				}
				delta := ""
				if r.A >= 0 && r.B >= 0 {
					sign := "+"
					v := r.Delta
					if v < 0 {
						sign, v = "-", -v
					}
					delta = sign + view.FormatDuration(v)
					if r.A > 0 && r.Delta > r.A/5 && r.Delta > 1000 {
						delta = io.Paint(output.Red, delta)
					}
				} else if r.A < 0 {
					delta = "only in B"
				} else {
					delta = "only in A"
				}
				tb.Row(strings.Repeat("  ", r.Depth)+name, d(r.A), d(r.B), delta)
			}
			tb.Render(io)
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

// loadTraceArg reads a trace id from the server, or a file of spans.
func loadTraceArg(ctx context.Context, cl func() (*client.Client, error), a string) ([]tracing.Span, error) {
	if st, err := os.Stat(a); err == nil && !st.IsDir() {
		b, err := os.ReadFile(a)
		if err != nil {
			return nil, output.Failf("%v", err)
		}
		traces, err := decodeAny(b)
		if err != nil {
			return nil, output.Failf("%s: %v", a, err)
		}
		var all []tracing.Span
		for _, t := range traces {
			all = append(all, t...)
		}
		return all, nil
	}
	cc, err := cl()
	if err != nil {
		return nil, err
	}
	spans, err := cc.Trace(ctx, a)
	if err != nil {
		return nil, output.Failf("%v", err)
	}
	return spans, nil
}

// decodeAny reads JSON v2 spans, a list of traces, or v1 JSON spans.
func decodeAny(b []byte) ([][]tracing.Span, error) {
	trim := strings.TrimLeft(string(b[:min(len(b), 64)]), " \t\r\n")
	if strings.HasPrefix(trim, "[") && strings.HasPrefix(strings.TrimLeft(trim[1:], " \t\r\n"), "[") {
		return tracing.DecodeJSONV2Traces(b)
	}
	spans, err := tracing.DecodeJSONV2(b)
	if err != nil {
		if v1, err1 := tracing.DecodeJSONV1(b); err1 == nil && len(v1) > 0 {
			spans, err = v1, nil
		}
	}
	if err != nil {
		return nil, errors.New(strings.TrimPrefix(err.Error(), "invalid span: "))
	}
	return [][]tracing.Span{spans}, nil
}

// ---- import / export

func newTraceImportCmd(g *globals, cl func() (*client.Client, error)) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "import FILE",
		Short: "Send spans from a file (JSON v2 spans or traces, or v1 JSON) to the server",
		Long: `Read spans from FILE ('-' for standard input): a JSON v2 list of spans, a
list of traces (what /api/v2/traces and 'export' return), or v1 JSON; post
them to --server in batches.

--json prints: spans, traces, server.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			io := g.IO()
			var b []byte
			var err error
			if args[0] == "-" {
				b, err = readAllLimited(io.In)
			} else {
				b, err = os.ReadFile(args[0])
			}
			if err != nil {
				return output.Failf("%v", err)
			}
			traces, err := decodeAny(b)
			if err != nil {
				return output.Failf("%s: %v", args[0], err)
			}
			cc, err := cl()
			if err != nil {
				return err
			}
			var all []tracing.Span
			ids := map[tracing.TraceID]bool{}
			for _, t := range traces {
				for _, s := range t {
					ids[s.TraceID] = true
				}
				all = append(all, t...)
			}
			for i := 0; i < len(all); i += 1000 {
				if err := cc.Post(c.Context(), all[i:min(i+1000, len(all))]); err != nil {
					return output.Failf("%v", err)
				}
			}
			if asJSON {
				return io.JSON(map[string]any{"spans": len(all), "traces": len(ids), "server": cc.Base})
			}
			io.Printf("imported %d spans (%d traces) into %s\n", len(all), len(ids), cc.Base)
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func readAllLimited(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, 1<<30))
	return b, err
}

func newTraceExportCmd(g *globals, cl func() (*client.Client, error)) *cobra.Command {
	o := &traceLsOptions{client: cl}
	var out string
	c := &cobra.Command{
		Use:   "export [TRACEID...]",
		Short: "Write traces as JSON v2 spans (by id, or by the ls filters)",
		Long: `Write the given traces, or those the filters select, as one JSON v2 list of
spans (what Zipkin's UI uploads and 'import' reads) to standard output or -o.
The output is JSON already; --json is accepted for uniformity.`,
		RunE: func(c *cobra.Command, args []string) error {
			io := g.IO()
			cc, err := o.client()
			if err != nil {
				return err
			}
			var all []tracing.Span
			n := 0
			if len(args) > 0 {
				for _, a := range args {
					spans, err := cc.Trace(c.Context(), a)
					if err != nil {
						return output.Failf("%v", err)
					}
					all = append(all, spans...)
					n++
				}
			} else {
				q, err := o.toQuery()
				if err != nil {
					return err
				}
				traces, err := cc.Traces(c.Context(), q)
				if err != nil {
					return output.Failf("%v", err)
				}
				for _, t := range traces {
					all = append(all, t...)
				}
				n = len(traces)
			}
			b := append(tracing.EncodeJSONV2(all), '\n')
			if out == "" || out == "-" {
				_, err = io.Out.Write(b)
			} else {
				err = os.WriteFile(out, b, 0o644)
				if err == nil {
					fmt.Fprintf(io.Err, "wrote %d spans (%d traces) to %s\n", len(all), n, out)
				}
			}
			if err != nil {
				return output.Failf("%v", err)
			}
			return nil
		},
	}
	c.Flags().StringVarP(&out, "output", "o", "", "write to this file instead of standard output")
	c.Flags().StringVar(&o.service, "service", "", "only traces with spans of this service")
	c.Flags().StringVar(&o.span, "span", "", "only traces with a span of this name")
	c.Flags().StringVar(&o.since, "since", "1h", "how far back to look")
	c.Flags().BoolVar(&o.errOnly, "error", false, "only traces with an error")
	c.Flags().IntVar(&o.limit, "limit", 100, "at most this many traces")
	c.Flags().BoolVar(&o.json, "json", false, "(output is always JSON)")
	return c
}
