package repl

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/obs-toolkit/obs/internal/testenv"
)

func TestCancel(t *testing.T) {
	a, lb := startAgent(t, Config{})
	started := make(chan struct{}, 1)
	a.Command("wait", "wait for cancellation", func(ctx context.Context, args []string, w io.Writer) error {
		fmt.Fprintln(w, "waiting")
		w.(interface{ Flush() error }).Flush()
		started <- struct{}{}
		<-ctx.Done()
		return errors.New("stopped")
	})
	c := dial(t, a)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-started; cancel() }()
	var out bytes.Buffer
	err := c.Do(ctx, "wait", nil, &out)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Do after cancel: %v", err)
	}
	if out.String() != "waiting\n" {
		t.Fatalf("output before the cancel: %q", out.String())
	}
	// The connection is still in step.
	if out := must(t, c, "uptime"); !strings.Contains(out, "testsvc") {
		t.Fatalf("uptime after a cancel: %q", out)
	}
	if !strings.Contains(lb.String(), "cmd=wait") {
		t.Fatalf("service command not logged:\n%s", lb.String())
	}
}

func TestCancelByDisconnect(t *testing.T) {
	a, _ := startAgent(t, Config{})
	started := make(chan struct{}, 1)
	stopped := make(chan struct{})
	a.Command("wait", "wait for cancellation", func(ctx context.Context, args []string, w io.Writer) error {
		started <- struct{}{}
		<-ctx.Done()
		close(stopped)
		return nil
	})
	c := dial(t, a)
	go func() { <-started; c.Close() }()
	if err := c.Do(context.Background(), "wait", nil, nil); err == nil {
		t.Fatal("Do on a closed connection succeeded")
	}
	select {
	case <-stopped:
	case <-time.After(30 * time.Second):
		t.Fatal("closing the connection did not cancel the command")
	}
}

func TestCommandIgnoringCancel(t *testing.T) {
	a, _ := startAgent(t, Config{})
	release := make(chan struct{})
	defer close(release)
	started := make(chan struct{}, 1)
	a.Command("stubborn", "ignores its context", func(ctx context.Context, args []string, w io.Writer) error {
		started <- struct{}{}
		<-release
		fmt.Fprintln(w, "too late")
		return nil
	})
	c := dial(t, a)
	// The client waits for the agent's answer far longer than the agent's
	// own two-second grace, however loaded the machine.
	oldGrace := CancelGrace
	CancelGrace = 2 * time.Minute
	defer func() { CancelGrace = oldGrace }()
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-started; cancel() }()
	var out bytes.Buffer
	if err := c.Do(ctx, "stubborn", nil, &out); !errors.Is(err, context.Canceled) {
		t.Fatalf("Do: %v", err)
	}
	// The agent answered after its grace period; the connection goes on.
	if out := must(t, c, "uptime"); !strings.Contains(out, "testsvc") {
		t.Fatalf("uptime after a stubborn command: %q", out)
	}
}

func TestOutputCap(t *testing.T) {
	a, _ := startAgent(t, Config{MaxOutput: 100_000})
	var writeErr error
	cancelled := make(chan bool, 1)
	a.Command("flood", "writes too much", func(ctx context.Context, args []string, w io.Writer) error {
		chunk := bytes.Repeat([]byte("x"), 4096)
		for i := 0; i < 1000; i++ {
			if _, err := w.Write(chunk); err != nil {
				writeErr = err
				break
			}
		}
		cancelled <- ctx.Err() != nil
		return nil
	})
	c := dial(t, a)
	var out bytes.Buffer
	err := c.Do(context.Background(), "flood", nil, &out)
	var ce *CommandError
	if !errors.As(err, &ce) || !strings.Contains(ce.Msg, "cap of 100000 bytes") {
		t.Fatalf("flood: %v", err)
	}
	if out.Len() != 100_000 {
		t.Fatalf("received %d bytes, want exactly the cap", out.Len())
	}
	if wasCancelled := <-cancelled; !errors.Is(writeErr, ErrOutputCapped) || !wasCancelled {
		t.Fatalf("the command saw write error %v and cancellation should be on", writeErr)
	}
	must(t, c, "uptime")
}

func TestPanicContained(t *testing.T) {
	a, lb := startAgent(t, Config{})
	a.Command("boom", "panics", func(ctx context.Context, args []string, w io.Writer) error {
		fmt.Fprint(w, "partial ")
		var m map[string]int
		m["x"] = 1 // nil map write
		return nil
	})
	c := dial(t, a)
	var out bytes.Buffer
	err := c.Do(context.Background(), "boom", nil, &out)
	var ce *CommandError
	if !errors.As(err, &ce) || !strings.Contains(ce.Msg, "panic: assignment to entry in nil map") {
		t.Fatalf("boom: %v", err)
	}
	if out.String() != "partial " {
		t.Fatalf("output before the panic: %q", out.String())
	}
	if !strings.Contains(lb.String(), "command panicked") || !strings.Contains(lb.String(), "protocol_test.go") {
		t.Fatalf("panic not logged with its stack:\n%s", lb.String())
	}
	must(t, c, "uptime")
}

func TestDuplicateAndBadNames(t *testing.T) {
	a, _ := startAgent(t, Config{})
	for name, f := range map[string]func(){
		"builtin":     func() { a.Command("help", "x", nil) },
		"space":       func() { a.Command("a b", "x", nil) },
		"expose name": func() { a.Expose("not-ident", 1) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
	a.Command("mine", "x", func(context.Context, []string, io.Writer) error { return nil })
	func() {
		defer func() {
			if recover() == nil {
				t.Error("duplicate command accepted")
			}
		}()
		a.Command("mine", "again", nil)
	}()
}

// rawConn connects without the client library, for protocol violations.
func rawConn(t *testing.T, a *Agent) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("unix", a.Socket())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(conn)
	f, err := ReadFrame(br)
	if err != nil || f.Type != FrameHello {
		t.Fatalf("hello: %v %v", f, err)
	}
	return conn, br
}

func TestProtocolViolations(t *testing.T) {
	a, _ := startAgent(t, Config{})
	release := make(chan struct{})
	defer close(release)
	a.Command("hold", "waits", func(ctx context.Context, args []string, w io.Writer) error {
		select {
		case <-ctx.Done():
		case <-release:
		}
		return nil
	})

	// An oversized header ends the connection.
	conn, br := rawConn(t, a)
	conn.Write([]byte{0x7f, 0xff, 0xff, 0xff, 'R'})
	if _, err := ReadFrame(br); err == nil {
		t.Fatal("connection survived an oversized frame")
	}

	// An unknown frame type is answered with an error, then closed.
	conn, br = rawConn(t, a)
	WriteFrame(conn, 'Z', nil)
	if f, err := ReadFrame(br); err != nil || f.Type != FrameError || !strings.Contains(string(f.Payload), "unexpected frame") {
		t.Fatalf("unknown frame answered %v %v", f, err)
	}
	if _, err := ReadFrame(br); err == nil {
		t.Fatal("connection survived an unknown frame")
	}

	// A second request while one runs breaks the protocol.
	conn, br = rawConn(t, a)
	WriteFrame(conn, FrameRequest, []byte("hold"))
	WriteFrame(conn, FrameRequest, []byte("uptime"))
	for {
		if _, err := ReadFrame(br); err != nil {
			break // closed, as it should
		}
	}

	// An empty request is an error, not a disconnection; a stray cancel
	// is ignored.
	conn, br = rawConn(t, a)
	WriteFrame(conn, FrameCancel, nil)
	WriteFrame(conn, FrameRequest, []byte("\x00x"))
	if f, err := ReadFrame(br); err != nil || f.Type != FrameError {
		t.Fatalf("empty request answered %v %v", f, err)
	}
	WriteFrame(conn, FrameRequest, []byte("uptime"))
	if f, err := ReadFrame(br); err != nil || f.Type != FrameOutput {
		t.Fatalf("uptime answered %v %v", f, err)
	}
	if f, err := ReadFrame(br); err != nil || f.Type != FrameDone {
		t.Fatalf("uptime ended with %v %v", f, err)
	}
}

func TestTCPToken(t *testing.T) {
	a, lb := startAgent(t, Config{TCP: "127.0.0.1:0"})
	if a.TCPAddr() == "" || len(a.Token()) != 32 {
		t.Fatalf("TCP %q token %q", a.TCPAddr(), a.Token())
	}
	c, err := DialTCP(a.TCPAddr(), a.Token())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	must(t, c, "uptime")
	if _, err := DialTCP(a.TCPAddr(), "wrong"); !errors.Is(err, ErrRefused) {
		t.Fatalf("wrong token: %v", err)
	}
	if _, err := DialTCP(a.TCPAddr(), ""); err == nil {
		t.Fatal("empty token accepted")
	}
	t.Setenv("OBS_REPL_TOKEN", a.Token())
	c2, err := Dial("tcp:" + a.TCPAddr())
	if err != nil {
		t.Fatal(err)
	}
	c2.Close()
	if !strings.Contains(lb.String(), "bad or missing token") {
		t.Fatalf("refusal not logged:\n%s", lb.String())
	}
	// No TCP unless asked for.
	b, _ := startAgent(t, Config{})
	if b.TCPAddr() != "" || b.Token() != "" {
		t.Fatal("TCP listener without Config.TCP")
	}
}

func TestMaxConns(t *testing.T) {
	a, _ := startAgent(t, Config{MaxConns: 1})
	c := dial(t, a)
	if _, err := DialSocket(a.Socket()); err == nil || !strings.Contains(err.Error(), "too many connections") {
		t.Fatalf("second connection: %v", err)
	}
	c.Close()
	// The slot is freed when the first connection ends.
	for deadline := time.Now().Add(30 * time.Second); ; {
		c2, err := DialSocket(a.Socket())
		if err == nil {
			c2.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// deadPID returns the pid of a process that has exited.
func deadPID(t *testing.T) int {
	cmd := exec.Command("/bin/true")
	if err := cmd.Run(); err != nil {
		t.Skipf("cannot run /bin/true: %v", err)
	}
	pid := cmd.Process.Pid
	if alive(pid) {
		t.Skip("pid reused already")
	}
	return pid
}

func TestSocketFilesAndStaleCleanup(t *testing.T) {
	dir := shortDir(t)
	if err := ensureDir(dir); err != nil {
		t.Fatal(err)
	}
	// A stale socket of a dead process, and files the agent must leave.
	dead := deadPID(t)
	stale := filepath.Join(dir, socketName(dead))
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close()
	other := filepath.Join(dir, "notes.txt")
	os.WriteFile(other, []byte("x"), 0o600)
	liveName := filepath.Join(dir, socketName(1)) // pid 1 is alive
	os.WriteFile(liveName, nil, 0o600)            // not a socket: never touched

	a, _ := startAgent(t, Config{Dir: dir})
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatalf("stale socket of pid %d still there: %v", dead, err)
	}
	for _, p := range []string{other, liveName} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s removed: %v", p, err)
		}
	}
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("dir mode %v %v", fi.Mode(), err)
	}
	fi, err = os.Stat(a.Socket())
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("socket mode %v %v", fi.Mode(), err)
	}
	if filepath.Base(a.Socket()) != strconv.Itoa(os.Getpid())+".sock" {
		t.Fatalf("socket name %s", a.Socket())
	}
	a.Close()
	if _, err := os.Stat(a.Socket()); !os.IsNotExist(err) {
		t.Fatalf("socket left after Close: %v", err)
	}
	a.Close() // twice is fine

	// One agent per socket: a second Start on the same directory in this
	// process is refused while the first is open, and leaves it working.
	first, _ := startAgent(t, Config{Dir: dir})
	if _, err := Start(Config{Dir: dir}); err == nil || !strings.Contains(err.Error(), "already listens") {
		t.Fatalf("second agent on %s: %v", dir, err)
	}
	must(t, dial(t, first), "uptime")
	first.Close()

	// A directory with wider permissions is tightened.
	os.Chmod(dir, 0o755)
	b, _ := startAgent(t, Config{Dir: dir})
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Fatalf("dir mode %v after Start", fi.Mode())
	}
	b.Close()
}

func TestDefaultSocketDir(t *testing.T) {
	t.Setenv("XDG_RUNTIME_DIR", "/run/user/1234")
	if d := SocketDir(); d != "/run/user/1234/obs" {
		t.Fatalf("with XDG_RUNTIME_DIR: %s", d)
	}
	t.Setenv("XDG_RUNTIME_DIR", "")
	if d := socketDirFrom("", 1234); d != filepath.Join(os.TempDir(), "obs-1234") {
		t.Fatalf("without: %s", d)
	}
}

func TestForeignDirRefused(t *testing.T) {
	testenv.RequireRoot(t)
	dir := shortDir(t)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if _, err := Start(Config{Dir: dir}); err == nil || !strings.Contains(err.Error(), "owned by uid 65534") {
		t.Fatalf("Start in a directory owned by nobody: %v", err)
	}
}

// The helper process: when OBS_REPL_TEST_DIAL is set, the test binary only
// dials that socket and reports what happened.
func TestMain(m *testing.M) {
	if path := os.Getenv("OBS_REPL_TEST_DIAL"); path != "" {
		c, err := DialSocket(path)
		if err != nil {
			fmt.Printf("refused=%v err=%v\n", errors.Is(err, ErrRefused), err)
			os.Exit(3)
		}
		c.Close()
		fmt.Println("connected")
		os.Exit(0)
	}
	code := m.Run()
	if svcDir != "" {
		os.RemoveAll(svcDir)
	}
	os.Exit(code)
}

func TestOtherUserRefused(t *testing.T) {
	testenv.RequireRoot(t)
	a, lb := startAgent(t, Config{})
	// A copy of the test binary nobody can execute.
	os.Chmod(filepath.Dir(filepath.Dir(a.Socket())), 0o755)
	bin := filepath.Join(filepath.Dir(filepath.Dir(a.Socket())), "client")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	run := func(uid uint32) (string, error) {
		cmd := exec.Command(bin, "-test.run=^$")
		cmd.Env = append(os.Environ(), "OBS_REPL_TEST_DIAL="+a.Socket())
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	// The socket directory (0700) keeps nobody out first.
	out, err := run(65534)
	if err == nil || !strings.Contains(out, "refused=true") || !strings.Contains(out, "only the service's user and root") {
		t.Fatalf("nobody, through the directory: %v: %s", err, out)
	}
	// Open the directory and socket to everyone, so that only the
	// SO_PEERCRED check stands between nobody and the agent.
	os.Chmod(filepath.Dir(a.Socket()), 0o755)
	os.Chmod(a.Socket(), 0o666)
	out, err = run(65534)
	if err == nil || !strings.Contains(out, "refused=true") || !strings.Contains(out, "uid 65534 may not connect") {
		t.Fatalf("nobody: %v: %s", err, out)
	}
	if !strings.Contains(lb.String(), "refused connection from another user") || !strings.Contains(lb.String(), "peer_uid=65534") {
		t.Fatalf("refusal not logged:\n%s", lb.String())
	}
	// Root, through the same binary, is served.
	if out, err := run(0); err != nil || !strings.Contains(out, "connected") {
		t.Fatalf("root: %v: %s", err, out)
	}
}

func TestCloseCancelsCommands(t *testing.T) {
	a, _ := startAgent(t, Config{})
	started := make(chan struct{}, 1)
	stopped := make(chan struct{})
	a.Command("wait", "waits", func(ctx context.Context, args []string, w io.Writer) error {
		started <- struct{}{}
		<-ctx.Done()
		close(stopped)
		return nil
	})
	c := dial(t, a)
	errc := make(chan error, 1)
	go func() { errc <- c.Do(context.Background(), "wait", nil, nil) }()
	<-started
	a.Close()
	select {
	case <-stopped:
	case <-time.After(30 * time.Second):
		t.Fatal("Close did not cancel the running command")
	}
	select {
	case err := <-errc:
		// Either the agent said why, or the connection went first.
		var ce *CommandError
		if err == nil || errors.As(err, &ce) && !strings.Contains(ce.Msg, "agent is closing") {
			t.Fatalf("Do across Close: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Do did not return after Close")
	}
	if _, err := os.Stat(a.Socket()); !os.IsNotExist(err) {
		t.Fatalf("socket after Close: %v", err)
	}
}
