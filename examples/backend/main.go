// Command backend is the example service that does the work: GET /work
// hashes a buffer n times and sorts a freshly allocated slice, so it burns
// CPU and allocates, which is what the obs demo profiles and probes.
//
//	backend [-addr 127.0.0.1:0] [-log FILE] [-zipkin URL] [-leak]
package main

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/openzipkin/zipkin-go"

	"github.com/obs-toolkit/obs/examples/internal/svc"
)

// Limits keep one request bounded whatever its parameters say.
const (
	maxRounds = 200_000
	maxDelay  = 2 * time.Second
)

type backend struct {
	s        *svc.Service
	leak     bool
	requests atomic.Int64
	leaked   atomic.Int64
}

// WorkResult is the body of a /work response.
type WorkResult struct {
	Rounds int    `json:"rounds"`
	Digest string `json:"digest"`
	Sorted int    `json:"sorted"`
	Median int64  `json:"median"`
	Micros int64  `json:"micros"`
}

func main() {
	var f svc.Flags
	f.Register(flag.CommandLine)
	leak := flag.Bool("leak", false, "every 10th /work request leaves a goroutine blocked forever (for obs core leaks)")
	flag.Parse()
	s, err := svc.Start("backend", f)
	if err != nil {
		svc.Fatal("backend", err)
	}
	b := &backend{s: s, leak: *leak}
	s.Expose("requests", b.requests.Load)
	s.Expose("leaked", b.leaked.Load)
	mux := http.NewServeMux()
	svc.Handle(mux, "GET /work", b.work)
	svc.Handle(mux, "GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	os.Exit(s.Run(mux))
}

// work handles GET /work?n=ROUNDS[&delay=DURATION].
func (b *backend) work(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	n, err := intParam(r, "n", 2000)
	if err != nil || n < 1 || n > maxRounds {
		http.Error(w, fmt.Sprintf("n must be 1..%d", maxRounds), http.StatusBadRequest)
		return
	}
	if d := r.URL.Query().Get("delay"); d != "" {
		delay, err := time.ParseDuration(d)
		if err != nil || delay < 0 || delay > maxDelay {
			http.Error(w, "delay must be a duration up to "+maxDelay.String(), http.StatusBadRequest)
			return
		}
		time.Sleep(delay) // off-CPU time, as a slow dependency would cause
	}
	count := b.requests.Add(1)

	span, _ := b.s.Tracer.StartSpanFromContext(r.Context(), "hash+sort")
	res := doWork(n)
	span.Tag("rounds", strconv.Itoa(n))
	span.Finish()

	if b.leak && count%10 == 0 {
		b.leakOne()
	}
	res.Micros = time.Since(start).Microseconds()
	b.s.Log.Info("work done", "rounds", n, "micros", res.Micros, "trace_id", traceID(span))
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(res)
}

// doWork hashes a 4 KiB buffer n times (feeding each digest back in) and
// sorts n pseudo-random numbers seeded by the final digest.
func doWork(n int) WorkResult {
	buf := make([]byte, 4096)
	var sum [32]byte
	for i := 0; i < n; i++ {
		copy(buf, sum[:])
		sum = sha256.Sum256(buf)
	}
	rng := rand.New(rand.NewPCG(binary.LittleEndian.Uint64(sum[:8]), uint64(n)))
	nums := make([]int64, n)
	for i := range nums {
		nums[i] = rng.Int64N(1_000_000)
	}
	slices.Sort(nums)
	return WorkResult{Rounds: n, Digest: hex.EncodeToString(sum[:8]), Sorted: len(nums), Median: nums[len(nums)/2]}
}

// leakOne starts a goroutine that waits on a channel nobody else holds: it
// can never run again, which is what obs core leaks looks for.
func (b *backend) leakOne() {
	b.leaked.Add(1)
	ch := make(chan []byte)
	go func() {
		buf := <-ch
		_ = buf
	}()
}

func intParam(r *http.Request, name string, def int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	return strconv.Atoi(v)
}

func traceID(s zipkin.Span) string { return s.Context().TraceID.String() }
