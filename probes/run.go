package probes

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"time"

	"github.com/cilium/ebpf"

	"github.com/obs-toolkit/obs/internal/procfs"
)

// StopReason says why a probe run ended.
type StopReason string

// Reasons a run ends.
const (
	StopDuration StopReason = "duration elapsed"
	StopSignal   StopReason = "interrupted"
	StopExited   StopReason = "target exited"
	StopRate     StopReason = "event rate limit exceeded"
	StopDone     StopReason = "done"
)

// WaitOptions control how long a probe run lasts.
type WaitOptions struct {
	Duration time.Duration   // 0: until ctx ends or the target exits
	Interval time.Duration   // call OnInterval this often; 0: never
	PID      int             // stop when this process exits; 0: no check
	Exited   <-chan struct{} // closed when a started child exits
	// Hits returns the total hits so far; with MaxRate it detaches a run
	// whose rate stays above MaxRate per second for one second.
	Hits    func() uint64
	MaxRate uint64
	// Done, when it becomes readable, ends the run (e.g. -n events seen).
	Done       <-chan struct{}
	OnInterval func()
}

// Wait blocks until the run should end and says why. It never detaches
// anything itself: callers defer their Close, so every path detaches.
func Wait(ctx context.Context, o WaitOptions) StopReason {
	var deadline <-chan time.Time
	if o.Duration > 0 {
		t := time.NewTimer(o.Duration)
		defer t.Stop()
		deadline = t.C
	}
	var interval <-chan time.Time
	if o.Interval > 0 && o.OnInterval != nil {
		t := time.NewTicker(o.Interval)
		defer t.Stop()
		interval = t.C
	}
	poll := time.NewTicker(100 * time.Millisecond)
	defer poll.Stop()
	var last uint64
	lastAt := time.Now()
	if o.Hits != nil {
		last = o.Hits()
	}
	for {
		select {
		case <-ctx.Done():
			return StopSignal
		case <-deadline:
			return StopDuration
		case <-interval:
			o.OnInterval()
		case <-o.Exited:
			return StopExited
		case <-o.Done:
			return StopDone
		case <-poll.C:
			if o.PID != 0 && !alive(o.PID) {
				return StopExited
			}
			if o.Hits != nil && o.MaxRate > 0 && time.Since(lastAt) >= time.Second {
				h := o.Hits()
				rate := float64(h-last) / time.Since(lastAt).Seconds()
				if h >= last && rate > float64(o.MaxRate) {
					return StopRate
				}
				last, lastAt = h, time.Now()
			}
		}
	}
}

// alive reports whether pid still runs (a zombie counts as exited).
func alive(pid int) bool {
	st, err := procfs.Status(pid)
	if err != nil {
		return false
	}
	s := st["State"]
	return s != "" && s[0] != 'Z' && s[0] != 'X'
}

// Child is a command obs started stopped at its first instruction, so
// probes are in place before it runs any code.
type Child struct {
	Cmd     *exec.Cmd
	PID     int
	Exited  chan struct{} // closed when the command has exited
	Err     error         // its exit error once Exited is closed
	locked  bool
	resumed bool
}

// StartStopped starts argv stopped right after exec (through ptrace). The
// calling goroutine stays locked to its OS thread until Resume, which must
// be called from the same goroutine.
func StartStopped(argv []string) (*Child, error) {
	if len(argv) == 0 {
		return nil, usagef("empty command")
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return nil, usagef("command %s: %v", argv[0], err)
	}
	runtime.LockOSThread()
	cmd := exec.Command(path, argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Ptrace: true}
	if err := cmd.Start(); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("start %s: %w", argv[0], err)
	}
	c := &Child{Cmd: cmd, PID: cmd.Process.Pid, Exited: make(chan struct{}), locked: true}
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(c.PID, &ws, 0, nil); err != nil || !ws.Stopped() {
		cmd.Process.Kill()
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("start %s: did not stop at exec (%v)", argv[0], err)
	}
	return c, nil
}

// Resume lets the stopped command run and starts watching for its exit.
// Calls after the first do nothing.
func (c *Child) Resume() error {
	if c.resumed {
		return nil
	}
	c.resumed = true
	err := syscall.PtraceDetach(c.PID)
	if c.locked {
		runtime.UnlockOSThread()
		c.locked = false
	}
	go func() {
		c.Err = c.Cmd.Wait()
		close(c.Exited)
	}()
	if err != nil {
		return fmt.Errorf("resume pid %d: %w", c.PID, err)
	}
	return nil
}

// Stop ends the command (SIGTERM, then SIGKILL after grace) and waits; a
// command never resumed is killed without running.
func (c *Child) Stop(grace time.Duration) {
	if !c.resumed {
		// Never let it run: kill it while it is still stopped.
		c.Cmd.Process.Kill()
		c.Resume()
		<-c.Exited
		return
	}
	select {
	case <-c.Exited:
		return
	default:
	}
	c.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.Exited:
	case <-time.After(grace):
		c.Cmd.Process.Kill()
		<-c.Exited
	}
}

// perCPUSum reads a per-CPU array slot and sums it over CPUs.
func perCPUSum(m *ebpf.Map, key uint32) (uint64, error) {
	var vals []uint64
	if err := m.Lookup(key, &vals); err != nil {
		return 0, err
	}
	var s uint64
	for _, v := range vals {
		s += v
	}
	return s, nil
}

var errClosed = errors.New("probe closed")
