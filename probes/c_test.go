package probes

import (
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/obs-toolkit/obs/internal/testenv"
)

func cFixture(t *testing.T) string {
	t.Helper()
	gcc := testenv.RequireTool(t, "gcc")
	out := filepath.Join(t.TempDir(), "cfixture")
	if b, err := exec.Command(gcc, "-O2", "-g", "-o", out, "testdata/cfixture/cfixture.c").CombinedOutput(); err != nil {
		t.Fatalf("build C fixture: %v\n%s", err, b)
	}
	return out
}

func TestCountCAndLibc(t *testing.T) {
	testenv.RequireRoot(t)
	bin := cFixture(t)
	const n = 777
	p := startFixture(t, bin, "777")
	tg, err := ProcessTarget(p.pid())
	if err != nil {
		t.Fatal(err)
	}
	ps, err := tg.ResolveAll([]string{"cwork", "lib:libc.so.6:malloc", "lib:libc:free"})
	if err != nil {
		t.Fatal(err)
	}
	if ps[1].Lib != "libc.so.6" {
		t.Errorf("malloc resolved in %q", ps[1].Lib)
	}
	c, err := Count(tg, ps)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p.goAhead()
	p.expect("done")
	got, err := c.Read()
	if err != nil {
		t.Fatal(err)
	}
	if got[0] != n {
		t.Errorf("cwork counted %d, want %d", got[0], n)
	}
	// malloc/free: every cwork call makes one; stdio may add a few.
	if got[1] < n || got[1] > n+20 || got[2] < n || got[2] > n+20 {
		t.Errorf("malloc %d, free %d; want %d (+ a few from stdio)", got[1], got[2], n)
	}
	c.Close()
	p.finish()
}

func TestLatencyC(t *testing.T) {
	testenv.RequireRoot(t)
	bin := cFixture(t)
	p := startFixture(t, bin, "10")
	tg, err := ProcessTarget(p.pid())
	if err != nil {
		t.Fatal(err)
	}
	ps, err := tg.ResolveAll([]string{"cslow", "cwork"})
	if err != nil {
		t.Fatal(err)
	}
	l, err := MeasureLatency(tg, ps)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	p.goAhead()
	p.expect("done")
	hs, err := l.Read()
	if err != nil {
		t.Fatal(err)
	}
	if hs[0].Count != 1 || hs[0].MaxNs < 5e6 {
		t.Errorf("cslow: %+v, want one call of at least 5ms", hs[0])
	}
	if hs[1].Count != 10 {
		t.Errorf("cwork timed %d calls, want 10", hs[1].Count)
	}
	l.Close()
	p.finish()
}
