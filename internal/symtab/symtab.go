// Package symtab turns code addresses into source frames: function, file,
// line and the functions inlined at that address.
//
// Go binaries are read through their .gopclntab (stripped and PIE ones
// included; the text start comes from the runtime's moduledata, found
// without symbols, so cgo binaries whose .text begins with C code are right),
// C binaries through ELF .symtab/.dynsym, and DWARF line tables and inlined
// subroutines when present.
// Open reads one file; NewProcess maps a live process's addresses through
// /proc/PID/maps onto the files behind them; Kernel reads /proc/kallsyms.
//
// Costs: Open memory-maps the file and parses headers only; a Go lookup is a
// binary search plus a walk of three small varint tables (about a
// microsecond); C symbol, DWARF line and inline tables are built once, on
// the first lookup that needs them. Process caches each pc's answer.
package symtab

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Frame is one source-level frame at an address. A lookup returns the
// innermost first: the inlined callees, then the function the code belongs to.
type Frame struct {
	Function  string // symbol name, e.g. "main.work" or "memcpy"; "" when unknown
	File      string // source file, "" when unknown
	Line      int    // source line, 0 when unknown
	StartLine int    // line of the function's declaration, 0 when unknown
	Inlined   bool   // this frame was inlined into the next one
	Entry     uint64 // entry address of the enclosing function (0 for inlined frames)
}

// File is one opened ELF file. It is safe for concurrent lookups.
type File struct {
	Path string
	// BuildID is the GNU build id (hex) when the file has one, else Go's
	// build id, else "".
	BuildID string
	// GoBuildID is the Go toolchain's build id, "" for non-Go files.
	GoBuildID string
	Type      elf.Type

	data   []byte // the whole file, memory-mapped unless from NewFromBytes
	mapped bool
	ef     *elf.File
	loads  []elf.ProgHeader
	relocs map[uint64]uint64 // R_X86_64_RELATIVE: address -> addend
	gotab  *goTable
	goErr  error

	symOnce sync.Once
	syms    []symbol

	dw dwarfState // C lines and inlined frames, read per compilation unit
}

type symbol struct {
	addr, size uint64
	name       string
}

type lineRow struct {
	addr uint64
	file string
	line int
}

// Open opens and memory-maps an ELF file. Close releases it.
func Open(path string) (*File, error) {
	fd, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	defer fd.Close()
	st, err := fd.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat %s: %w", path, err)
	}
	if st.Size() < 64 || st.Size() > 1<<34 {
		return nil, fmt.Errorf("open %s: not an ELF file (size %d)", path, st.Size())
	}
	data, err := unix.Mmap(int(fd.Fd()), 0, int(st.Size()), unix.PROT_READ, unix.MAP_PRIVATE)
	if err != nil {
		return nil, fmt.Errorf("map %s: %w", path, err)
	}
	f, err := newFile(path, data)
	if err != nil {
		unix.Munmap(data)
		return nil, err
	}
	f.mapped = true
	return f, nil
}

// NewFromBytes parses an ELF image held in memory (tests and fuzzing).
func NewFromBytes(path string, data []byte) (*File, error) { return newFile(path, data) }

func newFile(path string, data []byte) (f *File, err error) {
	defer func() {
		// debug/elf can panic on some malformed inputs; report it as bad input.
		if r := recover(); r != nil {
			f, err = nil, fmt.Errorf("read ELF %s: malformed file (%v)", path, r)
		}
	}()
	ef, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("read ELF %s: %w", path, err)
	}
	f = &File{Path: path, data: data, ef: ef, Type: ef.Type}
	for _, p := range ef.Progs {
		if p.Type == elf.PT_LOAD {
			f.loads = append(f.loads, p.ProgHeader)
		}
	}
	f.readNotes()
	if f.BuildID == "" {
		f.BuildID = f.GoBuildID
	}
	if ef.Type == elf.ET_DYN {
		f.readRelocs()
	}
	f.gotab, f.goErr = f.openGo()
	return f, nil
}

// Close unmaps the file. Lookups must not be made afterwards.
func (f *File) Close() error {
	if f == nil || f.data == nil || f.ef == nil {
		return nil
	}
	d := f.data
	f.data = nil
	if f.mapped {
		return unix.Munmap(d)
	}
	return nil
}

// IsGo reports whether Go symbolization is available for the file.
func (f *File) IsGo() bool { return f.gotab != nil }

// GoError says why a file that looks like Go has no usable table (nil when
// it has one or is not Go).
func (f *File) GoError() error {
	if errors.Is(f.goErr, ErrNoGoTable) {
		return nil
	}
	return f.goErr
}

func (f *File) readNotes() {
	for _, s := range f.ef.Sections {
		if s.Type != elf.SHT_NOTE {
			continue
		}
		b := f.section(s)
		for len(b) >= 12 {
			le := binary.LittleEndian
			nsz, dsz, typ := le.Uint32(b), le.Uint32(b[4:]), le.Uint32(b[8:])
			b = b[12:]
			na := (uint64(nsz) + 3) &^ 3
			da := (uint64(dsz) + 3) &^ 3
			if na+da > uint64(len(b)) {
				break
			}
			name := strings.TrimRight(string(b[:nsz]), "\x00")
			desc := b[na : na+uint64(dsz)]
			switch {
			case name == "GNU" && typ == 3: // NT_GNU_BUILD_ID
				f.BuildID = hex.EncodeToString(desc)
			case name == "Go" && typ == 4: // NT_GO_BUILDID
				f.GoBuildID = string(desc)
			}
			b = b[na+da:]
		}
	}
}

func (f *File) section(s *elf.Section) []byte {
	if s.Type == elf.SHT_NOBITS || s.Offset+s.Size > uint64(len(f.data)) || s.Offset+s.Size < s.Offset {
		return nil
	}
	return f.data[s.Offset : s.Offset+s.Size]
}

func (f *File) readRelocs() {
	for _, s := range f.ef.Sections {
		if s.Type != elf.SHT_RELA || f.ef.Machine != elf.EM_X86_64 {
			continue
		}
		b := f.section(s)
		for ; len(b) >= 24; b = b[24:] {
			le := binary.LittleEndian
			off, info, add := le.Uint64(b), le.Uint64(b[8:]), le.Uint64(b[16:])
			if elf.R_X86_64(info&0xffffffff) == elf.R_X86_64_RELATIVE {
				if f.relocs == nil {
					f.relocs = map[uint64]uint64{}
				}
				f.relocs[off] = add
			}
		}
	}
}

// read returns n bytes of the file's image at virtual address addr, or nil
// when they are not all backed by the file.
func (f *File) read(addr uint64, n int) []byte {
	for _, p := range f.loads {
		if addr >= p.Vaddr && addr+uint64(n) <= p.Vaddr+p.Filesz && addr+uint64(n) >= addr {
			off := p.Off + (addr - p.Vaddr)
			if off+uint64(n) > uint64(len(f.data)) {
				return nil
			}
			return f.data[off : off+uint64(n)]
		}
	}
	return nil
}

// ptr reads a pointer-sized word at addr, applying a relative relocation.
func (f *File) ptr(addr uint64) (uint64, bool) {
	if v, ok := f.relocs[addr]; ok {
		return v, true
	}
	b := f.read(addr, 8)
	if b == nil {
		return 0, false
	}
	return binary.LittleEndian.Uint64(b), true
}

func (f *File) symbolAddr(name string) uint64 {
	f.loadSymbols()
	for _, s := range f.syms {
		if s.name == name {
			return s.addr
		}
	}
	return 0
}

// openGo finds and parses .gopclntab, then the runtime's moduledata for the
// text start and the funcdata base.
func (f *File) openGo() (*goTable, error) {
	var hdr uint64
	var data []byte
	if s := f.ef.Section(".gopclntab"); s != nil {
		hdr, data = s.Addr, f.section(s)
	} else if f.GoBuildID != "" {
		// External linking may fold the table into .data.rel.ro: find the
		// header by its magic in the read-only sections.
		for _, s := range f.ef.Sections {
			if s.Type != elf.SHT_PROGBITS || s.Flags&elf.SHF_EXECINSTR != 0 || s.Flags&elf.SHF_ALLOC == 0 {
				continue
			}
			b := f.section(s)
			for i := 0; i+16 <= len(b); i += 8 {
				m := binary.LittleEndian.Uint32(b[i:])
				if (m == magic120 || m == magic118) && b[i+4] == 0 && b[i+5] == 0 && b[i+7] == 8 {
					if _, err := parseGoTable(b[i:]); err == nil {
						hdr, data = s.Addr+uint64(i), b[i:]
						break
					}
				}
			}
			if data != nil {
				break
			}
		}
	}
	if data == nil {
		return nil, ErrNoGoTable
	}
	t, err := parseGoTable(data)
	if err != nil {
		return nil, err
	}
	t.read = f.read
	if md, ok := f.findModuledata(hdr, t); ok {
		t.text, _ = f.ptr(md + 22*8)
		gofuncOff := uint64(40 * 8)
		if t.magic == magic118 {
			gofuncOff = 38 * 8
		}
		t.gofunc, _ = f.ptr(md + gofuncOff)
	}
	if t.text == 0 {
		if v, ok := f.ptr(hdr + 24); ok && v != 0 {
			t.text = v
		} else if v := f.symbolAddr("runtime.text"); v != 0 {
			t.text = v
		} else if s := f.ef.Section(".text"); s != nil {
			t.text = s.Addr
		}
	}
	if t.gofunc == 0 {
		t.gofunc = f.symbolAddr("go:func.*")
	}
	return t, nil
}

// findModuledata locates runtime.firstmoduledata: the word that points at
// the pclntab header and is followed by the funcnametab slice pointing where
// the header says.
func (f *File) findModuledata(hdr uint64, t *goTable) (uint64, bool) {
	b := f.read(hdr+32, 8)
	if b == nil {
		return 0, false
	}
	nameTab := hdr + binary.LittleEndian.Uint64(b)
	check := func(md uint64) bool {
		v, ok := f.ptr(md + 8)
		return ok && v == nameTab
	}
	if a := f.symbolAddr("runtime.firstmoduledata"); a != 0 && check(a) {
		return a, true
	}
	for addr, add := range f.relocs {
		if add == hdr && check(addr) {
			return addr, true
		}
	}
	for _, s := range f.ef.Sections {
		if s.Type != elf.SHT_PROGBITS || s.Flags&elf.SHF_WRITE == 0 || s.Flags&elf.SHF_ALLOC == 0 {
			continue
		}
		b := f.section(s)
		for i := 0; i+16 <= len(b); i += 8 {
			if binary.LittleEndian.Uint64(b[i:]) == hdr && check(s.Addr+uint64(i)) {
				return s.Addr + uint64(i), true
			}
		}
	}
	return 0, false
}

func (f *File) loadSymbols() {
	f.symOnce.Do(func() {
		var all []elf.Symbol
		if s, err := f.ef.Symbols(); err == nil {
			all = append(all, s...)
		}
		if s, err := f.ef.DynamicSymbols(); err == nil {
			all = append(all, s...)
		}
		seen := map[uint64]bool{}
		for _, s := range all {
			if elf.ST_TYPE(s.Info) != elf.STT_FUNC || s.Value == 0 || s.Name == "" {
				if !(s.Name == "runtime.text" || s.Name == "go:func.*" || s.Name == "runtime.firstmoduledata") {
					continue
				}
			}
			if seen[s.Value] && elf.ST_TYPE(s.Info) == elf.STT_FUNC {
				continue
			}
			if elf.ST_TYPE(s.Info) == elf.STT_FUNC {
				seen[s.Value] = true
			}
			name := s.Name
			if i := strings.Index(name, "@"); i > 0 {
				name = name[:i]
			}
			f.syms = append(f.syms, symbol{addr: s.Value, size: s.Size, name: name})
		}
		sort.Slice(f.syms, func(i, j int) bool { return f.syms[i].addr < f.syms[j].addr })
	})
}

// Lookup returns the frames at addr, a virtual address of the file as
// linked (see Process for run-time addresses). Innermost first; nil when
// nothing is known.
func (f *File) Lookup(addr uint64) []Frame {
	if f.gotab != nil {
		if fr := f.gotab.frames(addr); fr != nil {
			return fr
		}
	}
	f.loadSymbols()
	i := sort.Search(len(f.syms), func(i int) bool { return f.syms[i].addr > addr }) - 1
	if i < 0 {
		return nil
	}
	s := f.syms[i]
	if s.size != 0 && addr >= s.addr+s.size {
		return nil
	}
	fr := Frame{Function: s.name, Entry: s.addr}
	if f.gotab != nil {
		// C code in a Go binary: .gopclntab has no lines for it, and
		// reading all of a Go binary's DWARF for them costs more than a
		// profile's whole symbolization.
		return []Frame{fr}
	}
	cu := f.unitFor(addr)
	if cu == nil {
		return []Frame{fr}
	}
	if j := sort.Search(len(cu.lines), func(j int) bool { return cu.lines[j].addr > addr }) - 1; j >= 0 && cu.lines[j].line > 0 {
		fr.File, fr.Line = cu.lines[j].file, cu.lines[j].line
	}
	// Functions inlined at addr (DWARF inlined_subroutine): innermost
	// first; each caller's line is its callee's call site.
	if inl := cu.inlinedAt(addr); len(inl) > 0 {
		out := make([]Frame, 0, len(inl)+1)
		file, line := fr.File, fr.Line
		for i := len(inl) - 1; i >= 0; i-- {
			c := inl[i]
			out = append(out, Frame{Function: c.name, File: file, Line: line, Inlined: true})
			file, line = c.callFile, c.callLine
		}
		fr.File, fr.Line = file, line
		return append(out, fr)
	}
	return []Frame{fr}
}

// SPDelta returns how many bytes the Go function containing addr has moved
// SP below its value at entry, at addr; ok is false outside Go code. A delta
// of 0 means the return address is at SP: the function has no frame there
// (a frameless leaf, or a prologue not yet run), so a frame-pointer walk
// would skip its caller.
func (f *File) SPDelta(addr uint64) (delta int, ok bool) {
	if f.gotab == nil {
		return 0, false
	}
	return f.gotab.spDelta(addr)
}

// FileOffsetToAddr converts a file offset to the virtual address the linker
// gave it, through the PT_LOAD segment holding it.
func (f *File) FileOffsetToAddr(off uint64) (uint64, bool) {
	for _, p := range f.loads {
		if off >= p.Off && off < p.Off+p.Filesz {
			return p.Vaddr + (off - p.Off), true
		}
	}
	return 0, false
}
