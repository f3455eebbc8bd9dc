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
	b := newProfBuilder(prof)
	for _, s := range p.Sites {
		prof.Sample = append(prof.Sample, &profile.Sample{Location: b.locations(s.Stack, s.pcs),
			Value: []int64{s.AllocObjects, s.AllocBytes, s.InUseObjects, s.InUseBytes}})
	}
	return prof
}

// ContentionSite is one stack of the block or mutex profile.
type ContentionSite struct {
	Stack  []Frame `json:"stack"`
	Count  int64   `json:"count"`
	Delay  int64   `json:"delay"` // nanoseconds, or cycles when Unit says so
	pcs    []uint64
	cycles int64
}

// ContentionProfile is the runtime's block or mutex profile.
type ContentionProfile struct {
	Kind string `json:"kind"` // "block" or "mutex"
	// Unit of Delay: "nanoseconds" when the runtime had measured its
	// cycle counter's rate, else "cycles".
	Unit            string            `json:"unit"`
	CyclesPerSecond int64             `json:"cycles_per_second"`
	Rate            int64             `json:"rate"` // mutex profile fraction (1 for block)
	Sites           []*ContentionSite `json:"sites"`
}

// ContentionProfiles reads the block (runtime.bbuckets) and mutex
// (runtime.xbuckets) profiles, scaled as runtime/pprof scales them.
// Empty profiles mean profiling was off (SetBlockProfileRate,
// SetMutexProfileFraction).
func (c *Core) ContentionProfiles() (block, mutex *ContentionProfile, err error) {
	defer guard(&err, "contention profiles")
	if err := c.requireGo(); err != nil {
		return nil, nil, err
	}
	cps := int64(0)
	if t, err := c.sym("runtime.ticks"); err == nil {
		if o := c.rt.mustOff("runtime.ticksType.val"); o >= 0 {
			cps = int64(c.u64(t + uint64(o)))
		}
	}
	read := func(kind, sym string, rate int64) (*ContentionProfile, error) {
		p := &ContentionProfile{Kind: kind, Unit: "cycles", CyclesPerSecond: cps, Rate: rate}
		if cps > 0 {
			p.Unit = "nanoseconds"
		}
		err := c.bucketsAt(sym, func(stk []uint64, rec uint64) {
			count := math.Float64frombits(c.u64(rec))
			cycles := int64(c.u64(rec + 8))
			if count <= 0 || math.IsNaN(count) || math.IsInf(count, 0) {
				return
			}
			s := &ContentionSite{Count: int64(math.Round(count)) * rate, cycles: cycles * rate, pcs: stk}
			s.Delay = s.cycles
			if cps > 0 {
				s.Delay = int64(float64(s.cycles) / (float64(cps) / 1e9))
			}
			s.Stack = c.symbolize(stk)
			p.Sites = append(p.Sites, s)
		})
		sort.SliceStable(p.Sites, func(i, j int) bool { return p.Sites[i].Delay > p.Sites[j].Delay })
		return p, err
	}
	if block, err = read("block", "runtime.bbuckets", 1); err != nil {
		return nil, nil, err
	}
	rate := int64(c.symU64("runtime.mutexprofilerate"))
	if rate <= 0 {
		rate = 1
	}
	if mutex, err = read("mutex", "runtime.xbuckets", rate); err != nil {
		return nil, nil, err
	}
	return block, mutex, nil
}

// Pprof builds a contentions/delay profile as runtime/pprof writes the
// block and mutex profiles.
func (p *ContentionProfile) Pprof() *profile.Profile {
	prof := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "contentions", Unit: "count"}, {Type: "delay", Unit: p.Unit}},
		PeriodType: &profile.ValueType{Type: "contentions", Unit: "count"},
		Period:     p.Rate,
	}
	b := newProfBuilder(prof)
	for _, s := range p.Sites {
		prof.Sample = append(prof.Sample, &profile.Sample{Location: b.locations(s.Stack, s.pcs), Value: []int64{s.Count, s.Delay}})
	}
	return prof
}

// profBuilder interns locations and functions of a profile.
type profBuilder struct {
	prof  *profile.Profile
	locs  map[uint64]*profile.Location
	funcs map[string]*profile.Function
}

func newProfBuilder(p *profile.Profile) *profBuilder {
	return &profBuilder{prof: p, locs: map[uint64]*profile.Location{}, funcs: map[string]*profile.Function{}}
}

func (b *profBuilder) locations(stack []Frame, pcs []uint64) []*profile.Location {
	var ls []*profile.Location
	for i, f := range stack {
		loc := b.locs[pcs[i]]
		if loc == nil {
			key := f.Func + "\x00" + f.File
			fn := b.funcs[key]
			if fn == nil {
				fn = &profile.Function{ID: uint64(len(b.funcs) + 1), Name: f.Func, SystemName: f.Func, Filename: f.File}
				b.funcs[key] = fn
				b.prof.Function = append(b.prof.Function, fn)
			}
			loc = &profile.Location{ID: uint64(len(b.locs) + 1), Address: pcs[i], Line: []profile.Line{{Function: fn, Line: int64(f.Line)}}}
			b.locs[pcs[i]] = loc
			b.prof.Location = append(b.prof.Location, loc)
		}
		ls = append(ls, loc)
	}
	return ls
}
