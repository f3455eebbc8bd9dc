package sample

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/google/pprof/profile"

	"github.com/obs-toolkit/obs/internal/pprofx"
	"github.com/obs-toolkit/obs/internal/symtab"
)

// BuildOptions say how to turn Raw entries into a profile.
type BuildOptions struct {
	Kind     Kind
	Freq     int // CPU sampling frequency, for the sample period
	Start    time.Time
	Duration time.Duration
	Proc     *symtab.Process       // user-space symbolization
	Kernel   *symtab.KernelSymbols // nil: kernel frames stay addresses
	// NoLeafFix turns off recovering the callers of frameless Go leaves.
	NoLeafFix bool
	// Threads names threads by tid (labels); missing ones are read from /proc.
	Threads map[uint32]string
}

// BuildStats tell what Build did.
type BuildStats struct {
	Samples     uint64 `json:"samples"`       // sample count in the profile
	LeafFixed   uint64 `json:"leaf_fixed"`    // samples whose frameless Go leaf got its caller back
	NoUserStack uint64 `json:"no_user_stack"` // samples without user frames
}

// Build symbolizes raw entries and builds a pprof profile: for CPU, sample
// types samples/count and cpu/nanoseconds; for off-CPU, switches/count and
// offcpu/nanoseconds. Samples carry the thread (label "thread", number
// "tid"), the goroutine's pprof labels when the target is Go, and, off-CPU,
// "state" (blocked or preempted).
func Build(raws []Raw, o BuildOptions) (*profile.Profile, BuildStats, error) {
	var st BuildStats
	var b *pprofx.Builder
	period := int64(0)
	if o.Kind == OffCPU {
		b = pprofx.New([]pprofx.ValueType{{Type: "switches", Unit: "count"}, {Type: "offcpu", Unit: "nanoseconds"}},
			pprofx.ValueType{Type: "offcpu", Unit: "nanoseconds"}, 1, o.Start)
	} else {
		if o.Freq <= 0 {
			o.Freq = 99
		}
		period = int64(time.Second) / int64(o.Freq)
		b = pprofx.New([]pprofx.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
			pprofx.ValueType{Type: "cpu", Unit: "nanoseconds"}, period, o.Start)
	}
	names := map[uint32]string{}
	for k, v := range o.Threads {
		names[k] = v
	}
	threadName := func(tgid, tid uint32) string {
		if n, ok := names[tid]; ok {
			return n
		}
		bs, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/comm", tgid, tid))
		n := strings.TrimSpace(string(bs))
		names[tid] = n
		return n
	}
	// Each distinct pc is symbolized once: user pcs keyed with bit 63 set
	// for leaves (looked up at pc) and clear for return addresses (pc-1);
	// kernel pcs in their own map.
	b.Grow(len(raws))
	userLocs := make(map[uint64]*profile.Location, min(4*len(raws), 1<<16))
	kernLocs := map[uint64]*profile.Location{}
	spd := map[uint64]int{} // SP delta by pc; -1: not Go
	spDelta := func(pc uint64) (int, bool) {
		d, ok := spd[pc]
		if !ok {
			d = -1
			if v, ok := o.Proc.SPDelta(pc); ok {
				d = v
			}
			spd[pc] = d
		}
		return d, d >= 0
	}
	type lk struct {
		tid     uint32
		blocked bool
		labels  string
	}
	labelSets := map[lk]*pprofx.LabelSet{}
	var stack []*profile.Location
	var noStack *profile.Location
	for _, r := range raws {
		stack = stack[:0]
		kernel := r.Kernel
		if o.Kind == OffCPU {
			kernel = trimScheduler(o.Kernel, kernel)
		}
		for _, pc := range kernel {
			loc, ok := kernLocs[pc]
			if !ok {
				l := pprofx.Loc{PC: pc, Kernel: true}
				if name, _ := o.Kernel.Lookup(pc); name != "" {
					l.Frames = []symtab.Frame{{Function: name}}
				}
				loc = b.Location(l)
				kernLocs[pc] = loc
			}
			stack = append(stack, loc)
		}
		user := r.User
		if !o.NoLeafFix && o.Proc != nil && len(user) > 0 {
			if fixed, ok := fixLeaf(spDelta, user, r.SPWord); ok {
				user = fixed
				st.LeafFixed += r.Count
			}
		}
		if len(user) == 0 {
			st.NoUserStack += r.Count
		}
		for i, pc := range user {
			k, look := pc|1<<63, pc
			if i > 0 && pc > 0 {
				k, look = pc, pc-1 // a return address: the call is the instruction before
			}
			loc, ok := userLocs[k]
			if !ok {
				l := pprofx.Loc{PC: pc}
				if o.Proc != nil {
					sl := o.Proc.Lookup(look)
					l.Mapping, l.Addr, l.Frames = sl.Mapping, sl.Addr, sl.Frames
				}
				loc = b.Location(l)
				userLocs[k] = loc
			}
			stack = append(stack, loc)
		}
		if len(stack) == 0 {
			// Counted, so that shares stay right: the kernel could not
			// keep this sample's stacks (a stack-map collision).
			if noStack == nil {
				noStack = b.Location(pprofx.Loc{PC: 0, Frames: []symtab.Frame{{Function: "[stack lost]"}}})
			}
			stack = append(stack, noStack)
		}
		key := lk{r.Tid, r.Blocked, labelKey(r.Labels)}
		ls, ok := labelSets[key]
		if !ok {
			labels := map[string]string{}
			for k, v := range r.Labels {
				labels[k] = v
			}
			if n := threadName(r.Tgid, r.Tid); n != "" {
				labels["thread"] = n
			}
			if o.Kind == OffCPU {
				labels["state"] = map[bool]string{true: "blocked", false: "preempted"}[r.Blocked]
			}
			ls = b.LabelSet(labels, map[string]int64{"tid": int64(r.Tid)})
			labelSets[key] = ls
		}
		var vals []int64
		if o.Kind == OffCPU {
			vals = []int64{int64(r.Count), int64(r.Nanos)}
		} else {
			vals = []int64{int64(r.Count), int64(r.Count) * period}
		}
		st.Samples += r.Count
		b.AddSample(stack, vals, ls)
	}
	b.Comment(fmt.Sprintf("obs profile %s: %d samples", o.Kind, st.Samples))
	p, err := b.Profile(o.Duration)
	if err != nil {
		return nil, st, err
	}
	if o.Kind == OffCPU {
		p.DefaultSampleType = "offcpu"
	} else {
		p.DefaultSampleType = "cpu"
	}
	return p, st, nil
}

func labelKey(m map[string]string) string {
	if len(m) == 0 {
		return ""
	}
	ks := make([]string, 0, len(m))
	for k, v := range m {
		ks = append(ks, k+"="+v)
	}
	sort.Strings(ks)
	return strings.Join(ks, "\x00")
}

// trimScheduler drops the frames a sched_switch tracepoint adds above the
// scheduler (the BPF program, its trampoline, the tracepoint): an off-CPU
// stack starts at __schedule.
func trimScheduler(k *symtab.KernelSymbols, pcs []uint64) []uint64 {
	if k == nil {
		return pcs
	}
	for i, pc := range pcs {
		if name, _ := k.Lookup(pc); name == "__schedule" {
			return pcs[i:]
		}
		if i > 8 {
			break
		}
	}
	return pcs
}

// FixLeaf puts back the caller a frame-pointer walk lost: when the sampled
// pc (user[0]) is in Go code whose SP delta there is 0 (a function with no
// frame, or one whose prologue has not run), its return address is the
// word at SP, and the walk (which follows the caller's frame pointer) went
// straight to the caller's caller. spWord is inserted as user[1] when it is
// a return address into Go code and not already there. It returns the new
// stack and whether it changed anything.
func FixLeaf(p *symtab.Process, user []uint64, spWord uint64) ([]uint64, bool) {
	return fixLeaf(p.SPDelta, user, spWord)
}

func fixLeaf(spDelta func(uint64) (int, bool), user []uint64, spWord uint64) ([]uint64, bool) {
	if len(user) == 0 || spWord == 0 {
		return user, false
	}
	if d, ok := spDelta(user[0]); !ok || d != 0 {
		return user, false
	}
	if len(user) > 1 && user[1] == spWord {
		return user, false
	}
	// The word must be a return address into Go code: the instruction
	// before it is a call in some function.
	if _, ok := spDelta(spWord - 1); !ok {
		return user, false
	}
	out := make([]uint64, 0, len(user)+1)
	out = append(out, user[0], spWord)
	return append(out, user[1:]...), true
}
