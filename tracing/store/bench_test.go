package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/obs-toolkit/obs/tracing"
)

// BenchmarkWrite writes 100-span batches from parallel writers into a
// durable store (group commit); b.N counts batches.
func BenchmarkWrite(b *testing.B) {
	st, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	var n atomic.Uint64
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			spans := make([]tracing.Span, 0, 100)
			now := time.Now().UnixMicro()
			for i := 0; i < 10; i++ {
				tid := tracing.TraceID{High: n.Add(1) * 0x9e3779b97f4a7c15, Low: n.Add(1) * 0xbf58476d1ce4e5b9}
				for j := 0; j < 10; j++ {
					s := tracing.Span{TraceID: tid, ID: tracing.ID(j + 1), Name: fmt.Sprintf("get /item/%d", j%4), Timestamp: now + int64(j), Duration: int64(100 + j*1000),
						Kind: tracing.KindServer, LocalEndpoint: &tracing.Endpoint{ServiceName: fmt.Sprintf("svc%d", j%3)},
						Tags: map[string]string{"http.method": "GET", "http.path": fmt.Sprintf("/item/%d", j%4), "http.status_code": "200", "component": "net/http"}}
					if j > 0 {
						s.ParentID = 1
						s.Kind = tracing.KindClient
						s.RemoteEndpoint = &tracing.Endpoint{ServiceName: "backend"}
					}
					spans = append(spans, s)
				}
			}
			if err := st.Write(context.Background(), spans); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "spans/s")
	b.ReportMetric(float64(st.CommitNano.Load())/float64(st.Commits.Load())/1e6, "ms/commit")
	b.ReportMetric(float64(b.N)/float64(st.Commits.Load()), "batches/commit")
	b.ReportMetric(float64(st.IndexNano.Load())/float64(st.IndexCommits.Load())/1e6, "ms/index-commit")
	b.ReportMetric(float64(b.N)/float64(st.IndexCommits.Load()), "batches/index-commit")
	st.db.View(func(tx *bolt.Tx) error {
		b.ReportMetric(float64(tx.Bucket(bucketIdx).Stats().KeyN)/float64(b.N*100), "idxrows/span")
		return nil
	})
}

// BenchmarkTraceByIDLarge fills a store with OBS_TRACE_BENCH_SPANS spans
// (ten-span traces; filled without fsync, which changes nothing for reads)
// and times fetching one trace by id. Skipped unless the variable is set:
// bench/trace.sh sets it.
func BenchmarkTraceByIDLarge(b *testing.B) {
	n, _ := strconv.Atoi(os.Getenv("OBS_TRACE_BENCH_SPANS"))
	if n <= 0 {
		b.Skip("set OBS_TRACE_BENCH_SPANS to the store size to measure at")
	}
	traces := n / 10
	largeOnce.Do(func() { largeStore, largeFill = fillLarge(b, traces) })
	st := largeStore
	if st == nil {
		b.Fatal("fill failed")
	}
	r := rand.New(rand.NewPCG(1, 2))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t := r.IntN(traces)
		spans, err := st.Trace(tracing.TraceID{High: uint64(t+1) * 0x9e3779b97f4a7c15, Low: uint64(t + 1)})
		if err != nil || len(spans) != 10 {
			b.Fatalf("trace %d: %d spans, %v", t, len(spans), err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(traces*10), "stored-spans")
	b.ReportMetric(largeFill.Seconds(), "fill-s")
}

var (
	largeOnce  sync.Once
	largeStore *Store
	largeFill  time.Duration
)

func fillLarge(b *testing.B, traces int) (*Store, time.Duration) {
	dir, err := os.MkdirTemp("", "obs-trace-large")
	if err != nil {
		b.Fatal(err)
	}
	st, err := Open(dir, Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	var wg sync.WaitGroup
	var next atomic.Int64
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				first := next.Add(100) - 100
				if first >= int64(traces) {
					return
				}
				spans := make([]tracing.Span, 0, 1000)
				now := time.Now().UnixMicro()
				for t := first; t < first+100 && t < int64(traces); t++ {
					tid := tracing.TraceID{High: uint64(t+1) * 0x9e3779b97f4a7c15, Low: uint64(t + 1)}
					for j := 0; j < 10; j++ {
						s := tracing.Span{TraceID: tid, ID: tracing.ID(j + 1), Name: fmt.Sprintf("op%d", j%4), Timestamp: now + int64(j), Duration: int64(100 + j*10),
							LocalEndpoint: &tracing.Endpoint{ServiceName: fmt.Sprintf("svc%d", j%3)}, Tags: map[string]string{"http.path": fmt.Sprintf("/p/%d", j%5)}}
						if j > 0 {
							s.ParentID = 1
						}
						spans = append(spans, s)
					}
				}
				if err := st.Write(context.Background(), spans); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	largeDir = dir
	return st, time.Since(start)
}

var largeDir string

func TestMain(m *testing.M) {
	code := m.Run()
	if largeStore != nil {
		largeStore.Close()
		os.RemoveAll(largeDir)
	}
	os.Exit(code)
}
