package store

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/obs-toolkit/obs/tracing"
)

func span(trace, id, parent uint64, svc, name string, ts int64) tracing.Span {
	return tracing.Span{TraceID: tracing.TraceID{Low: trace}, ID: tracing.ID(id), ParentID: tracing.ID(parent), Name: name,
		Timestamp: ts, Duration: 10, LocalEndpoint: &tracing.Endpoint{ServiceName: svc}, Tags: map[string]string{"k": name}}
}

// Retention counts from when spans were received, as Zipkin's TTLs do.
func TestRetentionSweep(t *testing.T) {
	now := time.Now()
	clock := now.Add(-100 * time.Hour)
	st, err := Open(t.TempDir(), Options{Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	old := now.Add(-100 * time.Hour).UnixMicro()
	fresh := now.Add(-time.Hour).UnixMicro()
	ctx := context.Background()
	if err := st.Write(ctx, []tracing.Span{span(1, 1, 0, "old", "a", old), span(1, 2, 1, "old", "b", old+5)}); err != nil {
		t.Fatal(err)
	}
	clock = now
	if err := st.Write(ctx, []tracing.Span{span(2, 1, 0, "new", "c", fresh)}); err != nil {
		t.Fatal(err)
	}
	n, err := st.Sweep(now.Add(-72 * time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("swept %d, %v; want 2", n, err)
	}
	if tr, _ := st.Trace(tracing.TraceID{Low: 1}); len(tr) != 0 {
		t.Fatalf("old trace still there: %v", tr)
	}
	if tr, _ := st.Trace(tracing.TraceID{Low: 2}); len(tr) != 1 {
		t.Fatalf("fresh trace gone")
	}
	// Every index row of the old spans went with them.
	st.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketIdx).ForEach(func(k, _ []byte) error {
			if bytes.Contains(k, tidBytes(tracing.TraceID{Low: 1})) || containsSvc(k, "old") {
				t.Errorf("index row left behind: %q", k)
			}
			return nil
		})
	})
	// Names are filed by when they were last seen.
	if s, _ := st.Services(); fmt.Sprint(s) != "[new]" {
		t.Fatalf("services %v", s)
	}
	if _, err := st.Sweep(now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if s, _ := st.Services(); len(s) != 0 {
		t.Fatalf("services after full sweep %v", s)
	}
	if c, _ := st.Count(); c != 0 {
		t.Fatalf("%d spans after full sweep", c)
	}
}

func containsSvc(k []byte, svc string) bool {
	return len(k) > len(svc)+1 && string(k[1:1+len(svc)]) == svc
}

func TestMergeAndReopen(t *testing.T) {
	dir := t.TempDir()
	st, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// Two fragments of one server span (reported at start and at finish)
	// and the client half of a shared span.
	a := tracing.Span{TraceID: tracing.TraceID{Low: 9}, ID: 3, Kind: tracing.KindServer, Name: "get", Timestamp: 100,
		LocalEndpoint: &tracing.Endpoint{ServiceName: "be"}, Shared: true, Tags: map[string]string{"a": "1"}}
	b := tracing.Span{TraceID: tracing.TraceID{Low: 9}, ID: 3, Duration: 50, Shared: true,
		LocalEndpoint: &tracing.Endpoint{ServiceName: "be"}, Annotations: []tracing.Annotation{{Timestamp: 120, Value: "flush"}}}
	c := tracing.Span{TraceID: tracing.TraceID{Low: 9}, ID: 3, Kind: tracing.KindClient, Name: "get", Timestamp: 90, Duration: 70,
		LocalEndpoint: &tracing.Endpoint{ServiceName: "fe"}}
	var wg sync.WaitGroup
	for _, s := range []tracing.Span{a, b, c} {
		wg.Add(1)
		go func(s tracing.Span) {
			defer wg.Done()
			if err := st.Write(ctx, []tracing.Span{s}); err != nil {
				t.Error(err)
			}
		}(s)
	}
	wg.Wait()
	st.Close()
	st, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	tr, err := st.Trace(tracing.TraceID{Low: 9})
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"traceId":"0000000000000009","id":"0000000000000003","kind":"CLIENT","name":"get","timestamp":90,"duration":70,"localEndpoint":{"serviceName":"fe"}},` +
		`{"traceId":"0000000000000009","id":"0000000000000003","kind":"SERVER","name":"get","timestamp":100,"duration":50,"localEndpoint":{"serviceName":"be"},"annotations":[{"timestamp":120,"value":"flush"}],"tags":{"a":"1"},"shared":true}]`
	if got := string(tracing.EncodeJSONV2(tr)); got != want {
		t.Fatalf("merged trace:\n got %s\nwant %s", got, want)
	}
}

func TestWriteAfterClose(t *testing.T) {
	st, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	if err := st.Write(context.Background(), []tracing.Span{span(1, 1, 0, "a", "b", 1)}); err != ErrClosed {
		t.Fatalf("got %v", err)
	}
}
