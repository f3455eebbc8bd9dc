package postmortem

import (
	"encoding/binary"
	"fmt"
	"sort"
)

// pcln reads the function table of the executable's first module the way
// the runtime does (moduledata.ftab, the _func records, pctab and the
// funcdata), to find each frame's stack maps.
type pcln struct {
	c                        *Core
	text, gofunc, rodata     uint64
	pclntable, pctab         uint64
	entries, funcoffs        []uint32 // ftab, sorted by entry offset
	nfuncdataOff, npcdataOff int64
	argsOff, entryOff        int64
	stackmapN, stackmapNbit  int64
	stackmapData             int64
}

// Funcdata and pcdata indexes (internal/abi).
const (
	pcdataStackMapIndex = 1
	funcdataArgsMaps    = 0
	funcdataLocalsMaps  = 1
	funcdataStackObjs   = 2
)

func (c *Core) loadPcln() (*pcln, error) {
	if c.pcln != nil {
		return c.pcln, nil
	}
	md, err := c.sym("runtime.firstmoduledata")
	if err != nil {
		return nil, err
	}
	l := c.rt
	need := map[string]int64{}
	for _, f := range []string{"runtime.moduledata.text", "runtime.moduledata.gofunc", "runtime.moduledata.rodata",
		"runtime.moduledata.pclntable", "runtime.moduledata.pctab", "runtime.moduledata.ftab",
		"runtime.moduledata.textsectmap", "runtime._func.nfuncdata", "runtime._func.npcdata", "runtime._func.args",
		"runtime._func.entryOff"} {
		o, err := l.off(f)
		if err != nil {
			return nil, fmt.Errorf("function table layout: %w", err)
		}
		need[f] = o
	}
	p := &pcln{c: c,
		text:         c.u64(md + uint64(need["runtime.moduledata.text"])),
		gofunc:       c.u64(md + uint64(need["runtime.moduledata.gofunc"])),
		rodata:       c.u64(md + uint64(need["runtime.moduledata.rodata"])),
		pclntable:    c.u64(md + uint64(need["runtime.moduledata.pclntable"])),
		pctab:        c.u64(md + uint64(need["runtime.moduledata.pctab"])),
		nfuncdataOff: need["runtime._func.nfuncdata"], npcdataOff: need["runtime._func.npcdata"],
		argsOff: need["runtime._func.args"], entryOff: need["runtime._func.entryOff"],
		stackmapN: 0, stackmapNbit: 4, stackmapData: 8,
	}
	if n := c.u64(md + uint64(need["runtime.moduledata.textsectmap"]) + 8); n > 1 {
		return nil, fmt.Errorf("executable has %d text sections: stack maps not read", n)
	}
	ftab := md + uint64(need["runtime.moduledata.ftab"])
	fp, fn := c.u64(ftab), c.u64(ftab+8)
	if fn == 0 || fn > 1<<24 {
		return nil, fmt.Errorf("moduledata.ftab has %d entries", fn)
	}
	buf := make([]byte, 8*fn)
	if _, err := c.Mem.ReadAt(buf, fp); err != nil {
		return nil, fmt.Errorf("moduledata.ftab: %w", err)
	}
	p.entries, p.funcoffs = make([]uint32, fn), make([]uint32, fn)
	for i := uint64(0); i < fn; i++ {
		p.entries[i] = binary.LittleEndian.Uint32(buf[8*i:])
		p.funcoffs[i] = binary.LittleEndian.Uint32(buf[8*i+4:])
	}
	c.pcln = p
	return p, nil
}

// funcFor returns the address of the _func holding pc and its entry.
func (p *pcln) funcFor(pc uint64) (fn, entry uint64, ok bool) {
	if pc < p.text {
		return 0, 0, false
	}
	off := pc - p.text
	if off >= 1<<32 {
		return 0, 0, false
	}
	n := len(p.entries) - 1 // the last entry is the end sentinel
	i := sort.Search(n, func(i int) bool { return uint64(p.entries[i]) > off }) - 1
	if i < 0 || i >= n {
		return 0, 0, false
	}
	fn = p.pclntable + uint64(p.funcoffs[i])
	entry = p.text + uint64(p.c.u32(fn+uint64(p.entryOff)))
	return fn, entry, true
}

// tables returns the address where the pcdata offsets of fn start.
func (p *pcln) tables(fn uint64) uint64 { return fn + uint64(p.nfuncdataOff) + 1 }

// funcdata returns the address of funcdata i of fn, 0 if absent.
func (p *pcln) funcdata(fn uint64, i int) uint64 {
	npc := uint64(p.c.u32(fn + uint64(p.npcdataOff)))
	if i >= int(p.c.u8(fn+uint64(p.nfuncdataOff))) {
		return 0
	}
	off := p.c.u32(p.tables(fn) + 4*npc + 4*uint64(i))
	if off == ^uint32(0) {
		return 0
	}
	return p.gofunc + uint64(off)
}

// pcvalue decodes pcdata table t of fn at targetpc, as the runtime's
// pcvalue does; -1 when absent.
func (p *pcln) pcvalue(fn, entry uint64, t int, targetpc uint64) int32 {
	npc := p.c.u32(fn + uint64(p.npcdataOff))
	if t >= int(npc) {
		return -1
	}
	off := p.c.u32(p.tables(fn) + 4*uint64(t))
	if off == 0 {
		return -1
	}
	addr := p.pctab + uint64(off)
	val := int32(-1)
	pc := entry
	first := true
	varint := func() (uint32, bool) {
		var v uint32
		for shift := uint(0); shift < 35; shift += 7 {
			b := p.c.u8(addr)
			addr++
			v |= uint32(b&0x7f) << shift
			if b&0x80 == 0 {
				return v, true
			}
		}
		return 0, false
	}
	for steps := 0; steps < 1<<20; steps++ {
		if p.c.u8(addr) == 0 && !first {
			return -1
		}
		uv, ok := varint()
		if !ok {
			return -1
		}
		val += int32(-(uv & 1) ^ (uv >> 1))
		pcd, ok := varint()
		if !ok {
			return -1
		}
		pc += uint64(pcd)
		first = false
		if targetpc < pc {
			return val
		}
	}
	return -1
}

// bitmap returns the bits of stack map index idx at the stackmap at sm.
func (p *pcln) bitmap(sm uint64, idx int32) ([]byte, int32, bool) {
	n := int32(p.c.u32(sm + uint64(p.stackmapN)))
	nbit := int32(p.c.u32(sm + uint64(p.stackmapNbit)))
	if idx < 0 || idx >= n || nbit < 0 || nbit > 1<<20 {
		return nil, 0, false
	}
	nbytes := (nbit + 7) / 8
	b := make([]byte, nbytes)
	if _, err := p.c.Mem.ReadAt(b, sm+uint64(p.stackmapData)+uint64(idx*nbytes)); err != nil {
		return nil, 0, false
	}
	return b, nbit, true
}

// scanFrame passes every pointer-holding word of a physical frame
// [sp, fp) to fn by the compiler's maps: locals below varp, arguments
// from fp up, and the frame's stack objects. ok is false when a map is
// missing (the caller then scans the frame word by word).
func (p *pcln) scanFrame(pc, sp, fp uint64, fn func(word uint64)) (argEnd uint64, ok bool) {
	f, entry, ok := p.funcFor(pc)
	if !ok {
		return fp, false
	}
	target := pc
	if target != entry {
		target--
	}
	idx := p.pcvalue(f, entry, pcdataStackMapIndex, target)
	varp := fp - 8 // the return address
	if varp > sp {
		varp -= 8 // the saved frame pointer
	}
	argEnd = fp
	if args := int32(p.c.u32(f + uint64(p.argsOff))); args > 0 {
		argEnd = fp + uint64(args)
	}
	locals, args := p.funcdata(f, funcdataLocalsMaps), p.funcdata(f, funcdataArgsMaps)
	if idx < 0 {
		if locals == 0 && args == 0 && varp <= sp {
			return argEnd, true // no locals, no pointer arguments
		}
		return argEnd, false
	}
	if locals != 0 {
		bits, nbit, ok := p.bitmap(locals, idx)
		if !ok {
			return argEnd, false
		}
		base := varp - uint64(nbit)*8
		for i := int32(0); i < nbit; i++ {
			if bits[i/8]&(1<<(i%8)) != 0 {
				fn(base + uint64(i)*8)
			}
		}
	} else if varp > sp+8 {
		return argEnd, false // locals but no map
	}
	if args != 0 {
		bits, nbit, ok := p.bitmap(args, idx)
		if !ok {
			return argEnd, false
		}
		for i := int32(0); i < nbit; i++ {
			if bits[i/8]&(1<<(i%8)) != 0 {
				fn(fp + uint64(i)*8)
			}
		}
	}
	// Stack objects (address-taken locals): scanned by their masks. The
	// GC scans one only when something points to it; scanning them all
	// can only keep more alive.
	if so := p.funcdata(f, funcdataStackObjs); so != 0 {
		n := p.c.u64(so)
		if n > 4096 {
			return argEnd, false
		}
		for i := uint64(0); i < n; i++ {
			r := so + 8 + 16*i
			off := int32(p.c.u32(r))
			ptrBytes := int32(p.c.u32(r + 8))
			gcdata := p.rodata + uint64(p.c.u32(r+12))
			var obj uint64
			if off < 0 {
				obj = uint64(int64(varp) + int64(off))
			} else {
				obj = fp + uint64(off)
			}
			if ptrBytes <= 0 || ptrBytes > 1<<20 {
				continue
			}
			nw := uint64(ptrBytes) / 8
			mask := make([]byte, (nw+7)/8)
			if _, err := p.c.Mem.ReadAt(mask, gcdata); err != nil {
				return argEnd, false
			}
			for w := uint64(0); w < nw; w++ {
				if mask[w/8]&(1<<(w%8)) != 0 {
					fn(obj + 8*w)
				}
			}
		}
	}
	return argEnd, true
}
