package triage

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/obs-toolkit/obs/repl"
)

// agentConn is the connection to the service's obs REPL agent, shared by
// the sections that use it one request at a time.
type agentConn struct {
	mu sync.Mutex
	c  *repl.Client
}

// do runs one agent command with a timeout and returns its output.
func (a *agentConn) do(ctx context.Context, timeout time.Duration, cmd string, args ...string) ([]byte, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var out bytes.Buffer
	err := a.c.Do(ctx, cmd, args, &out)
	return out.Bytes(), err
}

func (e *env) closeAgent() {
	if e.agent != nil {
		_ = e.agent.c.Close()
	}
}

// Agent is the agent section's data.
type Agent struct {
	Socket    string            `json:"socket"`
	Name      string            `json:"name"`
	GoVersion string            `json:"go_version"`
	Started   time.Time         `json:"started"`
	LogLevel  string            `json:"log_level,omitempty"`
	Exposed   []string          `json:"exposed,omitempty"`
	MemStats  map[string]string `json:"memstats,omitempty"` // selected MemStats fields as printed
	Goroutine string            `json:"goroutines,omitempty"`
}

func agentSection(ctx context.Context, e *env, s *Section) {
	c, err := repl.Dial(itoa(e.pid))
	if err != nil {
		s.Status = Skipped
		s.note("no obs agent in this process (%v): link github.com/obs-toolkit/obs/repl for memstats, log level and runtime profiles", oneLine(err))
		return
	}
	e.agent = &agentConn{c: c}
	h := c.Hello()
	a := &Agent{Socket: c.Addr(), Name: h.Name, GoVersion: h.GoVersion, Started: h.Started, Exposed: h.Exposed}
	s.Data = a
	s.note("agent %q at %s, %s, started %s ago", h.Name, c.Addr(), h.GoVersion, fmtDuration(time.Since(h.Started)))

	const short = 15 * time.Second
	text := func(name, cmd string, args ...string) []byte {
		out, err := e.agent.do(ctx, short, cmd, args...)
		if err != nil {
			s.miss("agent %s: %v", cmd, oneLine(err))
			return nil
		}
		e.write(s, name, out)
		return out
	}
	if out := text("agent-memstats.txt", "memstats"); out != nil {
		a.MemStats = map[string]string{}
		for _, l := range strings.Split(string(out), "\n") {
			f := strings.Fields(l)
			if len(f) < 2 {
				continue
			}
			switch f[0] {
			case "HeapAlloc", "HeapInuse", "HeapObjects", "Sys", "StackInuse", "NumGC", "PauseTotalNs", "NextGC", "GCCPUFraction":
				a.MemStats[f[0]] = strings.Join(f[1:], " ")
			}
		}
		s.note("heap in use %s (%s objects), runtime total %s, %s GCs, next GC at %s",
			human(a.MemStats["HeapInuse"]), first(a.MemStats["HeapObjects"]), human(a.MemStats["Sys"]),
			first(a.MemStats["NumGC"]), human(a.MemStats["NextGC"]))
	}
	if out, err := e.agent.do(ctx, short, "loglevel"); err == nil {
		a.LogLevel = strings.TrimSpace(string(out))
		s.note("log level %s", a.LogLevel)
	} else if !isCommandError(err) {
		s.miss("agent loglevel: %v", oneLine(err))
	}
	if out := text("agent-vars.txt", "vars"); out != nil {
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if l != "" && !strings.HasPrefix(l, "expvar.") {
				s.note("exposed %s", l)
			}
		}
	}
	if out := text("agent-goroutines.txt", "goroutines"); out != nil {
		line, _, _ := strings.Cut(string(out), "\n")
		a.Goroutine = line
		s.note("%s", line)
	}
	for _, p := range []string{"heap", "goroutine"} {
		out, err := e.agent.do(ctx, short, "profile", p)
		if err != nil {
			s.miss("agent profile %s: %v", p, oneLine(err))
			continue
		}
		e.write(s, "agent-"+p+".pb.gz", out)
	}
}

func isCommandError(err error) bool {
	var ce *repl.CommandError
	return errors.As(err, &ce)
}

// human picks the human-readable part of a memstats value ("461296 450.5
// KiB" -> "450.5 KiB").
func human(v string) string {
	f := strings.Fields(v)
	if len(f) >= 3 {
		return f[1] + " " + f[2]
	}
	if len(f) == 1 {
		if n, err := strconv.ParseUint(f[0], 10, 64); err == nil {
			return bytesStr(n)
		}
	}
	return v
}

func first(v string) string {
	f := strings.Fields(v)
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}

func oneLine(err error) string {
	return strings.ReplaceAll(err.Error(), "\n", "; ")
}

// bpfErr explains a failed BPF attach in one line: cilium/ebpf's memlock
// hint is dropped when obs runs unprivileged (privileges are the cause on
// the kernels obs supports), and obs doctor is pointed at once.
func bpfErr(err error) string {
	s := oneLine(err)
	if os.Geteuid() != 0 {
		s = strings.ReplaceAll(s, " (MEMLOCK may be too low, consider rlimit.RemoveMemlock)", "")
	}
	if !strings.Contains(s, "obs doctor") {
		s += " (see obs doctor)"
	}
	return s
}
