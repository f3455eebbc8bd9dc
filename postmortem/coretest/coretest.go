// Package coretest builds the crasher fixture (testdata/cores/crasher) and
// makes kernel cores of it, for the tests of postmortem and of obs core.
// Builds and cores are made once per test binary in a temporary directory.
package coretest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/obs-toolkit/obs/internal/testenv"
)

var (
	dirOnce     sync.Once
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

// Dir is the directory builds and cores go to; Cleanup removes it.
func Dir() string {
	dirOnce.Do(func() {
		d, err := os.MkdirTemp("", "obs-core-test")
		if err != nil {
			panic(err)
		}
		fixtureDir = d
	})
	return fixtureDir
}

// Cleanup removes everything made; call it from TestMain after m.Run.
func Cleanup() {
	if fixtureDir != "" {
		os.RemoveAll(fixtureDir)
	}
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Crasher builds testdata/cores/crasher with the given toolchain ("" for
// the installed one, else e.g. "go1.25.4" through GOTOOLCHAIN).
func Crasher(t testing.TB, toolchain string) string {
	t.Helper()
	v, _ := fixtureOnce.LoadOrStore(toolchain, &fixtureBuild{})
	b := v.(*fixtureBuild)
	b.once.Do(func() {
		name := "crasher"
		if toolchain != "" {
			name += "-" + toolchain
		}
		b.exe = filepath.Join(Dir(), name)
		// A module of its own, so that an older toolchain can build it.
		src := filepath.Join(Dir(), "src-"+name)
		main, err := os.ReadFile(filepath.Join(repoRoot(), "testdata/cores/crasher/main.go"))
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

// AllowCores raises RLIMIT_CORE so the kernel writes cores of children;
// it skips (or fails in CI) when the host cannot.
func AllowCores(t testing.TB) {
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

// CrashCore runs the fixture in mode and returns the kernel's core and the
// executable. Cores are made once per test binary and shared.
func CrashCore(t testing.TB, toolchain, mode string) (core, exe string) {
	t.Helper()
	exe = Crasher(t, toolchain)
	AllowCores(t)
	coreMu.Lock()
	defer coreMu.Unlock()
	key := toolchain + "/" + mode
	if p, ok := cores[key]; ok {
		return p, exe
	}
	dir, err := os.MkdirTemp(Dir(), "core-"+strings.ReplaceAll(mode, " ", "-"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, strings.Fields(mode)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOTRACEBACK=crash")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	if err == nil {
		t.Fatalf("crasher %s exited 0", mode)
	}
	p := FindCore(dir, cmd.ProcessState.Pid())
	if p == "" {
		testenv.SkipOrFail(t, fmt.Sprintf("crasher %s (%v) left no core in %s", mode, err, dir))
	}
	cores[key] = p
	return p, exe
}

// FindCore returns the core the kernel wrote in dir for pid, or "".
func FindCore(dir string, pid int) string {
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

// CgoCore builds testdata/cores/cgocrash (a NULL dereference in C called
// through cgo) and returns a kernel core of it and the executable. It
// needs a C compiler.
func CgoCore(t testing.TB) (core, exe string) {
	t.Helper()
	testenv.RequireTool(t, "gcc")
	AllowCores(t)
	coreMu.Lock()
	defer coreMu.Unlock()
	if p, ok := cores["cgo"]; ok {
		return p, filepath.Join(Dir(), "cgocrash")
	}
	exe = filepath.Join(Dir(), "cgocrash")
	if err := testenv.BuildGo(filepath.Join(repoRoot(), "testdata/cores/cgocrash"), exe, "", []string{"CGO_ENABLED=1"}); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp(Dir(), "core-cgo")
	if err != nil {
		t.Fatal(err)
	}
	run := exec.Command(exe)
	run.Dir = dir
	run.Env = append(os.Environ(), "GOTRACEBACK=crash")
	if err := run.Run(); err == nil {
		t.Fatal("cgocrash exited 0")
	}
	p := FindCore(dir, run.ProcessState.Pid())
	if p == "" {
		testenv.SkipOrFail(t, "cgocrash left no core")
	}
	cores["cgo"] = p
	return p, exe
}
