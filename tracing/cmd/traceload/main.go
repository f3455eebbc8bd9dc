// Command traceload is the load generator for bench/trace.sh: it posts JSON
// v2 batches of spans over several connections to a Zipkin endpoint for a
// bounded time, then reports accepted spans per second and ingest latency
// percentiles, and (with -queries) the latency of fetching single traces
// back. It sends only to the URL given (loopback in the benchmark).
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/obs-toolkit/obs/tracing"
)

type result struct {
	Conns          int     `json:"conns"`
	Seconds        float64 `json:"seconds"`
	Requests       int     `json:"requests"`
	Spans          int     `json:"spans"`
	Rejected       int     `json:"rejected"`
	Errors         int     `json:"errors"`
	SpansPerSec    float64 `json:"spans_per_sec"`
	P50ms          float64 `json:"p50_ms"`
	P99ms          float64 `json:"p99_ms"`
	MaxMs          float64 `json:"max_ms"`
	Queries        int     `json:"queries,omitempty"`
	QueryP50ms     float64 `json:"query_p50_ms,omitempty"`
	QueryP99ms     float64 `json:"query_p99_ms,omitempty"`
	QueryNotFound  int     `json:"query_not_found,omitempty"`
	SearchP50ms    float64 `json:"search_p50_ms,omitempty"`
	SearchP99ms    float64 `json:"search_p99_ms,omitempty"`
	Searches       int     `json:"searches,omitempty"`
	BytesPerSecond float64 `json:"bytes_per_sec"`
}

// batch builds batchSize spans: traces of ten spans over three services,
// with tags as real HTTP instrumentation has.
func batch(r *rand.Rand, size int, now int64, ids *[]tracing.TraceID) []tracing.Span {
	svcs := []string{"frontend", "backend", "db-proxy"}
	out := make([]tracing.Span, 0, size)
	for len(out) < size {
		tid := tracing.TraceID{High: r.Uint64() | 1<<60, Low: r.Uint64() | 1} // 32 hex digits
		*ids = append(*ids, tid)
		root := tracing.ID(r.Uint64() | 1)
		for j := 0; j < 10 && len(out) < size; j++ {
			s := tracing.Span{TraceID: tid, ID: tracing.ID(r.Uint64() | 1), Kind: tracing.KindServer,
				Name: fmt.Sprintf("get /api/v1/item/%d", j%4), Timestamp: now + int64(j*100), Duration: int64(500 + r.IntN(20000)),
				LocalEndpoint: &tracing.Endpoint{ServiceName: svcs[j%3], Port: 8080 + j%3},
				Tags: map[string]string{"http.method": "GET", "http.path": fmt.Sprintf("/api/v1/item/%d", j%4),
					"http.status_code": "200", "component": "net/http"}}
			if j == 0 {
				s.ID = root
			} else {
				s.ParentID = root
				s.Kind = tracing.KindClient
				s.RemoteEndpoint = &tracing.Endpoint{ServiceName: svcs[(j+1)%3]}
			}
			if r.IntN(50) == 0 {
				s.Tags["error"] = "timeout"
			}
			out = append(out, s)
		}
	}
	return out
}

// template is one encoded batch whose trace ids are rewritten in place for
// each request, so the generator spends its CPU on sending, not encoding
// (it shares the machine with the server). Templates are remade every
// 50ms so timestamps move on.
type template struct {
	made time.Time
	b    []byte
	offs [][]int // per trace: where its 32 hex digits appear
}

func newTemplate(r *rand.Rand, size int) template {
	var ids []tracing.TraceID
	spans := batch(r, size, time.Now().UnixMicro(), &ids)
	t := template{made: time.Now(), b: tracing.EncodeJSONV2(spans)}
	for _, id := range ids {
		hex := []byte(id.String())
		var offs []int
		for i := 0; ; {
			j := bytes.Index(t.b[i:], hex)
			if j < 0 {
				break
			}
			offs = append(offs, i+j)
			i += j + len(hex)
		}
		t.offs = append(t.offs, offs)
	}
	return t
}

// body returns a copy of the template with fresh trace ids.
func (t *template) body(r *rand.Rand) ([]byte, []tracing.TraceID) {
	b := append([]byte(nil), t.b...)
	ids := make([]tracing.TraceID, len(t.offs))
	for k, offs := range t.offs {
		id := tracing.TraceID{High: r.Uint64() | 1<<60, Low: r.Uint64() | 1}
		ids[k] = id
		hex := id.String()
		for _, o := range offs {
			copy(b[o:], hex)
		}
	}
	return b, ids
}

func pct(d []time.Duration, p float64) float64 {
	if len(d) == 0 {
		return 0
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	i := int(p*float64(len(d))+0.999999) - 1
	if i < 0 {
		i = 0
	}
	if i >= len(d) {
		i = len(d) - 1
	}
	return float64(d[i].Microseconds()) / 1000
}

func main() {
	url := flag.String("url", "http://127.0.0.1:9411", "server base URL")
	conns := flag.Int("conns", 8, "concurrent connections")
	dur := flag.Duration("duration", 10*time.Second, "how long to send")
	size := flag.Int("batch", 100, "spans per request")
	queries := flag.Int("queries", 0, "afterwards, fetch this many sent traces by id")
	asJSON := flag.Bool("json", false, "print JSON")
	flag.Parse()
	if *conns <= 0 || *size <= 0 || *dur <= 0 || *dur > 10*time.Minute {
		fmt.Fprintln(os.Stderr, "traceload: -conns, -batch must be positive and -duration within (0, 10m]")
		os.Exit(2)
	}
	tr := &http.Transport{MaxIdleConnsPerHost: *conns, MaxConnsPerHost: *conns}
	cl := &http.Client{Transport: tr, Timeout: 60 * time.Second}
	var mu sync.Mutex
	var lats []time.Duration
	var ids []tracing.TraceID
	res := result{Conns: *conns}
	var sent int64
	start := time.Now()
	deadline := start.Add(*dur)
	var wg sync.WaitGroup
	for c := 0; c < *conns; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(c)+1, uint64(time.Now().UnixNano())))
			var local []time.Duration
			var myIDs []tracing.TraceID
			spans, rejected, errs, req := 0, 0, 0, 0
			var bytesSent int64
			var tmpl template
			for time.Now().Before(deadline) {
				if time.Since(tmpl.made) > 50*time.Millisecond {
					tmpl = newTemplate(r, *size)
				}
				body, tids := tmpl.body(r)
				t0 := time.Now()
				resp, err := cl.Post(*url+"/api/v2/spans", "application/json", bytes.NewReader(body))
				if err != nil {
					errs++
					time.Sleep(10 * time.Millisecond)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				req++
				switch {
				case resp.StatusCode == 202:
					local = append(local, time.Since(t0))
					spans += *size
					bytesSent += int64(len(body))
					if len(myIDs) < 1000 {
						myIDs = append(myIDs, tids[0])
					}
				case resp.StatusCode == 429 || resp.StatusCode == 503:
					rejected++
				default:
					errs++
				}
			}
			mu.Lock()
			lats = append(lats, local...)
			ids = append(ids, myIDs...)
			res.Spans += spans
			res.Rejected += rejected
			res.Errors += errs
			res.Requests += req
			sent += bytesSent
			mu.Unlock()
		}(c)
	}
	wg.Wait()
	el := time.Since(start).Seconds()
	res.Seconds = el
	res.SpansPerSec = float64(res.Spans) / el
	res.BytesPerSecond = float64(sent) / el
	res.P50ms, res.P99ms, res.MaxMs = pct(lats, 0.50), pct(lats, 0.99), pct(lats, 1)
	if *queries > 0 && len(ids) > 0 {
		var ql []time.Duration
		r := rand.New(rand.NewPCG(7, 7))
		for i := 0; i < *queries; i++ {
			id := ids[r.IntN(len(ids))]
			t0 := time.Now()
			resp, err := cl.Get(*url + "/api/v2/trace/" + id.String())
			if err != nil {
				res.Errors++
				continue
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			ql = append(ql, time.Since(t0))
			if resp.StatusCode != 200 {
				res.QueryNotFound++
			} else if spans, err := tracing.DecodeJSONV2(b); err != nil || len(spans) == 0 {
				res.QueryNotFound++
			}
		}
		res.Queries = len(ql)
		res.QueryP50ms, res.QueryP99ms = pct(ql, 0.5), pct(ql, 0.99)
		// Searches as a UI sends them: a service and a tag, newest ten.
		var sl []time.Duration
		for i := 0; i < *queries/5; i++ {
			q := "/api/v2/traces?serviceName=backend&limit=10&lookback=3600000"
			if i%2 == 1 {
				q = "/api/v2/traces?serviceName=frontend&annotationQuery=http.path%3D%2Fapi%2Fv1%2Fitem%2F3&limit=10&lookback=3600000"
			}
			t0 := time.Now()
			resp, err := cl.Get(*url + q)
			if err != nil {
				res.Errors++
				continue
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			sl = append(sl, time.Since(t0))
			if t, err := tracing.DecodeJSONV2Traces(b); resp.StatusCode != 200 || err != nil || len(t) == 0 {
				res.QueryNotFound++
			}
		}
		res.Searches = len(sl)
		res.SearchP50ms, res.SearchP99ms = pct(sl, 0.5), pct(sl, 0.99)
	}
	if *asJSON {
		json.NewEncoder(os.Stdout).Encode(res)
		return
	}
	fmt.Printf("%d conns, %.1fs: %d spans accepted (%.0f spans/s, %.1f MB/s), %d rejected, %d errors; ingest p50 %.1fms p99 %.1fms max %.1fms\n",
		res.Conns, res.Seconds, res.Spans, res.SpansPerSec, res.BytesPerSecond/1e6, res.Rejected, res.Errors, res.P50ms, res.P99ms, res.MaxMs)
	if res.Queries > 0 {
		fmt.Printf("trace by id: %d queries, p50 %.2fms p99 %.2fms; searches (service, tag, limit 10): %d, p50 %.2fms p99 %.2fms; %d empty or not found\n",
			res.Queries, res.QueryP50ms, res.QueryP99ms, res.Searches, res.SearchP50ms, res.SearchP99ms, res.QueryNotFound)
	}
}
