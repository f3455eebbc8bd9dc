package sample

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"
)

// ErrPermission reports that the kernel refused BPF or perf events.
var ErrPermission = errors.New("permission denied")

// Kind says what a Session measures.
type Kind int

const (
	CPU    Kind = iota // on-CPU samples from a perf event
	OffCPU             // time blocked or waiting, from sched_switch
)

func (k Kind) String() string {
	if k == OffCPU {
		return "offcpu"
	}
	return "cpu"
}

// Options configure a Session.
type Options struct {
	Pid  int
	Kind Kind
	Freq int // CPU samples per second per CPU (default 99)
	// Labels, for a Go target, says where goroutine labels live; nil: no
	// labels (see GoLabelsOf).
	Labels *GoLabels
}

// Session is one attached profiler. Stop detaches it; Collect reads what it
// aggregated. Both are safe to call after the target exited.
type Session struct {
	opts    Options
	maps    *maps
	prog    *ebpf.Program
	links   []link.Link
	fds     []int
	stats   io.Closer
	Event   string // the perf event used ("cpu-clock", "cycles") or "sched_switch"
	start   time.Time
	ended   time.Time
	stopped bool
}

// Start loads the program and attaches it: for CPU, a sampling perf event
// on every online CPU (hardware cycles when the machine has them, else the
// software cpu-clock); for OffCPU, the sched_switch raw tracepoint. BPF
// run-time statistics are turned on for the session's life when the kernel
// allows, so Stats can report the cost per sample.
func Start(opts Options) (*Session, error) {
	if opts.Pid <= 0 {
		return nil, fmt.Errorf("profile: bad pid %d", opts.Pid)
	}
	if opts.Freq == 0 {
		opts.Freq = 99
	}
	if opts.Freq < 1 || opts.Freq > 10000 {
		return nil, fmt.Errorf("profile: frequency %d Hz out of range 1..10000", opts.Freq)
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", opts.Pid)); err != nil {
		return nil, fmt.Errorf("profile pid %d: no such process", opts.Pid)
	}
	// Kernels before 5.11 charge BPF maps to RLIMIT_MEMLOCK.
	rlimit.RemoveMemlock()
	s := &Session{opts: opts}
	if err := s.start1(); err != nil {
		s.Close()
		if errors.Is(err, unix.EPERM) && os.Geteuid() != 0 {
			return nil, fmt.Errorf("profiling needs root (CAP_BPF and CAP_PERFMON): %w", ErrPermission)
		}
		return nil, err
	}
	s.start = time.Now()
	return s, nil
}

func (s *Session) start1() (err error) {
	opts := s.opts
	if s.maps, err = newMaps(opts.Kind == OffCPU, opts.Labels != nil); err != nil {
		return err
	}
	if c, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME)); err == nil {
		s.stats = c
	}
	switch opts.Kind {
	case CPU:
		if s.prog, err = cpuProgram(s.maps, uint32(opts.Pid), opts.Labels); err != nil {
			return err
		}
		return s.attachPerf()
	case OffCPU:
		if s.prog, err = offcpuProgram(s.maps, uint32(opts.Pid), opts.Labels); err != nil {
			return err
		}
		l, err := link.AttachRawTracepoint(link.RawTracepointOptions{Name: "sched_switch", Program: s.prog})
		if err != nil {
			return fmt.Errorf("attach raw tracepoint sched_switch: %w", err)
		}
		s.links = append(s.links, l)
		s.Event = "sched_switch"
		return nil
	}
	return fmt.Errorf("profile: unknown kind %d", opts.Kind)
}

// onlineCPUs parses /sys/devices/system/cpu/online ("0-3,5").
func onlineCPUs() ([]int, error) {
	b, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		return nil, fmt.Errorf("list online CPUs: %w", err)
	}
	return parseCPUList(strings.TrimSpace(string(b)))
}

func parseCPUList(s string) ([]int, error) {
	var out []int
	for _, part := range strings.Split(s, ",") {
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return nil, fmt.Errorf("bad CPU list %q", s)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a || b-a > 1<<16 {
				return nil, fmt.Errorf("bad CPU list %q", s)
			}
		}
		for c := a; c <= b; c++ {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("bad CPU list %q", s)
	}
	return out, nil
}

func (s *Session) attachPerf() error {
	cpus, err := onlineCPUs()
	if err != nil {
		return err
	}
	open := func(typ uint32, config uint64, cpu int) (int, error) {
		attr := unix.PerfEventAttr{
			Type:   typ,
			Config: config,
			Size:   uint32(unsafe.Sizeof(unix.PerfEventAttr{})),
			Sample: uint64(s.opts.Freq),
			Bits:   unix.PerfBitFreq | unix.PerfBitDisabled,
		}
		return unix.PerfEventOpen(&attr, -1, cpu, -1, unix.PERF_FLAG_FD_CLOEXEC)
	}
	// Hardware cycles when present; this also tells which event to use on
	// every CPU.
	typ, config, name := uint32(unix.PERF_TYPE_HARDWARE), uint64(unix.PERF_COUNT_HW_CPU_CYCLES), "cycles"
	if fd, err := open(typ, config, cpus[0]); err == nil {
		unix.Close(fd)
	} else {
		typ, config, name = unix.PERF_TYPE_SOFTWARE, unix.PERF_COUNT_SW_CPU_CLOCK, "cpu-clock"
	}
	s.Event = name
	for _, cpu := range cpus {
		fd, err := open(typ, config, cpu)
		if err != nil {
			return fmt.Errorf("perf_event_open %s on cpu %d: %w", name, cpu, err)
		}
		s.fds = append(s.fds, fd)
		l, err := link.AttachRawLink(link.RawLinkOptions{Target: fd, Program: s.prog, Attach: ebpf.AttachPerfEvent})
		if err != nil {
			return fmt.Errorf("attach BPF to perf event on cpu %d: %w", cpu, err)
		}
		s.links = append(s.links, l)
	}
	for i, fd := range s.fds {
		if err := unix.IoctlSetInt(fd, unix.PERF_EVENT_IOC_ENABLE, 0); err != nil {
			return fmt.Errorf("enable perf event on cpu %d: %w", cpus[i], err)
		}
	}
	return nil
}

// Stop detaches everything; the maps stay readable until Close. It is
// idempotent.
func (s *Session) Stop() error {
	if s.stopped {
		return nil
	}
	s.stopped = true
	s.ended = time.Now()
	var errs []error
	for _, fd := range s.fds {
		unix.IoctlSetInt(fd, unix.PERF_EVENT_IOC_DISABLE, 0)
	}
	for _, l := range s.links {
		if err := l.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	for _, fd := range s.fds {
		unix.Close(fd)
	}
	s.links, s.fds = nil, nil
	return errors.Join(errs...)
}

// Close stops the session and frees its maps and program.
func (s *Session) Close() error {
	err := s.Stop()
	if s.stats != nil {
		s.stats.Close()
		s.stats = nil
	}
	if s.prog != nil {
		s.prog.Close()
		s.prog = nil
	}
	if s.maps != nil {
		s.maps.close()
		s.maps = nil
	}
	return err
}

// Stats is what the session cost and saw.
type Stats struct {
	Event        string        `json:"event"`
	Samples      uint64        `json:"samples"`       // target samples (CPU) or switch-ins charged (off-CPU)
	Lost         uint64        `json:"lost"`          // samples dropped: counts map full
	UStackErrors uint64        `json:"ustack_errors"` // samples without a user stack (kernel threads, collisions)
	KStackErrors uint64        `json:"kstack_errors"`
	StartLost    uint64        `json:"start_lost,omitempty"`
	LabelsLost   uint64        `json:"labels_lost,omitempty"` // label sets not copied (map full)
	BPFRuns      uint64        `json:"bpf_runs"`              // program runs, all processes (0 when stats are off)
	BPFRunTime   time.Duration `json:"bpf_run_ns"`            // total program run time
	BPFPerRun    time.Duration `json:"bpf_ns_per_run"`        // mean run time per run
	Duration     time.Duration `json:"duration_ns"`
}

// Stats reads the session's counters.
func (s *Session) Stats() (Stats, error) {
	st := Stats{Event: s.Event}
	end := s.ended
	if !s.stopped {
		end = time.Now()
	}
	st.Duration = end.Sub(s.start)
	var vals [nCounters]uint64
	for i := range vals {
		if err := s.maps.stats.Lookup(uint32(i), &vals[i]); err != nil {
			return st, fmt.Errorf("read profile counters: %w", err)
		}
	}
	st.Samples, st.Lost, st.UStackErrors, st.KStackErrors, st.StartLost, st.LabelsLost =
		vals[ctrSamples], vals[ctrLost], vals[ctrUStackErr], vals[ctrKStackErr], vals[ctrStartLost], vals[ctrLabelLost]
	if ps, err := s.prog.Stats(); err == nil {
		st.BPFRuns, st.BPFRunTime = ps.RunCount, ps.Runtime
		if ps.RunCount > 0 {
			st.BPFPerRun = ps.Runtime / time.Duration(ps.RunCount)
		}
	}
	return st, nil
}

// Raw is one aggregated entry: a thread's stacks and how often (CPU) or how
// long (off-CPU) they were seen.
type Raw struct {
	Tgid, Tid uint32
	User      []uint64          // user pcs, leaf first; nil when not collected
	Kernel    []uint64          // kernel pcs, leaf first
	SPWord    uint64            // the word at the user SP when sampled
	Blocked   bool              // off-CPU: the thread blocked (not preempted)
	Count     uint64            // samples or switch-ins
	Nanos     uint64            // off-CPU time
	Labels    map[string]string // the goroutine's pprof labels (each cut to 32 bytes, at most 4)
}

// Collect reads the counts and stacks the kernel aggregated.
func (s *Session) Collect() ([]Raw, error) {
	stacks := map[int32][]uint64{}
	getStack := func(id int32) []uint64 {
		if id < 0 {
			return nil
		}
		if st, ok := stacks[id]; ok {
			return st
		}
		var buf [MaxDepth]uint64
		if err := s.maps.stacks.Lookup(uint32(id), &buf); err != nil {
			stacks[id] = nil
			return nil
		}
		n := 0
		for n < MaxDepth && buf[n] != 0 {
			n++
		}
		st := append([]uint64(nil), buf[:n]...)
		stacks[id] = st
		return st
	}
	labelSets := map[uint64]map[string]string{}
	if s.maps.labels != nil {
		var ptr uint64
		var v [labValSize]byte
		it := s.maps.labels.Iterate()
		for it.Next(&ptr, &v) {
			labelSets[ptr] = decodeLabels(v[:])
		}
	}
	var out []Raw
	var k key
	it := s.maps.counts.Iterate()
	if s.opts.Kind == OffCPU {
		var v [2]uint64
		for it.Next(&k, &v) {
			out = append(out, Raw{Tgid: k.Tgid, Tid: k.Tid, User: getStack(k.UStack), Kernel: getStack(k.KStack),
				SPWord: k.SPWord, Blocked: k.State != 0, Nanos: v[0], Count: v[1], Labels: labelSets[k.Labels]})
		}
	} else {
		var v uint64
		for it.Next(&k, &v) {
			out = append(out, Raw{Tgid: k.Tgid, Tid: k.Tid, User: getStack(k.UStack), Kernel: getStack(k.KStack),
				SPWord: k.SPWord, Count: v, Labels: labelSets[k.Labels]})
		}
	}
	if err := it.Err(); err != nil {
		return out, fmt.Errorf("read profile counts: %w", err)
	}
	return out, nil
}

// decodeLabels decodes a label set value: a count, then pairs of
// NUL-padded key and value.
func decodeLabels(v []byte) map[string]string {
	if len(v) < 8 {
		return nil
	}
	n := int(binary.LittleEndian.Uint64(v))
	if n > maxLabels {
		n = maxLabels
	}
	out := map[string]string{}
	for i := 0; i < n; i++ {
		o := 8 + 2*labelBytes*i
		if o+2*labelBytes > len(v) {
			break
		}
		k := strings.TrimRight(string(v[o:o+labelBytes]), "\x00")
		val := strings.TrimRight(string(v[o+labelBytes:o+2*labelBytes]), "\x00")
		if k != "" {
			out[k] = val
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
