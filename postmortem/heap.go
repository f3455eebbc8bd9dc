package postmortem

import (
	"encoding/binary"
	"fmt"
	"sort"
)

// span is an in-use heap span as mheap_.allspans records it.
type span struct {
	addr      uint64 // the runtime.mspan
	base, end uint64
	elemsize  uint64
	nelems    uint64
	class     uint8 // spanclass: size class << 1 | noscan
	freeindex uint64
	allocBits uint64
	largeType uint64
	specials  uint64
	heapBits  uint64 // start of the in-span pointer bitmap, 0 if none
	marks     []int32
	bits      []byte // alloc bits, read on first use
}

func (s *span) noscan() bool    { return s.class&1 != 0 }
func (s *span) sizeclass() int  { return int(s.class >> 1) }
func (s *span) hasHeader() bool { return !s.noscan() && s.sizeclass() != 0 && s.elemsize > 512 }

// heap is the index of in-use spans and the layout of type descriptors.
type heap struct {
	c     *Core
	spans []*span // sorted by base
	// typ layout (internal/abi.Type)
	tSize, tPtrBytes, tTFlag, tKind, tGCData, tStr int64
	greenTea                                       bool
	last                                           *span
}

// loadHeap reads mheap_.allspans and indexes the in-use spans.
func (c *Core) loadHeap() (*heap, error) {
	if c.heap != nil {
		return c.heap, nil
	}
	if err := c.requireGo(); err != nil {
		return nil, err
	}
	l := c.rt
	mh, err := c.sym("runtime.mheap_")
	if err != nil {
		return nil, err
	}
	h := &heap{c: c}
	need := func(path string) (uint64, error) {
		o, err := l.off(path)
		return uint64(o), err
	}
	var offs [10]uint64
	for i, p := range []string{"runtime.mheap.allspans", "runtime.mspan.startAddr", "runtime.mspan.npages",
		"runtime.mspan.elemsize", "runtime.mspan.spanclass", "runtime.mspan.state", "runtime.mspan.freeindex",
		"runtime.mspan.allocBits", "runtime.mspan.nelems", "runtime.mspan.specials"} {
		if offs[i], err = need(p); err != nil {
			return nil, fmt.Errorf("heap layout: %w", err)
		}
	}
	largeOff := l.mustOff("runtime.mspan.largeType")
	for i, p := range []string{"internal/abi.Type.Size_", "internal/abi.Type.PtrBytes", "internal/abi.Type.TFlag",
		"internal/abi.Type.Kind_", "internal/abi.Type.GCData", "internal/abi.Type.Str"} {
		o, err := l.off(p)
		if err != nil {
			return nil, fmt.Errorf("type layout: %w", err)
		}
		*[]*int64{&h.tSize, &h.tPtrBytes, &h.tTFlag, &h.tKind, &h.tGCData, &h.tStr}[i] = o
	}
	_, gterr := l.structType("runtime.spanInlineMarkBits")
	h.greenTea = gterr == nil
	all := mh + offs[0]
	p, n := c.u64(all), c.u64(all+8)
	if n > 1<<26 {
		return nil, fmt.Errorf("mheap_.allspans has implausible length %d", n)
	}
	buf := make([]byte, 8*n)
	if _, err := c.Mem.ReadAt(buf, p); err != nil {
		return nil, fmt.Errorf("mheap_.allspans: %w", err)
	}
	for i := uint64(0); i < n; i++ {
		sa := binary.LittleEndian.Uint64(buf[8*i:])
		if sa == 0 || c.u8(sa+offs[5]) != 1 { // mSpanInUse
			continue
		}
		s := &span{addr: sa, base: c.u64(sa + offs[1]), elemsize: c.u64(sa + offs[3]), class: c.u8(sa + offs[4]),
			freeindex: uint64(c.u16(sa + offs[6])), allocBits: c.u64(sa + offs[7]), nelems: uint64(c.u16(sa + offs[8])),
			specials: c.u64(sa + offs[9])}
		npages := c.u64(sa + offs[2])
		s.end = s.base + npages*8192
		if s.elemsize == 0 || s.end <= s.base || npages > 1<<27 || s.nelems*s.elemsize > s.end-s.base {
			continue // not a span a live heap could have
		}
		if largeOff >= 0 {
			s.largeType = c.u64(sa + uint64(largeOff))
		}
		if !s.noscan() && s.elemsize <= 512 && s.sizeclass() != 0 {
			size := (s.end - s.base) / 64
			s.heapBits = s.end - size
			if h.greenTea && s.elemsize >= 16 {
				s.heapBits -= 128 // spanInlineMarkBits sits after the heap bits
			}
		}
		h.spans = append(h.spans, s)
	}
	sort.Slice(h.spans, func(i, j int) bool { return h.spans[i].base < h.spans[j].base })
	c.heap = h
	return h, nil
}

// spanOf returns the span holding addr, or nil. Lookups come in runs
// within one span (an object's words, a list's neighbours): the last hit
// is tried first.
func (h *heap) spanOf(addr uint64) *span {
	if l := h.last; l != nil && l.base <= addr && addr < l.end {
		return l
	}
	i := sort.Search(len(h.spans), func(i int) bool { return h.spans[i].end > addr })
	if i < len(h.spans) && h.spans[i].base <= addr {
		h.last = h.spans[i]
		return h.spans[i]
	}
	return nil
}

// allocated reports whether object idx of s is allocated: below freeindex
// every slot has been handed out; above it, the alloc bits from the last
// sweep say.
func (h *heap) allocated(s *span, idx uint64) bool {
	if idx >= s.nelems {
		return false
	}
	if idx < s.freeindex {
		return true
	}
	if s.bits == nil {
		s.bits = make([]byte, (s.nelems+7)/8)
		if _, err := h.c.Mem.ReadAt(s.bits, s.allocBits); err != nil {
			clear(s.bits)
		}
	}
	return s.bits[idx/8]&(1<<(idx%8)) != 0
}

// object resolves addr to the base of the allocated object holding it.
func (h *heap) object(addr uint64) (base uint64, s *span, idx uint64, ok bool) {
	s = h.spanOf(addr)
	if s == nil {
		return 0, nil, 0, false
	}
	idx = (addr - s.base) / s.elemsize
	if !h.allocated(s, idx) {
		return 0, nil, 0, false
	}
	return s.base + idx*s.elemsize, s, idx, true
}

// pointerWords calls fn with the address of every pointer-holding word
// of the object at base, as the GC would find them: the span's heap bits
// for small objects, the malloc header's type for bigger ones, the span's
// largeType for large ones. precise is false when the layout could not be
// decoded and every word was passed (a conservative fallback).
func (h *heap) pointerWords(base uint64, s *span, fn func(word uint64)) (precise bool) {
	if s.noscan() {
		return true
	}
	size := s.elemsize
	if s.heapBits != 0 {
		// One bit per word of the span.
		w0 := (base - s.base) / 8
		nw := size / 8
		bits, ok := h.c.Mem.View(s.heapBits+w0/8, (nw+w0%8+7)/8+1)
		if !ok {
			return h.conservative(base, size, fn)
		}
		for i := uint64(0); i < nw; i++ {
			b := w0%8 + i
			if bits[b/8]&(1<<(b%8)) != 0 {
				fn(base + 8*i)
			}
		}
		return true
	}
	var typ, data, dataLen uint64
	switch {
	case s.sizeclass() == 0:
		typ, data, dataLen = s.largeType, base, size
	default:
		typ, data, dataLen = h.c.u64(base), base+8, size-8
	}
	if typ == 0 {
		return h.conservative(base, size, fn)
	}
	mask, tsize, ok := h.typeMask(typ)
	if !ok || tsize == 0 {
		return h.conservative(base, size, fn)
	}
	for off := uint64(0); off+tsize <= dataLen; off += tsize {
		for i, m := range mask {
			if m == 0 {
				continue
			}
			for b := uint64(0); b < 8; b++ {
				if m&(1<<b) != 0 {
					fn(data + off + 8*(uint64(i)*8+b))
				}
			}
		}
	}
	return true
}

// typeMask returns the GC pointer mask of the _type at typ (one bit per
// word over PtrBytes) and the type's size.
func (h *heap) typeMask(typ uint64) ([]byte, uint64, bool) {
	c := h.c
	size := c.u64(typ + uint64(h.tSize))
	ptrBytes := c.u64(typ + uint64(h.tPtrBytes))
	if ptrBytes > size || size > 1<<40 {
		return nil, 0, false
	}
	if ptrBytes == 0 {
		return nil, size, true
	}
	gcdata := c.u64(typ + uint64(h.tGCData))
	if c.u8(typ+uint64(h.tTFlag))&(1<<4) != 0 { // TFlagGCMaskOnDemand
		gcdata = c.u64(gcdata)
		if gcdata == 0 || gcdata == c.syms["runtime.inProgress"] {
			return nil, 0, false
		}
	}
	n := (ptrBytes/8 + 7) / 8
	mask := make([]byte, n)
	if _, err := c.Mem.ReadAt(mask, gcdata); err != nil {
		return nil, 0, false
	}
	return mask, size, true
}

func (h *heap) conservative(base, size uint64, fn func(uint64)) bool {
	for w := uint64(0); w < size; w += 8 {
		fn(base + w)
	}
	return false
}

// typeName reads the name of a runtime _type from its Str nameOff.
func (h *heap) typeName(typ uint64) string {
	if n, ok := h.c.typeNames[typ]; ok {
		return n
	}
	name := h.resolveTypeName(typ)
	if h.c.typeNames == nil {
		h.c.typeNames = map[uint64]string{}
	}
	h.c.typeNames[typ] = name
	return name
}

func (h *heap) resolveTypeName(typ uint64) string {
	c := h.c
	md, err := c.sym("runtime.firstmoduledata")
	if err != nil {
		return ""
	}
	// The module whose [types, etypes) holds typ.
	tOff, eOff, nOff := c.rt.mustOff("runtime.moduledata.types"), c.rt.mustOff("runtime.moduledata.etypes"), c.rt.mustOff("runtime.moduledata.next")
	if tOff < 0 || eOff < 0 {
		return ""
	}
	for m := md; m != 0; {
		types, etypes := c.u64(m+uint64(tOff)), c.u64(m+uint64(eOff))
		if typ >= types && typ < etypes {
			off := uint64(c.u32(typ + uint64(h.tStr)))
			p := types + off
			// name: flags byte, varint length, bytes
			var l, shift uint64
			i := uint64(1)
			for ; i < 11; i++ {
				b := c.u8(p + i)
				l |= uint64(b&0x7f) << shift
				shift += 7
				if b&0x80 == 0 {
					break
				}
			}
			if l > 4096 {
				return ""
			}
			buf := make([]byte, l)
			if _, err := c.Mem.ReadAt(buf, p+i+1); err != nil {
				return ""
			}
			s := string(buf)
			if c.u8(typ+uint64(h.tTFlag))&(1<<1) != 0 && len(s) > 0 && s[0] == '*' { // TFlagExtraStar
				s = s[1:]
			}
			return s
		}
		if nOff < 0 {
			break
		}
		m = c.u64(m + uint64(nOff))
	}
	return ""
}
