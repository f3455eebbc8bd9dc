package postmortem

import (
	"fmt"
	"sort"
)

// rootRef says where a mark started: a global variable, a goroutine's
// stack or g, a thread's registers, or a finalizer/cleanup record.
type rootRef struct {
	kind string // "global", "goroutine", "thread", "finalizer", "cleanup"
	addr uint64 // the global word, or the special record
	id   int64  // goroutine id or thread id
}

// marker computes what the program can still reach, as the GC would: from
// globals (by the modules' GC masks), the stacks and g structures of the
// goroutines that can run, thread registers, and finalizer and cleanup
// records, through heap objects by their pointer masks. g and sudog
// objects are not traversed: the runtime's bookkeeping of who waits where
// must not make a waited-on channel look reachable.
type marker struct {
	c     *Core
	h     *heap
	marks map[*span][]int32 // per span, per object: root index + 1 (0: unmarked)
	count int
	skip  map[uint64]bool
	roots []rootRef
	work  []uint64
	// Statistics.
	precise, conservative int
	stackWords            uint64
	framesPrecise         int
	framesConservative    int
}

func newMarker(c *Core, h *heap) *marker {
	return &marker{c: c, h: h, marks: map[*span][]int32{}, skip: map[uint64]bool{}}
}

func (m *marker) addRoot(r rootRef) int32 {
	m.roots = append(m.roots, r)
	return int32(len(m.roots) - 1)
}

// ptr marks the object p points into, if any.
func (m *marker) ptr(p uint64, root int32) {
	if p < 4096 {
		return
	}
	base, s, idx, ok := m.h.object(p)
	if !ok {
		return
	}
	mk := s.marks
	if mk == nil {
		mk = make([]int32, s.nelems)
		s.marks = mk
		m.marks[s] = mk
	}
	if mk[idx] != 0 || m.skip[base] {
		return
	}
	mk[idx] = root + 1
	m.count++
	m.work = append(m.work, base)
}

// rootOf returns the root that marked the object at base, if marked.
func (m *marker) rootOf(base uint64) (int32, bool) {
	_, s, idx, ok := m.h.object(base)
	if !ok || s.marks == nil || s.marks[idx] == 0 {
		return 0, false
	}
	return s.marks[idx] - 1, true
}

// drain scans marked objects until no new ones appear.
func (m *marker) drain() {
	for len(m.work) > 0 {
		base := m.work[len(m.work)-1]
		m.work = m.work[:len(m.work)-1]
		root, _ := m.rootOf(base)
		m.scanObject(base, root)
	}
}

// scanObject marks what the object at base points to, without marking
// the object itself.
func (m *marker) scanObject(base uint64, root int32) {
	_, s, _, ok := m.h.object(base)
	if !ok {
		return
	}
	precise := m.h.pointerWords(base, s, func(w uint64) {
		if v, ok := m.c.Mem.Uint64(w); ok {
			m.ptr(v, root)
		}
	})
	if precise {
		m.precise++
	} else {
		m.conservative++
	}
}

// words marks from every word in [lo, hi) (conservatively).
func (m *marker) words(lo, hi uint64, root int32) {
	lo &^= 7
	if hi <= lo || hi-lo > 1<<30 {
		return
	}
	b, ok := m.c.Mem.View(lo, hi-lo)
	if !ok {
		b = make([]byte, hi-lo)
		if _, err := m.c.Mem.ReadAt(b, lo); err != nil {
			return
		}
	}
	for i := 0; i+8 <= len(b); i += 8 {
		v := uint64(b[i]) | uint64(b[i+1])<<8 | uint64(b[i+2])<<16 | uint64(b[i+3])<<24 |
			uint64(b[i+4])<<32 | uint64(b[i+5])<<40 | uint64(b[i+6])<<48 | uint64(b[i+7])<<56
		m.ptr(v, root)
	}
}

// globals marks from every module's data and bss through their GC masks.
func (m *marker) globals() error {
	c := m.c
	md, err := c.sym("runtime.firstmoduledata")
	if err != nil {
		return err
	}
	l := c.rt
	offs := map[string]int64{}
	for _, f := range []string{"data", "edata", "bss", "ebss", "gcdatamask", "gcbssmask", "next"} {
		o, err := l.off("runtime.moduledata." + f)
		if err != nil {
			return fmt.Errorf("globals: %w", err)
		}
		offs[f] = o
	}
	bvN, err1 := l.off("runtime.bitvector.n")
	bvData, err2 := l.off("runtime.bitvector.bytedata")
	if err1 != nil || err2 != nil {
		return fmt.Errorf("globals: runtime.bitvector layout not in DWARF")
	}
	for mod, n := md, 0; mod != 0 && n < 64; mod, n = c.u64(mod+uint64(offs["next"])), n+1 {
		for _, seg := range [][3]string{{"data", "edata", "gcdatamask"}, {"bss", "ebss", "gcbssmask"}} {
			lo, hi := c.u64(mod+uint64(offs[seg[0]])), c.u64(mod+uint64(offs[seg[1]]))
			bv := mod + uint64(offs[seg[2]])
			nbits := uint64(c.u32(bv + uint64(bvN)))
			bits := c.u64(bv + uint64(bvData))
			if nbits > (hi-lo)/8+64 {
				return fmt.Errorf("globals: %s mask of %d bits for %d bytes", seg[2], nbits, hi-lo)
			}
			mask := make([]byte, (nbits+7)/8)
			if _, err := c.Mem.ReadAt(mask, bits); err != nil {
				// No mask: scan the segment word by word.
				m.words(lo, hi, m.addRoot(rootRef{kind: "global", addr: lo}))
				continue
			}
			for i := uint64(0); i < nbits; i++ {
				if mask[i/8]&(1<<(i%8)) == 0 {
					continue
				}
				w := lo + 8*i
				v, ok := c.Mem.Uint64(w)
				if !ok || v < 4096 {
					continue
				}
				if _, _, _, isObj := m.h.object(v); !isObj {
					continue
				}
				m.ptr(v, m.addRoot(rootRef{kind: "global", addr: w}))
			}
		}
	}
	return nil
}

// goroutine marks from a goroutine's stack and its g structure. Frames
// are scanned by the compiler's stack maps where they can be; a frame
// without usable maps (the innermost frame of a running goroutine, an
// asynchronously preempted frame, assembly) and any stretch delve did not
// unwind are scanned word by word.
func (m *marker) goroutine(g *Goroutine) {
	root := m.addRoot(rootRef{kind: "goroutine", id: g.ID})
	lo := g.sp
	if g.status == 2 || lo < g.stackLo || lo >= g.stackHi {
		// Running: the saved sp is stale; the lowest frame delve unwound
		// on this stack bounds the live part.
		lo = g.stackHi
		for _, f := range g.Frames {
			if f.sp >= g.stackLo && f.sp < lo {
				lo = f.sp
			}
		}
		if lo == g.stackHi {
			lo = g.stackLo
		}
	}
	m.stack(g, lo, root)
	if base, s, _, ok := m.h.object(g.Addr); ok {
		waiting := g.Addr + uint64(m.c.rt.gOffsets().waiting)
		m.h.pointerWords(base, s, func(w uint64) {
			if w == waiting {
				return // the wait list is the runtime's bookkeeping
			}
			if v, ok := m.c.Mem.Uint64(w); ok {
				m.ptr(v, root)
			}
		})
	}
	m.drain()
}

func (m *marker) stack(g *Goroutine, lo uint64, root int32) {
	word := func(w uint64) {
		if v, ok := m.c.Mem.Uint64(w); ok {
			m.ptr(v, root)
		}
	}
	conservative := func(a, b uint64) {
		if b > g.stackHi {
			b = g.stackHi
		}
		if b > a {
			m.stackWords += (b - a) / 8
			m.words(a, b, root)
		}
	}
	p, err := m.c.loadPcln()
	if err != nil {
		conservative(lo, g.stackHi)
		return
	}
	covered := lo
	first := true
	prevAsync := false
	for _, f := range g.Frames {
		if f.inlined || f.sp < lo || f.sp >= g.stackHi {
			continue
		}
		if f.cfa <= f.sp || f.cfa > g.stackHi || f.sp < covered {
			break
		}
		conservative(covered, f.sp)
		precise := !first || g.status != 2
		precise = precise && !prevAsync && f.Func != "runtime.asyncPreempt"
		argEnd := f.cfa
		if f.Func == "runtime.goexit" {
			// The bottom frame: a return address and nothing else.
			covered = f.cfa
			m.framesPrecise++
			continue
		}
		if precise {
			var ok bool
			argEnd, ok = p.scanFrame(f.curpc, f.sp, f.cfa, word)
			precise = ok
		}
		if precise {
			m.framesPrecise++
		} else {
			m.framesConservative++
			if a, ok := m.frameArgs(p, f); ok {
				argEnd = a
			}
			conservative(f.sp, argEnd)
		}
		// The arguments lie in the caller's frame; what the caller's maps
		// do not cover there was covered by this frame's argument map.
		covered = f.cfa
		first = false
		prevAsync = f.Func == "runtime.asyncPreempt"
	}
	conservative(covered, g.stackHi)
}

// frameArgs returns the end of a frame's arguments.
func (m *marker) frameArgs(p *pcln, f Frame) (uint64, bool) {
	fn, _, ok := p.funcFor(f.curpc)
	if !ok {
		return 0, false
	}
	if args := int32(m.c.u32(fn + uint64(p.argsOff))); args > 0 {
		return f.cfa + uint64(args), true
	}
	return f.cfa, true
}

// threads marks from every thread's registers.
func (m *marker) threads() {
	for _, t := range m.c.File.Notes.Threads {
		root := m.addRoot(rootRef{kind: "thread", id: int64(t.TID)})
		for _, r := range t.Regs {
			m.ptr(r, root)
		}
	}
}

// specials marks from finalizer and cleanup records: what a finalizer's
// object points to stays alive, and so do the functions and arguments.
func (m *marker) specials() {
	l := m.c.rt
	kindOff, offOff, nextOff := l.mustOff("runtime.special.kind"), l.mustOff("runtime.special.offset"), l.mustOff("runtime.special.next")
	finSize, clSize := l.size("runtime.specialfinalizer"), l.size("runtime.specialCleanup")
	if kindOff < 0 || offOff < 0 || nextOff < 0 {
		return
	}
	budget := 1 << 20 // specials in all: a damaged list must not loop for long
	seen := map[uint64]bool{}
	for _, s := range m.h.spans {
		for sp := s.specials; sp != 0 && budget > 0 && !seen[sp]; sp = m.c.u64(sp + uint64(nextOff)) {
			budget--
			seen[sp] = true
			switch m.c.u8(sp + uint64(kindOff)) {
			case 2: // finalizer
				root := m.addRoot(rootRef{kind: "finalizer", addr: sp})
				if finSize > 0 {
					m.words(sp, sp+uint64(finSize), root)
				}
				obj := s.base + m.c.u64(sp+uint64(offOff))
				if base, _, _, ok := m.h.object(obj); ok {
					m.scanObject(base, root)
				}
			case 7: // cleanup
				if clSize > 0 {
					m.words(sp, sp+uint64(clSize), m.addRoot(rootRef{kind: "cleanup", addr: sp}))
				}
			}
		}
	}
	m.drain()
}

// reachable reports whether the object holding addr is marked; addresses
// outside the heap (globals, stacks) count as reachable.
func (m *marker) reachable(addr uint64) (bool, int32) {
	base, _, _, ok := m.h.object(addr)
	if !ok {
		return true, -1
	}
	r, marked := m.rootOf(base)
	return marked, r
}

// describe names a root for a person.
func (m *marker) describe(r int32) string {
	if r < 0 || int(r) >= len(m.roots) {
		return "memory outside the heap"
	}
	ref := m.roots[r]
	switch ref.kind {
	case "global":
		return "global " + m.c.symbolAt(ref.addr)
	case "goroutine":
		return fmt.Sprintf("the stack of goroutine %d", ref.id)
	case "thread":
		return fmt.Sprintf("the registers of thread %d", ref.id)
	}
	return fmt.Sprintf("a %s record at %#x", ref.kind, ref.addr)
}

// symbolAt names the data symbol holding addr ("main.shared+8").
func (c *Core) symbolAt(addr uint64) string {
	if c.dataSyms == nil {
		if syms, err := c.Exe.Symbols(); err == nil {
			for _, s := range syms {
				if s.Size > 0 && s.Value != 0 && (s.Info&0xf) == 1 { // STT_OBJECT
					c.dataSyms = append(c.dataSyms, symRange{s.Value + c.Bias, s.Size, s.Name})
				}
			}
		}
		sort.Slice(c.dataSyms, func(i, j int) bool { return c.dataSyms[i].addr < c.dataSyms[j].addr })
	}
	i := sort.Search(len(c.dataSyms), func(i int) bool { return c.dataSyms[i].addr > addr }) - 1
	if i >= 0 && addr < c.dataSyms[i].addr+c.dataSyms[i].size {
		s := c.dataSyms[i]
		if addr == s.addr {
			return s.name
		}
		return fmt.Sprintf("%s+%d", s.name, addr-s.addr)
	}
	return fmt.Sprintf("%#x", addr)
}

type symRange struct {
	addr, size uint64
	name       string
}

// release drops the marks from the spans (the heap index is shared).
func (m *marker) release() {
	for s := range m.marks {
		s.marks = nil
	}
}
