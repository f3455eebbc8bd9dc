package probes

import (
	"io"
	"os"
	"path/filepath"
	"testing"

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
	tg, err := ProcessTarget(p.pid())
	if err != nil {
		t.Fatal(err)
	}
	ps, err := tg.ResolveAll([]string{"usdt:python:gc__start", "usdt:python:gc__done", "usdt:python:audit"})
	if err != nil {
		t.Fatal(err)
	}
	if ps[0].USDT[0].SemOff == 0 {
		t.Fatalf("gc__start has no semaphore: %+v", ps[0].USDT[0])
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
	if got[0] != 37 || got[1] != 37 {
		t.Errorf("gc__start %d, gc__done %d; want 37 each", got[0], got[1])
	}
	c.Close()
	p.finish()
}
