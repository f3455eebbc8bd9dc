package postmortem

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/obs-toolkit/obs/internal/testenv"
)

// The fixture programs are built once per test binary into fixtureDir.
var (
	fixtureDir  string
	fixtureOnce sync.Map // toolchain -> *fixtureBuild
	coreMu      sync.Mutex
	cores       = map[string]string{} // toolchain+mode -> core path
)

type fixtureBuild struct {
	once sync.Once
	exe  string
	err  error
}

func TestMain(m *testing.M) {
	d, err := os.MkdirTemp("", "obs-core-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fixtureDir = d
	code := m.Run()
	os.RemoveAll(d)
	os.Exit(code)
}

// crasher builds testdata/cores/crasher with the given toolchain ("" for
// the installed one, else e.g. "go1.25.4" through GOTOOLCHAIN).
func crasher(t testing.TB, toolchain string) string {
	t.Helper()
	v, _ := fixtureOnce.LoadOrStore(toolchain, &fixtureBuild{})
	b := v.(*fixtureBuild)
	b.once.Do(func() {
		name := "crasher"
		if toolchain != "" {
			name += "-" + toolchain
		}
		b.exe = filepath.Join(fixtureDir, name)
		// A module of its own, so that an older toolchain can build it.
		src := filepath.Join(fixtureDir, "src-"+name)
		main, err := os.ReadFile("../testdata/cores/crasher/main.go")
		if err == nil {
			err = os.MkdirAll(src, 0o755)
		}
		if err == nil {
			err = os.WriteFile(filepath.Join(src, "main.go"), main, 0o644)
		}
		if err == nil {
			err = os.WriteFile(filepath.Join(src, "go.mod"), []byte("module crasher\n\ngo 1.25.0\n"), 0o644)
		}
		if err != nil {
			b.err = err
			return
		}
		cmd := exec.Command("go", "build", "-o", b.exe, ".")
		cmd.Dir = src
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=")
		if toolchain != "" {
			cmd.Env = append(cmd.Env, "GOTOOLCHAIN="+toolchain)
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("build crasher (%s): %v\n%s", toolchain, err, out)
		}
	})
	if b.err != nil {
		if toolchain != "" {
			testenv.SkipOrFail(t, b.err.Error())
		}
		t.Fatal(b.err)
	}
	return b.exe
}

// allowCores raises RLIMIT_CORE so the kernel writes cores of children;
// it skips (or fails in CI) when the host cannot.
func allowCores(t testing.TB) {
	t.Helper()
	lim := syscall.Rlimit{Cur: ^uint64(0), Max: ^uint64(0)}
	if err := syscall.Setrlimit(syscall.RLIMIT_CORE, &lim); err != nil {
		var cur syscall.Rlimit
		syscall.Getrlimit(syscall.RLIMIT_CORE, &cur)
		lim = syscall.Rlimit{Cur: cur.Max, Max: cur.Max}
		if cur.Max < 1<<30 || syscall.Setrlimit(syscall.RLIMIT_CORE, &lim) != nil {
			testenv.SkipOrFail(t, "cannot raise RLIMIT_CORE (hard limit too low): kernel cores unavailable")
		}
	}
	pat, _ := os.ReadFile("/proc/sys/kernel/core_pattern")
	if p := strings.TrimSpace(string(pat)); strings.HasPrefix(p, "|") || strings.Contains(p, "/") {
		testenv.SkipOrFail(t, fmt.Sprintf("core_pattern is %q: the tests need cores written to the crashing process's directory (core_pattern core)", p))
	}
}

// crashCore runs the fixture in mode and returns the kernel's core and the
// executable. Cores are made once per test binary and shared.
func crashCore(t testing.TB, toolchain, mode string) (core, exe string) {
	t.Helper()
	exe = crasher(t, toolchain)
	allowCores(t)
	coreMu.Lock()
	defer coreMu.Unlock()
	key := toolchain + "/" + mode
	if p, ok := cores[key]; ok {
		return p, exe
	}
	dir, err := os.MkdirTemp(fixtureDir, "core-"+mode)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, mode)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOTRACEBACK=crash")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	if err == nil {
		t.Fatalf("crasher %s exited 0", mode)
	}
	p := findCore(dir, cmd.ProcessState.Pid())
	if p == "" {
		testenv.SkipOrFail(t, fmt.Sprintf("crasher %s (%v) left no core in %s", mode, err, dir))
	}
	cores[key] = p
	return p, exe
}

func findCore(dir string, pid int) string {
	for _, name := range []string{"core", fmt.Sprintf("core.%d", pid)} {
		p := filepath.Join(dir, name)
		// The kernel may still be writing: wait until the size settles.
		var last int64 = -1
		for i := 0; i < 100; i++ {
			st, err := os.Stat(p)
			if err != nil {
				break
			}
			if st.Size() == last && st.Size() > 0 {
				return p
			}
			last = st.Size()
			time.Sleep(20 * time.Millisecond)
		}
	}
	return ""
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
