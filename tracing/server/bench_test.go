package server

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/obs-toolkit/obs/tracing"
)

// BenchmarkIngest posts 100-span JSON v2 batches over loopback into a
// durable store from parallel clients; b.N counts requests.
func BenchmarkIngest(b *testing.B) {
	base, _ := start(&testing.T{}, b.TempDir(), Config{})
	var n atomic.Uint64
	now := time.Now().UnixMicro()
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			var spans []tracing.Span
			for i := 0; i < 10; i++ {
				id := n.Add(1)
				for j := 0; j < 10; j++ {
					s := sample(id, fmt.Sprintf("svc%d", j%3), now)[0]
					s.ID = tracing.ID(j + 1)
					if j > 0 {
						s.ParentID = 1
					}
					spans = append(spans, s)
				}
			}
			resp, err := http.Post(base+"/api/v2/spans", "application/json", bytes.NewReader(tracing.EncodeJSONV2(spans)))
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 202 {
				b.Fatal(resp.Status)
			}
		}
	})
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "spans/s")
}
