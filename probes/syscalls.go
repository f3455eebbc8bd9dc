package probes

import (
	"fmt"
	"sort"
	"strconv"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// SyscallStats times system calls from the raw_syscalls sys_enter and
// sys_exit raw tracepoints (kprobes are not needed), filtered in the kernel
// to one process. Per syscall: count, errors, total and max time, and a
// power-of-two histogram, in a per-CPU array.
type SyscallStats struct {
	PID    int
	starts *ebpf.Map
	stats  *ebpf.Map
	sess   session
	base   map[int]SyscallStat
}

// SyscallStat is one syscall's figures.
type SyscallStat struct {
	Nr     int
	Name   string
	Count  uint64
	Errors uint64 // returns in -4095..-1
	SumNs  uint64
	MaxNs  uint64
	Hist   Histogram
}

// SyscallName names an x86-64 syscall number.
func SyscallName(nr int) string {
	if n, ok := syscallNames[nr]; ok {
		return n
	}
	return "syscall_" + strconv.Itoa(nr)
}

// SyscallNumber returns the number of a syscall name.
func SyscallNumber(name string) (int, bool) {
	for nr, n := range syscallNames {
		if n == name {
			return nr, true
		}
	}
	return 0, false
}

// TraceSyscalls attaches the syscall tracepoints for pid (0: every
// process).
func TraceSyscalls(pid int) (*SyscallStats, error) {
	s := &SyscallStats{PID: pid, base: map[int]SyscallStat{}}
	var err error
	if s.starts, err = newMap("obs_sc_starts", ebpf.Hash, 8, 16, 16384); err != nil {
		return nil, err
	}
	s.sess.add(s.starts)
	if s.stats, err = newMap("obs_sc_stats", ebpf.PerCPUArray, 4, scWords*8, maxSyscalls); err != nil {
		s.sess.Close()
		return nil, err
	}
	s.sess.add(s.stats)
	enter, exit, err := syscallPrograms(s.starts, s.stats, uint32(pid))
	if err != nil {
		s.sess.Close()
		return nil, err
	}
	s.sess.add(enter)
	s.sess.add(exit)
	for _, tp := range []struct {
		name string
		prog *ebpf.Program
	}{{"sys_exit", exit}, {"sys_enter", enter}} {
		l, err := link.AttachRawTracepoint(link.RawTracepointOptions{Name: tp.name, Program: tp.prog})
		if err != nil {
			s.sess.Close()
			return nil, fmt.Errorf("attach raw tracepoint %s: %w", tp.name, err)
		}
		s.sess.addLink(l)
	}
	return s, nil
}

func (s *SyscallStats) raw() (map[int]SyscallStat, error) {
	out := map[int]SyscallStat{}
	var vals [][scWords]uint64
	for nr := 0; nr < maxSyscalls; nr++ {
		if err := s.stats.Lookup(uint32(nr), &vals); err != nil {
			return nil, fmt.Errorf("read syscall stats: %w", err)
		}
		var st SyscallStat
		for _, v := range vals {
			st.Count += v[0]
			st.Errors += v[1]
			st.SumNs += v[2]
			if v[3] > st.MaxNs {
				st.MaxNs = v[3]
			}
			for b := 0; b < histBuckets; b++ {
				st.Hist.Buckets[b] += v[4+b]
			}
		}
		if st.Count == 0 {
			continue
		}
		st.Nr, st.Name = nr, SyscallName(nr)
		st.Hist.Count, st.Hist.SumNs, st.Hist.MaxNs = st.Count, st.SumNs, st.MaxNs
		out[nr] = st
	}
	return out, nil
}

// Read returns the syscalls seen since attach or the last Reset, most
// frequent first.
func (s *SyscallStats) Read() ([]SyscallStat, error) {
	cur, err := s.raw()
	if err != nil {
		return nil, err
	}
	var out []SyscallStat
	for nr, st := range cur {
		if b, ok := s.base[nr]; ok {
			st.Count -= b.Count
			st.Errors -= b.Errors
			st.SumNs -= b.SumNs
			for k := range st.Hist.Buckets {
				st.Hist.Buckets[k] -= b.Hist.Buckets[k]
			}
			st.Hist.Count, st.Hist.SumNs = st.Count, st.SumNs
		}
		if st.Count > 0 {
			out = append(out, st)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Nr < out[j].Nr
	})
	return out, nil
}

// Reset makes the next Read count from now.
func (s *SyscallStats) Reset() error {
	cur, err := s.raw()
	if err != nil {
		return err
	}
	s.base = cur
	return nil
}

// Total is the number of syscalls timed since attach.
func (s *SyscallStats) Total() uint64 {
	cur, _ := s.raw()
	var n uint64
	for _, st := range cur {
		n += st.Count
	}
	return n
}

// Close detaches the tracepoints.
func (s *SyscallStats) Close() error { return s.sess.Close() }
