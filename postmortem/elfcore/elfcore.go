// Package elfcore reads and writes Linux ELF core files on x86-64: the
// program headers, the notes the kernel writes (NT_PRSTATUS per thread,
// NT_PRPSINFO, NT_SIGINFO, NT_AUXV, NT_FILE) and the memory the PT_LOAD
// segments hold. It parses the notes itself, bounds-checking every length,
// so a truncated or corrupt core gives an error naming what is missing
// rather than a panic.
package elfcore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sort"
	"syscall"
)

// Note types written by Linux into cores.
const (
	NTPrstatus = 1
	NTFpregset = 2
	NTPrpsinfo = 3
	NTAuxv     = 6
	NTXState   = 0x202
	NTSiginfo  = 0x53494749 // "SIGI"
	NTFile     = 0x46494c45 // "FILE"
)

// Auxiliary vector keys used here.
const (
	AtPhdr   = 3
	AtPhent  = 4
	AtPhnum  = 5
	AtPagesz = 6
	AtEntry  = 9
	AtExecfn = 31
)

// ErrNotCore is returned for files that are not ELF cores.
var ErrNotCore = errors.New("not an ELF core file")

// Thread is one NT_PRSTATUS note: a thread's id, pending signal and
// general registers.
type Thread struct {
	TID    int
	Signal int // pr_cursig: the signal being delivered when the core was made
	UTime  int64
	STime  int64 // microseconds of CPU time
	Regs   Regs
}

// Regs are the x86-64 general registers in user_regs_struct order.
type Regs [27]uint64

// Register indexes into Regs.
const (
	RegRBP    = 4
	RegRAX    = 10
	RegRIP    = 16
	RegRSP    = 19
	RegFSBase = 21
)

// PC, SP and BP of the thread.
func (r *Regs) PC() uint64 { return r[RegRIP] }
func (r *Regs) SP() uint64 { return r[RegRSP] }
func (r *Regs) BP() uint64 { return r[RegRBP] }

// Siginfo is the part of NT_SIGINFO obs reports.
type Siginfo struct {
	Signo int
	Errno int
	Code  int
	Addr  uint64 // fault address (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP)
	PID   int    // sender for kill/tgkill (si_code <= 0)
	UID   int
}

// HasAddr reports whether Addr means a fault address for this signal.
func (s *Siginfo) HasAddr() bool {
	switch syscall.Signal(s.Signo) {
	case syscall.SIGSEGV, syscall.SIGBUS, syscall.SIGILL, syscall.SIGFPE, syscall.SIGTRAP:
		return s.Code > 0
	}
	return false
}

// Psinfo is NT_PRPSINFO.
type Psinfo struct {
	State byte
	UID   int
	GID   int
	PID   int
	PPID  int
	Fname string // command name, at most 15 bytes
	Args  string // start of the command line, at most 80 bytes
}

// FileMapping is one NT_FILE entry: a file mapped at [Start, End).
type FileMapping struct {
	Start, End uint64
	Offset     uint64 // in bytes
	Path       string
}

// Segment is one PT_LOAD program header.
type Segment struct {
	Vaddr, Memsz   uint64
	Offset, Filesz uint64
	Flags          uint32 // elf.PF_R|PF_W|PF_X
	// Truncated is set when the file ends before Offset+Filesz; Filesz is
	// then cut to what the file holds.
	Truncated bool
}

// End is the first address after the segment.
func (s *Segment) End() uint64 { return s.Vaddr + s.Memsz }

// Notes are the parsed notes of a core.
type Notes struct {
	Threads []Thread
	Psinfo  *Psinfo
	Siginfo *Siginfo
	Auxv    map[uint64]uint64
	Files   []FileMapping
	// Unknown counts notes of other types (floating point state and so on).
	Unknown int
}

// Aux returns the auxiliary vector entry key, or 0.
func (n *Notes) Aux(key uint64) uint64 { return n.Auxv[key] }

// noteHeaderLen is namesz, descsz and type.
const noteHeaderLen = 12

func align4(n uint64) uint64 { return (n + 3) &^ 3 }

// ParseNotes parses the contents of one PT_NOTE segment. It never panics:
// a note that runs past the data or has a malformed descriptor is an error
// naming the note.
func ParseNotes(data []byte) (*Notes, error) {
	n := &Notes{}
	le := binary.LittleEndian
	off := uint64(0)
	size := uint64(len(data))
	for off < size {
		if size-off < noteHeaderLen {
			return n, fmt.Errorf("note at offset %d: header truncated (%d of 12 bytes)", off, size-off)
		}
		namesz := uint64(le.Uint32(data[off:]))
		descsz := uint64(le.Uint32(data[off+4:]))
		typ := le.Uint32(data[off+8:])
		off += noteHeaderLen
		if namesz > size-off {
			return n, fmt.Errorf("note type %#x at offset %d: name runs past the segment", typ, off)
		}
		name := data[off : off+namesz]
		off += align4(namesz)
		if off > size || descsz > size-off {
			return n, fmt.Errorf("note %s type %#x: descriptor of %d bytes runs past the segment", cstr(name), typ, descsz)
		}
		desc := data[off : off+descsz]
		off += align4(descsz)
		if err := n.add(cstr(name), typ, desc); err != nil {
			return n, err
		}
	}
	return n, nil
}

func cstr(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

func (n *Notes) add(name string, typ uint32, desc []byte) error {
	le := binary.LittleEndian
	if name != "CORE" && name != "LINUX" {
		n.Unknown++
		return nil
	}
	switch {
	case name == "CORE" && typ == NTPrstatus:
		if len(desc) < 112+27*8 {
			return fmt.Errorf("NT_PRSTATUS note %d: %d bytes, want 336", len(n.Threads), len(desc))
		}
		t := Thread{
			Signal: int(le.Uint16(desc[12:])),
			TID:    int(int32(le.Uint32(desc[32:]))),
			UTime:  int64(le.Uint64(desc[48:]))*1e6 + int64(le.Uint64(desc[56:])),
			STime:  int64(le.Uint64(desc[64:]))*1e6 + int64(le.Uint64(desc[72:])),
		}
		for i := range t.Regs {
			t.Regs[i] = le.Uint64(desc[112+8*i:])
		}
		n.Threads = append(n.Threads, t)
	case name == "CORE" && typ == NTPrpsinfo:
		if len(desc) < 136 {
			return fmt.Errorf("NT_PRPSINFO note: %d bytes, want 136", len(desc))
		}
		n.Psinfo = &Psinfo{
			State: desc[0],
			UID:   int(le.Uint32(desc[16:])),
			GID:   int(le.Uint32(desc[20:])),
			PID:   int(le.Uint32(desc[24:])),
			PPID:  int(le.Uint32(desc[28:])),
			Fname: cstr(desc[40:56]),
			Args:  string(bytes.TrimRight(bytes.ReplaceAll(bytes.TrimRight(desc[56:136], "\x00"), []byte{0}, []byte{' '}), " ")),
		}
	case name == "CORE" && typ == NTSiginfo:
		if len(desc) < 24 {
			return fmt.Errorf("NT_SIGINFO note: %d bytes, want 128", len(desc))
		}
		s := &Siginfo{
			Signo: int(int32(le.Uint32(desc[0:]))),
			Errno: int(int32(le.Uint32(desc[4:]))),
			Code:  int(int32(le.Uint32(desc[8:]))),
			Addr:  le.Uint64(desc[16:]),
			PID:   int(int32(le.Uint32(desc[16:]))),
			UID:   int(int32(le.Uint32(desc[20:]))),
		}
		n.Siginfo = s
	case name == "CORE" && typ == NTAuxv:
		if len(desc)%16 != 0 {
			return fmt.Errorf("NT_AUXV note: %d bytes is not a whole number of entries", len(desc))
		}
		n.Auxv = map[uint64]uint64{}
		for i := 0; i+16 <= len(desc); i += 16 {
			k := le.Uint64(desc[i:])
			if k == 0 {
				break
			}
			n.Auxv[k] = le.Uint64(desc[i+8:])
		}
	case name == "CORE" && typ == NTFile:
		files, err := parseNTFile(desc)
		if err != nil {
			return err
		}
		n.Files = files
	default:
		n.Unknown++
	}
	return nil
}

func parseNTFile(desc []byte) ([]FileMapping, error) {
	le := binary.LittleEndian
	if len(desc) < 16 {
		return nil, fmt.Errorf("NT_FILE note: header truncated")
	}
	count := le.Uint64(desc)
	page := le.Uint64(desc[8:])
	if count > uint64(len(desc)-16)/24 {
		return nil, fmt.Errorf("NT_FILE note: %d entries do not fit in %d bytes", count, len(desc))
	}
	names := desc[16+24*count:]
	files := make([]FileMapping, 0, count)
	for i := uint64(0); i < count; i++ {
		e := desc[16+24*i:]
		j := bytes.IndexByte(names, 0)
		if j < 0 {
			return nil, fmt.Errorf("NT_FILE note: name of entry %d missing", i)
		}
		files = append(files, FileMapping{
			Start:  le.Uint64(e),
			End:    le.Uint64(e[8:]),
			Offset: le.Uint64(e[16:]) * page,
			Path:   string(names[:j]),
		})
		names = names[j+1:]
	}
	return files, nil
}

// File is an opened core: its segments, notes and memory.
type File struct {
	Path     string
	Size     int64
	Segments []Segment // PT_LOAD, sorted by address
	Notes    *Notes
	data     []byte // the whole file, mapped read-only
	f        *os.File
	// NoteErr is set when the notes could not be fully parsed; Notes
	// then holds what came before the damage.
	NoteErr error
}

// Open maps the core at path and parses its headers and notes.
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if st.Size() < 64 {
		f.Close()
		return nil, fmt.Errorf("%s: %w (only %d bytes)", path, ErrNotCore, st.Size())
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, int(st.Size()), syscall.PROT_READ, syscall.MAP_PRIVATE)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("map %s: %w", path, err)
	}
	c, err := parse(data)
	if err != nil {
		syscall.Munmap(data)
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	c.Path, c.Size, c.f = path, st.Size(), f
	return c, nil
}

// Parse reads a core held in memory (tests and fuzzing use it).
func Parse(data []byte) (*File, error) { return parse(data) }

func parse(data []byte) (*File, error) {
	le := binary.LittleEndian
	if len(data) < 64 || string(data[:4]) != "\x7fELF" {
		return nil, ErrNotCore
	}
	if data[4] != 2 || data[5] != 1 {
		return nil, fmt.Errorf("%w: only 64-bit little-endian cores are supported", ErrNotCore)
	}
	if typ := le.Uint16(data[16:]); typ != 4 {
		return nil, fmt.Errorf("%w: ELF type %d (an executable or library, not a core)", ErrNotCore, typ)
	}
	if m := le.Uint16(data[18:]); m != 62 {
		return nil, fmt.Errorf("core for machine %d: only x86-64 is supported", m)
	}
	phoff := le.Uint64(data[32:])
	phentsize := uint64(le.Uint16(data[54:]))
	phnum := uint64(le.Uint16(data[56:]))
	if phentsize < 56 {
		return nil, fmt.Errorf("program header size %d too small", phentsize)
	}
	size := uint64(len(data))
	if phoff > size || phnum*phentsize > size-phoff {
		return nil, fmt.Errorf("program headers truncated: file has %d bytes, headers need %d", size, phoff+phnum*phentsize)
	}
	c := &File{data: data}
	var noteSegs [][]byte
	for i := uint64(0); i < phnum; i++ {
		ph := data[phoff+i*phentsize:]
		typ := le.Uint32(ph)
		s := Segment{
			Flags:  le.Uint32(ph[4:]),
			Offset: le.Uint64(ph[8:]),
			Vaddr:  le.Uint64(ph[16:]),
			Filesz: le.Uint64(ph[32:]),
			Memsz:  le.Uint64(ph[40:]),
		}
		switch typ {
		case 4: // PT_NOTE
			if s.Offset > size || s.Filesz > size-s.Offset {
				return nil, fmt.Errorf("notes truncated: PT_NOTE needs bytes %d..%d, file has %d", s.Offset, s.Offset+s.Filesz, size)
			}
			noteSegs = append(noteSegs, data[s.Offset:s.Offset+s.Filesz])
		case 1: // PT_LOAD
			if s.Filesz > s.Memsz {
				s.Filesz = s.Memsz
			}
			if s.Offset > size {
				s.Filesz, s.Truncated = 0, s.Filesz > 0
			} else if s.Filesz > size-s.Offset {
				s.Filesz, s.Truncated = size-s.Offset, true
			}
			c.Segments = append(c.Segments, s)
		}
	}
	if len(noteSegs) == 0 {
		return nil, fmt.Errorf("no PT_NOTE segment: the core has no thread or signal notes")
	}
	c.Notes = &Notes{}
	for _, seg := range noteSegs {
		n, err := ParseNotes(seg)
		c.Notes.merge(n)
		if err != nil && c.NoteErr == nil {
			c.NoteErr = err
		}
	}
	sort.Slice(c.Segments, func(i, j int) bool { return c.Segments[i].Vaddr < c.Segments[j].Vaddr })
	return c, nil
}

func (n *Notes) merge(o *Notes) {
	if o == nil {
		return
	}
	n.Threads = append(n.Threads, o.Threads...)
	if o.Psinfo != nil {
		n.Psinfo = o.Psinfo
	}
	if o.Siginfo != nil {
		n.Siginfo = o.Siginfo
	}
	if o.Auxv != nil {
		n.Auxv = o.Auxv
	}
	if o.Files != nil {
		n.Files = o.Files
	}
	n.Unknown += o.Unknown
}

// Close unmaps the core.
func (c *File) Close() error {
	if c.f == nil {
		return nil
	}
	syscall.Munmap(c.data)
	err := c.f.Close()
	c.f = nil
	return err
}

// Truncated reports the number of PT_LOAD segments cut short by the end
// of the file.
func (c *File) Truncated() int {
	n := 0
	for _, s := range c.Segments {
		if s.Truncated {
			n++
		}
	}
	return n
}

// Segment returns the PT_LOAD segment holding addr, or nil.
func (c *File) Segment(addr uint64) *Segment {
	i := sort.Search(len(c.Segments), func(i int) bool { return c.Segments[i].End() > addr })
	if i < len(c.Segments) && c.Segments[i].Vaddr <= addr {
		return &c.Segments[i]
	}
	return nil
}

// Bytes returns the dumped bytes of the segment (Filesz of them).
func (c *File) Bytes(s *Segment) []byte {
	if s.Filesz == 0 || s.Offset >= uint64(len(c.data)) {
		return nil
	}
	return c.data[s.Offset : s.Offset+s.Filesz]
}

// ExePath guesses the executable from the notes: the NT_FILE mapping that
// holds AT_PHDR (the program headers the kernel loaded), else the first
// mapping whose name ends in the command name.
func (n *Notes) ExePath() string {
	if phdr := n.Aux(AtPhdr); phdr != 0 {
		for _, f := range n.Files {
			if f.Start <= phdr && phdr < f.End {
				return f.Path
			}
		}
	}
	if n.Psinfo != nil && n.Psinfo.Fname != "" {
		for _, f := range n.Files {
			b := f.Path
			if i := bytes.LastIndexByte([]byte(b), '/'); i >= 0 {
				b = b[i+1:]
			}
			if len(b) >= len(n.Psinfo.Fname) && b[:len(n.Psinfo.Fname)] == n.Psinfo.Fname {
				return f.Path
			}
		}
	}
	return ""
}
