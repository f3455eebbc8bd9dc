package store

import (
	"context"
	"fmt"
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
