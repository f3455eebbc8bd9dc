package forward

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/obs-toolkit/obs/tracing"
	"github.com/obs-toolkit/obs/tracing/server"
	"github.com/obs-toolkit/obs/tracing/store"
)

// waitFor polls cond for up to a minute (delivery callbacks may trail
// Flush on a loaded machine).
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond() && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
}

func batch(trace uint64, n int) []tracing.Span {
	var out []tracing.Span
	for i := 1; i <= n; i++ {
		out = append(out, tracing.Span{TraceID: tracing.TraceID{Low: trace}, ID: tracing.ID(i), Name: "op", Timestamp: 1000 + int64(i), Duration: 5,
			LocalEndpoint: &tracing.Endpoint{ServiceName: "svc"}})
	}
	return out
}

func serve(t *testing.T, fw *Forwarder) string {
	st, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { server.New(st, server.Config{Forward: fw}).Serve(ctx, ln); close(done) }()
	t.Cleanup(func() { cancel(); <-done; st.Close() })
	return "http://" + ln.Addr().String()
}

func post(t *testing.T, url string, spans []tracing.Span) {
	resp, err := http.Post(url+"/api/v2/spans", "application/json", bytes.NewReader(tracing.EncodeJSONV2(spans)))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 202 {
		t.Fatalf("post: %s", resp.Status)
	}
}

// Spans accepted by the server arrive in Kafka as JSON v2 lists, split to
// at most MessageSpans per message; a consumer reading the topic gets them
// all back.
func TestForwardToKafka(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "zipkin"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fw, err := New(Config{Brokers: c.ListenAddrs(), MessageSpans: 40})
	if err != nil {
		t.Fatal(err)
	}
	base := serve(t, fw)
	want := map[string]bool{}
	for tr := uint64(1); tr <= 5; tr++ {
		b := batch(tr, 30)
		for _, s := range b {
			want[fmt.Sprintf("%s/%s", s.TraceID, s.ID)] = true
		}
		post(t, base, b)
	}
	if err := fw.Close(60 * time.Second); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return fw.Sent.Load()+fw.Dropped.Load()+fw.Failed.Load() == 150 })
	if fw.Sent.Load() != 150 || fw.Dropped.Load() != 0 || fw.Failed.Load() != 0 {
		t.Fatalf("sent %d dropped %d failed %d", fw.Sent.Load(), fw.Dropped.Load(), fw.Failed.Load())
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics("zipkin"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	got := map[string]bool{}
	msgs := 0
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for len(got) < len(want) && ctx.Err() == nil {
		fs := cons.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) {
			msgs++
			spans, err := tracing.DecodeJSONV2(r.Value)
			if err != nil {
				t.Errorf("message is not a JSON v2 list: %v", err)
			}
			if len(spans) > 40 {
				t.Errorf("message of %d spans", len(spans))
			}
			for _, s := range spans {
				got[fmt.Sprintf("%s/%s", s.TraceID, s.ID)] = true
			}
		})
	}
	if len(got) != len(want) {
		t.Fatalf("consumed %d of %d spans", len(got), len(want))
	}
	// 30 spans per post and at most 40 per message: one message a post.
	if msgs != 5 {
		t.Fatalf("%d messages, want 5", msgs)
	}
}

// A dead broker never holds up ingest: spans are accepted, and what cannot
// be queued or delivered is counted.
func TestForwardDoesNotBlockIngest(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	fw, err := New(Config{Brokers: []string{dead}, QueueSpans: 50, DeliveryTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	base := serve(t, fw)
	start := time.Now()
	for tr := uint64(1); tr <= 10; tr++ {
		post(t, base, batch(tr, 30))
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("ingest took %s with a dead broker", d)
	}
	fw.Close(60 * time.Second)
	waitFor(t, func() bool { return fw.Sent.Load()+fw.Dropped.Load()+fw.Failed.Load() == 300 })
	if fw.Sent.Load() != 0 || fw.Dropped.Load()+fw.Failed.Load() != 300 {
		t.Fatalf("sent %d dropped %d failed %d, want 300 dropped or failed", fw.Sent.Load(), fw.Dropped.Load(), fw.Failed.Load())
	}
	var m strings.Builder
	fw.WriteMetrics(&m)
	if !strings.Contains(m.String(), `obs_trace_forward_spans_total{result="sent"} 0`) {
		t.Fatalf("metrics:\n%s", m.String())
	}
}
