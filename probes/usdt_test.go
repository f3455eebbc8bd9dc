package probes

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/obs-toolkit/obs/internal/testenv"
)

// pythonCopy copies Debian's python3.11 so this test's semaphore probes sit
// on their own inode: the kernel refuses a uprobe whose semaphore setting
// differs from another tracer's at the same file and offset.
func pythonCopy(t *testing.T) string {
	t.Helper()
	const src = "/usr/bin/python3.11"
	if _, err := os.Stat(src); err != nil {
		testenv.SkipOrFail(t, src+" not installed (.ci/run installs python3.11)")
	}
	dst := filepath.Join(t.TempDir(), "python3.11")
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return dst
}

const gcScript = `
import gc, sys
gc.disable()
print("ready", flush=True)
sys.stdin.readline()
for i in range(37):
    gc.collect()
print("done", flush=True)
sys.stdin.read()
`

func TestUSDTPythonGC(t *testing.T) {
	testenv.RequireRoot(t)
	py := pythonCopy(t)
	p := startFixture(t, py, "-c", gcScript)
	tg, ps := resolveIn(t, p.pid(), "usdt:python:gc__start", "usdt:python:gc__done", "usdt:python:audit")
	if ps[0].USDT[0].SemOff == 0 {
		t.Fatalf("gc__start has no semaphore: %+v", ps[0].USDT[0])
	}
	got := countUntilDone(t, p, tg, ps)
	if got[0] != 37 || got[1] != 37 {
		t.Errorf("gc__start %d, gc__done %d; want 37 each", got[0], got[1])
	}
	p.finish()
}

// TestUSDTArgsC traces a C fixture's hand-written SDT probe in a PIE binary:
// register arguments of two sizes, a rip-relative global, a constant, and
// the semaphore that gates the probe.
func TestUSDTArgsC(t *testing.T) {
	testenv.RequireRoot(t)
	gcc := testenv.RequireTool(t, "gcc")
	bin := filepath.Join(t.TempDir(), "usdtfixture")
	if b, err := exec.Command(gcc, "-O2", "-fPIE", "-pie", "-o", bin, "testdata/usdtfixture/usdtfixture.c").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, b)
	}
	p := startFixture(t, bin, "5")
	tg, ps := resolveIn(t, p.pid(), "usdt:fixture:tick")
	tr, err := Trace(tg, ps, TraceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	p.goAhead()
	evs := collect(t, tr, 5)
	if done := p.expect("done"); done != "done 5" {
		t.Fatalf("fixture says %q: the semaphore was not raised", done)
	}
	for i, ev := range evs {
		want := fmt.Sprintf("arg0=%d arg1=%d arg2=4242 arg3=7", -i, 1000000000000+i)
		if got := argString(ev); got != want {
			t.Errorf("event %d: %s, want %s", i, got, want)
		}
	}
	tr.Close()
	p.finish()
}

// TestUSDTSemaphoreOff checks the probe does not fire (and the fixture sees
// a zero semaphore) when nothing is attached.
func TestUSDTSemaphoreOff(t *testing.T) {
	gcc := testenv.RequireTool(t, "gcc")
	bin := filepath.Join(t.TempDir(), "usdtfixture")
	if b, err := exec.Command(gcc, "-O2", "-o", bin, "testdata/usdtfixture/usdtfixture.c").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, b)
	}
	p := startFixture(t, bin, "5")
	p.goAhead()
	if done := p.expect("done"); done != "done 0" {
		t.Fatalf("fixture says %q without a probe attached", done)
	}
	p.finish()
}

const auditScript = `
import sys
print("ready", flush=True)
sys.stdin.readline()
for i in range(25):
    sys.audit("obs.test", i)
    sys.audit("obs.other", i)
print("done", flush=True)
sys.stdin.read()
`

// TestUSDTPythonAuditStrings copies python:audit's event name (a char *)
// in the probe and filters on it: exactly the 25 "obs.test" events.
func TestUSDTPythonAuditStrings(t *testing.T) {
	testenv.RequireRoot(t)
	py := pythonCopy(t)
	p := startFixture(t, py, "-c", auditScript)
	tg, ps := resolveIn(t, p.pid(), "usdt:python:audit")
	tr, err := Trace(tg, ps, TraceOptions{Strings: []string{"arg0"}})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	flt, err := CompileFilter(`arg0 == "obs.test"`)
	if err != nil {
		t.Fatal(err)
	}
	var matched atomic.Int64
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		for {
			ev, err := tr.Next()
			if err != nil {
				return
			}
			if flt.Match(ps[0].Name, ev) {
				matched.Add(1)
			}
		}
	}()
	p.goAhead()
	p.expect("done")
	// Wait for the ring buffer to drain, then a little more for extras.
	deadline := time.Now().Add(30 * time.Second)
	for matched.Load() < 25 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	tr.Close()
	<-readerDone
	if n := matched.Load(); n != 25 {
		t.Errorf("%d obs.test audit events, want 25 (seen %d, lost %d)", n, tr.Seen(), tr.Lost())
	}
	p.finish()
}

// TestUSDTPairLatency times python's gc__start..gc__done per thread:
// exactly one pair per gc.collect().
func TestUSDTPairLatency(t *testing.T) {
	testenv.RequireRoot(t)
	py := pythonCopy(t)
	p := startFixture(t, py, "-c", gcScript)
	tg, ps := resolveIn(t, p.pid(), "usdt:python:gc__start..gc__done")
	if _, err := Count(tg, ps); err == nil {
		t.Error("count accepted a USDT pair")
	}
	hs := timeUntilDone(t, p, tg, ps)
	if hs[0].Count != 37 || hs[0].MaxNs == 0 {
		t.Errorf("%d pairs (max %d ns), want 37", hs[0].Count, hs[0].MaxNs)
	}
	p.finish()
}
