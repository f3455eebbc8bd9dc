package postmortem

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-delve/delve/pkg/proc"
	"github.com/go-delve/delve/service/api"
	"golang.org/x/sys/unix"

	"github.com/obs-toolkit/obs/postmortem/elfcore"
)

// Info is the summary `obs core info` prints.
type Info struct {
	Core      string      `json:"core"`
	CoreBytes int64       `json:"core_bytes"`
	Exe       string      `json:"exe,omitempty"`
	PID       int         `json:"pid"`
	Command   string      `json:"command"`
	Signal    *SignalInfo `json:"signal,omitempty"`
	// GoSignal is the signal the Go runtime turned into a panic (a nil
	// dereference's SIGSEGV) before it aborted the process.
	GoSignal  *SignalInfo     `json:"go_signal,omitempty"`
	Panic     *PanicInfo      `json:"panic,omitempty"`
	Crashing  *Goroutine      `json:"crashing_goroutine,omitempty"`
	GoVersion string          `json:"go_version,omitempty"`
	Build     *BuildSummary   `json:"build,omitempty"`
	Threads   []ThreadSummary `json:"threads"`
	Memory    MemorySummary   `json:"memory"`
	Mappings  []Mapping       `json:"mappings"`
	Heap      *HeapSummary    `json:"heap,omitempty"`
	// Goroutines counts live goroutines (0 for non-Go cores).
	Goroutines int `json:"goroutines"`
	// Uptime from runtime start to the crash, and how the crash time was
	// estimated (see Clock).
	Uptime     time.Duration `json:"uptime_ns,omitempty"`
	ClockBasis string        `json:"clock_basis,omitempty"`
	GoError    string        `json:"go_error,omitempty"` // why Go analyses are missing
	Warnings   []string      `json:"warnings,omitempty"`
}

// SignalInfo describes a signal.
type SignalInfo struct {
	Number int    `json:"number"`
	Name   string `json:"name"`
	Code   int    `json:"code"`
	// Addr is the fault address, set only for faults (HasAddr).
	Addr    uint64 `json:"addr"`
	HasAddr bool   `json:"has_addr"`
	Sender  int    `json:"sender_pid,omitempty"` // kill/tgkill sender
	PC      uint64 `json:"pc,omitempty"`
}

// PanicInfo is the panic or fatal error that ended the process.
type PanicInfo struct {
	Kind      string `json:"kind"`            // "panic" or "fatal error"
	Message   string `json:"message"`         // as the runtime printed it
	Value     string `json:"value,omitempty"` // the original value, when readable
	Type      string `json:"type,omitempty"`  // its dynamic type
	Goroutine int64  `json:"goroutine,omitempty"`
}

// BuildSummary is debug/buildinfo's record of how the executable was built.
type BuildSummary struct {
	Path     string            `json:"path"`
	Module   string            `json:"module"`
	Version  string            `json:"version"`
	Revision string            `json:"vcs_revision,omitempty"`
	Time     string            `json:"vcs_time,omitempty"`
	Modified bool              `json:"vcs_modified,omitempty"`
	Settings map[string]string `json:"settings"`
	Deps     int               `json:"deps"`
}

// ThreadSummary is one thread of the core.
type ThreadSummary struct {
	TID    int           `json:"tid"`
	PC     uint64        `json:"pc"`
	Func   string        `json:"func,omitempty"`
	Signal int           `json:"signal,omitempty"`
	CPU    time.Duration `json:"cpu_ns"`
}

// MemorySummary adds up the mappings.
type MemorySummary struct {
	Mappings  int    `json:"mappings"`
	Mapped    uint64 `json:"mapped_bytes"`   // address space of all PT_LOADs
	Dumped    uint64 `json:"dumped_bytes"`   // bytes the core holds
	Resident  uint64 `json:"resident_bytes"` // dumped pages that are not all zero (RSS-like)
	Files     int    `json:"file_mappings"`
	FileBytes uint64 `json:"file_bytes"`
}

// Mapping is one memory segment of the core.
type Mapping struct {
	Start  uint64 `json:"start"`
	End    uint64 `json:"end"`
	Perms  string `json:"perms"`
	Dumped uint64 `json:"dumped_bytes"`
	File   string `json:"file,omitempty"`
}

// HeapSummary is the Go heap as the runtime's statistics hold it.
type HeapSummary struct {
	InUse    uint64    `json:"in_use_bytes"` // bytes in in-use spans
	Live     uint64    `json:"live_bytes"`   // marked at the last GC plus allocated since
	Marked   uint64    `json:"marked_bytes"` // live after the last GC
	GCCycles uint32    `json:"gc_cycles"`
	LastGC   time.Time `json:"last_gc,omitempty"`
}

func signame(n int) string {
	if n <= 0 {
		return ""
	}
	if s := unix.SignalName(syscall.Signal(n)); s != "" {
		return s
	}
	return fmt.Sprintf("signal %d", n)
}

// Info gathers the summary. Go parts are left out (GoError says why) for
// non-Go cores or when the executable is missing.
func (c *Core) Info() (_ *Info, err error) {
	defer guard(&err, "info")
	n := c.File.Notes
	in := &Info{Core: c.Path, CoreBytes: c.File.Size, Exe: c.ExePath, Warnings: c.Warnings}
	if n.Psinfo != nil {
		in.PID, in.Command = n.Psinfo.PID, n.Psinfo.Args
		if in.Command == "" {
			in.Command = n.Psinfo.Fname
		}
	} else if len(n.Threads) > 0 {
		in.PID = n.Threads[0].TID
	}
	if s := n.Siginfo; s != nil && s.Signo != 0 {
		in.Signal = &SignalInfo{Number: s.Signo, Name: signame(s.Signo), Code: s.Code, HasAddr: s.HasAddr()}
		if in.Signal.HasAddr {
			in.Signal.Addr = s.Addr
		} else if s.Code <= 0 {
			in.Signal.Sender = s.PID
		}
	} else if len(n.Threads) > 0 && n.Threads[0].Signal != 0 {
		in.Signal = &SignalInfo{Number: n.Threads[0].Signal, Name: signame(n.Threads[0].Signal)}
	}
	if in.Signal != nil && len(n.Threads) > 0 {
		in.Signal.PC = n.Threads[0].Regs.PC()
	}
	for _, t := range n.Threads {
		ts := ThreadSummary{TID: t.TID, PC: t.Regs.PC(), Signal: t.Signal, CPU: time.Duration(t.UTime+t.STime) * time.Microsecond}
		if c.target != nil {
			if fn := c.target.BinInfo().PCToFunc(t.Regs.PC()); fn != nil {
				ts.Func = fn.Name
			}
		}
		in.Threads = append(in.Threads, ts)
	}
	in.Memory = c.memorySummary()
	for _, sg := range c.File.Segments {
		m := Mapping{Start: sg.Vaddr, End: sg.End(), Dumped: sg.Filesz, Perms: permString(sg.Flags)}
		for _, f := range n.Files {
			if f.Start <= sg.Vaddr && sg.Vaddr < f.End {
				m.File = f.Path
				break
			}
		}
		in.Mappings = append(in.Mappings, m)
	}
	if c.Build != nil {
		in.GoVersion = c.Build.GoVersion
		b := &BuildSummary{Path: c.Build.Path, Module: c.Build.Main.Path, Version: c.Build.Main.Version,
			Settings: map[string]string{}, Deps: len(c.Build.Deps)}
		for _, s := range c.Build.Settings {
			switch s.Key {
			case "vcs.revision":
				b.Revision = s.Value
			case "vcs.time":
				b.Time = s.Value
			case "vcs.modified":
				b.Modified = s.Value == "true"
			}
			b.Settings[s.Key] = s.Value
		}
		in.Build = b
	}
	if c.GoErr != nil {
		in.GoError = c.GoErr.Error()
		return in, nil
	}
	gs, err := c.Goroutines(GoroutineOptions{})
	if err != nil {
		in.GoError = err.Error()
		return in, nil
	}
	in.Goroutines = len(gs)
	in.Heap = c.heapSummary()
	if now, basis := c.clock(); now > 0 {
		if start := int64(c.symU64("runtime.runtimeInitTime")); start > 0 && now > start {
			in.Uptime = time.Duration(now - start)
			in.ClockBasis = basis
		}
	}
	cg := c.crashingGoroutine(gs)
	var fault *SignalInfo
	if cg != nil {
		// Reload its stack with arguments.
		full := *cg
		frames := c.stack(cg.dg, 64, true)
		abort := 0
		if in.Signal != nil {
			abort = in.Signal.Number
		}
		var cut int
		fault, cut = signalFrame(frames, abort)
		if fault != nil {
			frames = frames[cut:]
		}
		full.Frames = trimCrash(frames)
		in.Crashing = &full
		in.GoSignal = c.goSignal(cg)
	}
	in.Panic = c.panicInfo(cg)
	if in.GoSignal == nil && fault != nil {
		// A fault the runtime did not turn into a panic (in C code, or in
		// the runtime itself): it crashed from its signal handler.
		in.GoSignal = fault
		if in.Panic == nil {
			where := "in Go code"
			for _, f := range in.Crashing.Frames {
				if f.Func == "runtime.asmcgocall" || strings.HasPrefix(f.Func, "C.") || strings.HasPrefix(f.Func, "_cgo_") {
					where = "in C code called through cgo"
					break
				}
			}
			in.Panic = &PanicInfo{Kind: "fatal signal", Goroutine: in.Crashing.ID,
				Message: fmt.Sprintf("%s at address %#x %s", fault.Name, fault.Addr, where)}
		}
	}
	return in, nil
}

var (
	sigArgRe  = regexp.MustCompile(`si_signo: (-?\d+), si_errno: -?\d+, si_code: (-?\d+), si_addr: (\d+)`)
	sigNumArg = regexp.MustCompile(`^\d+$`)
)

// signalFrame finds the signal handler frame (runtime.sigtrampgo) that
// took a signal other than the final abort, and returns that signal and
// the index of the frame after it (the one that faulted).
func signalFrame(frames []Frame, abort int) (*SignalInfo, int) {
	for i, f := range frames {
		if f.Func != "runtime.sigtrampgo" {
			continue
		}
		var sig int
		var info string
		for _, a := range f.Args {
			switch a.Name {
			case "sig":
				if sigNumArg.MatchString(a.Value) {
					sig, _ = strconv.Atoi(a.Value)
				}
			case "info":
				info = a.Value
			}
		}
		if sig == 0 || sig == abort {
			continue
		}
		s := &SignalInfo{Number: sig, Name: signame(sig)}
		if m := sigArgRe.FindStringSubmatch(info); m != nil {
			s.Code, _ = strconv.Atoi(m[2])
			s.Addr, _ = strconv.ParseUint(m[3], 10, 64)
			s.HasAddr = s.Code > 0
		}
		if i+1 < len(frames) {
			s.PC = frames[i+1].PC
		}
		return s, i + 1
	}
	return nil, 0
}

func (c *Core) symU64(name string) uint64 {
	a, err := c.sym(name)
	if err != nil {
		return 0
	}
	return c.u64(a)
}

func (c *Core) memorySummary() MemorySummary {
	var m MemorySummary
	for i := range c.File.Segments {
		s := &c.File.Segments[i]
		m.Mappings++
		m.Mapped += s.Memsz
		m.Dumped += s.Filesz
		b := c.File.Bytes(s)
		for off := 0; off < len(b); off += 4096 {
			end := min(off+4096, len(b))
			if !allZero(b[off:end]) {
				m.Resident += uint64(end - off)
			}
		}
	}
	for _, f := range c.File.Notes.Files {
		m.Files++
		m.FileBytes += f.End - f.Start
	}
	return m
}

func allZero(b []byte) bool {
	for len(b) >= 8 {
		if b[0]|b[1]|b[2]|b[3]|b[4]|b[5]|b[6]|b[7] != 0 {
			return false
		}
		b = b[8:]
	}
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

func (c *Core) heapSummary() *HeapSummary {
	l := c.rt
	gc, err := c.sym("runtime.gcController")
	if err != nil {
		return nil
	}
	ms, err := c.sym("runtime.memstats")
	if err != nil {
		return nil
	}
	h := &HeapSummary{}
	if o := l.mustOff("runtime.gcControllerState.heapInUse"); o >= 0 {
		h.InUse = c.u64(gc + uint64(o))
	}
	if o := l.mustOff("runtime.gcControllerState.heapLive"); o >= 0 {
		h.Live = c.u64(gc + uint64(o))
	}
	if o := l.mustOff("runtime.gcControllerState.heapMarked"); o >= 0 {
		h.Marked = c.u64(gc + uint64(o))
	}
	if o := l.mustOff("runtime.mstats.numgc"); o >= 0 {
		h.GCCycles = c.u32(ms + uint64(o))
	}
	if o := l.mustOff("runtime.mstats.last_gc_unix"); o >= 0 {
		if t := c.u64(ms + uint64(o)); t != 0 {
			h.LastGC = time.Unix(0, int64(t)).UTC()
		}
	}
	return h
}

// clock estimates the runtime's monotonic clock (nanotime) at the crash.
// With a GC on record, the last GC's wall and monotonic stamps map the
// core file's modification time onto the monotonic clock. Without one,
// it is the latest monotonic stamp the runtime left (a lower bound).
func (c *Core) clock() (int64, string) {
	if c.rt == nil {
		return 0, ""
	}
	var latest int64
	note := func(v uint64) {
		if int64(v) > latest && v < 1<<62 {
			latest = int64(v)
		}
	}
	ms, err := c.sym("runtime.memstats")
	var gcUnix, gcMono uint64
	if err == nil {
		if o := c.rt.mustOff("runtime.mstats.last_gc_unix"); o >= 0 {
			gcUnix = c.u64(ms + uint64(o))
		}
		if o := c.rt.mustOff("runtime.mstats.last_gc_nanotime"); o >= 0 {
			gcMono = c.u64(ms + uint64(o))
		}
	}
	note(gcMono)
	if s, err := c.sym("runtime.sched"); err == nil {
		if o := c.rt.mustOff("runtime.schedt.lastpoll"); o >= 0 {
			note(c.u64(s + uint64(o)))
		}
	}
	note(c.symU64("runtime.runtimeInitTime"))
	if gcUnix != 0 && gcMono != 0 {
		if st, err := os.Stat(c.Path); err == nil {
			wall := st.ModTime().UnixNano()
			if wall >= int64(gcUnix) {
				now := int64(gcMono) + (wall - int64(gcUnix))
				if now >= latest {
					return now, "core file time mapped by the last GC's clocks"
				}
			}
		}
	}
	return latest, "latest runtime timestamp (a lower bound)"
}

// crashingGoroutine finds the goroutine the crash happened on: the one
// with a panic in progress, else the one the signalled thread ran.
func (c *Core) crashingGoroutine(gs []*Goroutine) *Goroutine {
	o := c.rt.gOffsets()
	byAddr := map[uint64]*Goroutine{}
	for _, g := range gs {
		byAddr[g.Addr] = g
		if o.panic >= 0 && c.u64(g.Addr+uint64(o.panic)) != 0 && g.status == 2 {
			return g
		}
	}
	th := c.File.Notes.Threads
	if len(th) == 0 {
		return nil
	}
	gp := c.u64(th[0].Regs[elfcore.RegFSBase] - 8)
	if g := byAddr[gp]; g != nil {
		return g
	}
	// On the system stack: the thread's m knows the user goroutine.
	if o.m >= 0 && gp != 0 {
		if mo := c.rt.mustOff("runtime.m.curg"); mo >= 0 {
			if m := c.u64(gp + uint64(o.m)); m != 0 {
				if g := byAddr[c.u64(m+uint64(mo))]; g != nil {
					return g
				}
			}
		}
	}
	for _, g := range gs {
		if g.Thread == th[0].TID {
			return g
		}
	}
	return nil
}

func (c *Core) goSignal(g *Goroutine) *SignalInfo {
	o := c.rt.gOffsets()
	if o.sig < 0 {
		return nil
	}
	sig := int(c.u32(g.Addr + uint64(o.sig)))
	if sig == 0 {
		return nil
	}
	s := &SignalInfo{Number: sig, Name: signame(sig)}
	if co := c.rt.mustOff("runtime.g.sigcode0"); co >= 0 {
		s.Code = int(c.u64(g.Addr + uint64(co)))
	}
	if o.sigcode1 >= 0 {
		s.Addr = c.u64(g.Addr + uint64(o.sigcode1))
		s.HasAddr = true
	}
	if po := c.rt.mustOff("runtime.g.sigpc"); po >= 0 {
		s.PC = c.u64(g.Addr + uint64(po))
	}
	return s
}

// panicInfo reads the panic in progress on g, or the message of a fatal
// error from runtime.throw/fatal on the signalled thread.
func (c *Core) panicInfo(g *Goroutine) *PanicInfo {
	o := c.rt.gOffsets()
	if g != nil && o.panic >= 0 {
		if p := c.u64(g.Addr + uint64(o.panic)); p != 0 {
			pi := &PanicInfo{Kind: "panic", Goroutine: g.ID}
			// The runtime replaced an error or Stringer argument by its
			// text before printing (preprintpanics), so arg is usually the
			// printed message.
			scope, err := proc.ThreadScope(c.target, c.target.CurrentThread())
			if err == nil {
				v, err := scope.EvalExpression(fmt.Sprintf("(*runtime._panic)(%#x).arg", p), argLoad)
				if err == nil {
					av := api.ConvertVar(v)
					if len(av.Children) == 1 && av.Children[0].Type == "string" {
						pi.Message = av.Children[0].Value
					} else {
						pi.Message = av.SinglelineString()
					}
				}
			}
			if dg := g.dg; dg != nil {
				for _, f := range c.stack(dg, 64, true) {
					if f.Func == "runtime.gopanic" {
						for _, a := range f.Args {
							if a.Name == "e" && !strings.HasPrefix(a.Value, "?") {
								pi.Value = a.Value
								pi.Type = dynType(a.Value)
							}
						}
						break
					}
				}
			}
			return pi
		}
	}
	// A fatal error: the message is runtime.throw's or fatal's argument,
	// on the crashing thread's system stack or the goroutine's.
	var stacks [][]Frame
	if th := c.target.CurrentThread(); th != nil {
		if frames, err := proc.ThreadStacktrace(c.target, th, 64); err == nil {
			stacks = append(stacks, c.framesWithArgs(frames, th))
		}
	}
	if g != nil && g.dg != nil {
		stacks = append(stacks, c.stack(g.dg, 64, true))
	}
	for _, fr := range stacks {
		for _, f := range fr {
			if f.Func != "runtime.throw" && f.Func != "runtime.fatal" {
				continue
			}
			for _, a := range f.Args {
				if a.Name == "s" && a.Type == "string" {
					pi := &PanicInfo{Kind: "fatal error", Message: strings.Trim(a.Value, `"`)}
					if g != nil {
						pi.Goroutine = g.ID
					}
					return pi
				}
			}
		}
	}
	return nil
}

func (c *Core) framesWithArgs(frames []proc.Stackframe, th proc.Thread) []Frame {
	var out []Frame
	for i := range frames {
		fr := &frames[i]
		if fr.Call.Fn == nil {
			continue
		}
		f := Frame{Func: fr.Call.Fn.Name, File: fr.Call.File, Line: fr.Call.Line, PC: fr.Call.PC}
		scope := proc.FrameToScope(c.target, c.target.Memory(), nil, th.ThreadID(), frames[i:]...)
		if vars, err := scope.FunctionArguments(argLoad); err == nil {
			for _, v := range vars {
				f.Args = append(f.Args, Arg{Name: v.Name, Type: v.TypeString(), Value: api.ConvertVar(v).SinglelineString()})
			}
		}
		out = append(out, f)
	}
	return out
}

// dynType extracts the dynamic type from delve's "interface {}(T) value".
func dynType(v string) string {
	i := strings.Index(v, "(")
	if i < 0 {
		return ""
	}
	rest := v[i+1:]
	depth := 1
	for j, r := range rest {
		switch r {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return rest[:j]
			}
		}
	}
	return ""
}

// trimCrash drops the runtime's own crash machinery (signal handler,
// raise, fatalpanic) above the frame that panicked or threw.
func trimCrash(fr []Frame) []Frame {
	for i, f := range fr {
		switch f.Func {
		case "runtime.gopanic", "runtime.throw", "runtime.fatal", "runtime.sigpanic", "runtime.panicmem",
			"runtime.fatalthrow", "runtime.fatalpanic":
			// Keep the last of a run of these (gopanic under fatalpanic).
			j := i
			for j+1 < len(fr) && isCrashFrame(fr[j+1].Func) {
				j++
			}
			return fr[j:]
		}
	}
	return fr
}

func isCrashFrame(fn string) bool {
	switch fn {
	case "runtime.gopanic", "runtime.throw", "runtime.fatal", "runtime.sigpanic", "runtime.panicmem",
		"runtime.fatalthrow", "runtime.fatalpanic", "runtime.crash", "runtime.raise":
		return true
	}
	return false
}

func permString(flags uint32) string {
	b := []byte("---")
	if flags&4 != 0 {
		b[0] = 'r'
	}
	if flags&2 != 0 {
		b[1] = 'w'
	}
	if flags&1 != 0 {
		b[2] = 'x'
	}
	return string(b)
}
