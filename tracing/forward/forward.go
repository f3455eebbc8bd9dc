// Package forward sends the spans obs trace serve accepts on to Kafka in
// Zipkin's Kafka format (each message a JSON v2 list of spans, as Zipkin's
// Kafka reporter sends and its Kafka collector reads), so a Zipkin cluster
// or another consumer can store them beyond one host. Forwarding never
// holds up ingest: batches wait in a bounded queue, and what does not fit,
// or what Kafka refuses after retries, is counted as dropped.
package forward

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/obs-toolkit/obs/tracing"
)

// Config says where to forward.
type Config struct {
	Brokers []string
	Topic   string // default "zipkin"
	// QueueSpans bounds the spans waiting to be produced (default 200000).
	QueueSpans int
	// MessageSpans is the most spans in one message (default 500, which
	// keeps messages well under Kafka's 1 MB default).
	MessageSpans int
	// DeliveryTimeout bounds retries of one message (default 30s).
	DeliveryTimeout time.Duration
}

// Forwarder produces accepted spans to Kafka.
type Forwarder struct {
	cfg    Config
	cl     *kgo.Client
	q      chan []tracing.Span
	queued atomic.Int64
	wg     sync.WaitGroup
	closed atomic.Bool
	mu     sync.Mutex // q close against Enqueue

	Sent    atomic.Uint64 // spans Kafka acknowledged
	Dropped atomic.Uint64 // spans not queued (queue full, closed)
	Failed  atomic.Uint64 // spans Kafka refused after retries
}

// New connects lazily to the brokers (a down broker is retried, not an
// error here).
func New(cfg Config) (*Forwarder, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("forward: no Kafka brokers given")
	}
	if cfg.Topic == "" {
		cfg.Topic = "zipkin"
	}
	if cfg.QueueSpans <= 0 {
		cfg.QueueSpans = 200000
	}
	if cfg.MessageSpans <= 0 {
		cfg.MessageSpans = 500
	}
	if cfg.DeliveryTimeout <= 0 {
		cfg.DeliveryTimeout = 30 * time.Second
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.DefaultProduceTopic(cfg.Topic),
		kgo.RecordDeliveryTimeout(cfg.DeliveryTimeout),
		kgo.ProducerLinger(5*time.Millisecond),
		kgo.MaxBufferedRecords(10000),
		kgo.ProducerBatchCompression(kgo.Lz4Compression(), kgo.NoCompression()),
	)
	if err != nil {
		return nil, fmt.Errorf("forward: kafka client: %w", err)
	}
	f := &Forwarder{cfg: cfg, cl: cl, q: make(chan []tracing.Span, 4096)}
	f.wg.Add(1)
	go f.run()
	return f, nil
}

// Enqueue queues spans to forward, or counts them dropped when the queue
// is full. It never blocks.
func (f *Forwarder) Enqueue(spans []tracing.Span) {
	n := int64(len(spans))
	if n == 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed.Load() || f.queued.Add(n) > int64(f.cfg.QueueSpans) {
		if !f.closed.Load() {
			f.queued.Add(-n)
		}
		f.Dropped.Add(uint64(n))
		return
	}
	select {
	case f.q <- spans:
	default:
		f.queued.Add(-n)
		f.Dropped.Add(uint64(n))
	}
}

func (f *Forwarder) run() {
	defer f.wg.Done()
	ctx := context.Background()
	for spans := range f.q {
		for i := 0; i < len(spans); i += f.cfg.MessageSpans {
			part := spans[i:min(i+f.cfg.MessageSpans, len(spans))]
			n := uint64(len(part))
			f.cl.Produce(ctx, &kgo.Record{Value: tracing.EncodeJSONV2(part)}, func(_ *kgo.Record, err error) {
				if err != nil {
					f.Failed.Add(n)
				} else {
					f.Sent.Add(n)
				}
			})
		}
		f.queued.Add(-int64(len(spans)))
	}
}

// Close stops taking spans, waits up to timeout for what is queued to be
// acknowledged, and disconnects.
func (f *Forwarder) Close(timeout time.Duration) error {
	f.mu.Lock()
	if !f.closed.Swap(true) {
		close(f.q)
	}
	f.mu.Unlock()
	f.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := f.cl.Flush(ctx)
	f.cl.Close()
	if err != nil {
		return fmt.Errorf("forward: flush to kafka: %w", err)
	}
	return nil
}

// WriteMetrics writes the forwarder's counters in Prometheus text.
func (f *Forwarder) WriteMetrics(w io.Writer) {
	var b strings.Builder
	b.WriteString("# HELP obs_trace_forward_spans_total Spans forwarded to Kafka, by result.\n# TYPE obs_trace_forward_spans_total counter\n")
	fmt.Fprintf(&b, "obs_trace_forward_spans_total{result=\"sent\"} %d\n", f.Sent.Load())
	fmt.Fprintf(&b, "obs_trace_forward_spans_total{result=\"dropped\"} %d\n", f.Dropped.Load())
	fmt.Fprintf(&b, "obs_trace_forward_spans_total{result=\"failed\"} %d\n", f.Failed.Load())
	b.WriteString("# HELP obs_trace_forward_queued_spans Spans waiting to be produced.\n# TYPE obs_trace_forward_queued_spans gauge\n")
	fmt.Fprintf(&b, "obs_trace_forward_queued_spans %d\n", f.queued.Load())
	io.WriteString(w, b.String())
}
