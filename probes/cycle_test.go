package probes

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/obs-toolkit/obs/internal/testenv"
)

// TestAttachDetachCycles attaches and detaches probes over and over (entry
// sites and RET sites, which the kernel single-steps) on a target calling
// the probed functions in a tight loop and checking their results. The
// target must keep running with nothing on stderr.
func TestAttachDetachCycles(t *testing.T) {
	testenv.RequireRoot(t)
	bin := goFixture(t, "")
	p := startFixture(t, bin, "loop")
	tg, ps := resolveIn(t, p.pid(), "main.work", "main.grow")
	rets, err := tg.returnSites(ps[1])
	if err != nil {
		t.Fatal(err)
	}
	counts, err := newMap("obs_cycle", ebpf.PerCPUArray, 4, 8, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer counts.Close()
	prog, err := countProgram(counts, multiMode())
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	// Each detach waits for an RCU grace period in the kernel (~0.1 s on a
	// busy VM), which bounds how many cycles fit in a test.
	// OBS_PROBE_CYCLES=1000 runs the full thousand (~45 s here).
	cycles := 300
	if testing.Short() {
		cycles = 20
	}
	if n, err := strconv.Atoi(os.Getenv("OBS_PROBE_CYCLES")); err == nil && n > 0 {
		cycles = n
	}
	start := time.Now()
	sites := 0
	for i := 0; i < cycles; i++ {
		var at attacher
		at.add(Uprobe{Path: ps[0].Path, Offset: ps[0].Func.Offset + ps[0].Entry.Off, PID: p.pid(), Cookie: 0}, prog)
		at.add(Uprobe{Path: ps[1].Path, Offset: ps[1].Func.Offset + ps[1].Entry.Off, PID: p.pid(), Cookie: 1}, prog)
		at.add(Uprobe{Path: ps[1].Path, Offset: ps[1].Func.Offset + rets[i%len(rets)].Off, PID: p.pid(), Cookie: 1}, prog)
		sites += 3
		var s session
		if err := at.attach(&s); err != nil {
			t.Fatalf("cycle %d: %v", i, err)
		}
		if i%20 == 0 {
			time.Sleep(2 * time.Millisecond) // let some hits land
		}
		if err := s.Close(); err != nil {
			t.Fatalf("cycle %d: detach: %v", i, err)
		}
		if i%20 == 0 && !alive(p.pid()) {
			t.Fatalf("target died after %d cycles: %s", i, p.errb.String())
		}
	}
	t.Logf("%d attach/detach cycles (%d sites) in %v", cycles, sites, time.Since(start))
	if hits, _ := perCPUSum(counts, 0); hits == 0 {
		t.Errorf("no hits recorded while attached")
	}
	time.Sleep(100 * time.Millisecond)
	if !alive(p.pid()) {
		t.Fatalf("target died: %s", p.errb.String())
	}
	if s := p.errb.String(); strings.TrimSpace(s) != "" {
		t.Fatalf("target wrote to stderr: %s", s)
	}
	p.stdin.Write([]byte("\n"))
	p.finish()
}

// TestRateLimitDetaches runs a count on a target calling the function in a
// tight loop with a low events-per-second limit: Wait must end the run with
// StopRate, and the target keeps running after the detach.
func TestRateLimitDetaches(t *testing.T) {
	testenv.RequireRoot(t)
	bin := goFixture(t, "")
	p := startFixture(t, bin, "loop")
	tg, ps := resolveIn(t, p.pid(), "main.work")
	c, err := Count(tg, ps)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	reason := Wait(context.Background(), WaitOptions{Duration: 60 * time.Second, PID: p.pid(), Hits: c.Total, MaxRate: 1000})
	if reason != StopRate {
		t.Fatalf("stop reason %q, want %q", reason, StopRate)
	}
	n, err := c.Read()
	if err != nil || n[0] < 1000 {
		t.Errorf("counted %v (%v) before the limit hit", n, err)
	}
	c.Close()
	time.Sleep(200 * time.Millisecond)
	if !alive(p.pid()) {
		t.Fatalf("target died: %s", p.errb.String())
	}
	p.stdin.Write([]byte("\n"))
	p.finish()
}
