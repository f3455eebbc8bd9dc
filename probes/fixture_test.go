package probes

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/obs-toolkit/obs/internal/testenv"
)

var (
	buildMu  sync.Mutex
	builtFix = map[string]string{}
)

// goFixture builds testdata/gofixture with the given toolchain ("" for the
// one running the tests) once per test binary run.
func goFixture(t *testing.T, toolchain string, flags ...string) string {
	t.Helper()
	key := toolchain + " " + strings.Join(flags, " ")
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := builtFix[key]; ok {
		return p
	}
	dir := fixtureDir(t)
	out := filepath.Join(dir, "gofixture"+strings.NewReplacer(" ", "_", "=", "_", "/", "_").Replace(key))
	if err := testenv.BuildGo("testdata/gofixture", out, toolchain, []string{"CGO_ENABLED=0"}, flags...); err != nil {
		if toolchain != "" {
			testenv.SkipOrFail(t, "cannot build fixture with "+toolchain+": "+err.Error())
		}
		t.Fatalf("build fixture: %v", err)
	}
	builtFix[key] = out
	return out
}

var (
	fixDirOnce sync.Once
	fixDir     string
)

// fixtureDir is a directory shared by the package's tests for built
// fixtures, removed by TestMain.
func fixtureDir(t *testing.T) string {
	fixDirOnce.Do(func() {
		d, err := os.MkdirTemp("", "obs-probes-test-")
		if err != nil {
			t.Fatal(err)
		}
		fixDir = d
	})
	return fixDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if fixDir != "" {
		os.RemoveAll(fixDir)
	}
	os.Exit(code)
}

// proc is a running fixture speaking the ready/go/done protocol.
type proc struct {
	t     *testing.T
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
	errb  *strings.Builder
}

func startFixture(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, cmd: cmd, stdin: stdin, lines: make(chan string, 16), errb: &strings.Builder{}}
	cmd.Stderr = p.errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
	}()
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	p.expect("ready")
	return p
}

// expect waits (generously) for a line starting with prefix and returns it.
func (p *proc) expect(prefix string) string {
	p.t.Helper()
	timeout := time.After(60 * time.Second)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				p.t.Fatalf("fixture exited before %q: %v stderr=%s", prefix, p.cmd.Wait(), p.errb.String())
			}
			if strings.HasPrefix(l, prefix) {
				return l
			}
		case <-timeout:
			p.t.Fatalf("timed out waiting for %q", prefix)
		}
	}
}

func (p *proc) goAhead() {
	p.t.Helper()
	if _, err := io.WriteString(p.stdin, "go\n"); err != nil {
		p.t.Fatal(err)
	}
}

// finish closes stdin and checks the fixture exited cleanly.
func (p *proc) finish() {
	p.t.Helper()
	p.stdin.Close()
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			p.t.Fatalf("fixture failed: %v\n%s", err, p.errb.String())
		}
	case <-time.After(30 * time.Second):
		p.t.Fatalf("fixture did not exit")
	}
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// resolveIn makes a target of process pid and resolves specs in it; an
// error in either fails the test.
func resolveIn(t *testing.T, pid int, specs ...string) (*Target, []Probe) {
	t.Helper()
	tg, err := ProcessTarget(pid)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := tg.ResolveAll(specs)
	if err != nil {
		t.Fatal(err)
	}
	return tg, ps
}

// countUntilDone counts ps in tg while the fixture p runs to "done", and
// returns the counts; it detaches before returning.
func countUntilDone(t *testing.T, p *proc, tg *Target, ps []Probe) []uint64 {
	t.Helper()
	c, err := Count(tg, ps)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p.goAhead()
	p.expect("done")
	got, err := c.Read()
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// timeUntilDone measures the latency of ps in tg while the fixture p runs
// to "done", and returns the histograms; it detaches before returning.
func timeUntilDone(t *testing.T, p *proc, tg *Target, ps []Probe) []Histogram {
	t.Helper()
	l, err := MeasureLatency(tg, ps)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	p.goAhead()
	p.expect("done")
	hs, err := l.Read()
	if err != nil {
		t.Fatal(err)
	}
	return hs
}
