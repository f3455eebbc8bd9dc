package postmortem

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/go-delve/delve/pkg/proc"
	"github.com/go-delve/delve/service/api"
)

// Goroutine is one goroutine as the core holds it.
type Goroutine struct {
	ID         int64  `json:"id"`
	Addr       uint64 `json:"addr"` // the runtime.g
	Status     string `json:"status"`
	WaitReason string `json:"wait_reason,omitempty"`
	// Wait is how long the goroutine had been waiting at the crash,
	// known only when a GC ran while it waited (the runtime stamps
	// waitsince then); -1 when unknown.
	Wait      time.Duration     `json:"wait_ns"`
	Frames    []Frame           `json:"frames"`
	CreatedBy *Frame            `json:"created_by,omitempty"`
	ParentID  int64             `json:"parent_id,omitempty"`
	Labels    map[string]string `json:"labels,omitempty"`
	Thread    int               `json:"thread,omitempty"` // OS thread running it
	System    bool              `json:"system"`           // a runtime goroutine

	status    uint32
	waitsince int64
	waiting   uint64 // first sudog of g.waiting
	stackLo   uint64
	stackHi   uint64
	sp        uint64
	dg        *proc.G
}

// Frame is one stack frame.
type Frame struct {
	Func string `json:"func"`
	File string `json:"file"`
	Line int    `json:"line"`
	PC   uint64 `json:"pc"`
	Args []Arg  `json:"args,omitempty"`
	// Physical frame layout for the stack scan.
	sp, cfa, curpc uint64
	inlined        bool
}

// Arg is a function argument with its value as delve prints it.
type Arg struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Value string `json:"value"`
}

func (f Frame) String() string { return fmt.Sprintf("%s %s:%d", f.Func, f.File, f.Line) }

var statusNames = map[uint32]string{
	0: "idle", 1: "runnable", 2: "running", 3: "syscall", 4: "waiting",
	6: "dead", 8: "copystack", 9: "preempted", 10: "leaked", 11: "dead",
}

// gfields are the offsets in runtime.g read for every goroutine.
type gfields struct {
	goid, status, waitreason, waitsince, waiting, gopc, startpc, parent int64
	stackLo, stackHi, schedSP, schedPC, panic, sig, sigcode1, m, labels int64
}

func (l *runtimeLayout) gOffsets() gfields {
	if l.g != nil {
		return *l.g
	}
	l.g = &gfields{
		goid: l.mustOff("runtime.g.goid"), status: l.mustOff("runtime.g.atomicstatus"),
		waitreason: l.mustOff("runtime.g.waitreason"), waitsince: l.mustOff("runtime.g.waitsince"),
		waiting: l.mustOff("runtime.g.waiting"), gopc: l.mustOff("runtime.g.gopc"),
		startpc: l.mustOff("runtime.g.startpc"), parent: l.mustOff("runtime.g.parentGoid"),
		stackLo: l.mustOff("runtime.g.stack.lo"), stackHi: l.mustOff("runtime.g.stack.hi"),
		schedSP: l.mustOff("runtime.g.sched.sp"), schedPC: l.mustOff("runtime.g.sched.pc"),
		panic: l.mustOff("runtime.g._panic"), sig: l.mustOff("runtime.g.sig"),
		sigcode1: l.mustOff("runtime.g.sigcode1"), m: l.mustOff("runtime.g.m"),
		labels: l.mustOff("runtime.g.labels"),
	}
	return *l.g
}

// allgs returns the addresses of every g in runtime.allgs.
func (c *Core) allgs() ([]uint64, error) {
	a, err := c.sym("runtime.allgs")
	if err != nil {
		return nil, err
	}
	p, n := c.u64(a), c.u64(a+8)
	if n > 10_000_000 {
		return nil, fmt.Errorf("runtime.allgs has implausible length %d (corrupt core?)", n)
	}
	out := make([]uint64, 0, n)
	for i := uint64(0); i < n; i++ {
		g, ok := c.Mem.Uint64(p + 8*i)
		if !ok {
			return nil, fmt.Errorf("runtime.allgs[%d] at %#x is not in the core (truncated?)", i, p+8*i)
		}
		out = append(out, g)
	}
	return out, nil
}

// waitReasons reads runtime.waitReasonStrings, so that names match the
// Go version that built the program.
func (c *Core) waitReasons() []string {
	a, err := c.sym("runtime.waitReasonStrings")
	if err != nil {
		return nil
	}
	size := c.symSize["runtime.waitReasonStrings"]
	var out []string
	for i := uint64(0); i*16 < size && i < 256; i++ {
		out = append(out, c.readString(a+16*i, 64))
	}
	return out
}

// GoroutineOptions select what Goroutines loads.
type GoroutineOptions struct {
	Depth int  // frames per goroutine, default 64
	Args  bool // load every frame's arguments (slow on big cores)
	// ArgsFor loads arguments only for this goroutine id (0: none).
	ArgsFor int64
}

// Goroutines lists every goroutine that is not dead, with its stack.
func (c *Core) Goroutines(opt GoroutineOptions) (_ []*Goroutine, err error) {
	defer guard(&err, "goroutines")
	if err := c.requireGo(); err != nil {
		return nil, err
	}
	if c.gcache != nil && !opt.Args && opt.ArgsFor == 0 {
		return c.gcache, nil
	}
	if opt.Depth == 0 {
		opt.Depth = 64
	}
	addrs, err := c.allgs()
	if err != nil {
		return nil, err
	}
	dgs, _, err := proc.GoroutinesInfo(c.target, 0, 0)
	if err != nil {
		return nil, fmt.Errorf("read goroutines: %w", err)
	}
	byID := map[int64]*proc.G{}
	for _, g := range dgs {
		if g.Unreadable == nil {
			byID[g.ID] = g
		}
	}
	reasons := c.waitReasons()
	now, _ := c.clock()
	o := c.rt.gOffsets()
	bi := c.target.BinInfo()
	creators := map[uint64]*Frame{} // go statements are shared by many goroutines
	var out []*Goroutine
	for _, ga := range addrs {
		st := c.u32(ga+uint64(o.status)) &^ 0x1000
		if st == 6 || st == 11 || st == 0 {
			continue
		}
		g := &Goroutine{
			ID: int64(c.u64(ga + uint64(o.goid))), Addr: ga, status: st,
			Status: statusNames[st], Wait: -1,
			waitsince: int64(c.u64(ga + uint64(o.waitsince))),
			waiting:   c.u64(ga + uint64(o.waiting)),
			stackLo:   c.u64(ga + uint64(o.stackLo)), stackHi: c.u64(ga + uint64(o.stackHi)),
			sp: c.u64(ga + uint64(o.schedSP)),
		}
		if g.Status == "" {
			g.Status = fmt.Sprintf("status %d", st)
		}
		if o.parent >= 0 {
			g.ParentID = int64(c.u64(ga + uint64(o.parent)))
		}
		if st == 4 || st == 10 {
			wr := int(c.u8(ga + uint64(o.waitreason)))
			if wr < len(reasons) && reasons[wr] != "" {
				g.WaitReason = reasons[wr]
			} else {
				g.WaitReason = fmt.Sprintf("wait reason %d", wr)
			}
			if g.waitsince > 0 && now > g.waitsince {
				g.Wait = time.Duration(now - g.waitsince)
			}
		}
		if gopc := c.u64(ga + uint64(o.gopc)); gopc != 0 && g.ID != 1 {
			f, ok := creators[gopc]
			if !ok {
				file, line, fn := bi.PCToLine(gopc)
				f = &Frame{File: file, Line: line, PC: gopc}
				if fn != nil {
					f.Func = fn.Name
				}
				creators[gopc] = f
			}
			g.CreatedBy = f
		}
		dg := byID[g.ID]
		g.dg = dg
		if dg != nil {
			g.System = dg.System(c.target)
			if dg.Thread != nil {
				g.Thread = dg.Thread.ThreadID()
			}
			g.Labels = dg.Labels()
			if len(g.Labels) == 0 {
				g.Labels = nil
			}
			withArgs := opt.Args || opt.ArgsFor == g.ID
			g.Frames = c.stack(dg, opt.Depth, withArgs)
		}
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	if !opt.Args && opt.ArgsFor == 0 {
		c.gcache = out
	}
	return out, nil
}

var argLoad = proc.LoadConfig{FollowPointers: true, MaxVariableRecurse: 1, MaxStringLen: 120, MaxArrayValues: 8, MaxStructFields: -1}

func (c *Core) stack(g *proc.G, depth int, withArgs bool) []Frame {
	frames, err := proc.GoroutineStacktrace(c.target, g, depth, 0)
	if err != nil && len(frames) == 0 {
		return []Frame{{Func: "?(" + err.Error() + ")"}}
	}
	out := make([]Frame, 0, len(frames))
	for i := range frames {
		fr := &frames[i]
		f := Frame{File: fr.Call.File, Line: fr.Call.Line, PC: fr.Call.PC, sp: uint64(fr.Regs.SP()),
			cfa: uint64(fr.Regs.CFA), curpc: fr.Current.PC, inlined: fr.Inlined}
		if fr.Call.Fn != nil {
			f.Func = fr.Call.Fn.Name
		} else {
			f.Func = fmt.Sprintf("?(pc %#x)", fr.Call.PC)
		}
		if withArgs && fr.Call.Fn != nil {
			scope := proc.FrameToScope(c.target, c.target.Memory(), g, 0, frames[i:]...)
			if vars, err := scope.FunctionArguments(argLoad); err == nil {
				for _, v := range vars {
					av := api.ConvertVar(v)
					val := av.SinglelineString()
					if v.Unreadable != nil {
						val = "?(" + v.Unreadable.Error() + ")"
					}
					if len(val) > 200 {
						val = val[:200] + "..."
					}
					f.Args = append(f.Args, Arg{Name: v.Name, Type: v.TypeString(), Value: val})
				}
			}
		}
		out = append(out, f)
	}
	return out
}

// Bucket is a set of goroutines with identical stacks and state.
type Bucket struct {
	Count       int               `json:"count"`
	Status      string            `json:"status"`
	WaitReason  string            `json:"wait_reason,omitempty"`
	LongestWait time.Duration     `json:"longest_wait_ns"` // -1 when unknown
	Frames      []Frame           `json:"frames"`
	CreatedBy   *Frame            `json:"created_by,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	IDs         []int64           `json:"ids"`
	System      bool              `json:"system"`
	Goroutines  []*Goroutine      `json:"-"`
}

// Top is the first frame that is not the runtime's parking machinery, the
// function a person recognises.
func (b *Bucket) Top() Frame { return userTop(b.Frames) }

// parking are the frames of the runtime's blocking machinery.
var parking = map[string]bool{
	"runtime.gopark": true, "runtime.goparkunlock": true, "runtime.chanrecv": true, "runtime.chanrecv1": true,
	"runtime.chanrecv2": true, "runtime.chansend": true, "runtime.chansend1": true, "runtime.selectgo": true,
	"runtime.block": true, "runtime.semacquire1": true, "runtime.semacquire": true, "runtime.notetsleepg": true,
	"runtime.netpollblock": true, "sync.runtime_SemacquireMutex": true, "sync.runtime_Semacquire": true,
	"sync.runtime_SemacquireRWMutex": true, "sync.runtime_SemacquireRWMutexR": true, "sync.runtime_SemacquireWaitGroup": true,
	"internal/poll.runtime_pollWait": true, "sync.runtime_notifyListWait": true, "internal/sync.runtime_SemacquireMutex": true,
	"runtime.goexit": true, "runtime.gcParkAssist": true, "internal/sync.(*Mutex).lockSlow": true,
	"internal/sync.(*Mutex).Lock": true, "sync.(*Mutex).Lock": true, "sync.(*WaitGroup).Wait": true,
	"sync.(*RWMutex).Lock": true, "sync.(*RWMutex).RLock": true, "sync.(*Cond).Wait": true, "sync.(*Mutex).lockSlow": true,
}

func userTop(fr []Frame) Frame {
	fr = trimCrash(fr)
	for _, f := range fr {
		if !parking[f.Func] && !isCrashFrame(f.Func) {
			return f
		}
	}
	if len(fr) > 0 {
		return fr[0]
	}
	return Frame{Func: "?"}
}

// Key is what goroutines are bucketed by.
func bucketKey(g *Goroutine) string {
	var b strings.Builder
	b.WriteString(g.Status)
	b.WriteByte('|')
	b.WriteString(g.WaitReason)
	for _, f := range g.Frames {
		fmt.Fprintf(&b, "|%s:%s:%d", f.Func, f.File, f.Line)
	}
	if g.CreatedBy != nil {
		fmt.Fprintf(&b, "|by %s:%d", g.CreatedBy.File, g.CreatedBy.Line)
	}
	for _, k := range sortedKeys(g.Labels) {
		fmt.Fprintf(&b, "|%s=%s", k, g.Labels[k])
	}
	return b.String()
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// BucketGoroutines groups goroutines by identical stack, status, wait
// reason, creator and labels, biggest buckets first.
func BucketGoroutines(gs []*Goroutine) []*Bucket {
	idx := map[string]*Bucket{}
	var out []*Bucket
	for _, g := range gs {
		k := bucketKey(g)
		b := idx[k]
		if b == nil {
			b = &Bucket{Status: g.Status, WaitReason: g.WaitReason, Frames: g.Frames, CreatedBy: g.CreatedBy,
				Labels: g.Labels, System: g.System, LongestWait: -1}
			idx[k] = b
			out = append(out, b)
		}
		b.Count++
		b.IDs = append(b.IDs, g.ID)
		b.Goroutines = append(b.Goroutines, g)
		if g.Wait > b.LongestWait {
			b.LongestWait = g.Wait
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].IDs[0] < out[j].IDs[0]
	})
	return out
}

// Filter keeps goroutines whose stack has a function containing fn (if
// set) and whose status or wait reason contains state (if set).
func Filter(gs []*Goroutine, fn, state string) []*Goroutine {
	var out []*Goroutine
	for _, g := range gs {
		if state != "" && !strings.Contains(g.Status, state) && !strings.Contains(g.WaitReason, state) {
			continue
		}
		if fn != "" {
			found := false
			for _, f := range g.Frames {
				if strings.Contains(f.Func, fn) {
					found = true
					break
				}
			}
			if !found {
				continue
			}
		}
		out = append(out, g)
	}
	return out
}
