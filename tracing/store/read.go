package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/obs-toolkit/obs/tracing"
)

// maxCandidates bounds the traces one query examines, so a query over a
// huge window answers in bounded time (the newest traces win).
const maxCandidates = 20000

// maxDependencyTraces bounds the traces one dependencies request links.
const maxDependencyTraces = 200000

// stored is a span record's header.
type stored struct {
	ts, recv     int64
	group, batch uint64
}

// decodeStored reads a span record: the time it is indexed under, when it
// was received, its trace run, and the span.
func decodeStored(v []byte) (tracing.Span, stored, error) {
	if len(v) < recordHeader {
		return tracing.Span{}, stored{}, fmt.Errorf("store: short span record")
	}
	h := stored{int64(binary.BigEndian.Uint64(v)), int64(binary.BigEndian.Uint64(v[8:])), binary.BigEndian.Uint64(v[16:]), binary.BigEndian.Uint64(v[24:])}
	sp, err := tracing.DecodeProto3Span(v[recordHeader:])
	return sp, h, err
}

func readTrace(tx *bolt.Tx, tid []byte) ([]tracing.Span, error) {
	c := tx.Bucket(bucketIdx).Cursor()
	sb := tx.Bucket(bucketSpans)
	prefix := keyBuilder{ixTrace}.b(tid)
	var out []tracing.Span
	for k, n := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, n = c.Next() {
		if len(k) != len(prefix)+8 {
			continue
		}
		first := binary.BigEndian.Uint64(k[len(prefix):])
		count, _ := binary.Uvarint(n)
		for i := uint64(0); i < count && i < 1<<20; i++ {
			v := sb.Get(be64(first + i))
			if v == nil {
				continue
			}
			sp, _, err := decodeStored(v)
			if err != nil {
				return nil, fmt.Errorf("store: trace %x: %w", tid, err)
			}
			out = append(out, sp)
		}
	}
	return out, nil
}

// Trace returns the merged spans of one trace, or nil when it is unknown.
func (s *Store) Trace(id tracing.TraceID) ([]tracing.Span, error) {
	s.barrier()
	var out []tracing.Span
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		out, err = readTrace(tx, tidBytes(id))
		return err
	})
	if err != nil || len(out) == 0 {
		return nil, err
	}
	return tracing.MergeTrace(out), nil
}

// window returns the query's time window in microseconds.
func window(q *tracing.Query) (lo, hi int64) {
	end := q.EndTs
	if end == 0 {
		end = time.Now().UnixMilli()
	}
	hi = end*1000 + 999
	if q.Lookback > 0 {
		lo = (end - q.Lookback) * 1000
	}
	if lo < 0 {
		lo = 0
	}
	return lo, hi
}

type cand struct {
	tid []byte
	ts  int64
}

// candidates lists trace ids from the posting rows under one prefix
// (rows: prefix, second(8), batch(8) -> entries of ts(8) tid(16)), newest
// first, at most limit. ordered says the prefix is a whole index prefix, so
// the rows after it are in time order and the scan can seek and stop;
// otherwise (a tag key over all its values) every row under it is read.
func candidates(c *bolt.Cursor, prefix []byte, ordered bool, lo, hi int64, limit int) []cand {
	var out []cand
	visitCandidates(c, prefix, ordered, lo, hi, func(x cand) bool {
		out = append(out, x)
		return len(out) < limit
	})
	return out
}

// visitCandidates calls visit with each candidate, newest first, until it
// returns false; see candidates.
func visitCandidates(c *bolt.Cursor, prefix []byte, ordered bool, lo, hi int64, visit func(cand) bool) {
	seen := map[string]bool{}
	var group []cand // entries of the second being read
	flush := func() bool {
		sort.Slice(group, func(i, j int) bool { return group[i].ts > group[j].ts })
		for _, x := range group {
			if !seen[string(x.tid)] {
				seen[string(x.tid)] = true
				if !visit(x) {
					return true
				}
			}
		}
		group = group[:0]
		return false
	}
	take := func(v []byte) {
		for ; len(v) >= 24; v = v[24:] {
			ts := int64(binary.BigEndian.Uint64(v))
			if ts >= lo && ts <= hi {
				group = append(group, cand{append([]byte(nil), v[8:24]...), ts})
			}
		}
	}
	if ordered {
		loSec, hiSec := uint64(lo)/1e6, uint64(hi)/1e6
		start := append(append([]byte(nil), prefix...), be64(hiSec+1)...)
		k, v := c.Seek(start)
		if k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
		cur := uint64(1<<64 - 1)
		for ; k != nil && bytes.HasPrefix(k, prefix); k, v = c.Prev() {
			if len(k) != len(prefix)+16 {
				continue
			}
			sec := binary.BigEndian.Uint64(k[len(prefix):])
			if sec < loSec {
				break
			}
			if sec > hiSec {
				continue
			}
			if sec != cur {
				if flush() {
					return
				}
				cur = sec
			}
			take(v)
		}
		flush()
		return
	}
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if len(k) >= len(prefix)+16 {
			take(v)
		}
	}
	flush()
}

// Traces answers /api/v2/traces: the newest traces matching q, at most
// q.Limit (default 10), each merged.
func (s *Store) Traces(q tracing.Query) ([][]tracing.Span, error) {
	s.barrier()
	limit := q.Limit
	if limit <= 0 {
		limit = 10
	}
	lo, hi := window(&q)
	var out [][]tracing.Span
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketIdx).Cursor()
		var prefix []byte
		ordered := true
		svc := q.ServiceName
		switch {
		case svc == "":
			prefix = []byte{ixTime}
		case hasValueTerm(q.AnnotationQuery) != "":
			k := hasValueTerm(q.AnnotationQuery)
			prefix = keyBuilder{ixTag}.s(svc).s(k).s(q.AnnotationQuery[k])
		case q.SpanName != "":
			prefix = keyBuilder{ixName}.s(svc).s(q.SpanName)
		case q.RemoteServiceName != "":
			prefix = keyBuilder{ixRemote}.s(svc).s(q.RemoteServiceName)
		case q.MinDuration > 0:
			prefix = []byte{ixDuration}
		case len(q.AnnotationQuery) > 0:
			for k := range q.AnnotationQuery {
				prefix = keyBuilder{ixTag}.s(svc).s(k)
				break
			}
			ordered = false
		default:
			prefix = keyBuilder{ixService}.s(svc)
		}
		// Candidates come newest first, so the first limit matches are
		// the answer (give or take traces filed under a span's time
		// rather than their root's); at most maxCandidates are read.
		n := 0
		var ferr error
		test := func(x cand) bool {
			n++
			spans, err := readTrace(tx, x.tid)
			if err != nil {
				ferr = err
				return false
			}
			spans = tracing.MergeTrace(spans)
			if q.Test(spans) {
				out = append(out, spans)
			}
			return len(out) < limit && n < maxCandidates
		}
		switch prefix[0] {
		case ixTime:
			visitCandidates(c, prefix, true, lo, hi, test)
		case ixDuration:
			// One time-ordered run per power of two of the duration,
			// merged newest first.
			from, to := bits.Len64(uint64(q.MinDuration)), 64
			if q.MaxDuration > 0 {
				to = bits.Len64(uint64(q.MaxDuration))
			}
			seen := map[string]bool{}
			var cs []cand
			for b := from; b <= to; b++ {
				for _, x := range candidates(c, keyBuilder{ixDuration}.s(svc).b([]byte{byte(b)}), true, lo, hi, maxCandidates) {
					if !seen[string(x.tid)] {
						seen[string(x.tid)] = true
						cs = append(cs, x)
					}
				}
			}
			sort.Slice(cs, func(i, j int) bool { return cs[i].ts > cs[j].ts })
			for _, x := range cs {
				if !test(x) {
					break
				}
			}
		default:
			visitCandidates(c, prefix, ordered, lo, hi, test)
		}
		if ferr != nil {
			return ferr
		}
		return nil
	})
	sort.SliceStable(out, func(i, j int) bool { return tracing.TraceTimestamp(out[i]) > tracing.TraceTimestamp(out[j]) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, err
}

func hasValueTerm(m map[string]string) string {
	best := ""
	for k, v := range m {
		if v != "" && (best == "" || k < best) {
			best = k
		}
	}
	return best
}

// timeCandidates scans the time index newest first.
func timeCandidates(c *bolt.Cursor, lo, hi int64, limit int) []cand {
	return candidates(c, []byte{ixTime}, true, lo, hi, limit)
}

// Dependencies links the traces with spans in [endTs-lookback, endTs]
// (milliseconds).
func (s *Store) Dependencies(endTs, lookback int64) ([]tracing.DependencyLink, error) {
	s.barrier()
	q := tracing.Query{EndTs: endTs, Lookback: lookback}
	lo, hi := window(&q)
	l := tracing.NewLinker()
	err := s.db.View(func(tx *bolt.Tx) error {
		cs := timeCandidates(tx.Bucket(bucketIdx).Cursor(), lo, hi, maxDependencyTraces)
		for _, x := range cs {
			spans, err := readTrace(tx, x.tid)
			if err != nil {
				return err
			}
			l.Add(spans)
		}
		return nil
	})
	return l.Links(), err
}

// names lists meta rows under prefix, suffixes sorted.
func (s *Store) names(prefix []byte) ([]string, error) {
	s.barrier()
	out := []string{}
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketMeta).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			out = append(out, string(k[len(prefix):]))
		}
		return nil
	})
	return out, err
}

// Services lists local service names.
func (s *Store) Services() ([]string, error) { return s.names([]byte{mService}) }

// SpanNames lists the span names of a service.
func (s *Store) SpanNames(service string) ([]string, error) {
	return s.names(keyBuilder{mName}.s(service))
}

// RemoteServices lists the remote service names a service called.
func (s *Store) RemoteServices(service string) ([]string, error) {
	return s.names(keyBuilder{mRemote}.s(service))
}

// AutocompleteKeys lists the tag keys seen.
func (s *Store) AutocompleteKeys() ([]string, error) { return s.names([]byte{mKey}) }

// AutocompleteValues lists the values seen for a tag key (bounded by
// Options.MaxValuesPerKey).
func (s *Store) AutocompleteValues(key string) ([]string, error) {
	return s.names(keyBuilder{mValue}.s(key))
}

// Count returns the number of stored span records.
func (s *Store) Count() (int, error) {
	s.barrier()
	n := 0
	err := s.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucketSpans).Stats().KeyN
		return nil
	})
	return n, err
}

// Sweep deletes spans filed before cutoff, their index rows, and names not
// seen since cutoff. It works in bounded transactions so writers are not
// held up; it returns the spans deleted.
func (s *Store) Sweep(cutoff time.Time) (int, error) {
	cut := cutoff.UnixMicro()
	total := 0
	for {
		n, more, err := s.sweepChunk(cut, 5000)
		total += n
		if err != nil || !more {
			if err == nil {
				err = s.sweepMeta(cut)
			}
			s.Swept.Add(uint64(total))
			return total, err
		}
	}
}

// sweepChunk deletes up to max spans received before cut, oldest first
// (the spans bucket is in arrival order), with their index rows.
func (s *Store) sweepChunk(cut int64, max int) (int, bool, error) {
	n := 0
	more := false
	err := s.db.Update(func(tx *bolt.Tx) error {
		ib, sb := tx.Bucket(bucketIdx), tx.Bucket(bucketSpans)
		c := sb.Cursor()
		var dead [][]byte
		var rows [][]byte
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if len(dead) >= max {
				more = true
				break
			}
			sp, h, err := decodeStored(v)
			if err == nil && h.recv >= cut {
				break
			}
			dead = append(dead, append([]byte(nil), k...))
			if err != nil {
				continue
			}
			rows = append(rows, keyBuilder{ixTrace}.b(tidBytes(sp.TraceID)).u(h.group))
			rows = append(rows, postingKeys(&sp, h.ts, h.batch)...)
		}
		for _, k := range dead {
			if err := sb.Delete(k); err != nil {
				return err
			}
		}
		for _, k := range rows {
			if err := ib.Delete(k); err != nil {
				return err
			}
		}
		n = len(dead)
		return nil
	})
	return n, more, err
}

func (s *Store) sweepMeta(cut int64) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		mb := tx.Bucket(bucketMeta)
		var dead [][]byte
		err := mb.ForEach(func(k, v []byte) error {
			if len(v) == 8 && int64(binary.BigEndian.Uint64(v)) < cut {
				dead = append(dead, append([]byte(nil), k...))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range dead {
			if err := mb.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	s.metaMu.Lock()
	s.metaSeen = map[string]int64{}
	s.keyValues = map[string]int{}
	s.metaMu.Unlock()
	return err
}

func (s *Store) sweeper() {
	defer s.wg.Done()
	t := time.NewTicker(s.opts.SweepEvery)
	defer t.Stop()
	for {
		select {
		case <-s.quit:
			return
		case <-t.C:
			_, _ = s.Sweep(time.Now().Add(-s.opts.Retention))
		}
	}
}
