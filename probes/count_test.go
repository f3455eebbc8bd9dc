package probes

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/obs-toolkit/obs/internal/testenv"
)

// TestCountGoExact counts every call of a Go function, none invented, in a
// plain, a stripped (symbols from .gopclntab only) and a PIE build.
func TestCountGoExact(t *testing.T) {
	testenv.RequireRoot(t)
	for _, tc := range []struct {
		name  string
		flags []string
	}{
		{"plain", nil},
		{"stripped", []string{"-ldflags=-s -w"}},
		{"pie", []string{"-buildmode=pie"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bin := goFixture(t, "", tc.flags...)
			const n = 2500
			p := startFixture(t, bin, "calls", "2500")
			tg, probes := resolveIn(t, p.pid(), "main.work", "main.sleepy", "main.mix")
			if _, err := tg.Resolve("main.pick"); err == nil || !strings.Contains(err.Error(), "inlined") {
				t.Errorf("main.pick (always inlined): %v", err)
			}
			if probes[0].Entry.Cost != "emulated" || !strings.Contains(probes[0].Entry.Inst, "PUSHQ BP") {
				t.Errorf("entry site of main.work = %+v, want the emulated PUSHQ BP", probes[0].Entry)
			}
			got := countUntilDone(t, p, tg, probes)
			if got[0] != n || got[1] != 0 || got[2] != n {
				t.Fatalf("counts = %v, want [%d 0 %d]", got, n, n)
			}
			p.finish()
		})
	}
}

// TestFuncEntryAttach uses the small exported API: FuncEntry, CountProgram
// and AttachUprobe.
func TestFuncEntryAttach(t *testing.T) {
	testenv.RequireRoot(t)
	bin := goFixture(t, "")
	p := startFixture(t, bin, "calls", "123")
	u, err := FuncEntry(bin, "main.work")
	if err != nil {
		t.Fatal(err)
	}
	u.PID = p.pid()
	counts, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer counts.Close()
	prog, err := CountProgram(counts)
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	l, err := AttachUprobe(u, prog)
	if err != nil {
		t.Fatal(err)
	}
	p.goAhead()
	p.expect("done")
	l.Close()
	if n, err := perCPUSum(counts, 0); err != nil || n != 123 {
		t.Errorf("counted %d (%v), want 123", n, err)
	}
	p.finish()
	if _, err := FuncEntry(bin, "main.nosuch"); err == nil {
		t.Error("FuncEntry found main.nosuch")
	}
}

// TestStartStopped starts a command stopped at exec, attaches, and lets it
// run: calls made right at startup are all counted. A command never
// resumed is killed without running.
func TestStartStopped(t *testing.T) {
	testenv.RequireRoot(t)
	bin := goFixture(t, "")
	c, err := StartStopped([]string{bin, "bench", "1000"})
	if err != nil {
		t.Fatal(err)
	}
	tg, err := ProcessTarget(c.PID)
	if err != nil {
		c.Stop(time.Second)
		t.Fatal(err)
	}
	ps, err := tg.ResolveAll([]string{"main.work"})
	if err != nil {
		c.Stop(time.Second)
		t.Fatal(err)
	}
	cnt, err := Count(tg, ps)
	if err != nil {
		c.Stop(time.Second)
		t.Fatal(err)
	}
	defer cnt.Close()
	if err := c.Resume(); err != nil {
		t.Fatal(err)
	}
	if r := Wait(context.Background(), WaitOptions{Exited: c.Exited, Duration: time.Minute}); r != StopExited {
		t.Fatalf("stop reason %q", r)
	}
	if c.Err != nil {
		t.Fatalf("command failed: %v", c.Err)
	}
	got, err := cnt.Read()
	if err != nil || got[0] != 1000 {
		t.Fatalf("counted %v (%v), want 1000", got, err)
	}

	c2, err := StartStopped([]string{bin, "bench", "1000"})
	if err != nil {
		t.Fatal(err)
	}
	c2.Stop(time.Second)
	if c2.Cmd.ProcessState == nil || c2.Cmd.ProcessState.Success() {
		t.Errorf("never-resumed command: %v", c2.Cmd.ProcessState)
	}
}

// TestCountExeAllProcesses counts with --exe semantics: every process
// running the binary, started before or after attaching.
func TestCountExeAllProcesses(t *testing.T) {
	testenv.RequireRoot(t)
	bin := goFixture(t, "")
	tg, err := ExeTarget(bin)
	if err != nil {
		t.Fatal(err)
	}
	before := startFixture(t, bin, "calls", "40")
	ps, err := tg.ResolveAll([]string{"main.work"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := Count(tg, ps)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	after := startFixture(t, bin, "calls", "60")
	before.goAhead()
	after.goAhead()
	before.expect("done")
	after.expect("done")
	got, err := c.Read()
	if err != nil || got[0] != 100 {
		t.Fatalf("counted %v (%v), want 100 over two processes", got, err)
	}
	c.Close()
	before.finish()
	after.finish()
}
