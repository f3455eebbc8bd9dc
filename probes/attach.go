// Package probes attaches DTrace-style dynamic probes to running processes
// and aggregates in the kernel: call counts, latency histograms, traces with
// decoded arguments, user stacks and syscall statistics. Programs are built
// at run time with cilium/ebpf's asm package, so no compiler is needed.
//
// Go code is probed safely: never a uretprobe (the Go runtime moves stacks,
// and a uretprobe's hijacked return address would crash it); returns are
// probed at every RET instruction and matched to their entry by goroutine.
package probes

import (
	"errors"
	"fmt"
	"sync"
	"syscall"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/link"
)

// Uprobe names one place to attach a program.
type Uprobe struct {
	Path   string // file holding the code, as obs can open it
	Offset uint64 // file offset of the probed instruction
	RefCtr uint64 // file offset of a USDT semaphore the kernel raises while attached; 0 for none
	PID    int    // only this process; 0 for every process mapping Path
	Cookie uint64 // value the program reads with bpf_get_attach_cookie
	Ret    bool   // a uretprobe: for C code only, never Go
}

var (
	execMu    sync.Mutex
	execCache = map[string]*link.Executable{}
)

func executable(path string) (*link.Executable, error) {
	execMu.Lock()
	defer execMu.Unlock()
	if ex, ok := execCache[path]; ok {
		return ex, nil
	}
	ex, err := link.OpenExecutable(path)
	if err != nil {
		return nil, err
	}
	execCache[path] = ex
	return ex, nil
}

// ErrRefCtrConflict is returned when the kernel refuses a USDT probe
// because another tracer holds a probe at the same place with a different
// semaphore offset (or none).
var ErrRefCtrConflict = errors.New("another probe at this site uses a different semaphore setting")

// AttachUprobe attaches prog (a Kprobe-type program) at u. Closing the
// returned link detaches it (and lowers the semaphore). Cost: one
// perf_event_open; the kernel writes an INT3 into the target's page.
func AttachUprobe(u Uprobe, prog *ebpf.Program) (link.Link, error) {
	ex, err := executable(u.Path)
	if err != nil {
		return nil, fmt.Errorf("attach uprobe %s+%#x: %w", u.Path, u.Offset, err)
	}
	opts := &link.UprobeOptions{Address: u.Offset, PID: u.PID, RefCtrOffset: u.RefCtr, Cookie: u.Cookie}
	var l link.Link
	if u.Ret {
		l, err = ex.Uretprobe("", prog, opts)
	} else {
		l, err = ex.Uprobe("", prog, opts)
	}
	if err != nil {
		if u.RefCtr != 0 && errors.Is(err, syscall.EINVAL) {
			err = fmt.Errorf("%w (%v)", ErrRefCtrConflict, err)
		}
		return nil, fmt.Errorf("attach uprobe %s+%#x: %w", u.Path, u.Offset, err)
	}
	return l, nil
}

// CountProgram returns a program that counts hits per attach cookie into
// counts, a per-CPU array of uint64 (its key is the cookie). It is exported
// for callers that attach their own sites with AttachUprobe.
func CountProgram(counts *ebpf.Map) (*ebpf.Program, error) { return countProgram(counts, false) }

// multiMode reports whether the kernel has uprobe_multi links (6.6+):
// one link carries every site of a program, and detaching it waits for one
// RCU grace period instead of one per site (~0.1 s each on a busy host).
var multiMode = sync.OnceValue(func() bool { return features.HaveBPFLinkUprobeMulti() == nil })

// attacher collects sites and attaches them together: with uprobe_multi,
// one link per (file, process, program, entry/return).
type attacher struct {
	items []planned
}

type planned struct {
	u    Uprobe
	prog *ebpf.Program
}

func (a *attacher) add(u Uprobe, prog *ebpf.Program) { a.items = append(a.items, planned{u, prog}) }

type groupKey struct {
	path string
	pid  int
	ret  bool
	prog *ebpf.Program
}

// attach attaches everything collected into s; on error what was attached
// stays in s for its Close.
func (a *attacher) attach(s *session) error {
	if !multiMode() {
		for _, it := range a.items {
			l, err := AttachUprobe(it.u, it.prog)
			if err != nil {
				return err
			}
			s.addLink(l)
		}
		return nil
	}
	groups := map[groupKey][]Uprobe{}
	var order []groupKey
	for _, it := range a.items {
		k := groupKey{it.u.Path, it.u.PID, it.u.Ret, it.prog}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], it.u)
	}
	for _, k := range order {
		us := groups[k]
		ex, err := executable(k.path)
		if err != nil {
			return fmt.Errorf("attach uprobes in %s: %w", k.path, err)
		}
		o := &link.UprobeMultiOptions{PID: uint32(k.pid)}
		sem := false
		for _, u := range us {
			o.Addresses = append(o.Addresses, u.Offset)
			o.Cookies = append(o.Cookies, u.Cookie)
			o.RefCtrOffsets = append(o.RefCtrOffsets, u.RefCtr)
			sem = sem || u.RefCtr != 0
		}
		if !sem {
			o.RefCtrOffsets = nil
		}
		var l link.Link
		if k.ret {
			l, err = ex.UretprobeMulti(nil, k.prog, o)
		} else {
			l, err = ex.UprobeMulti(nil, k.prog, o)
		}
		if err != nil {
			if sem && errors.Is(err, syscall.EINVAL) {
				err = fmt.Errorf("%w (%v)", ErrRefCtrConflict, err)
			}
			return fmt.Errorf("attach %d uprobe(s) in %s: %w", len(us), k.path, err)
		}
		s.addLink(l)
	}
	return nil
}

// session holds everything attached for one run; Close detaches it all.
type session struct {
	mu      sync.Mutex
	links   []link.Link
	closers []interface{ Close() error }
}

func (s *session) addLink(l link.Link) {
	s.mu.Lock()
	s.links = append(s.links, l)
	s.mu.Unlock()
}

func (s *session) add(c interface{ Close() error }) {
	s.mu.Lock()
	s.closers = append(s.closers, c)
	s.mu.Unlock()
}

// Close detaches every link first (so no program runs any more), then
// frees programs and maps. It may be called more than once.
func (s *session) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var first error
	for _, l := range s.links {
		if err := l.Close(); err != nil && first == nil {
			first = err
		}
	}
	s.links = nil
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i].Close()
	}
	s.closers = nil
	return first
}

// FuncEntry resolves the function name in the ELF file at path (symbol
// tables or, for stripped Go binaries, .gopclntab) to a Uprobe at its
// cheapest entry site: for Go the emulated PUSHQ BP after the stack check,
// where the arguments are still in their registers. Set PID, Cookie or
// RefCtr on the result before AttachUprobe.
func FuncEntry(path, name string) (Uprobe, error) {
	t := &Target{Exe: path}
	ps, err := t.Resolve(name)
	if err != nil {
		return Uprobe{}, err
	}
	if len(ps) != 1 {
		return Uprobe{}, usagef("%s matches %d functions in %s, want one", name, len(ps), path)
	}
	p := ps[0]
	return Uprobe{Path: path, Offset: p.Func.Offset + p.Entry.Off}, nil
}
