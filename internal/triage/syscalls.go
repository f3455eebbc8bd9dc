package triage

import (
	"context"
	"sort"
	"time"

	"github.com/obs-toolkit/obs/probes"
)

// SyscallLine is one syscall's figures over the window.
type SyscallLine struct {
	Name   string        `json:"name"`
	Count  uint64        `json:"count"`
	Errors uint64        `json:"errors"`
	Total  time.Duration `json:"total_ns"`
	Mean   time.Duration `json:"mean_ns"`
	P99    time.Duration `json:"p99_ns"`
	Max    time.Duration `json:"max_ns"`
}

// Syscalls is the syscalls section's data.
type Syscalls struct {
	Window time.Duration `json:"window_ns"`
	Total  uint64        `json:"total"`
	Errors uint64        `json:"errors"`
	ByCall []SyscallLine `json:"by_syscall"` // most frequent first
}

func syscallsSection(ctx context.Context, e *env, s *Section) {
	if e.opts.NoBPF {
		s.Status = Skipped
		s.note("eBPF turned off (--no-bpf)")
		return
	}
	st, err := probes.TraceSyscalls(e.pid)
	if err != nil {
		s.miss("syscall tracepoints: %s", bpfErr(err))
		return
	}
	defer st.Close()
	start := time.Now()
	t := time.NewTimer(e.opts.Duration)
	select {
	case <-t.C:
	case <-ctx.Done():
		t.Stop()
		s.miss("cut short: %v", ctx.Err())
	}
	stats, err := st.Read()
	if err != nil {
		s.miss("%v", err)
		return
	}
	d := &Syscalls{Window: time.Since(start)}
	s.Data = d
	for _, c := range stats {
		l := SyscallLine{Name: c.Name, Count: c.Count, Errors: c.Errors, Total: time.Duration(c.SumNs),
			P99: time.Duration(c.Hist.Quantile(0.99)), Max: time.Duration(c.MaxNs)}
		if c.Count > 0 {
			l.Mean = time.Duration(c.SumNs / c.Count)
		}
		d.Total += c.Count
		d.Errors += c.Errors
		d.ByCall = append(d.ByCall, l)
	}
	s.note("%d syscalls in %s (%.0f/s), %d failed", d.Total, d.Window.Round(time.Millisecond),
		float64(d.Total)/d.Window.Seconds(), d.Errors)
	byTime := append([]SyscallLine(nil), d.ByCall...)
	sort.Slice(byTime, func(i, j int) bool { return byTime[i].Total > byTime[j].Total })
	s.note("  %-16s %8s %7s %10s %10s %10s", "syscall", "count", "errors", "mean", "p99", "max")
	for i, l := range d.ByCall {
		if i == 6 {
			break
		}
		s.note("  %-16s %8d %7d %10s %10s %10s", l.Name, l.Count, l.Errors, l.Mean.Round(time.Microsecond),
			l.P99.Round(time.Microsecond), l.Max.Round(time.Microsecond))
	}
	if len(byTime) > 0 {
		s.note("most time in %s: %s over the window (blocking calls such as futex and epoll_pwait wait here)",
			byTime[0].Name, byTime[0].Total.Round(time.Millisecond))
	}
	e.writeJSON(s, "syscalls.json", d)
}
