package postmortem

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/obs-toolkit/obs/internal/testenv"
	"github.com/obs-toolkit/obs/postmortem/coretest"
)

// toolchains are the Go versions the fixture is built with: the installed
// one, and Go 1.25 through GOTOOLCHAIN when the module proxy provides it.
func toolchains(t *testing.T) []string {
	if testing.Short() {
		return []string{""}
	}
	return []string{"", "go1.25.4"}
}

func tcName(tc string) string {
	if tc == "" {
		return runtime.Version()
	}
	return tc
}

func frameNamed(fr []Frame, fn string) *Frame {
	for i := range fr {
		if fr[i].Func == fn {
			return &fr[i]
		}
	}
	return nil
}

func TestInfoPanic(t *testing.T) {
	for _, tc := range toolchains(t) {
		t.Run(tcName(tc), func(t *testing.T) {
			c := openCore(t, tc, "panic")
			in, err := c.Info()
			if err != nil {
				t.Fatal(err)
			}
			if in.Signal == nil || in.Signal.Name != "SIGABRT" {
				t.Fatalf("signal %+v", in.Signal)
			}
			if in.Panic == nil || in.Panic.Kind != "panic" || in.Panic.Message != "explode on purpose: fixture error code 42" {
				t.Fatalf("panic %+v", in.Panic)
			}
			if in.Panic.Type != "*fmt.wrapError" {
				t.Errorf("panic value type %q (value %s)", in.Panic.Type, in.Panic.Value)
			}
			if in.Crashing == nil || in.Crashing.ID != 1 {
				t.Fatalf("crashing goroutine %+v", in.Crashing)
			}
			f := frameNamed(in.Crashing.Frames, "main.explode")
			if f == nil {
				t.Fatalf("no main.explode in %v", in.Crashing.Frames)
			}
			args := map[string]string{}
			for _, a := range f.Args {
				args[a.Name] = a.Value
			}
			if args["reason"] != `"on purpose"` || args["code"] != "42" {
				t.Errorf("explode args %v", args)
			}
			if in.Crashing.Frames[0].Func != "runtime.gopanic" {
				t.Errorf("stack starts at %s, want runtime.gopanic", in.Crashing.Frames[0].Func)
			}
			want := tcName(tc)
			if in.GoVersion != want {
				t.Errorf("go version %q, want %q", in.GoVersion, want)
			}
			if in.Build == nil || in.Build.Module != "crasher" || in.Build.Settings["CGO_ENABLED"] != "0" {
				t.Errorf("build %+v", in.Build)
			}
			if len(in.Threads) < 2 || in.Memory.Mappings == 0 || in.Memory.Resident == 0 || in.Memory.Resident > in.Memory.Dumped {
				t.Errorf("threads %d memory %+v", len(in.Threads), in.Memory)
			}
			if in.Heap == nil || in.Heap.InUse == 0 {
				t.Errorf("heap %+v", in.Heap)
			}
		})
	}
}

func TestInfoNilDeref(t *testing.T) {
	c := openCore(t, "", "nil")
	in, err := c.Info()
	if err != nil {
		t.Fatal(err)
	}
	if in.Panic == nil || in.Panic.Message != "runtime error: invalid memory address or nil pointer dereference" {
		t.Fatalf("panic %+v", in.Panic)
	}
	if in.GoSignal == nil || in.GoSignal.Name != "SIGSEGV" || in.GoSignal.Addr != 0 || in.GoSignal.PC == 0 {
		t.Fatalf("go signal %+v", in.GoSignal)
	}
	if in.Crashing == nil || frameNamed(in.Crashing.Frames, "main.deref") == nil || in.Crashing.ID == 1 {
		t.Fatalf("crashing %+v", in.Crashing)
	}
	if in.Crashing.CreatedBy == nil || in.Crashing.CreatedBy.Func != "main.main" {
		t.Errorf("created by %+v", in.Crashing.CreatedBy)
	}
}

func TestInfoDeadlock(t *testing.T) {
	c := openCore(t, "", "deadlock")
	in, err := c.Info()
	if err != nil {
		t.Fatal(err)
	}
	if in.Panic == nil || in.Panic.Kind != "fatal error" || in.Panic.Message != "all goroutines are asleep - deadlock!" {
		t.Fatalf("panic %+v", in.Panic)
	}
}

func TestGoroutineBuckets(t *testing.T) {
	for _, tc := range toolchains(t) {
		t.Run(tcName(tc), func(t *testing.T) {
			c := openCore(t, tc, "leak")
			gs, err := c.Goroutines(GoroutineOptions{})
			if err != nil {
				t.Fatal(err)
			}
			bs := BucketGoroutines(gs)
			type want struct {
				top, reason string
				n           int
			}
			for _, w := range []want{{"main.waitShared", "chan receive", 17}, {"main.leakOne", "chan receive", 5},
				{"main.leakSelect", "select", 3}, {"time.Sleep", "sleep", 1}} {
				found := false
				for _, b := range bs {
					if b.Top().Func == w.top {
						found = true
						if b.Count != w.n || b.WaitReason != w.reason || b.Status != "waiting" {
							t.Errorf("%s: %d %s %s, want %d waiting %s", w.top, b.Count, b.Status, b.WaitReason, w.n, w.reason)
						}
						if b.CreatedBy == nil || b.CreatedBy.Func != "main.park" {
							t.Errorf("%s created by %+v", w.top, b.CreatedBy)
						}
						// Two GCs ran while they waited: the wait is known.
						if b.LongestWait <= 0 || b.LongestWait > time.Minute {
							t.Errorf("%s longest wait %v", w.top, b.LongestWait)
						}
					}
				}
				if !found {
					t.Errorf("no bucket for %s", w.top)
				}
			}
			if bs[0].Count != 17 || bs[0].Labels["pool"] != "shared" {
				t.Errorf("biggest bucket %d labels %v, want 17 with pool=shared", bs[0].Count, bs[0].Labels)
			}
			if n := len(Filter(gs, "main.leak", "")); n != 8 {
				t.Errorf("filter main.leak: %d, want 8", n)
			}
			if n := len(Filter(gs, "", "select")); n != 3 {
				t.Errorf("filter select: %d, want 3", n)
			}
		})
	}
}

// A core of a C program: no Go analysis, but signal, threads and
// mappings are reported.
func TestNonGoCore(t *testing.T) {
	sleep := testenv.RequireTool(t, "sleep")
	allowCores(t)
	dir := t.TempDir()
	cmd := exec.Command(sleep, "60")
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGSEGV)
	cmd.Wait()
	p := findCore(dir, cmd.Process.Pid)
	if p == "" {
		testenv.SkipOrFail(t, "sleep left no core")
	}
	c, in := openInfo(t, p, "")
	if in.Signal == nil || in.Signal.Name != "SIGSEGV" || in.Signal.Sender != os.Getpid() {
		t.Fatalf("signal %+v", in.Signal)
	}
	libc := false
	for _, m := range in.Mappings {
		libc = libc || strings.Contains(m.File, "libc")
	}
	if len(in.Threads) != 1 || in.Memory.Mappings == 0 || in.Memory.Files == 0 || !libc {
		t.Fatalf("threads %v memory %+v", in.Threads, in.Memory)
	}
	if !strings.Contains(in.GoError, "not a Go program") {
		t.Fatalf("go error %q", in.GoError)
	}
	if _, err := c.Goroutines(GoroutineOptions{}); err == nil {
		t.Fatal("goroutines of a C core")
	}
}

// Cut and damaged cores give one-line errors naming what is missing.
func TestDamagedCores(t *testing.T) {
	p, exe := crashCore(t, "", "panic")
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		q := filepath.Join(dir, name)
		if err := os.WriteFile(q, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return q
	}
	if _, err := Open(write("tiny", data[:40]), Options{Exe: exe}); err == nil || !strings.Contains(err.Error(), "not an ELF core") {
		t.Errorf("tiny: %v", err)
	}
	if _, err := Open(write("exe", mustRead(t, exe)[:4096]), Options{Exe: exe}); err == nil || !strings.Contains(err.Error(), "not a core") {
		t.Errorf("exe as core: %v", err)
	}
	// Keep the headers and notes, lose the memory.
	c, err := Open(write("cut", data[:64<<10]), Options{Exe: exe})
	if err != nil {
		t.Fatalf("cut: %v", err)
	}
	defer c.Close()
	if len(c.Warnings) == 0 || !strings.Contains(strings.Join(c.Warnings, ";"), "truncated") {
		t.Errorf("cut core warnings %v", c.Warnings)
	}
	in, err := c.Info()
	if err != nil {
		t.Fatal(err)
	}
	if in.Signal == nil || in.Signal.Name != "SIGABRT" {
		t.Errorf("cut core signal %+v", in.Signal)
	}
	_, gerr := c.Goroutines(GoroutineOptions{})
	if gerr == nil {
		t.Fatal("goroutines from a core without memory")
	}
	if strings.Contains(gerr.Error(), "\n") {
		t.Errorf("multi-line error %q", gerr)
	}
	t.Logf("cut core: %v", gerr)
	// The wrong executable: refused with a reason, not read as garbage.
	other, err := Open(p, Options{Exe: crasher(t, "go1.25.4")})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if other.GoErr == nil || !strings.Contains(other.GoErr.Error(), "does not match the core") {
		t.Errorf("wrong exe: %v", other.GoErr)
	}
}

func mustRead(t *testing.T, p string) []byte {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A NULL dereference in C called through cgo: the runtime's handler
// aborts; info names the fault and where it happened.
func TestInfoCgoCrash(t *testing.T) {
	p, exe := coretest.CgoCore(t)
	_, in := openInfo(t, p, exe)
	if in.GoSignal == nil || in.GoSignal.Name != "SIGSEGV" || in.GoSignal.Addr != 0 || !in.GoSignal.HasAddr {
		t.Fatalf("fault %+v", in.GoSignal)
	}
	if in.Panic == nil || in.Panic.Kind != "fatal signal" || !strings.Contains(in.Panic.Message, "in C code called through cgo") {
		t.Fatalf("panic %+v", in.Panic)
	}
	if in.Crashing == nil || !strings.Contains(in.Crashing.Frames[0].Func, "crash_in_c") || frameNamed(in.Crashing.Frames, "main.callC") == nil {
		t.Fatalf("crashing stack %+v", in.Crashing)
	}
}
