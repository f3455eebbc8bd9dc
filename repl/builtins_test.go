package repl

import (
	"bytes"
	"context"
	"errors"
	"expvar"
	"log/slog"
	"math"
	"net"
	"os"
	"regexp"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/pprof/profile"
)

// parkedWorker is a function name the goroutine tests look for.
func parkedWorker(ch chan struct{}) { <-ch }

func TestGoroutinesAndStack(t *testing.T) {
	a, _ := startAgent(t, Config{})
	c := dial(t, a)
	ch := make(chan struct{})
	defer close(ch)
	for i := 0; i < 5; i++ {
		go parkedWorker(ch)
	}
	// Wait until all five are parked.
	for deadline := time.Now().Add(10 * time.Second); ; {
		n := 0
		for _, g := range ParseGoroutines(allStacks()) {
			if len(g.Frames) > 0 && strings.HasSuffix(g.Frames[0].Func, "repl.parkedWorker") && g.State == "chan receive" {
				n++
			}
		}
		if n == 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of 5 workers parked", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	out := must(t, c, "goroutines")
	if !strings.Contains(out, "goroutines in ") || !regexp.MustCompile(`\nstates: .*chan receive ×[0-9]+`).MatchString(out) {
		t.Fatalf("no summary lines:\n%s", out)
	}
	// The five workers share one bucket, with their state.
	found := false
	for _, block := range strings.Split(out, "\n\n") {
		if strings.Contains(block, "repl.parkedWorker") {
			if !strings.HasPrefix(block, "5× [chan receive] goroutine ") {
				t.Fatalf("worker bucket:\n%s", block)
			}
			found = true
		}
	}
	if !found {
		t.Fatalf("no bucket for parkedWorker:\n%s", out)
	}
	all := must(t, c, "goroutines", "--all")
	if n := strings.Count(all, "repl.parkedWorker"); n != 5 {
		t.Fatalf("--all lists %d workers, want 5:\n%s", n, all)
	}
	fails(t, c, "unknown argument", "goroutines", "--nope")

	// stack: everything, then one goroutine by id.
	dump := must(t, c, "stack")
	if strings.Count(dump, "repl.parkedWorker(") != 5 {
		t.Fatalf("stack dump lacks the workers:\n%s", dump)
	}
	var id int64
	for _, g := range ParseGoroutines([]byte(dump)) {
		if len(g.Frames) > 0 && strings.HasSuffix(g.Frames[0].Func, "repl.parkedWorker") {
			id = g.ID
			break
		}
	}
	one := must(t, c, "stack", strconv.FormatInt(id, 10))
	if !strings.HasPrefix(one, "goroutine "+strconv.FormatInt(id, 10)+" [") || strings.Count(one, "goroutine ") != 2 /* header and "created by ... in goroutine N" */ {
		t.Fatalf("stack %d:\n%s", id, one)
	}
	fails(t, c, "not found", "stack", "999999999")
	fails(t, c, "bad goroutine id", "stack", "x")
}

func TestMemstatsMetricsGC(t *testing.T) {
	a, _ := startAgent(t, Config{})
	c := dial(t, a)
	out := must(t, c, "memstats")
	for _, f := range []string{"HeapAlloc", "NumGC", "Sys", "GCCPUFraction"} {
		if !strings.Contains(out, f) {
			t.Errorf("memstats lacks %s", f)
		}
	}
	fails(t, c, "no arguments", "memstats", "x")

	out = must(t, c, "metrics")
	if !strings.Contains(out, "/gc/heap/goal:bytes ") || !strings.Contains(out, "/sched/latencies:seconds count=") {
		t.Fatalf("metrics:\n%s", out)
	}
	out = must(t, c, "metrics", "/sched/")
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.HasPrefix(l, "/sched/") {
			t.Fatalf("metrics /sched/ printed %q", l)
		}
	}
	fails(t, c, "no runtime metric", "metrics", "/nosuch")

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	out = must(t, c, "gc")
	runtime.ReadMemStats(&after)
	if after.NumForcedGC <= before.NumForcedGC || !strings.HasPrefix(out, "gc done in ") {
		t.Fatalf("gc: forced GCs %d -> %d, output %q", before.NumForcedGC, after.NumForcedGC, out)
	}
}

func TestSetGCAndMemlimit(t *testing.T) {
	a, _ := startAgent(t, Config{})
	c := dial(t, a)
	orig := debug.SetGCPercent(100)
	defer debug.SetGCPercent(orig)
	origLimit := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(origLimit)

	if out := must(t, c, "setgc", "50"); out != "GOGC 100 -> 50\n" {
		t.Fatalf("setgc 50: %q", out)
	}
	if got := debug.SetGCPercent(50); got != 50 {
		t.Fatalf("GOGC is %d after setgc 50", got)
	}
	if out := must(t, c, "setgc", "off"); out != "GOGC 50 -> off\n" {
		t.Fatalf("setgc off: %q", out)
	}
	fails(t, c, "bad percent", "setgc", "-5")
	fails(t, c, "usage", "setgc")

	debug.SetMemoryLimit(math.MaxInt64)
	if out := must(t, c, "memlimit"); out != "GOMEMLIMIT off\n" {
		t.Fatalf("memlimit: %q", out)
	}
	if out := must(t, c, "memlimit", "1GiB"); !strings.HasPrefix(out, "GOMEMLIMIT off -> 1073741824 (1.0 GiB)") {
		t.Fatalf("memlimit 1GiB: %q", out)
	}
	if got := debug.SetMemoryLimit(-1); got != 1<<30 {
		t.Fatalf("limit is %d", got)
	}
	must(t, c, "memlimit", "off")
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Fatalf("limit is %d after off", got)
	}
	fails(t, c, "bad size", "memlimit", "lots")
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"0": 0, "1000": 1000, "1.5KiB": 1536, "2MB": 2e6, "512MiB": 512 << 20, "1G": 1 << 30, "off": math.MaxInt64, " 3 GB": 3e9,
	} {
		got, err := ParseSize(in)
		if err != nil || got != want {
			t.Errorf("%q: %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "x", "1XB", "1e30", "1..2", "9999999999999TiB", "-1"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"512MiB", "1.5K", "off", "3 GB", "1e3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSize(s)
		if err == nil && n < 0 {
			t.Fatalf("%q -> %d", s, n)
		}
	})
}

func TestLoglevel(t *testing.T) {
	lv := new(slog.LevelVar)
	a, _ := startAgent(t, Config{LogLevel: lv})
	c := dial(t, a)
	if out := must(t, c, "loglevel"); out != "INFO\n" {
		t.Fatalf("loglevel: %q", out)
	}
	if out := must(t, c, "loglevel", "debug"); out != "INFO -> DEBUG\n" || lv.Level() != slog.LevelDebug {
		t.Fatalf("loglevel debug: %q, level %v", out, lv.Level())
	}
	must(t, c, "loglevel", "WARN+2")
	if lv.Level() != slog.LevelWarn+2 {
		t.Fatalf("level %v", lv.Level())
	}
	fails(t, c, "bad level", "loglevel", "loud")

	b, _ := startAgent(t, Config{})
	fails(t, dial(t, b), "did not give the agent its log level", "loglevel")
}

type counter struct{ N int }

func (c *counter) Inc() int { c.N++; return c.N }

func TestVarsGetEval(t *testing.T) {
	a, _ := startAgent(t, Config{})
	if expvar.Get("repl_test_requests") == nil {
		expvar.NewInt("repl_test_requests")
	}
	expvar.Get("repl_test_requests").(*expvar.Int).Set(17)
	a.Expose("stats", struct {
		Hits   int     `json:"hits"`
		Misses int     `json:"misses"`
		Ratio  float64 `json:"ratio"`
		Name   string  `json:"name"`
	}{7, 3, 0.5, "a b"})
	calls := 0
	a.Expose("snap", func() map[string]int { calls++; return map[string]int{"calls": calls} })
	a.Expose("broken", func() (int, error) { return 0, errors.New("not now") })
	ctr := &counter{N: 1}
	a.Expose("ctr", ctr)
	c := dial(t, a)

	vars := must(t, c, "vars")
	for _, want := range []string{
		`stats {"hits":7,"misses":3,"ratio":0.5,"name":"a b"}`,
		`ctr {"N":1}`,
		`broken !error "read broken: not now"`,
		"expvar.repl_test_requests 17",
		"expvar.memstats (see the memstats command)",
	} {
		if !strings.Contains(vars, want+"\n") {
			t.Errorf("vars lacks %q:\n%s", want, vars)
		}
	}
	if out := must(t, c, "get", "stats"); !strings.Contains(out, "\n  \"hits\": 7,\n") {
		t.Fatalf("get stats: %q", out)
	}
	// A function is called on every read.
	must(t, c, "get", "snap")
	if out := must(t, c, "get", "snap"); !strings.Contains(out, `"calls": `) || calls < 2 {
		t.Fatalf("get snap: %q after %d calls", out, calls)
	}
	if out := must(t, c, "get", "repl_test_requests"); out != "17\n" {
		t.Fatalf("get expvar: %q", out)
	}
	fails(t, c, "not now", "get", "broken")
	fails(t, c, "nothing exposed", "get", "nosuch")
	fails(t, c, "usage", "get")

	for expr, want := range map[string]string{
		"stats.hits / (stats.hits + stats.misses)": "0.7\n",
		"stats.hits + 1":                         "8\n",
		`stats.name == "a b" && stats.ratio < 1`: "true\n",
		`stats.name`:                             "a b\n",
		`ctr.N`:                                  "1\n",
		`[stats.hits, stats.misses]`:             "[\n  7,\n  3\n]\n",
	} {
		if out := must(t, c, "eval", expr); out != want {
			t.Errorf("eval %s = %q, want %q", expr, out, want)
		}
	}
	// Read-only: a method of the exposed value cannot be called, and the
	// value is unchanged.
	fails(t, c, "cannot call", "eval", "ctr.Inc()")
	fails(t, c, "not now", "eval", "broken + 1")
	if ctr.N != 1 {
		t.Fatalf("eval changed the exposed value: N=%d", ctr.N)
	}
	fails(t, c, "compile", "eval", "nosuch + 1")
	fails(t, c, "memory budget", "eval", "map(1..10000000, # * 2)")
	fails(t, c, "byte budget", "eval", strings.Repeat("1+", 3000)+"1")
	fails(t, c, "usage", "eval")
}

func TestEvalTimeBudget(t *testing.T) {
	a, _ := startAgent(t, Config{})
	old := evalTimeout
	evalTimeout = time.Microsecond
	defer func() { evalTimeout = old }()
	// sum over 150,000 elements takes milliseconds, far over a microsecond,
	// and stays within the memory budget. Retried in case the machine
	// stalls the waiting goroutine for that whole time.
	var err error
	for i := 0; i < 5; i++ {
		_, err = a.Eval(context.Background(), "sum(map(1..150000, # * 2))")
		if err != nil && strings.Contains(err.Error(), "time budget") {
			return
		}
	}
	t.Fatalf("eval over the time budget: %v", err)
}

func TestBuildinfoUptimeFds(t *testing.T) {
	a, _ := startAgent(t, Config{Name: "upsvc"})
	c := dial(t, a)
	if out := must(t, c, "buildinfo"); !strings.Contains(out, "path\t") || !strings.Contains(out, "go\t"+runtime.Version()) {
		t.Fatalf("buildinfo:\n%s", out)
	}
	if out := must(t, c, "uptime"); !strings.HasPrefix(out, "upsvc pid "+strconv.Itoa(os.Getpid())+" up ") {
		t.Fatalf("uptime: %q", out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	out := must(t, c, "fds")
	if !strings.Contains(out, "socket  tcp "+ln.Addr().String()+" LISTEN") ||
		!strings.Contains(out, "unix "+a.Socket()+" LISTEN") {
		t.Fatalf("fds lacks the listeners:\n%s", out)
	}
}

func fetchProfile(t *testing.T, c *Client, args ...string) *profile.Profile {
	t.Helper()
	var buf bytes.Buffer
	if err := c.Do(context.Background(), "profile", args, &buf); err != nil {
		t.Fatalf("profile %v: %v", args, err)
	}
	p, err := profile.Parse(&buf)
	if err != nil {
		t.Fatalf("profile %v: not a pprof profile: %v", args, err)
	}
	return p
}

func spin(d time.Duration) int {
	n := 0
	for end := time.Now().Add(d); time.Now().Before(end); {
		for i := 0; i < 1000; i++ {
			n += i * i
		}
	}
	return n
}

func TestProfiles(t *testing.T) {
	a, _ := startAgent(t, Config{})
	c := dial(t, a)
	done := make(chan struct{})
	go func() { spin(1500 * time.Millisecond); close(done) }()
	p := fetchProfile(t, c, "cpu", "1")
	<-done
	if len(p.SampleType) == 0 || p.SampleType[len(p.SampleType)-1].Type != "cpu" || len(p.Sample) == 0 {
		t.Fatalf("cpu profile: types %v, %d samples", p.SampleType, len(p.Sample))
	}
	if p := fetchProfile(t, c, "heap"); p.SampleType[len(p.SampleType)-1].Type != "inuse_space" {
		t.Fatalf("heap types %v", p.SampleType)
	}
	if p := fetchProfile(t, c, "allocs", "0.2"); p.DurationNanos < int64(150*time.Millisecond) {
		t.Fatalf("allocs delta duration %d", p.DurationNanos)
	}
	if p := fetchProfile(t, c, "goroutine"); len(p.Sample) == 0 || p.SampleType[0].Type != "goroutine" {
		t.Fatalf("goroutine profile: %v", p.SampleType)
	}
	if p := fetchProfile(t, c, "mutex", "0.1"); p.SampleType[0].Type != "contentions" {
		t.Fatalf("mutex profile types %v", p.SampleType)
	}
	if got := runtime.SetMutexProfileFraction(-1); got != 0 {
		t.Fatalf("mutex profiling left on (fraction %d)", got)
	}
	fetchProfile(t, c, "block", "0.1")
	fetchProfile(t, c, "block")
	fails(t, c, "unknown profile", "profile", "nosuch")
	fails(t, c, "usage", "profile")
	fails(t, c, "bad seconds", "profile", "cpu", "-1")
	fails(t, c, "over the limit", "profile", "cpu", "100000")
	fails(t, c, "no SECONDS", "profile", "goroutine", "1")

	var tr bytes.Buffer
	if err := c.Do(context.Background(), "trace", []string{"0.2"}, &tr); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(tr.Bytes(), []byte("go 1.")) || tr.Len() < 100 {
		t.Fatalf("trace output starts %q (%d bytes)", tr.Bytes()[:min(20, tr.Len())], tr.Len())
	}
	fails(t, c, "over the limit", "trace", "61")
}

func TestProfileCancel(t *testing.T) {
	a, _ := startAgent(t, Config{})
	c := dial(t, a)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(200 * time.Millisecond); cancel() }()
	t0 := time.Now()
	err := c.Do(ctx, "profile", []string{"cpu", "120"}, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled profile: %v", err)
	}
	if time.Since(t0) > 60*time.Second {
		t.Fatalf("cancel took %s", time.Since(t0))
	}
	// The profiler was stopped: a new profile can start.
	fetchProfile(t, c, "cpu", "0.1")
}
