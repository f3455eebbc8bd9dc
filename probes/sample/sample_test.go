package sample

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/pprof/profile"

	"github.com/obs-toolkit/obs/internal/pprofx"
	"github.com/obs-toolkit/obs/internal/testenv"
)

// build compiles a fixture under testdata into dir, with extra go build
// flags for Go fixtures.
func build(t testing.TB, dir, name string, goflags ...string) string {
	t.Helper()
	out := filepath.Join(dir, name+strings.Join(goflags, ""))
	var cmd *exec.Cmd
	if strings.HasPrefix(name, "c") {
		testenv.RequireTool(t, "gcc")
		cmd = exec.Command("gcc", "-O0", "-g", "-fno-omit-frame-pointer", "-o", out, "testdata/"+name+"/main.c")
	} else {
		args := append([]string{"build", "-o", out}, goflags...)
		cmd = exec.Command("go", append(args, "./testdata/"+name)...)
		cgo := "CGO_ENABLED=0"
		if strings.Contains(strings.Join(goflags, " "), "linkmode=external") {
			testenv.RequireTool(t, "gcc")
			cgo = "CGO_ENABLED=1"
		}
		cmd.Env = append(cmd.Environ(), cgo)
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", name, err, b)
	}
	return out
}

// start runs a fixture and waits for its "ready" line.
func start(t testing.TB, bin string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		ready <- sc.Scan() && sc.Text() == "ready"
		for sc.Scan() {
		}
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatal("fixture did not say ready")
		}
	case <-time.After(60 * time.Second):
		t.Fatal("fixture never became ready")
	}
	return cmd
}

func cum(p *profile.Profile, fn string) (int64, int64) {
	top, total := pprofx.Top(p, 0, 0)
	for _, e := range top {
		if e.Function == fn {
			return e.Cum, total
		}
	}
	return 0, total
}

// profileFor profiles for d, and for CPU profiles keeps going (merging,
// up to 10 rounds) until at least 100 samples were taken: a loaded host
// may give the fixture little CPU.
func profileFor(t *testing.T, pid int, kind Kind, d time.Duration, noFix bool) *Result {
	t.Helper()
	res := profileOnce(t, pid, kind, d, noFix)
	for i := 0; kind == CPU && i < 10 && res.Stats.Samples < 100; i++ {
		more := profileOnce(t, pid, kind, d, noFix)
		p, err := profile.Merge([]*profile.Profile{res.Profile, more.Profile})
		if err != nil {
			t.Fatal(err)
		}
		res.Profile = p
		res.Stats.Samples += more.Stats.Samples
		res.Build.LeafFixed += more.Build.LeafFixed
	}
	return res
}

func profileOnce(t *testing.T, pid int, kind Kind, d time.Duration, noFix bool) *Result {
	t.Helper()
	res, err := Run(context.Background(), RunOptions{Options: Options{Pid: pid, Kind: kind, Freq: 499}, Duration: d, NoLeafFix: noFix})
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Profile.CheckValid(); err != nil {
		t.Fatal(err)
	}
	return res
}

// TestGoLeafCallers is the golang/go#73753 test: the frameless leaf's two
// callers must show their 3:1 split, and without the fix they vanish.
func TestGoLeafCallers(t *testing.T) {
	testenv.RequireRoot(t)
	dir := t.TempDir()
	for _, v := range []struct {
		name  string
		flags []string
	}{
		{"default", nil},
		{"stripped-pie", []string{"-buildmode=pie", "-ldflags=-s -w"}},
		// External linking puts C start-up code ahead of runtime.text.
		{"external-link", []string{"-ldflags=-linkmode=external -s"}},
	} {
		t.Run(v.name, func(t *testing.T) {
			bin := build(t, dir, "leaf", v.flags...)
			cmd := start(t, bin)
			res := profileFor(t, cmd.Process.Pid, CPU, 3*time.Second, false)
			a, total := cum(res.Profile, "main.callerA")
			b, _ := cum(res.Profile, "main.callerB")
			l, _ := cum(res.Profile, "main.leaf")
			t.Logf("samples %d: leaf %d callerA %d callerB %d, leaf fixed %d, stats %+v", total, l, a, b, res.Build.LeafFixed, res.Stats)
			if total < 100 {
				t.Fatalf("only %d samples in 3 s at 499 Hz of a busy process", total)
			}
			if l < total*8/10 {
				t.Fatalf("leaf has %d of %d samples", l, total)
			}
			if b == 0 || float64(a)/float64(b) < 2 || float64(a)/float64(b) > 4.5 {
				t.Fatalf("callerA:callerB = %d:%d, want about 3:1", a, b)
			}
			if a+b < l*8/10 {
				t.Fatalf("callers cover %d of the leaf's %d samples", a+b, l)
			}
			if v.flags != nil {
				return
			}
			// The same without the fix: what a frame-pointer walk alone gives.
			res = profileFor(t, cmd.Process.Pid, CPU, time.Second, true)
			a, total = cum(res.Profile, "main.callerA")
			b, _ = cum(res.Profile, "main.callerB")
			if a+b > total/10 {
				t.Errorf("without the fix the callers still have %d+%d of %d samples: the fixture does not test the fix", a, b, total)
			}
		})
	}
}

// TestCProgram profiles a C program with frame pointers.
func TestCProgram(t *testing.T) {
	testenv.RequireRoot(t)
	bin := build(t, t.TempDir(), "cspin")
	cmd := start(t, bin)
	res := profileFor(t, cmd.Process.Pid, CPU, 2*time.Second, false)
	w, total := cum(res.Profile, "work")
	a, _ := cum(res.Profile, "hot_a")
	b, _ := cum(res.Profile, "hot_b")
	m, _ := cum(res.Profile, "main")
	t.Logf("samples %d: work %d hot_a %d hot_b %d main %d", total, w, a, b, m)
	if total < 40 || w < total*8/10 || m < total*8/10 {
		t.Fatalf("work %d main %d of %d samples", w, m, total)
	}
	if b == 0 || float64(a)/float64(b) < 2 || float64(a)/float64(b) > 4.5 {
		t.Fatalf("hot_a:hot_b = %d:%d, want about 3:1", a, b)
	}
	found := false
	for _, m := range res.Profile.Mapping {
		if m.File == bin {
			found = true
			if m.BuildID == "" {
				t.Errorf("main mapping lacks a build id: %+v", m)
			}
		}
	}
	if !found {
		t.Errorf("no mapping for %s in %v", bin, res.Profile.Mapping)
	}
}

// TestOffCPU checks blocked time lands on the blocking function.
func TestOffCPU(t *testing.T) {
	testenv.RequireRoot(t)
	bin := build(t, t.TempDir(), "sleeper")
	cmd := start(t, bin)
	d := 2 * time.Second
	res := profileFor(t, cmd.Process.Pid, OffCPU, d, false)
	top, _ := pprofx.Top(res.Profile, 1, 0)
	var sl, total int64
	for _, e := range top {
		if e.Function == "main.sleeper" {
			sl = e.Cum
		}
	}
	for _, s := range res.Profile.Sample {
		total += s.Value[1]
	}
	t.Logf("off-CPU %v total, main.sleeper %v, stats %+v", time.Duration(total), time.Duration(sl), res.Stats)
	// The main goroutine sleeps ~5 ms of every ~5.x ms: well over half of d.
	if time.Duration(sl) < d/2 || time.Duration(sl) > 3*d {
		t.Fatalf("main.sleeper blocked %v in %v", time.Duration(sl), d)
	}
	// Time in nanosleep is blocked time, not preemption.
	var blocked int64
	for _, s := range res.Profile.Sample {
		in := false
		for _, l := range s.Location {
			for _, ln := range l.Line {
				in = in || ln.Function.Name == "main.sleeper"
			}
		}
		if in && len(s.Label["state"]) == 1 && s.Label["state"][0] == "blocked" {
			blocked += s.Value[1]
		}
	}
	if blocked < sl*9/10 {
		t.Errorf("only %v of main.sleeper's %v is labelled state=blocked", time.Duration(blocked), time.Duration(sl))
	}
}

// TestTargetExit ends the session when the target exits and still builds.
func TestTargetExit(t *testing.T) {
	testenv.RequireRoot(t)
	bin := build(t, t.TempDir(), "leaf")
	cmd := start(t, bin)
	attached := make(chan struct{})
	done := make(chan *Result, 1)
	go func() {
		res, err := Run(context.Background(), RunOptions{Options: Options{Pid: cmd.Process.Pid, Freq: 999},
			Duration: 5 * time.Minute, Attached: func(string) { close(attached) }})
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	select {
	case <-attached:
	case <-time.After(60 * time.Second):
		t.Fatal("never attached")
	}
	time.Sleep(2 * time.Second)
	cmd.Process.Kill()
	cmd.Wait()
	select {
	case res := <-done:
		if res == nil {
			return
		}
		if !res.Exited {
			t.Error("result does not say the target exited")
		}
		if len(res.Profile.Sample) == 0 {
			t.Error("no samples before exit")
		}
		// The files stay open: the dead process's stacks are symbolized.
		if c, _ := cum(res.Profile, "main.leaf"); c == 0 {
			t.Error("main.leaf not symbolized after the target exited")
		}
	case <-time.After(60 * time.Second):
		t.Fatal("session did not end when the target exited")
	}
}

func TestParseCPUList(t *testing.T) {
	for in, want := range map[string]int{"0": 1, "0-3": 4, "0-1,4,6-7": 5} {
		got, err := parseCPUList(in)
		if err != nil || len(got) != want {
			t.Errorf("%q: %v %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "a", "3-1", "-1"} {
		if _, err := parseCPUList(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func FuzzParseCPUList(f *testing.F) {
	for _, s := range []string{"0", "0-3", "0-1,4,6-7", "3-1", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cpus, err := parseCPUList(s)
		if err == nil && len(cpus) == 0 {
			t.Fatal("no CPUs and no error")
		}
	})
}

// TestGoroutineLabels checks that samples carry the pprof labels of the
// goroutine they interrupted: the fixture's job=heavy does 3x job=light.
func TestGoroutineLabels(t *testing.T) {
	testenv.RequireRoot(t)
	bin := build(t, t.TempDir(), "leaf")
	cmd := start(t, bin, "-labels")
	for _, kind := range []Kind{CPU, OffCPU} {
		res := profileFor(t, cmd.Process.Pid, kind, 2*time.Second, false)
		if kind == OffCPU {
			// A busy goroutine is only preempted: just check labels arrive.
			n := 0
			for _, s := range res.Profile.Sample {
				if len(s.Label["job"]) > 0 {
					n++
				}
			}
			t.Logf("off-CPU: %d of %d samples labelled", n, len(res.Profile.Sample))
			continue
		}
		by := map[string]int64{}
		var total int64
		for _, s := range res.Profile.Sample {
			total += s.Value[0]
			if j := s.Label["job"]; len(j) == 1 {
				by[j[0]] += s.Value[0]
			}
		}
		t.Logf("cpu: %d samples, by job %v", total, by)
		h, l := by["heavy"], by["light"]
		if h+l < total*8/10 {
			t.Fatalf("only %d of %d samples labelled: %v", h+l, total, by)
		}
		if l == 0 || float64(h)/float64(l) < 2 || float64(h)/float64(l) > 4.5 {
			t.Fatalf("heavy:light = %d:%d, want about 3:1", h, l)
		}
	}
}

func TestGoMinorAndLabelsDecode(t *testing.T) {
	for v, want := range map[string]int{"go1.26.0": 26, "go1.24rc1": 24, "go1.9": 9, "devel": 0, "go2.0": 0} {
		if got := goMinor(v); got != want {
			t.Errorf("goMinor(%q) = %d, want %d", v, got, want)
		}
	}
	v := make([]byte, labValSize)
	v[0] = 2
	copy(v[8:], "job")
	copy(v[8+labelBytes:], "heavy")
	copy(v[8+2*labelBytes:], "k2")
	got := decodeLabels(v)
	if len(got) != 2 || got["job"] != "heavy" || got["k2"] != "" {
		t.Errorf("decodeLabels = %v", got)
	}
	if decodeLabels(v[:4]) != nil {
		t.Error("short value decoded")
	}
}

func FuzzDecodeLabels(f *testing.F) {
	f.Add(make([]byte, labValSize))
	f.Fuzz(func(t *testing.T, v []byte) { decodeLabels(v) })
}

func TestParseStatCPU(t *testing.T) {
	d, ok := parseStatCPU("123 (a b) c)) R 1 2 3 4 5 6 7 8 9 10 150 50 0 0 20 0 1 0")
	if !ok || d != 2*time.Second {
		t.Errorf("got %v %v, want 2s", d, ok)
	}
	if _, ok := parseStatCPU("123 (x) R 1"); ok {
		t.Error("short stat accepted")
	}
}

func FuzzParseStatCPU(f *testing.F) {
	f.Add("1 (x) R 1 2 3 4 5 6 7 8 9 10 11 12 13")
	f.Fuzz(func(t *testing.T, s string) {
		if d, ok := parseStatCPU(s); ok && d < 0 {
			t.Fatalf("negative CPU time %v", d)
		}
	})
}

// perfFDs counts this process's open perf event descriptors.
func perfFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if l, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && strings.Contains(l, "perf_event") {
			n++
		}
	}
	return n
}

// TestCancelDetaches ends a session by cancelling it, as Ctrl-C does, and
// checks that it returns a profile and leaves no perf event open.
func TestCancelDetaches(t *testing.T) {
	testenv.RequireRoot(t)
	bin := build(t, t.TempDir(), "cspin")
	cmd := start(t, bin)
	before := perfFDs(t)
	ctx, cancel := context.WithCancel(context.Background())
	attached := make(chan struct{})
	done := make(chan error, 1)
	var res *Result
	go func() {
		var err error
		res, err = Run(ctx, RunOptions{Options: Options{Pid: cmd.Process.Pid, Freq: 499},
			Attached: func(string) { close(attached) }})
		done <- err
	}()
	select {
	case <-attached:
	case err := <-done:
		t.Fatalf("ended before attaching: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("never attached")
	}
	if n := perfFDs(t); n <= before {
		t.Fatalf("attached but %d perf fds open (before: %d)", n, before)
	}
	time.Sleep(time.Second)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("cancel did not end the session")
	}
	if n := perfFDs(t); n != before {
		t.Errorf("%d perf fds open after the session, %d before", n, before)
	}
	if res.Exited || res.Profile == nil || res.Stats.Samples == 0 {
		t.Errorf("result after cancel: exited %v, %d samples", res.Exited, res.Stats.Samples)
	}
}
