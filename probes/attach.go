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
func CountProgram(counts *ebpf.Map) (*ebpf.Program, error) { return countProgram(counts) }

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
