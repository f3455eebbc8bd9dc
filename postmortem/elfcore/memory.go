package elfcore

import (
	"debug/elf"
	"encoding/binary"
	"fmt"
	"io"
	"sort"
)

// Memory is the address space of the crashed process as far as the core
// and the executable can tell: dumped segments first, then the
// executable's file-backed segments (text, rodata) that the kernel does
// not dump, then zeros for the undumped tail of a segment.
type Memory struct {
	regions []region // sorted by start, not overlapping
}

type region struct {
	start, end uint64 // [start, end) of the mapping
	data       []byte // the first len(data) bytes; the rest reads as zeros
}

// ErrUnmapped is wrapped by reads of addresses no segment covers.
var ErrUnmapped = fmt.Errorf("address not in the core")

// NewMemory builds the address space from the core and, when exe is not
// nil, the executable's PT_LOAD segments shifted by bias (the PIE load
// address; 0 for a static Go binary).
func NewMemory(c *File, exe *elf.File, bias uint64) *Memory {
	m := &Memory{}
	for i := range c.Segments {
		s := &c.Segments[i]
		if s.Memsz == 0 {
			continue
		}
		end := s.End()
		if s.Truncated {
			// What the file lost is unknown, not zero.
			end = s.Vaddr + s.Filesz
			if s.Filesz == 0 {
				continue
			}
		}
		m.regions = append(m.regions, region{start: s.Vaddr, end: end, data: c.Bytes(s)})
	}
	sort.Slice(m.regions, func(i, j int) bool { return m.regions[i].start < m.regions[j].start })
	if exe == nil {
		return m
	}
	var extra []region
	for _, p := range exe.Progs {
		if p.Type != elf.PT_LOAD || p.Filesz == 0 {
			continue
		}
		data := make([]byte, p.Filesz)
		if _, err := p.ReadAt(data, 0); err != nil && err != io.EOF {
			continue
		}
		start := p.Vaddr + bias
		// Only the part the core holds no bytes for: the kernel dumps the
		// first page of a file mapping and all of a written one.
		extra = append(extra, m.uncovered(start, start+p.Filesz, data)...)
	}
	m.regions = append(m.regions, extra...)
	// Merge overlaps: the core's region keeps its dumped prefix, the exe
	// fills the rest. Split core regions that have an undumped tail.
	m.regions = flatten(m.regions)
	return m
}

// uncovered returns the parts of [start,end) (with bytes data) that no
// region holds dumped bytes for.
func (m *Memory) uncovered(start, end uint64, data []byte) []region {
	var out []region
	cur := start
	for _, r := range m.regions {
		dend := r.start + uint64(len(r.data))
		if dend <= cur || r.start >= end {
			continue
		}
		if r.start > cur {
			out = append(out, region{cur, r.start, data[cur-start : r.start-start]})
		}
		if dend > cur {
			cur = dend
		}
		if cur >= end {
			break
		}
	}
	if cur < end {
		out = append(out, region{cur, end, data[cur-start:]})
	}
	return out
}

// flatten turns overlapping regions into disjoint ones: dumped bytes win,
// then exe bytes, then zeros.
func flatten(rs []region) []region {
	// Split every core region into its dumped part and its zero tail.
	var dumped, zeros []region
	for _, r := range rs {
		n := uint64(len(r.data))
		if n > 0 {
			dumped = append(dumped, region{r.start, r.start + n, r.data})
		}
		if r.start+n < r.end {
			zeros = append(zeros, region{r.start + n, r.end, nil})
		}
	}
	sort.Slice(dumped, func(i, j int) bool { return dumped[i].start < dumped[j].start })
	out := append([]region(nil), dumped...)
	// Add zero tails where nothing has bytes.
	for _, z := range zeros {
		cur := z.start
		for _, d := range dumped {
			if d.end <= cur || d.start >= z.end {
				continue
			}
			if d.start > cur {
				out = append(out, region{cur, d.start, nil})
			}
			cur = d.end
		}
		if cur < z.end {
			out = append(out, region{cur, z.end, nil})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].start < out[j].start })
	return out
}

func (m *Memory) find(addr uint64) *region {
	i := sort.Search(len(m.regions), func(i int) bool { return m.regions[i].end > addr })
	if i < len(m.regions) && m.regions[i].start <= addr {
		return &m.regions[i]
	}
	return nil
}

// ReadAt fills p from addr. It fails with ErrUnmapped if any byte is
// outside every region.
func (m *Memory) ReadAt(p []byte, addr uint64) (int, error) {
	n := 0
	for n < len(p) {
		r := m.find(addr + uint64(n))
		if r == nil {
			return n, fmt.Errorf("read %d bytes at %#x: %w", len(p), addr, ErrUnmapped)
		}
		a := addr + uint64(n)
		off := a - r.start
		avail := r.end - a
		want := uint64(len(p) - n)
		if want > avail {
			want = avail
		}
		for i := uint64(0); i < want; i++ {
			if off+i < uint64(len(r.data)) {
				p[n+int(i)] = r.data[off+i]
			} else {
				p[n+int(i)] = 0
			}
		}
		n += int(want)
	}
	return n, nil
}

// ReadMemory is ReadAt in the shape delve's MemoryReader uses.
func (m *Memory) ReadMemory(p []byte, addr uint64) (int, error) { return m.ReadAt(p, addr) }

// View returns the bytes at [addr, addr+n) without copying when one
// region holds them all; ok is false otherwise (use ReadAt then).
func (m *Memory) View(addr, n uint64) ([]byte, bool) {
	r := m.find(addr)
	if r == nil || addr+n > r.end || addr+n < addr {
		return nil, false
	}
	off := addr - r.start
	if off+n <= uint64(len(r.data)) {
		return r.data[off : off+n], true
	}
	return nil, false
}

// Uint64 reads one little-endian word; 0 and false when unreadable.
func (m *Memory) Uint64(addr uint64) (uint64, bool) {
	if b, ok := m.View(addr, 8); ok {
		return binary.LittleEndian.Uint64(b), true
	}
	var b [8]byte
	if _, err := m.ReadAt(b[:], addr); err != nil {
		return 0, false
	}
	return binary.LittleEndian.Uint64(b[:]), true
}

// Mapped reports whether addr lies in any region.
func (m *Memory) Mapped(addr uint64) bool { return m.find(addr) != nil }
