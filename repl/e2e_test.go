package repl

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/pprof/profile"

	"github.com/obs-toolkit/obs/internal/testenv"
)

var (
	svcOnce sync.Once
	svcBin  string
	svcErr  error
	svcDir  string
)

// buildService builds testdata/svc once per test binary.
func buildService(t *testing.T) string {
	t.Helper()
	svcOnce.Do(func() {
		gobin, err := exec.LookPath("go")
		if err != nil {
			gobin = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		svcDir, svcErr = os.MkdirTemp("", "obs-repl-svc")
		if svcErr != nil {
			return
		}
		svcBin = filepath.Join(svcDir, "svc")
		cmd := exec.Command(gobin, "build", "-o", svcBin, "./testdata/svc")
		if out, err := cmd.CombinedOutput(); err != nil {
			svcErr = fmt.Errorf("build testdata/svc: %v\n%s", err, out)
		}
	})
	if svcErr != nil {
		t.Fatal(svcErr)
	}
	return svcBin
}

// service is a running testdata/svc.
type service struct {
	cmd    *exec.Cmd
	pid    int
	socket string
	stderr *logBuf
	exited chan error
}

// startService runs the test service with XDG_RUNTIME_DIR set to a fresh
// directory (also in this process's environment, so List finds it).
func startService(t *testing.T, name string, args ...string) *service {
	t.Helper()
	bin := buildService(t)
	xdg := filepath.Dir(shortDir(t))
	t.Setenv("XDG_RUNTIME_DIR", xdg)
	s := &service{stderr: &logBuf{}, exited: make(chan error, 1)}
	s.cmd = exec.Command(bin, append([]string{"-name", name}, args...)...)
	s.cmd.Env = os.Environ()
	s.cmd.Stderr = s.stderr
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.cmd.Process.Kill()
		<-s.exited
	})
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "ready ") {
				ready <- sc.Text()
			}
		}
		s.exited <- s.cmd.Wait()
	}()
	select {
	case l := <-ready:
		f := strings.Fields(l)
		s.pid, _ = strconv.Atoi(f[1])
		s.socket = f[2]
	case err := <-s.exited:
		s.exited <- err
		t.Fatalf("service exited before ready: %v\n%s", err, s.stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("service not ready\n%s", s.stderr.String())
	}
	if s.pid != s.cmd.Process.Pid || s.socket != filepath.Join(xdg, "obs", socketName(s.pid)) {
		t.Fatalf("service says pid %d socket %s", s.pid, s.socket)
	}
	return s
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// procCPU is a process's user+system time in clock ticks.
func procCPU(t *testing.T, pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	u, _ := strconv.Atoi(f[11])
	s, _ := strconv.Atoi(f[12])
	return u + s
}

func TestEndToEnd(t *testing.T) {
	name := fmt.Sprintf("e2e-%d", os.Getpid())
	s := startService(t, name, "-workers", "4")

	// By pid (found through the service's own environment) and by name.
	c, err := Dial(strconv.Itoa(s.pid))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Addr() != s.socket || c.Hello().Name != name || c.Hello().PID != s.pid {
		t.Fatalf("dialled %s, hello %+v", c.Addr(), c.Hello())
	}
	byName, err := Dial(name)
	if err != nil {
		t.Fatal(err)
	}
	byName.Close()
	if _, err := Dial("no-such-agent-name"); err == nil || !strings.Contains(err.Error(), "no agent named") {
		t.Fatalf("unknown name: %v", err)
	}
	if _, err := Dial("999999999"); err == nil {
		t.Fatal("dialled a pid that does not exist")
	}

	agents, err := List()
	if err != nil {
		t.Fatal(err)
	}
	var info *AgentInfo
	for i := range agents {
		if agents[i].PID == s.pid {
			info = &agents[i]
		}
	}
	if info == nil || info.Name != name || info.GoVersion != runtime.Version() || info.UID != os.Geteuid() ||
		info.Socket != s.socket || info.Err != "" || len(info.Exposed) != 2 {
		t.Fatalf("List: %+v", info)
	}
	procs, err := Processes()
	if err != nil {
		t.Fatal(err)
	}
	var proc *Process
	for i := range procs {
		if procs[i].PID == s.pid {
			proc = &procs[i]
		}
	}
	if proc == nil || !proc.Agent || proc.Name != name || proc.GoVersion != runtime.Version() ||
		proc.Module != "github.com/obs-toolkit/obs" || proc.Exe != svcBin {
		t.Fatalf("Processes: %+v", proc)
	}

	// The service's values and commands.
	if out := must(t, c, "get", "requests"); out != "12\n" {
		t.Fatalf("get requests: %q", out)
	}
	if out := must(t, c, "eval", "stats.hits / (stats.hits + stats.misses)"); out != "0.7\n" {
		t.Fatalf("eval: %q", out)
	}
	if out := must(t, c, "flush"); out != "flushed 2 keys\n" {
		t.Fatalf("flush: %q", out)
	}
	if out := must(t, c, "eval", "stats.keys == nil"); out != "true\n" {
		t.Fatalf("after flush: %q", out)
	}
	fails(t, c, "panic: boom on purpose", "boom")
	if out := must(t, c, "goroutines"); !strings.Contains(out, "\n4× [chan receive] goroutine ") {
		t.Fatalf("goroutines:\n%s", out)
	}

	// The log level the service handed over.
	if strings.Contains(s.stderr.String(), "level=DEBUG") {
		t.Fatal("debug records before loglevel DEBUG")
	}
	if out := must(t, c, "loglevel", "DEBUG"); out != "INFO -> DEBUG\n" {
		t.Fatalf("loglevel: %q", out)
	}
	must(t, c, "uptime")
	waitFor(t, "a debug record", func() bool {
		return strings.Contains(s.stderr.String(), `level=DEBUG msg="repl: command" cmd=uptime`)
	})

	// Ctrl-C: the client cancels a long command.
	ctx, cancel := context.WithCancel(context.Background())
	pr := &notifyWriter{seen: make(chan struct{}), want: "waiting"}
	go func() { <-pr.seen; cancel() }()
	if err := c.Do(ctx, "wait", nil, pr); !errors.Is(err, context.Canceled) {
		t.Fatalf("wait: %v", err)
	}

	var heap bytes.Buffer
	if err := c.Do(context.Background(), "profile", []string{"heap"}, &heap); err != nil {
		t.Fatal(err)
	}
	if _, err := profile.Parse(&heap); err != nil {
		t.Fatalf("heap profile: %v", err)
	}
	c.Close()

	// Idle: nothing connected, the process takes (almost) no CPU. A Go
	// process that is idle wakes sysmon rarely; 2 seconds of it stay far
	// below 20 ticks (200 ms).
	c0 := procCPU(t, s.pid)
	time.Sleep(2 * time.Second)
	if d := procCPU(t, s.pid) - c0; d > 20 {
		t.Fatalf("idle service used %d ticks of CPU in 2s", d)
	}

	// A stopped service is listed, as not answering, without holding
	// List up for long.
	s.cmd.Process.Signal(syscall.SIGSTOP)
	waitFor(t, "the service to stop", func() bool {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.pid))
		return err == nil && bytes.Contains(b, []byte(") T "))
	})
	agents, err = List()
	s.cmd.Process.Signal(syscall.SIGCONT)
	if err != nil {
		t.Fatal(err)
	}
	info = nil
	for i := range agents {
		if agents[i].PID == s.pid {
			info = &agents[i]
		}
	}
	if info == nil || !strings.Contains(info.Err, "no hello within") {
		t.Fatalf("List of a stopped service: %+v", info)
	}

	// SIGTERM: the service closes the agent, which removes its socket.
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.exited:
		s.exited <- err
		if err != nil {
			t.Fatalf("service exit: %v\n%s", err, s.stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("service did not exit on SIGTERM")
	}
	if _, err := os.Stat(s.socket); !os.IsNotExist(err) {
		t.Fatalf("socket left behind: %v", err)
	}
	if _, err := Dial(strconv.Itoa(s.pid)); err == nil {
		t.Fatal("dialled an exited service")
	}
}

// notifyWriter closes seen once the output contains want.
type notifyWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want string
	seen chan struct{}
	done bool
}

func (w *notifyWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if !w.done && strings.Contains(w.buf.String(), w.want) {
		w.done = true
		close(w.seen)
	}
	return len(p), nil
}

// driveScript talks the protocol from Python, as docs/repl.md shows.
const driveScript = `
import socket, struct, sys

def read_frame(s):
    n, = struct.unpack(">I", s.recv(4, socket.MSG_WAITALL))
    body = s.recv(n, socket.MSG_WAITALL)
    return body[:1], body[1:]

s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
t, hello = read_frame(s)
assert t == b"H", t
for argv in (["get", "stats"], ["nosuch"]):
    req = "\0".join(argv).encode()
    s.sendall(struct.pack(">IB", len(req) + 1, ord("R")) + req)
    while True:
        t, p = read_frame(s)
        if t == b"O":
            sys.stdout.write(p.decode())
            continue
        print(t.decode(), p.decode())
        break
`

func TestScriptDrivesProtocol(t *testing.T) {
	py := ""
	for _, name := range []string{"python3", "python3.11"} {
		if p, err := exec.LookPath(name); err == nil {
			py = p
			break
		}
	}
	if py == "" {
		testenv.SkipOrFail(t, "python3 not installed (.ci/run installs python3.11)")
	}
	a, _ := startAgent(t, Config{})
	a.Expose("stats", map[string]int{"hits": 9})
	out, err := exec.Command(py, "-c", driveScript, a.Socket()).CombinedOutput()
	want := "{\n  \"hits\": 9\n}\nD \nE unknown command \"nosuch\" (try help)\n"
	if err != nil || string(out) != want {
		t.Fatalf("python client: %v\n%s\nwant\n%s", err, out, want)
	}
}
