package symtab

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Go's runtime symbol table (.gopclntab), Go 1.18 and later, 64-bit
// little-endian. The layout is the one runtime/symtab.go documents: a
// pcHeader, then the function name table, compilation-unit file table, file
// name table, pc-value tables, and the function table whose entries point at
// _func records.

const (
	magic118 = 0xfffffff0 // Go 1.18, 1.19
	magic120 = 0xfffffff1 // Go 1.20 and later

	pcdataInlTreeIndex = 2
	funcdataInlTree    = 3
)

// ErrNoGoTable reports that a binary has no .gopclntab this package reads.
var ErrNoGoTable = errors.New("no Go symbol table")

// goTable is a parsed .gopclntab. Lookups decode the tables in place; nothing
// is expanded ahead of time.
type goTable struct {
	magic     uint32
	quantum   uint64
	nfunc     int
	funcnames []byte
	cutab     []byte
	filetab   []byte
	pctab     []byte
	pcln      []byte // starts with the function table
	text      uint64 // runtime.text: function entries are offsets from it
	gofunc    uint64 // go:func.* base for funcdata, 0 when unknown
	read      func(addr uint64, n int) []byte
}

// parseGoTable parses the table in data, which was found at address hdr.
// read returns file bytes at a virtual address (nil when unmapped); it is
// used later for inline trees.
func parseGoTable(data []byte) (*goTable, error) {
	if len(data) < 8+8*8 {
		return nil, fmt.Errorf("gopclntab: %d bytes is too short", len(data))
	}
	le := binary.LittleEndian
	t := &goTable{magic: le.Uint32(data)}
	if t.magic != magic118 && t.magic != magic120 {
		return nil, fmt.Errorf("gopclntab: magic %#x: %w", t.magic, ErrNoGoTable)
	}
	if data[4] != 0 || data[5] != 0 || data[7] != 8 {
		return nil, fmt.Errorf("gopclntab: unsupported header (pointer size %d)", data[7])
	}
	t.quantum = uint64(data[6])
	if t.quantum == 0 {
		return nil, errors.New("gopclntab: zero instruction quantum")
	}
	word := func(i int) uint64 { return le.Uint64(data[8+8*i:]) }
	nfunc := word(0)
	if nfunc > uint64(len(data)/8) {
		return nil, fmt.Errorf("gopclntab: %d functions do not fit", nfunc)
	}
	t.nfunc = int(nfunc)
	// word(2) is textStart (zero from Go 1.26 on, relocated in PIE files).
	sub := func(off uint64) ([]byte, error) {
		if off > uint64(len(data)) {
			return nil, fmt.Errorf("gopclntab: table offset %#x past end %#x", off, len(data))
		}
		return data[off:], nil
	}
	var err error
	if t.funcnames, err = sub(word(3)); err != nil {
		return nil, err
	}
	if t.cutab, err = sub(word(4)); err != nil {
		return nil, err
	}
	if t.filetab, err = sub(word(5)); err != nil {
		return nil, err
	}
	if t.pctab, err = sub(word(6)); err != nil {
		return nil, err
	}
	if t.pcln, err = sub(word(7)); err != nil {
		return nil, err
	}
	if uint64(len(t.pcln)) < (nfunc+1)*8 {
		return nil, errors.New("gopclntab: function table truncated")
	}
	return t, nil
}

// headerText returns the textStart word of the header (meaningful before Go
// 1.26 in non-PIE files).
func headerText(data []byte) uint64 {
	if len(data) < 32 {
		return 0
	}
	return binary.LittleEndian.Uint64(data[24:])
}

// entry returns function i's entry offset from text and its _func offset.
func (t *goTable) entry(i int) (entryOff, funcOff uint32) {
	b := t.pcln[8*i:]
	return binary.LittleEndian.Uint32(b), binary.LittleEndian.Uint32(b[4:])
}

// limit is the end of the last function, as an offset from text.
func (t *goTable) limit() uint32 { e, _ := t.entry(t.nfunc); return e }

// goFunc is a decoded _func record.
type goFunc struct {
	t         *goTable
	entry     uint64 // absolute address
	nameOff   int32
	pcsp      uint32
	pcfile    uint32
	pcln      uint32
	npcdata   uint32
	cuOffset  uint32
	startLine int32
	nfuncdata uint8
	raw       []byte // the record, for the pcdata/funcdata arrays
}

const funcHeaderSize = 44

// find returns the function containing addr.
func (t *goTable) find(addr uint64) (goFunc, bool) {
	if t.nfunc == 0 || addr < t.text {
		return goFunc{}, false
	}
	off := addr - t.text
	if off >= uint64(t.limit()) {
		return goFunc{}, false
	}
	lo, hi := 0, t.nfunc // find last i with entry(i) <= off
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if e, _ := t.entry(m + 1); uint64(e) <= off {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo >= t.nfunc {
		return goFunc{}, false
	}
	e, fo := t.entry(lo)
	if uint64(e) > off || uint64(fo)+funcHeaderSize > uint64(len(t.pcln)) {
		return goFunc{}, false
	}
	b := t.pcln[fo:]
	le := binary.LittleEndian
	f := goFunc{
		t:         t,
		entry:     t.text + uint64(le.Uint32(b)),
		nameOff:   int32(le.Uint32(b[4:])),
		pcsp:      le.Uint32(b[16:]),
		pcfile:    le.Uint32(b[20:]),
		pcln:      le.Uint32(b[24:]),
		npcdata:   le.Uint32(b[28:]),
		cuOffset:  le.Uint32(b[32:]),
		startLine: int32(le.Uint32(b[36:])),
		nfuncdata: b[43],
		raw:       b,
	}
	if f.entry != t.text+uint64(e) {
		return goFunc{}, false
	}
	return f, true
}

func cstring(b []byte, off int64) string {
	if off < 0 || off >= int64(len(b)) {
		return ""
	}
	b = b[off:]
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

func (t *goTable) funcName(nameOff int32) string { return cstring(t.funcnames, int64(nameOff)) }

func (f goFunc) name() string { return f.t.funcName(f.nameOff) }

// value decodes the pc-value table at off for pc.
func (f goFunc) value(off uint32, pc uint64) (int32, bool) {
	if off == 0 || uint64(off) >= uint64(len(f.t.pctab)) {
		return 0, false
	}
	return pcValue(f.t.pctab[off:], f.entry, f.t.quantum, pc)
}

// pcValue decodes one pc-value table: a sequence of (value delta, pc delta)
// pairs, varint-encoded, the value zig-zag signed, starting at value -1 and
// pc entry. It returns the value in force at target.
func pcValue(p []byte, entry, quantum, target uint64) (int32, bool) {
	val := int64(-1)
	pc := entry
	first := true
	for n := 0; n < 1<<20; n++ {
		uv, k := binary.Uvarint(p)
		if k <= 0 {
			return 0, false
		}
		p = p[k:]
		if uv == 0 && !first {
			return 0, false
		}
		first = false
		if uv&1 != 0 {
			val += ^int64(uv >> 1)
		} else {
			val += int64(uv >> 1)
		}
		d, k := binary.Uvarint(p)
		if k <= 0 {
			return 0, false
		}
		p = p[k:]
		if d > 1<<32 {
			return 0, false
		}
		next := pc + d*quantum
		if target < next {
			if val < -1<<31 || val > 1<<31-1 {
				return 0, false
			}
			return int32(val), true
		}
		pc = next
	}
	return 0, false
}

func (f goFunc) fileName(pc uint64) string {
	n, ok := f.value(f.pcfile, pc)
	if !ok || n < 0 {
		return ""
	}
	i := uint64(f.cuOffset) + uint64(n)
	if (i+1)*4 > uint64(len(f.t.cutab)) {
		return ""
	}
	off := binary.LittleEndian.Uint32(f.t.cutab[i*4:])
	if off == ^uint32(0) {
		return ""
	}
	return cstring(f.t.filetab, int64(off))
}

func (f goFunc) line(pc uint64) int {
	n, ok := f.value(f.pcln, pc)
	if !ok {
		return 0
	}
	return int(n)
}

func (f goFunc) pcdata(i uint32) uint32 {
	if i >= f.npcdata {
		return 0
	}
	o := funcHeaderSize + 4*uint64(i)
	if o+4 > uint64(len(f.raw)) {
		return 0
	}
	return binary.LittleEndian.Uint32(f.raw[o:])
}

func (f goFunc) funcdata(i uint8) (uint32, bool) {
	if i >= f.nfuncdata {
		return 0, false
	}
	o := funcHeaderSize + 4*uint64(f.npcdata) + 4*uint64(i)
	if o+4 > uint64(len(f.raw)) {
		return 0, false
	}
	v := binary.LittleEndian.Uint32(f.raw[o:])
	return v, v != ^uint32(0)
}

// frames returns the source frames at pc, innermost (inlined) first.
func (t *goTable) frames(pc uint64) []Frame {
	f, ok := t.find(pc)
	if !ok {
		return nil
	}
	var out []Frame
	inl, haveTree := f.funcdata(funcdataInlTree)
	idxTab := f.pcdata(pcdataInlTreeIndex)
	cur := pc
	for depth := 0; depth < 64; depth++ {
		file, line := f.fileName(cur), f.line(cur)
		ix := int32(-1)
		if haveTree && idxTab != 0 && t.gofunc != 0 && t.read != nil {
			if v, ok := f.value(idxTab, cur); ok {
				ix = v
			}
		}
		if ix < 0 {
			out = append(out, Frame{Function: f.name(), File: file, Line: line, StartLine: int(f.startLine), Entry: f.entry})
			return out
		}
		rec := t.read(t.gofunc+uint64(inl)+16*uint64(ix), 16)
		if len(rec) < 16 {
			out = append(out, Frame{Function: f.name(), File: file, Line: line, StartLine: int(f.startLine), Entry: f.entry})
			return out
		}
		le := binary.LittleEndian
		name := t.funcName(int32(le.Uint32(rec[4:])))
		parent := int32(le.Uint32(rec[8:]))
		start := int32(le.Uint32(rec[12:]))
		out = append(out, Frame{Function: name, File: file, Line: line, StartLine: int(start), Inlined: true})
		if parent < 0 {
			break
		}
		next := f.entry + uint64(parent)
		if next == cur {
			break
		}
		cur = next
	}
	out = append(out, Frame{Function: f.name(), File: f.fileName(cur), Line: f.line(cur), StartLine: int(f.startLine), Entry: f.entry})
	return out
}

// spDelta returns how far SP is below its value at entry at pc (0 at entry
// and in functions with no frame).
func (t *goTable) spDelta(pc uint64) (int, bool) {
	f, ok := t.find(pc)
	if !ok {
		return 0, false
	}
	v, ok := f.value(f.pcsp, pc)
	if !ok {
		return 0, false
	}
	return int(v), true
}
