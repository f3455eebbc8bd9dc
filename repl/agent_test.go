package repl

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/obs-toolkit/obs/internal/testenv"
)

// logBuf collects the agent's log records (or a child's stderr) for
// assertions while they are still being written.
type logBuf = testenv.SyncBuffer

// shortDir is a socket directory with a path short enough for sun_path.
func shortDir(t testing.TB) string {
	d, err := os.MkdirTemp("", "obsr")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d + "/s"
}

func startAgent(t testing.TB, cfg Config) (*Agent, *logBuf) {
	t.Helper()
	lb := &logBuf{}
	if cfg.Dir == "" {
		cfg.Dir = shortDir(t)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if cfg.Name == "" {
		cfg.Name = "testsvc"
	}
	a, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a, lb
}

func dial(t testing.TB, a *Agent) *Client {
	t.Helper()
	c, err := DialSocket(a.Socket())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// run runs one command and returns its output and error.
func run(t testing.TB, c *Client, cmd string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := c.Do(context.Background(), cmd, args, &out)
	return out.String(), err
}

// must runs one command that must succeed.
func must(t testing.TB, c *Client, cmd string, args ...string) string {
	t.Helper()
	out, err := run(t, c, cmd, args...)
	if err != nil {
		t.Fatalf("%s %v: %v (output %q)", cmd, args, err, out)
	}
	return out
}

// fails runs one command that must fail with a *CommandError containing want.
func fails(t testing.TB, c *Client, want, cmd string, args ...string) {
	t.Helper()
	out, err := run(t, c, cmd, args...)
	var ce *CommandError
	if !errors.As(err, &ce) {
		t.Fatalf("%s %v: want a CommandError, got %v (output %q)", cmd, args, err, out)
	}
	if !strings.Contains(ce.Msg, want) {
		t.Fatalf("%s %v: error %q does not contain %q", cmd, args, ce.Msg, want)
	}
}

func TestHelloAndHelp(t *testing.T) {
	a, _ := startAgent(t, Config{})
	a.Expose("answer", 42)
	c := dial(t, a)
	h := c.Hello()
	if h.Name != "testsvc" || h.PID != os.Getpid() || h.Proto != 1 {
		t.Fatalf("hello %+v", h)
	}
	if len(h.Exposed) != 1 || h.Exposed[0] != "answer" {
		t.Fatalf("exposed %v", h.Exposed)
	}
	out := must(t, c, "help")
	for _, name := range []string{"help", "goroutines", "stack", "memstats", "metrics", "gc", "setgc", "memlimit",
		"loglevel", "vars", "get", "eval", "buildinfo", "fds", "profile", "trace", "uptime"} {
		if !strings.Contains(out, "\n"+name+" ") && !strings.HasPrefix(out, name+" ") {
			t.Errorf("help does not list %s:\n%s", name, out)
		}
		d := must(t, c, "help", name)
		if !strings.Contains(d, "impact: ") {
			t.Errorf("help %s has no impact note: %q", name, d)
		}
	}
	fails(t, c, "unknown command", "nosuch")
	fails(t, c, "no command", "help", "nosuch")
	// The connection is still usable after failures.
	if got := must(t, c, "get", "answer"); got != "42\n" {
		t.Fatalf("get answer = %q", got)
	}
	_ = io.Discard
}
