package postmortem

import (
	"os"
	"testing"

	"github.com/obs-toolkit/obs/postmortem/coretest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	coretest.Cleanup()
	os.Exit(code)
}

func crasher(t testing.TB, toolchain string) string { return coretest.Crasher(t, toolchain) }
func allowCores(t testing.TB)                       { coretest.AllowCores(t) }
func findCore(dir string, pid int) string           { return coretest.FindCore(dir, pid) }
func crashCore(t testing.TB, toolchain, mode string) (string, string) {
	return coretest.CrashCore(t, toolchain, mode)
}

func openCore(t testing.TB, toolchain, mode string) *Core {
	t.Helper()
	p, exe := crashCore(t, toolchain, mode)
	c, err := Open(p, Options{Exe: exe})
	if err != nil {
		t.Fatal(err)
	}
	if c.GoErr != nil {
		t.Fatal(c.GoErr)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// openInfo opens the core at path (exe "" for the one its NT_FILE note
// names) and reads its Info; the core is closed when the test ends.
func openInfo(t testing.TB, path, exe string) (*Core, *Info) {
	t.Helper()
	c, err := Open(path, Options{Exe: exe})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	in, err := c.Info()
	if err != nil {
		t.Fatal(err)
	}
	return c, in
}
