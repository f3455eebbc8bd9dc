package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/obs-toolkit/obs/examples/demotest"
	"github.com/obs-toolkit/obs/internal/output"
	"github.com/obs-toolkit/obs/internal/testenv"
	"github.com/obs-toolkit/obs/repl"
)

// startAgent runs an agent named name in this test process, in a fresh
// XDG_RUNTIME_DIR; it is closed when the test ends.
func startAgent(t *testing.T, name string) *repl.Agent {
	t.Helper()
	xdg, err := os.MkdirTemp("", "obsc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(xdg) })
	t.Setenv("XDG_RUNTIME_DIR", xdg)
	a, err := repl.Start(repl.Config{Name: name, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// startTestAgent starts the agent "clitest", with a value and a failing
// command, and returns the pid to give obs repl.
func startTestAgent(t *testing.T) string {
	t.Helper()
	a := startAgent(t, "clitest")
	a.Expose("stats", map[string]int{"hits": 3})
	a.Command("fail", "always fails", func(context.Context, []string, io.Writer) error {
		return os.ErrPermission
	})
	return strconv.Itoa(os.Getpid())
}

func TestReplExec(t *testing.T) {
	pid := startTestAgent(t)
	code, out, errs := runObs(t, "repl", pid, "-e", "uptime", "-e", "get stats")
	if code != 0 || !strings.HasPrefix(out, "clitest pid "+pid) || !strings.Contains(out, `"hits": 3`) || errs != "" {
		t.Fatalf("exit %d\nout %s\nerr %s", code, out, errs)
	}
	// -p works like the argument; by name too.
	if code, out, _ := runObs(t, "repl", "-p", pid, "-e", "eval stats.hits * 2"); code != 0 || out != "6\n" {
		t.Fatalf("-p: exit %d out %q", code, out)
	}
	if code, out, _ := runObs(t, "repl", "clitest", "-e", "eval stats.hits"); code != 0 || out != "3\n" {
		t.Fatalf("by name: exit %d out %q", code, out)
	}

	// A failing command is reported, the rest still run, and obs exits 1.
	code, out, errs = runObs(t, "repl", pid, "-e", "nosuch", "-e", "fail", "-e", "eval 1+1")
	if code != 1 || out != "2\n" || !strings.Contains(errs, `obs: nosuch: unknown command "nosuch"`) ||
		!strings.Contains(errs, "obs: fail: permission denied") || strings.Count(errs, "\n") != 2 {
		t.Fatalf("exit %d\nout %q\nerr %q", code, out, errs)
	}
}

func TestReplJSON(t *testing.T) {
	pid := startTestAgent(t)
	code, out, _ := runObs(t, "repl", pid, "--json", "-e", "eval 40+2", "-e", "nosuch", "-e", "profile goroutine")
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	var res []replResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(res) != 3 || !res[0].OK || res[0].Output != "42\n" || res[1].OK || !strings.Contains(res[1].Error, "unknown command") ||
		!res[2].OK || len(res[2].OutputBase64) == 0 || res[2].OutputBase64[0] != 0x1f {
		t.Fatalf("results %+v", res)
	}
}

func TestReplFileAndRedirect(t *testing.T) {
	pid := startTestAgent(t)
	dir := t.TempDir()
	prof := filepath.Join(dir, "heap.pb.gz")
	batch := filepath.Join(dir, "cmds")
	os.WriteFile(batch, []byte("# a batch\n\nuptime\nprofile heap > "+prof+"\n"), 0o600)
	code, out, errs := runObs(t, "repl", pid, "-f", batch)
	if code != 0 || !strings.HasPrefix(out, "clitest pid") || strings.Count(out, "\n") != 1 {
		t.Fatalf("exit %d out %q err %q", code, out, errs)
	}
	b, err := os.ReadFile(prof)
	if err != nil || len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		t.Fatalf("redirected profile: %v %x", err, b[:min(4, len(b))])
	}
	if code, _, errs := runObs(t, "repl", pid, "-f", filepath.Join(dir, "missing")); code != 1 || !strings.Contains(errs, "no such file") {
		t.Fatalf("missing file: exit %d err %q", code, errs)
	}
}

func TestReplStdin(t *testing.T) {
	pid := startTestAgent(t)
	var out, errb bytes.Buffer
	bio := output.Buffer(&out, &errb)
	bio.In = strings.NewReader("eval 1+2\n# comment\nget stats\n")
	code := run([]string{"repl", pid}, &globals{io: bio})
	if code != 0 || !strings.HasPrefix(out.String(), "3\n{") {
		t.Fatalf("exit %d out %q err %q", code, out.String(), errb.String())
	}
}

func TestReplErrors(t *testing.T) {
	pid := startTestAgent(t)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"repl"}, 2, "give a PID, NAME or SOCKET"},
		{[]string{"repl", "-p", pid, pid}, 2, "not both"},
		{[]string{"repl", pid, "-e", "get 'x"}, 2, "unterminated"},
		{[]string{"repl", "999999999", "-e", "uptime"}, 1, "no process with pid 999999999"},
		{[]string{"repl", "/nonexistent/x.sock", "-e", "uptime"}, 1, "connect to agent at /nonexistent/x.sock"},
		{[]string{"repl", "no-such-agent", "-e", "uptime"}, 1, `no agent named "no-such-agent"`},
	} {
		code, _, errs := runObs(t, tc.args...)
		if code != tc.code || !strings.Contains(errs, tc.want) || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", tc.args, code, errs, tc.code, tc.want)
		}
	}
}

func TestPs(t *testing.T) {
	pid := startTestAgent(t)
	code, out, _ := runObs(t, "ps", "--json")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	var procs []repl.Process
	if err := json.Unmarshal([]byte(out), &procs); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, p := range procs {
		if strconv.Itoa(p.PID) == pid {
			found = p.Agent && p.Name == "clitest" && strings.HasPrefix(p.GoVersion, "go")
		}
	}
	if !found {
		t.Fatalf("ps --json lacks this process's agent:\n%s", out)
	}
	code, out, _ = runObs(t, "ps", "--agents")
	if code != 0 || !strings.HasPrefix(strings.TrimSpace(out), "PID") || !strings.Contains(out, "clitest") {
		t.Fatalf("ps --agents: exit %d\n%s", code, out)
	}
}

// openPTY returns the two ends of a new pseudo-terminal, 40x120.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		testenv.SkipOrFail(t, "no pseudo-terminals: "+err.Error())
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlSetWinsize(int(s.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 40, Col: 120}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(); s.Close() })
	return m, s
}

// waitScreen waits until what the program wrote to the terminal, from
// offset on, contains want.
func waitScreen(t *testing.T, s *demotest.SyncBuffer, from int, want string) int {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		got := s.String()
		if i := strings.Index(got[min(from, len(got)):], want); i >= 0 {
			return from + i + len(want)
		}
		if time.Now().After(deadline) {
			t.Fatalf("screen never showed %q; it has:\n%q", want, got[min(from, len(got)):])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestReplInteractive(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	a := startAgent(t, "ttytest")
	a.Expose("stats", map[string]int{"hits": 5})
	a.Command("wait", "waits for cancellation", func(ctx context.Context, _ []string, w io.Writer) error {
		fmt.Fprintln(w, "waiting")
		w.(interface{ Flush() error }).Flush()
		<-ctx.Done()
		return nil
	})
	master, slave := openPTY(t)
	scr := &demotest.SyncBuffer{}
	go io.Copy(scr, master)
	done := make(chan int, 1)
	go func() {
		g := &globals{io: &output.IO{In: slave, Out: slave, Err: slave}}
		done <- run([]string{"repl", strconv.Itoa(os.Getpid())}, g)
	}()
	at := waitScreen(t, scr, 0, "ttytest("+strconv.Itoa(os.Getpid())+")> ")

	// Tab completes a command name.
	master.Write([]byte("upt\t"))
	at = waitScreen(t, scr, at, "uptime")
	master.Write([]byte("\r"))
	at = waitScreen(t, scr, at, "ttytest pid ")

	// ...and an exposed value's name after get.
	master.Write([]byte("get st\t\r"))
	at = waitScreen(t, scr, at, `"hits": 5`)

	// Up arrow recalls the last line.
	master.Write([]byte("\x1b[A\r"))
	at = waitScreen(t, scr, at, `"hits": 5`)

	// Ctrl-C (SIGINT to obs) cancels a running command; the prompt returns.
	master.Write([]byte("wait\r"))
	at = waitScreen(t, scr, at, "waiting")
	syscall.Kill(os.Getpid(), syscall.SIGINT)
	at = waitScreen(t, scr, at, "obs: wait: cancelled")
	// Binary output is not sprayed on the terminal.
	master.Write([]byte("profile heap\r"))
	at = waitScreen(t, scr, at, "obs: profile: writes binary data: send it to a file (profile heap > FILE)")
	master.Write([]byte("eval stats.hits * 3\r"))
	at = waitScreen(t, scr, at, "15")

	// Ctrl-D leaves with status 0, and the history was kept.
	master.Write([]byte{4})
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d\n%s", code, scr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("Ctrl-D did not end the prompt:\n%q", scr.String()[at:])
	}
	hist, err := os.ReadFile(filepath.Join(os.Getenv("XDG_STATE_HOME"), "obs", "repl_history"))
	if err != nil || !strings.Contains(string(hist), "get stats\n") || !strings.Contains(string(hist), "eval stats.hits * 3\n") {
		t.Fatalf("history %q: %v", hist, err)
	}
}
