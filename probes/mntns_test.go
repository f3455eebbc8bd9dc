package probes

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/obs-toolkit/obs/internal/testenv"
)

// TestOtherMountNamespace probes a process whose executable exists only in
// its own mount namespace (a private tmpfs): obs must find it through
// /proc/PID/root and count exactly.
func TestOtherMountNamespace(t *testing.T) {
	testenv.RequireRoot(t)
	unshare := testenv.RequireTool(t, "unshare")
	bin := goFixture(t, "")
	dir := t.TempDir()
	hidden := filepath.Join(dir, "ns")
	if err := os.Mkdir(hidden, 0o755); err != nil {
		t.Fatal(err)
	}
	script := `mount -t tmpfs none "$1" && cp "$2" "$1/fixture" && exec "$1/fixture" calls 77`
	p := startFixture(t, unshare, "-m", "--propagation", "private", "sh", "-c", script, "sh", hidden, bin)
	if _, err := os.Stat(filepath.Join(hidden, "fixture")); err == nil {
		t.Fatal("the fixture's tmpfs is visible from the test's namespace; the test proves nothing")
	}
	tg, err := ProcessTarget(p.pid())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(tg.Exe, "/root/") {
		t.Errorf("executable path %q does not go through /proc/PID/root", tg.Exe)
	}
	ps, err := tg.ResolveAll([]string{"main.work"})
	if err != nil {
		t.Fatal(err)
	}
	got := countUntilDone(t, p, tg, ps)
	if got[0] != 77 {
		t.Errorf("counted %d, want 77", got[0])
	}
	p.finish()
}
