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
	tg, ps := resolveIn(t, p.pid(), "cwork", "lib:libc.so.6:malloc", "lib:libc:free")
	if ps[1].Lib != "libc.so.6" {
		t.Errorf("malloc resolved in %q", ps[1].Lib)
	}
	got := countUntilDone(t, p, tg, ps)
	if got[0] != n {
		t.Errorf("cwork counted %d, want %d", got[0], n)
	}
	// malloc/free: every cwork call makes one; stdio may add a few.
	if got[1] < n || got[1] > n+20 || got[2] < n || got[2] > n+20 {
		t.Errorf("malloc %d, free %d; want %d (+ a few from stdio)", got[1], got[2], n)
	}
	p.finish()
}

func TestLatencyC(t *testing.T) {
	testenv.RequireRoot(t)
	bin := cFixture(t)
	p := startFixture(t, bin, "10")
	tg, ps := resolveIn(t, p.pid(), "cslow", "cwork")
	hs := timeUntilDone(t, p, tg, ps)
	if hs[0].Count != 1 || hs[0].MaxNs < 5e6 {
		t.Errorf("cslow: %+v, want one call of at least 5ms", hs[0])
	}
	if hs[1].Count != 10 {
		t.Errorf("cwork timed %d calls, want 10", hs[1].Count)
	}
	p.finish()
}
