package postmortem

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/google/pprof/profile"
)

// HeapSite is one allocation stack of the runtime's sampled heap profile.
type HeapSite struct {
	Stack        []Frame `json:"stack"`
	AllocObjects int64   `json:"alloc_objects"`
	AllocBytes   int64   `json:"alloc_bytes"`
	InUseObjects int64   `json:"inuse_objects"`
	InUseBytes   int64   `json:"inuse_bytes"`
	pcs          []uint64
}

// HeapProfile is the runtime's memory profile as of the last GC
// (runtime.MemProfile's view), read from runtime.mbuckets.
type HeapProfile struct {
	Rate  int64       `json:"rate"` // runtime.MemProfileRate
	Sites []*HeapSite `json:"sites"`
	// Scaled is true when counts were scaled up for sampling as
	// runtime/pprof does (rate > 1).
	Scaled bool `json:"scaled"`
}

// bucketsAt walks a runtime bucket list (mbuckets, bbuckets, xbuckets),
// calling fn with each bucket's stack and the address of its record.
func (c *Core) bucketsAt(sym string, fn func(stk []uint64, rec uint64)) error {
	head, err := c.sym(sym)
	if err != nil {
		return err
	}
	l := c.rt
	allnext, nstkOff := l.mustOff("runtime.bucket.allnext"), l.mustOff("runtime.bucket.nstk")
	hdr := l.size("runtime.bucket")
	if allnext < 0 || nstkOff < 0 || hdr <= 0 {
		return fmt.Errorf("runtime.bucket layout not in DWARF")
	}
	seen := map[uint64]bool{}
	frames := 0
	for b := c.u64(head); b != 0; b = c.u64(b + uint64(allnext)) {
		if seen[b] || len(seen) > 1<<22 {
			return fmt.Errorf("%s: bucket list loops or is implausibly long (corrupt core?)", sym)
		}
		seen[b] = true
		n := c.u64(b + uint64(nstkOff))
		frames += int(n)
		if n > 1024 || frames > 1<<24 {
			return fmt.Errorf("%s: bucket at %#x has %d frames (corrupt core?)", sym, b, n)
		}
		stk := make([]uint64, n)
		for i := range stk {
			stk[i] = c.u64(b + uint64(hdr) + 8*uint64(i))
		}
		fn(stk, b+uint64(hdr)+8*n)
	}
	return nil
}

// HeapProfile reads the sampled heap profile.
func (c *Core) HeapProfile() (_ *HeapProfile, err error) {
	defer guard(&err, "heap profile")
	if err := c.requireGo(); err != nil {
		return nil, err
	}
	p := &HeapProfile{Rate: int64(c.symU64("runtime.MemProfileRate"))}
	err = c.bucketsAt("runtime.mbuckets", func(stk []uint64, rec uint64) {
		// memRecord.active: allocs, frees, alloc_bytes, free_bytes.
		allocs, frees := int64(c.u64(rec)), int64(c.u64(rec+8))
		ab, fb := int64(c.u64(rec+16)), int64(c.u64(rec+24))
		if allocs == 0 && ab == 0 {
			return
		}
		s := &HeapSite{AllocObjects: allocs, AllocBytes: ab, InUseObjects: allocs - frees, InUseBytes: ab - fb, pcs: stk}
		if p.Rate > 1 {
			s.AllocObjects, s.AllocBytes = scaleHeapSample(allocs, ab, p.Rate)
			s.InUseObjects, s.InUseBytes = scaleHeapSample(allocs-frees, ab-fb, p.Rate)
			p.Scaled = true
		}
		s.Stack = c.symbolize(stk)
		p.Sites = append(p.Sites, s)
	})
	if err != nil {
		return nil, err
	}
	sort.SliceStable(p.Sites, func(i, j int) bool { return p.Sites[i].InUseBytes > p.Sites[j].InUseBytes })
	return p, nil
}

// Site is the allocation site a person recognises: the first frame
// outside the runtime's allocator.
func (s *HeapSite) Site() Frame {
	for _, f := range s.Stack {
		if !strings.HasPrefix(f.Func, "runtime.") {
			return f
		}
	}
	if len(s.Stack) > 0 {
		return s.Stack[0]
	}
	return Frame{Func: "?"}
}

// scaleHeapSample undoes the sampling bias as runtime/pprof does: a
// sample of average size s at rate r stands for 1/(1-exp(-s/r)) of its
// kind.
func scaleHeapSample(count, size, rate int64) (int64, int64) {
	if count == 0 || size == 0 {
		return 0, 0
	}
	if rate <= 1 {
		return count, size
	}
	avg := float64(size) / float64(count)
	scale := 1 / (1 - math.Exp(-avg/float64(rate)))
	return int64(float64(count) * scale), int64(float64(size) * scale)
}

func (c *Core) symbolize(pcs []uint64) []Frame {
	bi := c.target.BinInfo()
	out := make([]Frame, 0, len(pcs))
	for _, pc := range pcs {
		file, line, fn := bi.PCToLine(pc - 1)
		f := Frame{File: file, Line: line, PC: pc}
		if fn != nil {
			f.Func = fn.Name
		} else {
			f.Func = fmt.Sprintf("%#x", pc)
		}
		out = append(out, f)
	}
	return out
}

// Pprof builds a pprof profile with the four heap sample types
// (alloc_objects, alloc_space, inuse_objects, inuse_space), as
// runtime/pprof writes them.
func (p *HeapProfile) Pprof() *profile.Profile {
	prof := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "alloc_objects", Unit: "count"}, {Type: "alloc_space", Unit: "bytes"},
			{Type: "inuse_objects", Unit: "count"}, {Type: "inuse_space", Unit: "bytes"}},
		DefaultSampleType: "inuse_space",
		PeriodType:        &profile.ValueType{Type: "space", Unit: "bytes"},
		Period:            p.Rate,
	}
	locs := map[uint64]*profile.Location{}
	funcs := map[string]*profile.Function{}
	for _, s := range p.Sites {
		var ls []*profile.Location
		for i, f := range s.Stack {
			loc := locs[f.PC]
			if loc == nil {
				fn := funcs[f.Func+"\x00"+f.File]
				if fn == nil {
					fn = &profile.Function{ID: uint64(len(funcs) + 1), Name: f.Func, SystemName: f.Func, Filename: f.File}
					funcs[f.Func+"\x00"+f.File] = fn
					prof.Function = append(prof.Function, fn)
				}
				loc = &profile.Location{ID: uint64(len(locs) + 1), Address: s.pcs[i], Line: []profile.Line{{Function: fn, Line: int64(f.Line)}}}
				locs[f.PC] = loc
				prof.Location = append(prof.Location, loc)
			}
			ls = append(ls, loc)
		}
		prof.Sample = append(prof.Sample, &profile.Sample{Location: ls,
			Value: []int64{s.AllocObjects, s.AllocBytes, s.InUseObjects, s.InUseBytes}})
	}
	return prof
}
