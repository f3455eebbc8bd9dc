package sample

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/pprof/profile"

	"github.com/obs-toolkit/obs/internal/procfs"
	"github.com/obs-toolkit/obs/internal/symtab"
)

// RunOptions configure Run.
type RunOptions struct {
	Options
	Duration  time.Duration // 0: until ctx ends or the target exits
	NoLeafFix bool
	NoLabels  bool // do not read goroutine labels
	// Attached, when set, is called once everything is attached.
	Attached func(event string)
}

// Cost is what profiling cost, measured around the session.
type Cost struct {
	ObsCPU       time.Duration `json:"obs_cpu_ns"`    // obs's own CPU time while attached and collecting
	ObsCPUShare  float64       `json:"obs_cpu_share"` // ObsCPU / wall time (1 = one CPU)
	TargetCPU    time.Duration `json:"target_cpu_ns"` // the target's CPU time over the session
	BPFShare     float64       `json:"bpf_share"`     // BPF run time / wall time (1 = one CPU)
	SymbolizeDur time.Duration `json:"symbolize_ns"`  // time to read maps and build the profile
}

// Result is a finished profile with what it cost.
type Result struct {
	Profile  *profile.Profile
	Stats    Stats
	Build    BuildStats
	Cost     Cost
	Exited   bool // the target exited during the session
	Warnings []string
}

// Run profiles opts.Pid until the duration passes, ctx is cancelled or the
// target exits, detaches, and builds the profile. The target's mappings are
// read at the start and re-read every second, so libraries loaded later and
// a target that has exited are both symbolized.
func Run(ctx context.Context, o RunOptions) (*Result, error) {
	proc, err := symtab.NewProcess(o.Pid)
	if err != nil {
		return nil, fmt.Errorf("profile pid %d: %w", o.Pid, err)
	}
	defer proc.Close()
	res := &Result{}
	for _, m := range proc.Mappings() {
		if m.Err != nil {
			res.Warnings = append(res.Warnings, fmt.Sprintf("no symbols for %s: %v", m.Path, m.Err))
		} else if m.File != nil && m.File.GoError() != nil {
			res.Warnings = append(res.Warnings, fmt.Sprintf("Go symbols of %s: %v", m.Path, m.File.GoError()))
		}
	}
	ksyms, kerr := symtab.Kernel()
	if kerr != nil {
		res.Warnings = append(res.Warnings, kerr.Error())
	}
	if o.Labels == nil && !o.NoLabels {
		if exe, err := procfs.Exe(o.Pid); err == nil {
			if gl, err := GoLabelsOf(exe); err == nil {
				o.Labels = gl
			} else if !strings.Contains(err.Error(), "not a Go binary") {
				res.Warnings = append(res.Warnings, err.Error())
			}
		}
	}
	ru0 := rusage()
	tcpu0, _ := procCPU(o.Pid)
	s, err := Start(o.Options)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	if o.Attached != nil {
		o.Attached(s.Event)
	}
	var timeout <-chan time.Time
	if o.Duration > 0 {
		t := time.NewTimer(o.Duration)
		defer t.Stop()
		timeout = t.C
	}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	lastRefresh := time.Now()
	tcpu1 := tcpu0
wait:
	for {
		select {
		case <-ctx.Done():
			break wait
		case <-timeout:
			break wait
		case <-tick.C:
			if !procfs.Alive(o.Pid) || zombie(o.Pid) {
				res.Exited = true
				break wait
			}
			if c, ok := procCPU(o.Pid); ok {
				tcpu1 = c
			}
			if time.Since(lastRefresh) >= time.Second {
				proc.Refresh()
				lastRefresh = time.Now()
			}
		}
	}
	if c, ok := procCPU(o.Pid); ok {
		tcpu1 = c
	}
	if err := s.Stop(); err != nil {
		return nil, fmt.Errorf("detach: %w", err)
	}
	if res.Stats, err = s.Stats(); err != nil {
		return nil, err
	}
	t0 := time.Now()
	raws, err := s.Collect()
	if err != nil {
		return nil, err
	}
	res.Profile, res.Build, err = Build(raws, BuildOptions{Kind: o.Kind, Freq: o.Freq, Start: s.start,
		Duration: res.Stats.Duration, Proc: proc, Kernel: ksyms, NoLeafFix: o.NoLeafFix})
	if err != nil {
		return nil, err
	}
	res.Cost.SymbolizeDur = time.Since(t0)
	ru1 := rusage()
	wall := res.Stats.Duration
	res.Cost.ObsCPU = ru1 - ru0
	res.Cost.TargetCPU = tcpu1 - tcpu0
	if wall > 0 {
		res.Cost.ObsCPUShare = float64(res.Cost.ObsCPU) / float64(wall)
		res.Cost.BPFShare = float64(res.Stats.BPFRunTime) / float64(wall)
	}
	return res, nil
}

func rusage() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU reads utime+stime of pid from /proc/PID/stat.
func procCPU(pid int) (time.Duration, bool) {
	b, err := os.ReadFile(fmt.Sprintf("%s/%d/stat", procfs.Proc, pid))
	if err != nil {
		return 0, false
	}
	return parseStatCPU(string(b))
}

// parseStatCPU takes utime+stime (clock ticks of 10 ms) from the text of a
// /proc/PID/stat file; the command name may hold spaces and parentheses.
func parseStatCPU(s string) (time.Duration, bool) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, false
	}
	u, err1 := strconv.ParseUint(f[11], 10, 64)
	k, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(u+k) * (time.Second / 100), true
}

func zombie(pid int) bool {
	st, err := procfs.Status(pid)
	if err != nil {
		return true
	}
	return strings.HasPrefix(st["State"], "Z") || strings.HasPrefix(st["State"], "X")
}
