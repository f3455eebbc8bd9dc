package logfmt

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"
)

// Input is one source of lines.
type Input struct {
	Name string
	R    io.Reader
	// Chunked64K reproduces node's 64 KiB file reads: a \r\n whose \n
	// starts a 64 KiB block keeps its \r, as bunyan reading a file does.
	Chunked64K bool
	// File marks a file (plain or .gz) rather than stdin: bunyan never
	// flushes its UTF-8 decoder at the end of a file, so an incomplete
	// sequence ending the file is dropped.
	File bool
}

// Stats counts what a run saw.
type Stats struct {
	Lines   int64            `json:"lines"`
	Records int64            `json:"records"` // bunyan records read
	Shown   int64            `json:"shown"`   // records that passed the filters
	Other   int64            `json:"other"`   // lines that were not records
	Bytes   int64            `json:"bytes"`
	ByLevel map[string]int64 `json:"by_level"` // shown records by level name
	ByName  map[string]int64 `json:"by_name"`  // shown records by name
}

func (s *Stats) add(o *Stats) {
	s.Lines += o.Lines
	s.Records += o.Records
	s.Shown += o.Shown
	s.Other += o.Other
	s.Bytes += o.Bytes
	for k, v := range o.ByLevel {
		if s.ByLevel == nil {
			s.ByLevel = map[string]int64{}
		}
		s.ByLevel[k] += v
	}
	for k, v := range o.ByName {
		if s.ByName == nil {
			s.ByName = map[string]int64{}
		}
		s.ByName[k] += v
	}
}

// Processor filters and renders inputs to a writer.
type Processor struct {
	Opts *Options
	// Workers renders chunks in parallel (output stays in order);
	// 0 means GOMAXPROCS.
	Workers int
	// CountOnly counts into Stats without writing records.
	CountOnly bool
}

// ErrOutputClosed is returned when the reader of the output went away
// (EPIPE); bunyan exits 0 then, and so should callers.
var ErrOutputClosed = errors.New("output closed")

const chunkSize = 512 << 10

type chunk struct {
	data  []byte
	off   int64 // offset of data[0] in the input
	out   []byte
	stats Stats
	done  chan struct{}
}

var chunkPool = sync.Pool{New: func() any {
	return &chunk{data: make([]byte, 0, chunkSize+4096), done: make(chan struct{}, 1)}
}}

// lineSplit calls fn for each line of data (which ends in \n unless it is
// the input's tail), without its terminator.
func lineSplit(data []byte, off int64, chunked bool, fn func(line []byte)) {
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		var line []byte
		if i < 0 {
			line = data
			data = nil
		} else {
			line = data[:i]
			if i > 0 && line[i-1] == '\r' && !(chunked && (off+int64(i))%65536 == 0) {
				line = line[:i-1]
			}
			data = data[i+1:]
			off += int64(i) + 1
		}
		fn(line)
	}
}

func (p *Processor) workers() int {
	if p.Workers > 0 {
		return p.Workers
	}
	return runtime.GOMAXPROCS(0)
}

// renderChunk renders every line of c with r.
func (p *Processor) renderChunk(r *renderer, c *chunk, chunked bool) {
	c.out = c.out[:0]
	c.stats = Stats{}
	var fixBuf []byte
	valid := utf8.Valid(c.data)
	lineSplit(c.data, c.off, chunked, func(line []byte) {
		c.stats.Lines++
		if !valid && !utf8.Valid(line) {
			fixBuf = repairUTF8(fixBuf[:0], line)
			line = fixBuf
		}
		n := len(c.out)
		var shown bool
		c.out, shown = r.Line(c.out, line)
		if r.isRecord {
			c.stats.Records++
		} else {
			c.stats.Other++
		}
		if p.CountOnly {
			c.out = c.out[:n]
		}
		if shown {
			c.stats.Shown++
			if p.CountOnly {
				p.count(r, &c.stats)
			}
		}
	})
	c.stats.Bytes = int64(len(c.data))
}

func (p *Processor) count(r *renderer, s *Stats) {
	if s.ByLevel == nil {
		s.ByLevel = map[string]int64{}
		s.ByName = map[string]int64{}
	}
	lk := r.propertyKey(r.lastLevel)
	if n := levelUpper(lk); n != "" {
		s.ByLevel[n]++
	} else {
		s.ByLevel["LVL"+string(r.appendJSString(nil, r.lastLevel))]++
	}
	s.ByName[string(r.appendJSString(nil, r.lastName))]++
}

// readChunks reads in into chunks cut after a newline and sends them, in
// order, to both channels.
func readChunks(ctx context.Context, in io.Reader, file bool, work, order chan<- *chunk) error {
	defer close(work)
	defer close(order)
	var carry []byte
	var off int64
	eof := false
	for !eof {
		c := chunkPool.Get().(*chunk)
		c.data = append(c.data[:0], carry...)
		c.off = off
		for {
			if len(c.data) == cap(c.data) {
				c.data = append(c.data, 0)[:len(c.data)]
			}
			want := cap(c.data) - len(c.data)
			n, err := in.Read(c.data[len(c.data):cap(c.data)])
			c.data = c.data[:len(c.data)+n]
			if err == io.EOF {
				eof = true
				break
			}
			if err != nil {
				chunkPool.Put(c)
				return err
			}
			if len(c.data) >= chunkSize || n < want {
				if i := bytes.LastIndexByte(c.data, '\n'); i >= 0 {
					break
				}
			}
		}
		carry = carry[:0]
		if eof && file && (len(c.data) == 0 || c.data[len(c.data)-1] != '\n') {
			c.data = trimIncompleteTail(c.data)
		}
		if !eof {
			i := bytes.LastIndexByte(c.data, '\n')
			carry = append(carry, c.data[i+1:]...)
			c.data = c.data[:i+1]
		}
		off += int64(len(c.data))
		select {
		case order <- c:
		case <-ctx.Done():
			return ctx.Err()
		}
		work <- c
	}
	return nil
}

// Run renders all inputs to w: one input in parallel chunks, several
// merged in time order as bunyan merges them. Read errors are returned per
// input in errs (bunyan counts them into its exit status); err is a write
// failure (ErrOutputClosed for EPIPE).
func (p *Processor) Run(w io.Writer, inputs []Input) (st Stats, errs []error, err error) {
	if len(inputs) == 1 {
		e, err := p.runOne(w, inputs[0], &st)
		if e != nil {
			errs = append(errs, e)
		}
		return st, errs, err
	}
	return p.runMerge(w, inputs)
}

func writeErr(err error) error {
	if errors.Is(err, syscall.EPIPE) {
		return ErrOutputClosed
	}
	return err
}

func (p *Processor) runOne(w io.Writer, in Input, st *Stats) (readErr, err error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	nw := p.workers()
	work := make(chan *chunk, nw)
	order := make(chan *chunk, 2*nw)
	var wg sync.WaitGroup
	for i := 0; i < nw; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := newRenderer(p.Opts)
			for c := range work {
				p.renderChunk(r, c, in.Chunked64K)
				c.done <- struct{}{}
			}
		}()
	}
	rerr := make(chan error, 1)
	go func() { rerr <- readChunks(ctx, in.R, in.File, work, order) }()
	for c := range order {
		<-c.done
		if err == nil && len(c.out) > 0 {
			if _, e := w.Write(c.out); e != nil {
				err = writeErr(e)
				cancel()
			}
		}
		st.add(&c.stats)
		if cap(c.out) <= 8*chunkSize && cap(c.data) <= 2*chunkSize {
			chunkPool.Put(c)
		}
	}
	wg.Wait()
	readErr = <-rerr
	if errors.Is(readErr, context.Canceled) {
		readErr = nil
	}
	return readErr, err
}

// trimIncompleteTail drops an incomplete UTF-8 sequence ending data: node's
// StringDecoder holds such bytes back for the next chunk, and bunyan never
// flushes it at the end of a file, so they are lost.
func trimIncompleteTail(data []byte) []byte {
	for k := 1; k <= 3 && k <= len(data); k++ {
		c := data[len(data)-k]
		if c&0xc0 == 0x80 {
			continue // continuation byte: look further back
		}
		need := 0
		switch {
		case c>>5 == 0x06:
			need = 2
		case c>>4 == 0x0e:
			need = 3
		case c>>3 == 0x1e:
			need = 4
		}
		if need > k {
			return data[:len(data)-k]
		}
		return data
	}
	return data
}

// mergeSrc is one input of a merge, read the way bunyan's processFile
// reads it.
type mergeSrc struct {
	in       Input
	r        *renderer
	buf      []byte
	off      int64
	leftover []byte
	queue    []item
	done     bool // bunyan's streams[file].done
	eof      bool // the last read came up short
	paused   bool // node's stream.pause(): no data or end until resumed
	ended    bool
	err      error
	st       Stats
	fixBuf   []byte
}

type item struct {
	t   float64
	out []byte
}

// runMerge emits records of several inputs in time order, simulating
// bunyan's event loop: the inputs are read in turn, 64 KiB at a time (node's
// file reads, completing in the order issued); each line is handled as it is
// read (a line that is not a record is written at once, a record is queued);
// after each queued record, and when an input ends, the earliest queued
// record is written for as long as every input that has not ended has one
// queued (bunyan's emitNextRecord: the first input wins ties and
// unparseable times); an input with records waiting is paused (no data, no
// end) until emitNextRecord resumes it, as node does, even where that
// loses bunyan's last records. The result is bunyan's for plain files read from the
// page cache; for .gz inputs, whose data node produces later, lines that
// are not records may come out elsewhere than in bunyan.
func (p *Processor) runMerge(w io.Writer, inputs []Input) (st Stats, errs []error, err error) {
	srcs := make([]*mergeSrc, len(inputs))
	for i, in := range inputs {
		r := newRenderer(p.Opts)
		r.needTime = true
		srcs[i] = &mergeSrc{in: in, r: r, buf: make([]byte, 65536)}
	}
	write := func(b []byte) {
		if err == nil && len(b) > 0 {
			if _, e := w.Write(b); e != nil {
				err = writeErr(e)
			}
		}
	}
	// pauseResume is the end of emitNextRecord when it cannot go on: it
	// pauses inputs that have records waiting and resumes the others.
	pauseResume := func() {
		for _, s := range srcs {
			if s.done {
				continue
			}
			if len(s.queue) > 0 {
				s.paused = true
			} else {
				s.paused = false
			}
		}
	}
	emitNext := func() {
		for {
			var min *mergeSrc
			ready := true
			for _, s := range srcs {
				if !s.done && len(s.queue) == 0 {
					ready = false
					break
				}
				if len(s.queue) > 0 && (min == nil || min.queue[0].t > s.queue[0].t) {
					min = s
				}
			}
			if !ready || min == nil {
				pauseResume()
				return
			}
			write(min.queue[0].out)
			min.queue[0] = item{}
			min.queue = min.queue[1:]
		}
	}
	handle := func(s *mergeSrc, line []byte) {
		s.st.Lines++
		s.st.Bytes += int64(len(line)) + 1
		if !utf8.Valid(line) {
			s.fixBuf = repairUTF8(s.fixBuf[:0], line)
			line = s.fixBuf
		}
		out, shown := s.r.Line(nil, line)
		if s.r.isRecord {
			s.st.Records++
		} else {
			s.st.Other++
		}
		if p.CountOnly {
			if shown {
				s.st.Shown++
				p.count(s.r, &s.st)
			}
			return
		}
		if !s.r.isRecord {
			write(out)
			return
		}
		if shown {
			s.st.Shown++
			s.queue = append(s.queue, item{t: s.r.lastTime, out: out})
			emitNext()
		}
	}
	for live := len(srcs); live > 0 && err == nil; {
		progress := false
		for _, s := range srcs {
			if s.ended || s.paused || err != nil {
				continue
			}
			progress = true
			if !s.eof {
				n, rerr := io.ReadFull(s.in.R, s.buf)
				if n > 0 {
					p.mergeData(s, s.buf[:n], handle)
				}
				if rerr == nil {
					continue
				}
				if rerr != io.EOF && rerr != io.ErrUnexpectedEOF {
					s.err = rerr
				}
				s.eof = true
				if n > 0 {
					continue // node's next read returns nothing and ends it
				}
			}
			s.ended, s.done = true, true
			live--
			if s.in.File {
				s.leftover = trimIncompleteTail(s.leftover)
			}
			if len(s.leftover) > 0 {
				handle(s, s.leftover)
				s.leftover = nil
			} else {
				emitNext()
			}
		}
		if !progress {
			// Every input left is paused with records queued and nothing
			// will resume it: bunyan exits here without writing them.
			break
		}
	}
	for i, s := range srcs {
		st.add(&s.st)
		if s.err != nil {
			errs = append(errs, &InputError{Name: inputs[i].Name, Err: s.err})
		}
	}
	return st, errs, err
}

// mergeData splits one 64 KiB read into lines as bunyan does: a \r\n
// counts only within the read, the part after the last \n waits for the
// next read.
func (p *Processor) mergeData(s *mergeSrc, data []byte, handle func(*mergeSrc, []byte)) {
	first := true
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			s.leftover = append(s.leftover, data...)
			return
		}
		seg := data[:i]
		if len(seg) > 0 && seg[len(seg)-1] == '\r' {
			seg = seg[:len(seg)-1]
		}
		if first && len(s.leftover) > 0 {
			s.leftover = append(s.leftover, seg...)
			line := s.leftover
			s.leftover = nil
			handle(s, line)
		} else {
			handle(s, seg)
		}
		first = false
		data = data[i+1:]
	}
}

// InputError is a failure reading one input.
type InputError struct {
	Name string
	Err  error
}

func (e *InputError) Error() string { return e.Name + ": " + e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

// Follow renders path as it grows, like tail -F: from the start, then
// every poll interval; when the file is replaced (rotation: another inode
// at the path) or truncated, the old file is read to its end and the new
// one from its start; a file rewritten to the same size between polls is
// caught by comparing the last bytes read. It returns when ctx ends.
func (p *Processor) Follow(ctx context.Context, w io.Writer, path string, poll time.Duration) error {
	if poll <= 0 {
		poll = 250 * time.Millisecond
	}
	r := newRenderer(p.Opts)
	var f *os.File
	var fi os.FileInfo
	var off int64
	var tail []byte // the last bytes read, to notice a rewrite
	var pending []byte
	var out, fixBuf []byte
	open := func() error {
		nf, err := os.Open(path)
		if err != nil {
			return err
		}
		if f != nil {
			f.Close()
		}
		f = nf
		fi, _ = f.Stat()
		off = 0
		pending = pending[:0]
		tail = tail[:0]
		return nil
	}
	if err := open(); err != nil {
		return err
	}
	defer func() { f.Close() }()
	emit := func(line []byte) {
		if !utf8.Valid(line) {
			fixBuf = repairUTF8(fixBuf[:0], line)
			line = fixBuf
		}
		out, _ = r.Line(out, line)
	}
	drain := func() error {
		buf := make([]byte, 64<<10)
		for {
			n, err := f.Read(buf)
			if n > 0 {
				pending = append(pending, buf[:n]...)
				off += int64(n)
				if n >= 64 {
					tail = append(tail[:0], buf[n-64:n]...)
				} else {
					tail = append(tail, buf[:n]...)
					if len(tail) > 64 {
						tail = append(tail[:0], tail[len(tail)-64:]...)
					}
				}
				if i := bytes.LastIndexByte(pending, '\n'); i >= 0 {
					out = out[:0]
					lineSplit(pending[:i+1], 0, false, emit)
					pending = append(pending[:0], pending[i+1:]...)
					if _, werr := w.Write(out); werr != nil {
						return writeErr(werr)
					}
				}
			}
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
		}
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		if err := drain(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		cur, err := os.Stat(path)
		if err != nil {
			continue // rotated away; wait for the new file
		}
		// Caught up but the bytes before our offset changed: the file was
		// truncated and rewritten between two polls.
		rewritten := false
		if cur.Size() == off && len(tail) > 0 {
			chk := make([]byte, len(tail))
			if n, _ := f.ReadAt(chk, off-int64(len(tail))); n != len(tail) || !bytes.Equal(chk, tail) {
				rewritten = true
			}
		}
		if !os.SameFile(cur, fi) || cur.Size() < off || rewritten {
			if err := drain(); err != nil {
				return err
			}
			if len(pending) > 0 {
				out = out[:0]
				emit(pending)
				if _, werr := w.Write(out); werr != nil {
					return writeErr(werr)
				}
			}
			if err := open(); err != nil {
				continue
			}
		}
	}
}

// LineRenderer renders lines one at a time, for sources other than
// readers (such as records snooped from a live process).
type LineRenderer struct {
	r   *renderer
	fix []byte
}

// NewLineRenderer returns a LineRenderer with the options o.
func NewLineRenderer(o *Options) *LineRenderer { return &LineRenderer{r: newRenderer(o)} }

// Line appends the rendering of line (no terminator) to out.
func (l *LineRenderer) Line(out, line []byte) []byte {
	if !utf8.Valid(line) {
		l.fix = repairUTF8(l.fix[:0], line)
		line = l.fix
	}
	out, _ = l.r.Line(out, line)
	return out
}
