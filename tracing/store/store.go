// Package store is obs's embedded, crash-safe span store on bbolt: one
// file, a B+tree per bucket, copy-on-write pages and an fsync per commit, so
// a write that returned survives kill -9 and power loss. Concurrent writers
// are grouped into one transaction (group commit), so one fsync covers many
// requests and throughput stays high. Indexes by service, remote service,
// span name, tag/annotation, duration and time answer Zipkin's queries;
// a background sweep enforces retention.
package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/obs-toolkit/obs/tracing"
)

var (
	bucketSpans = []byte("spans") // seq(8), in arrival order -> indexTs(8) received(8) proto span
	bucketIdx   = []byte("idx")   // index rows, empty values
	bucketMeta  = []byte("meta")  // names for services, spans, autocomplete -> lastSeen(8)
)

// Index row kinds (first byte of an idx key).
const (
	ixTrace    = 'I' // tid seq: the spans of a trace
	ixTime     = 'T' // ts tid
	ixService  = 'S' // svc 0 ts tid
	ixRemote   = 'R' // svc 0 remote 0 ts tid
	ixName     = 'N' // svc 0 name 0 ts tid
	ixTag      = 'A' // svc 0 key 0 value 0 ts tid (annotations: value empty)
	ixDuration = 'D' // svc 0 bits.Len64(duration)(1) ts tid
)

// Meta row kinds.
const (
	mService = 'S' // svc
	mName    = 'N' // svc 0 name
	mRemote  = 'R' // svc 0 remote
	mKey     = 'K' // key
	mValue   = 'V' // key 0 value
)

// ErrClosed is returned by writes after Close.
var ErrClosed = errors.New("store closed")

// ErrBusy is returned when the write queue is full: the caller should shed
// load (HTTP 503) rather than wait.
var ErrBusy = errors.New("store write queue full")

// Options tune a Store.
type Options struct {
	// Retention is how long spans are kept; 0 keeps them forever.
	Retention time.Duration
	// SweepEvery is how often the retention sweep runs (default 1m).
	SweepEvery time.Duration
	// QueueLen bounds the requests waiting for the committer (default 256).
	QueueLen int
	// MaxValuesPerKey bounds the distinct autocomplete values kept per tag
	// key (default 500).
	MaxValuesPerKey int
	// NoSync skips fsync (tests and benchmarks of the peer-less path only).
	NoSync bool
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

// Store is an open span store. Its methods are safe for concurrent use.
type Store struct {
	db   *bolt.DB
	opts Options
	in   chan *writeReq
	seq  atomic.Uint64
	quit chan struct{}
	wg   sync.WaitGroup

	closeOnce sync.Once
	closed    atomic.Bool

	metaMu    sync.Mutex
	metaSeen  map[string]int64 // meta key -> hour last written
	keyValues map[string]int   // tag key -> distinct values written

	// Counters for /metrics.
	Commits    atomic.Uint64
	Spans      atomic.Uint64
	Swept      atomic.Uint64
	CommitNano atomic.Uint64
}

type kv struct{ k, v []byte }

type writeReq struct {
	spans []kv
	idx   []kv
	meta  []kv
	n     int
	done  chan error
}

// DefaultDir is the store directory used without --data:
// os.UserCacheDir()/obs/traces.
func DefaultDir() string {
	d, err := os.UserCacheDir()
	if err != nil {
		d = os.TempDir()
	}
	return filepath.Join(d, "obs", "traces")
}

// Open opens (creating) the store in dir.
func Open(dir string, opts Options) (*Store, error) {
	if opts.SweepEvery == 0 {
		opts.SweepEvery = time.Minute
	}
	if opts.QueueLen == 0 {
		opts.QueueLen = 256
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxValuesPerKey == 0 {
		opts.MaxValuesPerKey = 500
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	path := filepath.Join(dir, "spans.db")
	db, err := bolt.Open(path, 0o644, &bolt.Options{
		Timeout:        2 * time.Second,
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
		// Map a large window up front so growth does not remap (and block
		// readers) every few megabytes.
		InitialMmapSize: 1 << 30,
		NoSync:          opts.NoSync,
	})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("open store %s: locked by another obs trace serve", path)
		}
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketSpans, bucketIdx, bucketMeta} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	s := &Store{db: db, opts: opts, in: make(chan *writeReq, opts.QueueLen), quit: make(chan struct{}),
		metaSeen: map[string]int64{}, keyValues: map[string]int{}}
	// Sequence numbers continue after the last stored span even if the
	// clock went back.
	seq := uint64(time.Now().UnixNano())
	_ = db.View(func(tx *bolt.Tx) error {
		if k, _ := tx.Bucket(bucketSpans).Cursor().Last(); len(k) == 8 && binary.BigEndian.Uint64(k) >= seq {
			seq = binary.BigEndian.Uint64(k) + 1
		}
		return nil
	})
	s.seq.Store(seq)
	s.wg.Add(1)
	go s.committer()
	if opts.Retention > 0 {
		s.wg.Add(1)
		go s.sweeper()
	}
	return s, nil
}

// Close stops the committer after pending writes and closes the file.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		close(s.quit)
		s.wg.Wait()
		err = s.db.Close()
	})
	return err
}

// Path is the database file.
func (s *Store) Path() string { return s.db.Path() }

func be64(v uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return b[:]
}

func tidBytes(t tracing.TraceID) []byte {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:], t.High)
	binary.BigEndian.PutUint64(b[8:], t.Low)
	return b[:]
}

func tidFrom(b []byte) tracing.TraceID {
	return tracing.TraceID{High: binary.BigEndian.Uint64(b), Low: binary.BigEndian.Uint64(b[8:])}
}

// keyBuilder appends parts to one key.
type keyBuilder []byte

func (k keyBuilder) s(v string) keyBuilder { return append(append(k, v...), 0) }
func (k keyBuilder) u(v uint64) keyBuilder { return binary.BigEndian.AppendUint64(k, v) }
func (k keyBuilder) b(v []byte) keyBuilder { return append(k, v...) }

// indexTs is the time a span is filed under: its timestamp, else when it was
// received.
func indexTs(sp *tracing.Span, now int64) int64 {
	if sp.Timestamp > 0 {
		return sp.Timestamp
	}
	return now
}

// indexKeys lists the idx rows of one span, except its trace row. Each
// has the time before the trace id, so rows arrive in order within their
// prefix: writes append to a few hot pages instead of dirtying pages all
// over the tree. ts is the trace's time as the batch saw it, so the spans
// of one trace in one batch share their rows.
func indexKeys(sp *tracing.Span, ts int64) [][]byte {
	tid := tidBytes(sp.TraceID)
	keys := make([][]byte, 0, 8+2*len(sp.Tags))
	keys = append(keys, keyBuilder{ixTime}.u(uint64(ts)).b(tid))
	svc := sp.LocalServiceName()
	if svc == "" {
		return keys
	}
	keys = append(keys, keyBuilder{ixService}.s(svc).u(uint64(ts)).b(tid))
	if sp.Name != "" {
		keys = append(keys, keyBuilder{ixName}.s(svc).s(sp.Name).u(uint64(ts)).b(tid))
	}
	if r := sp.RemoteServiceName(); r != "" {
		keys = append(keys, keyBuilder{ixRemote}.s(svc).s(r).u(uint64(ts)).b(tid))
	}
	keys = append(keys, keyBuilder{ixDuration}.s(svc).b([]byte{byte(bits.Len64(uint64(sp.Duration)))}).u(uint64(ts)).b(tid))
	for k, v := range sp.Tags {
		if len(k) > 256 || len(v) > 256 {
			continue
		}
		keys = append(keys, keyBuilder{ixTag}.s(svc).s(k).s(v).u(uint64(ts)).b(tid))
	}
	for _, a := range sp.Annotations {
		if len(a.Value) > 256 {
			continue
		}
		keys = append(keys, keyBuilder{ixTag}.s(svc).s(a.Value).s("").u(uint64(ts)).b(tid))
	}
	return keys
}

// Write stores spans durably: when it returns nil they are on disk. It
// waits for the group commit that carries them; ctx bounds the wait for a
// place in the queue.
func (s *Store) Write(ctx context.Context, spans []tracing.Span) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if len(spans) == 0 {
		return nil
	}
	now := s.opts.Now().UnixMicro()
	req := &writeReq{n: len(spans), done: make(chan error, 1), spans: make([]kv, 0, len(spans))}
	// The time each trace is filed under in this batch: its root's
	// timestamp, else the earliest one, else now.
	traceTs := make(map[tracing.TraceID]int64, len(spans)/4+1)
	for i := range spans {
		sp := &spans[i]
		if sp.Timestamp <= 0 {
			continue
		}
		cur, ok := traceTs[sp.TraceID]
		if sp.ParentID == 0 {
			traceTs[sp.TraceID] = -sp.Timestamp // negative marks "from the root"
		} else if !ok || (cur > 0 && sp.Timestamp < cur) {
			traceTs[sp.TraceID] = sp.Timestamp
		}
	}
	seen := make(map[string]struct{}, len(spans)*4)
	var buf []byte
	for i := range spans {
		sp := &spans[i]
		ts, ok := traceTs[sp.TraceID]
		if !ok {
			ts = now
		} else if ts < 0 {
			ts = -ts
		}
		seq := be64(s.seq.Add(1))
		buf = binary.BigEndian.AppendUint64(buf[:0], uint64(ts))
		buf = binary.BigEndian.AppendUint64(buf, uint64(now))
		buf = tracing.AppendSpanProto(buf, sp)
		req.spans = append(req.spans, kv{seq, append([]byte(nil), buf...)})
		req.idx = append(req.idx, kv{k: keyBuilder{ixTrace}.b(tidBytes(sp.TraceID)).b(seq)})
		for _, k := range indexKeys(sp, ts) {
			if _, dup := seen[string(k)]; dup {
				continue
			}
			seen[string(k)] = struct{}{}
			req.idx = append(req.idx, kv{k: k})
		}
	}
	req.meta = s.metaRows(spans, now)
	slices.SortFunc(req.idx, func(a, b kv) int { return bytes.Compare(a.k, b.k) })
	select {
	case s.in <- req:
	default:
		select {
		case s.in <- req:
		case <-ctx.Done():
			return ErrBusy
		case <-s.quit:
			return ErrClosed
		}
	}
	select {
	case err := <-req.done:
		return err
	case <-s.quit:
		// The committer drains the queue before it exits.
		return <-req.done
	}
}

// metaRows returns the name rows not yet written this hour.
func (s *Store) metaRows(spans []tracing.Span, now int64) []kv {
	hour := now / 3600e6
	s.metaMu.Lock()
	defer s.metaMu.Unlock()
	var out []kv
	v := be64(uint64(now))
	add := func(k []byte) {
		if h, ok := s.metaSeen[string(k)]; ok && h == hour {
			return
		}
		s.metaSeen[string(k)] = hour
		out = append(out, kv{k, v})
	}
	for i := range spans {
		sp := &spans[i]
		svc := sp.LocalServiceName()
		if svc != "" {
			add(keyBuilder{mService}.b([]byte(svc)))
			if sp.Name != "" {
				add(keyBuilder{mName}.s(svc).b([]byte(sp.Name)))
			}
			if r := sp.RemoteServiceName(); r != "" {
				add(keyBuilder{mRemote}.s(svc).b([]byte(r)))
			}
		}
		for k, val := range sp.Tags {
			if len(k) > 256 || len(val) > 256 {
				continue
			}
			add(keyBuilder{mKey}.b([]byte(k)))
			vk := keyBuilder{mValue}.s(k).b([]byte(val))
			if _, ok := s.metaSeen[string(vk)]; !ok {
				if s.keyValues[k] >= s.opts.MaxValuesPerKey {
					continue
				}
				s.keyValues[k]++
			}
			add(vk)
		}
	}
	if len(s.metaSeen) > 1<<20 {
		s.metaSeen = map[string]int64{}
	}
	return out
}

// committer writes queued requests, as many as are waiting, in one
// transaction and one fsync, then answers all of them.
func (s *Store) committer() {
	defer s.wg.Done()
	for {
		var first *writeReq
		select {
		case first = <-s.in:
		case <-s.quit:
			// Answer what is still queued, then stop.
			for {
				select {
				case r := <-s.in:
					s.commit([]*writeReq{r})
				default:
					return
				}
			}
		}
		batch := []*writeReq{first}
		n := first.n
	drain:
		for n < 50000 {
			select {
			case r := <-s.in:
				batch = append(batch, r)
				n += r.n
			default:
				break drain
			}
		}
		s.commit(batch)
	}
}

func (s *Store) commit(batch []*writeReq) {
	start := time.Now()
	err := s.db.Update(func(tx *bolt.Tx) error {
		sb, ib, mb := tx.Bucket(bucketSpans), tx.Bucket(bucketIdx), tx.Bucket(bucketMeta)
		sb.FillPercent, ib.FillPercent = 0.9, 0.9
		for _, r := range batch {
			for _, e := range r.spans {
				if err := sb.Put(e.k, e.v); err != nil {
					return err
				}
			}
			for _, e := range r.idx {
				if err := ib.Put(e.k, nil); err != nil {
					return err
				}
			}
			for _, e := range r.meta {
				if err := mb.Put(e.k, e.v); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		err = fmt.Errorf("store commit: %w", err)
		// Forget cached meta so a later write retries the names.
		s.metaMu.Lock()
		s.metaSeen = map[string]int64{}
		s.metaMu.Unlock()
	}
	s.Commits.Add(1)
	s.CommitNano.Add(uint64(time.Since(start)))
	for _, r := range batch {
		if err == nil {
			s.Spans.Add(uint64(r.n))
		}
		r.done <- err
	}
}

// QueueDepth is the number of requests waiting for the committer.
func (s *Store) QueueDepth() int { return len(s.in) }
