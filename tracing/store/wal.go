package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// The write-ahead log makes a 202 cheap: a group of requests is appended to
// one file with one write and one fdatasync, and answered; indexing into
// bbolt follows in larger transactions, off the request path. On open,
// records after the last indexed one are replayed, so an acknowledged span
// is never lost, and a torn tail (a crash mid-write) is cut off.
//
// Segment files are wal-<first record number, 16 hex>.log; a record is
// length(4) crc32c(4) payload, payload = number(8) received(8) spans
// (zipkin.proto ListOfSpans).

const walSegmentMax = 32 << 20

var crcTable = crc32.MakeTable(crc32.Castagnoli)

type walSegment struct {
	first uint64
	path  string
}

type wal struct {
	dir   string
	mu    sync.Mutex // segs, spare
	segs  []walSegment
	spare string // a released segment kept for reuse, or ""
	f     *os.File
	size  int64
	next  uint64 // number of the next record
}

// Segments are preallocated and reused: overwriting blocks a file already
// has needs no metadata update, so fdatasync is several times cheaper than
// after an append that grows the file. A reused segment still holds old
// records, so reading stops at the first record that does not carry the
// next number in sequence.
const spareName = "wal-spare.tmp"

type walRecord struct {
	num  uint64
	recv int64
	body []byte
}

func walName(first uint64) string { return fmt.Sprintf("wal-%016x.log", first) }

func listSegments(dir string) ([]walSegment, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var segs []walSegment
	for _, e := range ents {
		n := e.Name()
		if !strings.HasPrefix(n, "wal-") || !strings.HasSuffix(n, ".log") {
			continue
		}
		v, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(n, "wal-"), ".log"), 16, 64)
		if err != nil {
			continue
		}
		segs = append(segs, walSegment{v, filepath.Join(dir, n)})
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i].first < segs[j].first })
	return segs, nil
}

// readSegment calls f for each whole record numbered in sequence from
// first; it returns the offset after the last good one (a torn, corrupt or
// stale tail starts there).
func readSegment(path string, first uint64, f func(walRecord) error) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	off := int64(0)
	for int(off)+8 <= len(b) {
		n := binary.LittleEndian.Uint32(b[off:])
		sum := binary.LittleEndian.Uint32(b[off+4:])
		end := off + 8 + int64(n)
		if n < 16 || end > int64(len(b)) {
			break
		}
		p := b[off+8 : end]
		if crc32.Checksum(p, crcTable) != sum {
			break
		}
		num := binary.LittleEndian.Uint64(p)
		if num != first {
			break
		}
		first++
		if err := f(walRecord{num: num, recv: int64(binary.LittleEndian.Uint64(p[8:])), body: p[16:]}); err != nil {
			return off, err
		}
		off = end
	}
	return off, nil
}

// openWAL replays every record numbered after indexed through replay, cuts
// torn tails, and starts a fresh segment for new records.
func openWAL(dir string, indexed uint64, replay func(walRecord) error) (*wal, error) {
	segs, err := listSegments(dir)
	if err != nil {
		return nil, err
	}
	w := &wal{dir: dir, next: indexed + 1}
	if st, err := os.Stat(filepath.Join(dir, spareName)); err == nil && st.Size() == walSegmentMax {
		w.spare = filepath.Join(dir, spareName)
	}
	for _, s := range segs {
		_, err := readSegment(s.path, s.first, func(r walRecord) error {
			if r.num >= w.next {
				w.next = r.num + 1
			}
			if r.num <= indexed {
				return nil
			}
			return replay(r)
		})
		if err != nil {
			return nil, fmt.Errorf("replay %s: %w", s.path, err)
		}
	}
	w.segs = segs
	if err := w.rotate(); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *wal) rotate() error {
	if w.f != nil {
		if err := w.f.Close(); err != nil {
			return err
		}
	}
	path := filepath.Join(w.dir, walName(w.next))
	w.mu.Lock()
	spare := w.spare
	w.spare = ""
	w.mu.Unlock()
	if spare != "" {
		if err := os.Rename(spare, path); err != nil {
			os.Remove(spare)
		}
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("open wal: %w", err)
	}
	if st, err := f.Stat(); err == nil && st.Size() < walSegmentMax {
		preallocate(f, walSegmentMax)
	}
	if err := syncDir(w.dir); err != nil {
		f.Close()
		return err
	}
	w.f, w.size = f, 0
	w.mu.Lock()
	if n := len(w.segs); n == 0 || w.segs[n-1].path != path {
		w.segs = append(w.segs, walSegment{w.next, path})
	}
	w.mu.Unlock()
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// appendRecord adds one record to buf and returns its number.
func (w *wal) appendRecord(buf []byte, recv int64, body []byte) ([]byte, uint64) {
	num := w.next
	w.next++
	n := 16 + len(body)
	start := len(buf)
	buf = binary.LittleEndian.AppendUint32(buf, uint32(n))
	buf = binary.LittleEndian.AppendUint32(buf, 0)
	buf = binary.LittleEndian.AppendUint64(buf, num)
	buf = binary.LittleEndian.AppendUint64(buf, uint64(recv))
	buf = append(buf, body...)
	binary.LittleEndian.PutUint32(buf[start+4:], crc32.Checksum(buf[start+8:], crcTable))
	return buf, num
}

// write appends the records in buf durably (write, then fdatasync).
func (w *wal) write(buf []byte) error {
	if _, err := w.f.WriteAt(buf, w.size); err != nil {
		return fmt.Errorf("write wal: %w", err)
	}
	if err := fdatasync(w.f); err != nil {
		return fmt.Errorf("sync wal: %w", err)
	}
	w.size += int64(len(buf))
	if w.size >= walSegmentMax {
		return w.rotate()
	}
	return nil
}

// release deletes segments whose records are all indexed (<= upto), never
// the one being written.
func (w *wal) release(upto uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for len(w.segs) > 1 && w.segs[1].first <= upto+1 {
		old := w.segs[0].path
		w.segs = w.segs[1:]
		if w.spare == "" {
			if st, err := os.Stat(old); err == nil && st.Size() == walSegmentMax {
				sp := filepath.Join(w.dir, spareName)
				if os.Rename(old, sp) == nil {
					w.spare = sp
					continue
				}
			}
		}
		os.Remove(old)
	}
}

func (w *wal) close() error {
	if w.f == nil {
		return nil
	}
	return w.f.Close()
}
