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
	bucketSpans = []byte("spans") // seq(8), in arrival order -> indexTs(8) received(8) group(8) proto span
	bucketIdx   = []byte("idx")   // index rows, empty values
	bucketMeta  = []byte("meta")  // names for services, spans, autocomplete -> lastSeen(8)
	bucketState = []byte("state") // "wal": number of the last write-ahead record indexed
	keyWALPos   = []byte("wal")
)

// Index row kinds (first byte of an idx key).
const (
	ixTrace    = 'I' // tid seq -> n: spans seq..seq+n-1 belong to the trace
	ixTime     = 'T' // | second batch -> (ts tid)...
	ixService  = 'S' // svc 0 | second batch -> (ts tid)...
	ixRemote   = 'R' // svc 0 remote 0 | ...
	ixName     = 'N' // svc 0 name 0 | ...
	ixTag      = 'A' // svc 0 key 0 value 0 | ... (annotations: value empty)
	ixDuration = 'D' // svc 0 bits.Len64(duration)(1) | ...
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
	wal  *wal
	opts Options
	in   chan *writeReq // to the WAL committer
	idxq chan *writeReq // durable, to the indexer
	seq  atomic.Uint64
	quit chan struct{}
	wg   sync.WaitGroup

	walWritten atomic.Uint64 // last record acknowledged
	indexed    atomic.Uint64 // last record in bbolt
	idxMu      sync.Mutex
	idxCond    *sync.Cond

	closeOnce sync.Once
	closed    atomic.Bool

	metaMu    sync.Mutex
	metaSeen  map[string]int64 // meta key -> hour last written
	keyValues map[string]int   // tag key -> distinct values written

	// Counters for /metrics.
	Commits      atomic.Uint64 // write-ahead group commits (one fdatasync each)
	CommitNano   atomic.Uint64
	IndexCommits atomic.Uint64 // bbolt transactions
	IndexNano    atomic.Uint64
	IndexErrors  atomic.Uint64
	Spans        atomic.Uint64
	Swept        atomic.Uint64
}

type kv struct{ k, v []byte }

type writeReq struct {
	spans  []kv
	idx    []kv
	meta   []kv
	body   []byte // the spans as a ListOfSpans, for the write-ahead log
	recv   int64
	walNum uint64
	n      int
	done   chan error
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
		for _, b := range [][]byte{bucketSpans, bucketIdx, bucketMeta, bucketState} {
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
	s := &Store{db: db, opts: opts, in: make(chan *writeReq, opts.QueueLen), idxq: make(chan *writeReq, 4*opts.QueueLen),
		quit: make(chan struct{}), metaSeen: map[string]int64{}, keyValues: map[string]int{}}
	s.idxCond = sync.NewCond(&s.idxMu)
	// Sequence numbers continue after the last stored span even if the
	// clock went back.
	seq := uint64(time.Now().UnixNano())
	var indexed uint64
	_ = db.View(func(tx *bolt.Tx) error {
		if k, _ := tx.Bucket(bucketSpans).Cursor().Last(); len(k) == 8 && binary.BigEndian.Uint64(k) >= seq {
			seq = binary.BigEndian.Uint64(k) + 1
		}
		if v := tx.Bucket(bucketState).Get(keyWALPos); len(v) == 8 {
			indexed = binary.BigEndian.Uint64(v)
		}
		return nil
	})
	s.seq.Store(seq)
	// Replay what was acknowledged but not yet indexed.
	var pending []*writeReq
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		err := s.commit(pending)
		pending = pending[:0]
		return err
	}
	n := 0
	w, err := openWAL(dir, indexed, func(r walRecord) error {
		spans, err := tracing.DecodeProto3(r.body)
		if err != nil {
			return fmt.Errorf("record %d: %w", r.num, err)
		}
		req := s.prepare(spans, r.recv)
		req.walNum = r.num
		pending = append(pending, req)
		if n += len(spans); n >= 50000 {
			n = 0
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	s.wal = w
	s.indexed.Store(w.next - 1)
	s.walWritten.Store(w.next - 1)
	w.release(w.next - 1)
	s.wg.Add(2)
	go s.committer()
	go s.indexer()
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
		if werr := s.wal.close(); err == nil {
			err = werr
		}
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

// indexKeys lists the index entries of one span, except its trace row:
// prefix, ts(8), tid(16). They become posting rows (see postings) keyed by
// prefix and time, so rows arrive in order within their prefix: writes
// append to a few hot pages instead of dirtying pages all over the tree. ts
// is the trace's time as the batch saw it, so the spans of one trace in one
// batch share their entries.
func indexKeys(sp *tracing.Span, ts int64) [][]byte {
	var ka keyArena
	ka.addSpan(sp, ts)
	return ka.keys(nil)
}

// postings turns a batch's index entries (prefix, ts, tid) into posting
// rows: one row per prefix and second of time, keyed prefix, second(8),
// batch(8), whose value lists the entries, ts(8) tid(16) each. A batch of
// a hundred spans so writes a few dozen rows instead of hundreds, and the
// entries shared by the spans of one trace are kept once.
func postings(flat [][]byte, batch uint64) []kv {
	var out []kv
	rows := make(map[string]int, 64) // prefix+second -> index in out
	var scratch []byte
	for _, k := range flat {
		n := len(k)
		if n < 24 {
			continue
		}
		prefix, entry := k[:n-24], k[n-24:]
		sec := binary.BigEndian.Uint64(entry) / 1e6
		scratch = binary.BigEndian.AppendUint64(append(scratch[:0], prefix...), sec)
		if i, ok := rows[string(scratch)]; ok {
			v := out[i].v
			// The spans of one trace come together, so a repeated entry
			// is the row's last one.
			if !bytes.Equal(v[len(v)-24:], entry) {
				out[i].v = append(v, entry...)
			}
			continue
		}
		key := binary.BigEndian.AppendUint64(append(make([]byte, 0, len(scratch)+8), scratch...), batch)
		rows[string(scratch)] = len(out)
		out = append(out, kv{key, append(make([]byte, 0, 4*24), entry...)})
	}
	return out
}

// postingKeys are the keys of the posting rows a span's entries are in.
func postingKeys(sp *tracing.Span, ts int64, batch uint64) [][]byte {
	rows := postings(indexKeys(sp, ts), batch)
	keys := make([][]byte, len(rows))
	for i, r := range rows {
		keys[i] = r.k
	}
	return keys
}

// keyArena builds many keys in one buffer.
type keyArena struct {
	buf  []byte
	ends []int
}

func (ka *keyArena) end() { ka.ends = append(ka.ends, len(ka.buf)) }

func (ka *keyArena) str(s string) { ka.buf = append(append(ka.buf, s...), 0) }

func (ka *keyArena) tail(ts uint64, tid *[16]byte) {
	ka.buf = binary.BigEndian.AppendUint64(ka.buf, ts)
	ka.buf = append(ka.buf, tid[:]...)
	ka.end()
}

// addSpan appends the span's index rows (see indexKeys).
func (ka *keyArena) addSpan(sp *tracing.Span, ts int64) {
	var tid [16]byte
	binary.BigEndian.PutUint64(tid[:], sp.TraceID.High)
	binary.BigEndian.PutUint64(tid[8:], sp.TraceID.Low)
	t := uint64(ts)
	ka.buf = append(ka.buf, ixTime)
	ka.tail(t, &tid)
	svc := sp.LocalServiceName()
	if svc == "" {
		return
	}
	ka.buf = append(ka.buf, ixService)
	ka.str(svc)
	ka.tail(t, &tid)
	if sp.Name != "" {
		ka.buf = append(ka.buf, ixName)
		ka.str(svc)
		ka.str(sp.Name)
		ka.tail(t, &tid)
	}
	if r := sp.RemoteServiceName(); r != "" {
		ka.buf = append(ka.buf, ixRemote)
		ka.str(svc)
		ka.str(r)
		ka.tail(t, &tid)
	}
	ka.buf = append(ka.buf, ixDuration)
	ka.str(svc)
	ka.buf = append(ka.buf, byte(bits.Len64(uint64(sp.Duration))))
	ka.tail(t, &tid)
	for k, v := range sp.Tags {
		if len(k) > 256 || len(v) > 256 {
			continue
		}
		ka.buf = append(ka.buf, ixTag)
		ka.str(svc)
		ka.str(k)
		ka.str(v)
		ka.tail(t, &tid)
	}
	for _, a := range sp.Annotations {
		if len(a.Value) > 256 {
			continue
		}
		ka.buf = append(ka.buf, ixTag)
		ka.str(svc)
		ka.str(a.Value)
		ka.str("")
		ka.tail(t, &tid)
	}
}

// keys appends the built keys (slices of the arena) to dst.
func (ka *keyArena) keys(dst [][]byte) [][]byte {
	start := 0
	for _, e := range ka.ends {
		dst = append(dst, ka.buf[start:e:e])
		start = e
	}
	return dst
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
	req := s.prepare(spans, s.opts.Now().UnixMicro())
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

// recordHeader is the size of a span record's header: indexTs, received,
// group (the first number of its trace's run), batch (the first number of
// its batch, which names the batch's posting rows).
const recordHeader = 32

// prepare builds the rows of a batch received at now (epoch µs), sorted,
// off the committer's path.
func (s *Store) prepare(spans []tracing.Span, now int64) *writeReq {
	req := &writeReq{n: len(spans), recv: now, done: make(chan error, 1), spans: make([]kv, 0, len(spans))}
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
	// The spans of one trace get consecutive numbers and one trace row.
	order := make([]int, 0, len(spans))
	groups := make(map[tracing.TraceID][]int, len(spans)/4+1)
	var tids []tracing.TraceID
	for i := range spans {
		t := spans[i].TraceID
		if _, ok := groups[t]; !ok {
			tids = append(tids, t)
		}
		groups[t] = append(groups[t], i)
	}
	for _, t := range tids {
		order = append(order, groups[t]...)
	}
	var ka keyArena
	ka.buf = make([]byte, 0, len(spans)*256)
	var buf []byte
	var group uint64
	// One block of numbers for the batch, so each trace's run is
	// consecutive even with other batches prepared at the same time.
	base := s.seq.Add(uint64(len(spans))) - uint64(len(spans)) + 1
	for j, i := range order {
		sp := &spans[i]
		ts, ok := traceTs[sp.TraceID]
		if !ok {
			ts = now
		} else if ts < 0 {
			ts = -ts
		}
		seq := base + uint64(j)
		if j == 0 || spans[order[j-1]].TraceID != sp.TraceID {
			group = seq
			n := len(groups[sp.TraceID])
			req.idx = append(req.idx, kv{k: keyBuilder{ixTrace}.b(tidBytes(sp.TraceID)).u(seq), v: binary.AppendUvarint(nil, uint64(n))})
		}
		buf = binary.BigEndian.AppendUint64(buf[:0], uint64(ts))
		buf = binary.BigEndian.AppendUint64(buf, uint64(now))
		buf = binary.BigEndian.AppendUint64(buf, group)
		buf = binary.BigEndian.AppendUint64(buf, base)
		buf = tracing.AppendSpanProto(buf, sp)
		v := append([]byte(nil), buf...)
		req.spans = append(req.spans, kv{be64(seq), v})
		req.body = append(req.body, 1<<3|2)
		req.body = binary.AppendUvarint(req.body, uint64(len(v)-recordHeader))
		req.body = append(req.body, v[recordHeader:]...)
		ka.addSpan(sp, ts)
	}
	req.idx = append(req.idx, postings(ka.keys(nil), base)...)
	req.meta = s.metaRows(spans, now)
	slices.SortFunc(req.idx, func(a, b kv) int { return bytes.Compare(a.k, b.k) })
	return req
}

// metaRows returns the name rows not yet written this hour.
func (s *Store) metaRows(spans []tracing.Span, now int64) []kv {
	hour := now / 3600e6
	s.metaMu.Lock()
	defer s.metaMu.Unlock()
	var out []kv
	v := be64(uint64(now))
	var scratch []byte
	// add looks the key up in scratch without allocating; only a name not
	// written this hour is copied out.
	add := func() {
		if h, ok := s.metaSeen[string(scratch)]; ok && h == hour {
			return
		}
		k := append([]byte(nil), scratch...)
		s.metaSeen[string(k)] = hour
		out = append(out, kv{k, v})
	}
	for i := range spans {
		sp := &spans[i]
		svc := sp.LocalServiceName()
		if svc != "" {
			scratch = append(append(scratch[:0], mService), svc...)
			add()
			if sp.Name != "" {
				scratch = append(append(append(append(scratch[:0], mName), svc...), 0), sp.Name...)
				add()
			}
			if r := sp.RemoteServiceName(); r != "" {
				scratch = append(append(append(append(scratch[:0], mRemote), svc...), 0), r...)
				add()
			}
		}
		for k, val := range sp.Tags {
			if len(k) > 256 || len(val) > 256 {
				continue
			}
			scratch = append(append(scratch[:0], mKey), k...)
			add()
			scratch = append(append(append(append(scratch[:0], mValue), k...), 0), val...)
			if _, ok := s.metaSeen[string(scratch)]; !ok {
				if s.keyValues[k] >= s.opts.MaxValuesPerKey {
					continue
				}
				s.keyValues[k]++
			}
			add()
		}
	}
	if len(s.metaSeen) > 1<<20 {
		s.metaSeen = map[string]int64{}
	}
	return out
}

// committer appends queued requests, as many as are waiting, to the
// write-ahead log with one write and one fdatasync, answers them, and hands
// them to the indexer.
func (s *Store) committer() {
	defer s.wg.Done()
	defer close(s.idxq)
	var buf []byte
	for {
		var first *writeReq
		select {
		case first = <-s.in:
		case <-s.quit:
			// Answer what is still queued, then stop.
			for {
				select {
				case r := <-s.in:
					buf = s.walCommit(buf[:0], []*writeReq{r})
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
		buf = s.walCommit(buf[:0], batch)
	}
}

func (s *Store) walCommit(buf []byte, batch []*writeReq) []byte {
	start := time.Now()
	for _, r := range batch {
		buf, r.walNum = s.wal.appendRecord(buf, r.recv, r.body)
	}
	err := s.wal.write(buf)
	s.Commits.Add(1)
	s.CommitNano.Add(uint64(time.Since(start)))
	if err != nil {
		// Nothing of the batch is acknowledged; numbers are not reused
		// so a partly written record is cut at replay.
		for _, r := range batch {
			r.done <- fmt.Errorf("store: %w", err)
		}
		return buf
	}
	s.walWritten.Store(batch[len(batch)-1].walNum)
	for _, r := range batch {
		r.done <- nil
		r.body = nil
		s.idxq <- r
	}
	return buf
}

// indexer writes durable batches into bbolt in transactions as large as the
// backlog, and records the last write-ahead record it holds.
func (s *Store) indexer() {
	defer s.wg.Done()
	for first := range s.idxq {
		batch := []*writeReq{first}
		n := first.n
	drain:
		for n < 50000 {
			select {
			case r, ok := <-s.idxq:
				if !ok {
					break drain
				}
				batch = append(batch, r)
				n += r.n
			default:
				break drain
			}
		}
		for attempt := 0; ; attempt++ {
			err := s.commit(batch)
			if err == nil {
				break
			}
			// The spans are safe in the log; keep trying (ingest backs
			// up to 503s meanwhile) until the disk takes them.
			s.IndexErrors.Add(1)
			time.Sleep(time.Duration(min(attempt+1, 20)) * 50 * time.Millisecond)
		}
		last := batch[len(batch)-1].walNum
		s.idxMu.Lock()
		s.indexed.Store(last)
		s.idxCond.Broadcast()
		s.idxMu.Unlock()
		s.wal.release(last)
	}
}

// barrier waits (a bounded time) until every acknowledged write is
// indexed, so a read sees what was written before it.
func (s *Store) barrier() {
	target := s.walWritten.Load()
	if s.indexed.Load() >= target {
		return
	}
	deadline := time.Now().Add(10 * time.Second)
	t := time.AfterFunc(10*time.Second, func() {
		s.idxMu.Lock()
		s.idxCond.Broadcast()
		s.idxMu.Unlock()
	})
	defer t.Stop()
	s.idxMu.Lock()
	for s.indexed.Load() < target && time.Now().Before(deadline) && !s.closed.Load() {
		s.idxCond.Wait()
	}
	s.idxMu.Unlock()
}

// IndexLag is how many acknowledged write-ahead records are not yet indexed.
func (s *Store) IndexLag() uint64 {
	w, i := s.walWritten.Load(), s.indexed.Load()
	if w > i {
		return w - i
	}
	return 0
}

func (s *Store) commit(batch []*writeReq) error {
	start := time.Now()
	err := s.db.Update(func(tx *bolt.Tx) error {
		sb, ib, mb := tx.Bucket(bucketSpans), tx.Bucket(bucketIdx), tx.Bucket(bucketMeta)
		sb.FillPercent = 1.0 // append-only: keep pages full
		ib.FillPercent = 0.9 // mostly appends within a prefix
		for _, r := range batch {
			for _, e := range r.spans {
				if err := sb.Put(e.k, e.v); err != nil {
					return err
				}
			}
			for _, e := range r.idx {
				if err := ib.Put(e.k, e.v); err != nil {
					return err
				}
			}
			for _, e := range r.meta {
				if err := mb.Put(e.k, e.v); err != nil {
					return err
				}
			}
		}
		return tx.Bucket(bucketState).Put(keyWALPos, be64(batch[len(batch)-1].walNum))
	})
	s.IndexCommits.Add(1)
	s.IndexNano.Add(uint64(time.Since(start)))
	if err != nil {
		// Forget cached names so a later write retries them.
		s.metaMu.Lock()
		s.metaSeen = map[string]int64{}
		s.metaMu.Unlock()
		return fmt.Errorf("store commit: %w", err)
	}
	for _, r := range batch {
		s.Spans.Add(uint64(r.n))
	}
	return nil
}

// QueueDepth is the number of requests waiting for the committer.
func (s *Store) QueueDepth() int { return len(s.in) }
