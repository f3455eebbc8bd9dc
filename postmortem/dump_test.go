package postmortem

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/obs-toolkit/obs/internal/testenv"
)

// startHold runs the fixture in hold mode and waits for it to be ready.
func startHold(t *testing.T, exe string) *exec.Cmd { return startMode(t, exe, "hold") }

func startMode(t *testing.T, exe, mode string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(exe, mode)
	// Killed with the test binary even if it dies without cleaning up.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if sc.Text() == "ready" {
				ready <- nil
				return
			}
		}
		ready <- errors.New("fixture exited before ready")
	}()
	select {
	case err := <-ready:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("fixture not ready after 60s")
	}
	return cmd
}

func procState(pid int) string {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "gone"
	}
	f := statFields(st)
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}

func TestDumpLive(t *testing.T) {
	for _, tc := range toolchains(t) {
		t.Run(tcName(tc), func(t *testing.T) { dumpLive(t, tc) })
	}
}

func dumpLive(t *testing.T, tc string) {
	exe := crasher(t, tc)
	cmd := startHold(t, exe)
	pid := cmd.Process.Pid
	path := filepath.Join(t.TempDir(), "live.core")
	res, err := Dump(pid, path)
	if errors.Is(err, unix.EPERM) {
		testenv.SkipOrFail(t, "ptrace not permitted: "+err.Error())
	}
	if err != nil {
		t.Fatal(err)
	}
	if res.Threads < 2 || res.Stopped <= 0 || res.Copied == 0 || res.Skipped == 0 {
		t.Errorf("result %+v", res)
	}
	// A Go process reserves far more than it touches: the core must be a
	// small fraction of the address space.
	if uint64(res.Bytes) > res.Mapped/4 {
		t.Errorf("core of %d bytes for %d mapped: reservations not skipped", res.Bytes, res.Mapped)
	}
	// The process runs on: not left in a tracing stop, and alive.
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := procState(pid)
		if s == "S" || s == "R" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("process state %q after the dump", s)
		}
		time.Sleep(10 * time.Millisecond)
	}
	c, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.GoErr != nil {
		t.Fatal(c.GoErr)
	}
	if c.ExePath != exe {
		t.Errorf("exe from NT_FILE %q, want %q", c.ExePath, exe)
	}
	gs, err := c.Goroutines(GoroutineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, b := range BucketGoroutines(gs) {
		counts[b.Top().Func] += b.Count
	}
	for fn, n := range map[string]int{"main.waitShared": 17, "main.leakOne": 5, "main.leakSelect": 3, "main.lockGuarded": 2, "main.waitBox": 2} {
		if counts[fn] != n {
			t.Errorf("%s: %d goroutines, want %d", fn, counts[fn], n)
		}
	}
	in, err := c.Info()
	if err != nil {
		t.Fatal(err)
	}
	if in.PID != pid || !strings.Contains(in.Command, "hold") || len(in.Threads) != res.Threads || in.Signal != nil {
		t.Errorf("info pid %d command %q threads %d signal %+v", in.PID, in.Command, len(in.Threads), in.Signal)
	}
	rep, err := c.Leaks(LeakOptions{})
	if err != nil {
		t.Fatal(err)
	}
	certain := map[string]int{}
	for _, s := range rep.Certain {
		certain[s.Top.Func] += s.Count
	}
	if certain["main.leakOne"] != 5 || certain["main.leakSelect"] != 3 || certain["main.lockGuarded"] != 2 ||
		certain["main.waitBox"] != 2 || rep.Leaked != 12 {
		t.Errorf("certain leaks in the live dump: %v", certain)
	}
	// Dumping twice works: everything was detached.
	if _, err := Dump(pid, path+".2"); err != nil {
		t.Fatalf("second dump: %v", err)
	}
}

func TestDumpErrors(t *testing.T) {
	if _, err := Dump(1<<22+12345, filepath.Join(t.TempDir(), "x")); err == nil || !strings.Contains(err.Error(), "process") {
		t.Fatalf("dump of a missing process: %v", err)
	}
}

// A live dump with random damage in its memory: every analysis returns
// (an error is fine), none panics or hangs.
func TestDamagedMemoryNoPanic(t *testing.T) {
	exe := crasher(t, "")
	cmd := startHold(t, exe)
	path := filepath.Join(t.TempDir(), "live.core")
	if _, err := Dump(cmd.Process.Pid, path); err != nil {
		if errors.Is(err, unix.EPERM) {
			testenv.SkipOrFail(t, "ptrace not permitted: "+err.Error())
		}
		t.Fatal(err)
	}
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rng := uint64(12345)
	next := func() uint64 { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng }
	for i := 0; i < 12; i++ {
		b := append([]byte(nil), orig...)
		// Leave the headers and notes; damage the memory.
		for k := 0; k < 20+1000*(i%3); k++ {
			off := 4096 + int(next()%uint64(len(b)-4096))
			b[off] = byte(next())
		}
		p := filepath.Join(t.TempDir(), fmt.Sprintf("damaged-%d.core", i))
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Open(p, Options{Exe: exe})
		if err != nil {
			continue
		}
		c.Info()
		c.Leaks(LeakOptions{})
		c.HeapProfile()
		c.Census()
		c.Summarize()
		c.Close()
	}
}

func FuzzParseMaps(f *testing.F) {
	f.Add([]byte("00400000-00452000 r-xp 00000000 08:02 173521      /usr/bin/dbus-daemon\n" +
		"c000000000-c000400000 rw-p 00000000 00:00 0 \n7ffd1c3e1000-7ffd1c402000 rw-p 00000000 00:00 0                          [stack]\n"))
	f.Add([]byte("1-0 rwxp 0 0:0 0\nzz-yy r 1 2 3 a b c\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ms, _ := parseMaps(bytes.NewReader(data))
		for _, m := range ms {
			if m.end <= m.start || len(m.perms) < 4 {
				t.Fatalf("bad mapping %+v", m)
			}
		}
	})
}

// A healthy service (workers on a channel, main waiting for SIGTERM) has
// no leaks and no suspects; its main goroutine is an expected wait.
func TestLeaksHealthyService(t *testing.T) {
	exe := crasher(t, "")
	cmd := startMode(t, exe, "serve")
	// "ready" comes just before main blocks: dump until it has.
	var rep *LeakReport
	for deadline := time.Now().Add(30 * time.Second); ; {
		path := filepath.Join(t.TempDir(), "serve.core")
		if _, err := Dump(cmd.Process.Pid, path); err != nil {
			if errors.Is(err, unix.EPERM) {
				testenv.SkipOrFail(t, "ptrace not permitted: "+err.Error())
			}
			t.Fatal(err)
		}
		c, err := Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		rep, err = c.Leaks(LeakOptions{})
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
		if rep.Blocked == 4 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, s := range append(rep.Certain, rep.Suspects...) {
		t.Errorf("reported in a healthy service: %s", s.Why)
	}
	if rep.Blocked != 4 { // main and the three workers
		t.Errorf("%d goroutines blocked on channels, want 4", rep.Blocked)
	}
	main := false
	for _, s := range rep.Expected {
		main = main || (len(s.IDs) == 1 && s.IDs[0] == 1)
	}
	if !main {
		t.Errorf("main goroutine not listed as an expected wait: %+v", rep.Expected)
	}
}
