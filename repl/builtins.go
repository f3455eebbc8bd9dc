package repl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"expvar"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"reflect"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"runtime/trace"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/pprof/profile"
)

func (a *Agent) addBuiltins() {
	for _, c := range []*command{
		{name: "help", usage: "[CMD]", help: "list the commands, or describe one", impact: "none", fn: a.cmdHelp},
		{name: "goroutines", usage: "[--all]", help: "goroutines bucketed by identical stack, largest bucket first; --all: one line per goroutine",
			impact: "stops the world while the stacks are collected (about a microsecond per goroutine)", fn: cmdGoroutines},
		{name: "stack", usage: "[ID...]", help: "full stack traces of every goroutine, or of the given goroutine ids",
			impact: "stops the world while the stacks are collected (about a microsecond per goroutine)", fn: cmdStack},
		{name: "memstats", help: "runtime.MemStats: heap, stacks, GC counts and pauses",
			impact: "stops the world briefly (runtime.ReadMemStats)", fn: cmdMemstats},
		{name: "metrics", usage: "[PREFIX]", help: "runtime/metrics samples (histograms summarised), optionally only names starting with PREFIX",
			impact: "none: runtime/metrics reads without stopping the world", fn: cmdMetrics},
		{name: "gc", help: "run a garbage collection now and report the heap before and after",
			impact: "a full GC cycle: its CPU, and short stop-the-world pauses", mutates: true, fn: cmdGC},
		{name: "setgc", usage: "PERCENT|off", help: "set GOGC (debug.SetGCPercent) and print the old value",
			impact: "changes the GC's heap target for the rest of the process's life (more memory or more GC CPU)", mutates: true, fn: cmdSetGC},
		{name: "memlimit", usage: "[BYTES|off]", help: "print, or set, the soft memory limit (GOMEMLIMIT); sizes like 512MiB, 2GB",
			impact: "setting it: a low limit makes the GC run much more often", mutates: true, fn: cmdMemlimit},
		{name: "loglevel", usage: "[LEVEL]", help: "print, or set, the service's log level (DEBUG, INFO, WARN, ERROR, or e.g. INFO+2)",
			impact: "setting it: DEBUG may multiply log volume", mutates: true, fn: a.cmdLoglevel},
		{name: "vars", help: "every exposed value and expvar variable (but memstats), one per line as JSON",
			impact: "reads every value (calls the exposed functions)", fn: a.cmdVars},
		{name: "get", usage: "NAME", help: "one exposed value (or expvar variable) as indented JSON",
			impact: "reads the value (calls it, if it is a function)", fn: a.cmdGet},
		{name: "eval", usage: "EXPR", help: "evaluate an expr-lang expression over the exposed values (read-only), e.g. stats.hits / stats.total",
			impact: "reads every exposed value; bounded to 1s and a memory budget", fn: a.cmdEval},
		{name: "buildinfo", help: "the module, dependencies and build settings the binary was built with",
			impact: "none", fn: cmdBuildinfo},
		{name: "fds", help: "open file descriptors: files, pipes, and sockets with their addresses",
			impact: "reads /proc/self; no effect on the service", fn: cmdFds},
		{name: "profile", usage: "cpu|heap|allocs|goroutine|mutex|block [SECONDS]",
			help: "a runtime profile as raw pprof bytes (redirect it: profile heap > heap.pb.gz); SECONDS: cpu duration (default 10), " +
				"heap/allocs difference over that window, mutex/block sampling enabled for that window",
			impact: "cpu: 100 Hz sampling, a few % CPU; heap/allocs/goroutine: one snapshot (goroutine stops the world); " +
				"mutex/block SECONDS: sampling on for the window, then off", mutates: true, fn: a.cmdProfile},
		{name: "trace", usage: "[SECONDS]", help: "a runtime/trace execution trace for SECONDS (default 1, at most 60); read it with go tool trace",
			impact: "the execution tracer: a few % CPU and megabytes of output per second", mutates: true, fn: a.cmdTrace},
		{name: "uptime", help: "when the agent started and how long ago, pid and name", impact: "none", fn: a.cmdUptime},
	} {
		a.addBuiltin(c)
	}
}

func noArgs(args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("takes no arguments, got %q", strings.Join(args, " "))
	}
	return nil
}

func (a *Agent) cmdHelp(_ context.Context, args []string, w io.Writer) error {
	a.mu.RLock()
	cmds := make([]*command, 0, len(a.cmds))
	for _, c := range a.cmds {
		cmds = append(cmds, c)
	}
	a.mu.RUnlock()
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].name < cmds[j].name })
	if len(args) > 1 {
		return errors.New("usage: help [CMD]")
	}
	if len(args) == 1 {
		for _, c := range cmds {
			if c.name == args[0] {
				fmt.Fprintf(w, "%s %s\n  %s\n  impact: %s\n", c.name, c.usage, c.help, c.impact)
				return nil
			}
		}
		return fmt.Errorf("no command %q", args[0])
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, c := range cmds {
		fmt.Fprintf(tw, "%s %s\t%s\n", c.name, c.usage, c.help)
	}
	tw.Flush()
	fmt.Fprintln(w, "\n'help CMD' shows a command's impact on the service.")
	return nil
}

// allStacks returns runtime.Stack for every goroutine, growing the buffer
// until the dump fits (at most 64 MiB).
func allStacks() []byte {
	for n := 64 << 10; ; n *= 2 {
		buf := make([]byte, n)
		k := runtime.Stack(buf, true)
		if k < n || n >= 64<<20 {
			return buf[:k]
		}
	}
}

func cmdGoroutines(_ context.Context, args []string, w io.Writer) error {
	all := false
	for _, a := range args {
		switch a {
		case "--all", "-a":
			all = true
		default:
			return fmt.Errorf("unknown argument %q (usage: goroutines [--all])", a)
		}
	}
	gs := ParseGoroutines(allStacks())
	if all {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tSTATE\tWAIT\tFUNCTION\tLOCATION")
		for _, g := range gs {
			fn, loc := "?", ""
			if len(g.Frames) > 0 {
				fn, loc = g.Frames[0].Func, g.Frames[0].Location()
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", g.ID, g.State, g.Wait, fn, loc)
		}
		tw.Flush()
		fmt.Fprintf(w, "%d goroutines\n", len(gs))
		return nil
	}
	bs := BucketGoroutines(gs)
	fmt.Fprintf(w, "%d goroutines in %d buckets of identical stacks\n", len(gs), len(bs))
	states := map[string]int{}
	for _, g := range gs {
		states[g.State]++
	}
	summary := Bucket{States: states}.StateSummary()
	if len(states) == 1 {
		summary += " ×" + strconv.Itoa(len(gs))
	}
	fmt.Fprintf(w, "states: %s\n", summary)
	for _, b := range bs {
		fmt.Fprintf(w, "\n%d× [%s]", len(b.IDs), b.StateSummary())
		ids := b.IDs
		more := ""
		if len(ids) > 10 {
			ids, more = ids[:10], fmt.Sprintf(" and %d more", len(b.IDs)-10)
		}
		s := make([]string, len(ids))
		for i, id := range ids {
			s[i] = strconv.FormatInt(id, 10)
		}
		fmt.Fprintf(w, " goroutine %s%s\n", strings.Join(s, ", "), more)
		for _, f := range b.Frames {
			fmt.Fprintf(w, "    %s\n        %s\n", f.Func, f.Location())
		}
		if b.CreatedBy.Func != "" {
			fmt.Fprintf(w, "    created by %s\n        %s\n", b.CreatedBy.Func, b.CreatedBy.Location())
		}
	}
	return nil
}

func cmdStack(_ context.Context, args []string, w io.Writer) error {
	dump := allStacks()
	if len(args) == 0 {
		_, err := w.Write(dump)
		return err
	}
	want := map[int64]bool{}
	for _, a := range args {
		id, err := strconv.ParseInt(a, 10, 64)
		if err != nil || id <= 0 {
			return fmt.Errorf("bad goroutine id %q", a)
		}
		want[id] = true
	}
	found := 0
	for _, g := range ParseGoroutines(dump) {
		if want[g.ID] {
			found++
			fmt.Fprintf(w, "%s\n", g.Raw)
		}
	}
	if found < len(want) {
		return fmt.Errorf("%d of %d goroutines not found (they may have exited)", len(want)-found, len(want))
	}
	return nil
}

func cmdMemstats(_ context.Context, args []string, w io.Writer) error {
	if err := noArgs(args); err != nil {
		return err
	}
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	v := reflect.ValueOf(m)
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := v.Field(i)
		name := t.Field(i).Name
		switch f.Kind() {
		case reflect.Uint64, reflect.Uint32:
			n := f.Uint()
			extra := ""
			if isByteStat(name) {
				extra = formatBytes(n)
			} else if name == "PauseTotalNs" {
				extra = time.Duration(n).String()
			} else if name == "LastGC" && n > 0 {
				extra = time.Unix(0, int64(n)).UTC().Format(time.RFC3339) + " (" + time.Since(time.Unix(0, int64(n))).Round(time.Millisecond).String() + " ago)"
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t\n", name, n, extra)
		case reflect.Float64:
			fmt.Fprintf(tw, "%s\t%.6f\t\t\n", name, f.Float())
		case reflect.Bool:
			fmt.Fprintf(tw, "%s\t%v\t\t\n", name, f.Bool())
		}
	}
	if m.NumGC > 0 {
		last := m.PauseNs[(m.NumGC+255)%256]
		fmt.Fprintf(tw, "LastPause\t%d\t%s\t\n", last, time.Duration(last))
	}
	return tw.Flush()
}

func isByteStat(name string) bool {
	switch name {
	case "Lookups", "Mallocs", "Frees", "HeapObjects", "NumGC", "NumForcedGC", "PauseTotalNs", "LastGC":
		return false
	}
	return true
}

func formatBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	f := float64(n)
	i := 0
	for f >= unit && i < 5 {
		f /= unit
		i++
	}
	return fmt.Sprintf("%.1f %ciB", f, "KMGTP"[i-1])
}

func cmdMetrics(_ context.Context, args []string, w io.Writer) error {
	if len(args) > 1 {
		return errors.New("usage: metrics [PREFIX]")
	}
	prefix := ""
	if len(args) == 1 {
		prefix = args[0]
	}
	var samples []metrics.Sample
	for _, d := range metrics.All() {
		if strings.HasPrefix(d.Name, prefix) {
			samples = append(samples, metrics.Sample{Name: d.Name})
		}
	}
	if len(samples) == 0 {
		return fmt.Errorf("no runtime metric starts with %q", prefix)
	}
	metrics.Read(samples)
	for _, s := range samples {
		switch s.Value.Kind() {
		case metrics.KindUint64:
			fmt.Fprintf(w, "%s %d\n", s.Name, s.Value.Uint64())
		case metrics.KindFloat64:
			fmt.Fprintf(w, "%s %g\n", s.Name, s.Value.Float64())
		case metrics.KindFloat64Histogram:
			fmt.Fprintf(w, "%s %s\n", s.Name, summariseHistogram(s.Value.Float64Histogram()))
		default:
			fmt.Fprintf(w, "%s (unsupported kind)\n", s.Name)
		}
	}
	return nil
}

// summariseHistogram prints a count and approximate quantiles (each bucket's
// upper bound).
func summariseHistogram(h *metrics.Float64Histogram) string {
	var total uint64
	for _, c := range h.Counts {
		total += c
	}
	if total == 0 {
		return "count=0"
	}
	q := func(p float64) float64 {
		target := uint64(math.Ceil(p * float64(total)))
		var acc uint64
		for i, c := range h.Counts {
			acc += c
			if acc >= target {
				hi := h.Buckets[i+1]
				if math.IsInf(hi, 1) {
					return h.Buckets[i]
				}
				return hi
			}
		}
		return h.Buckets[len(h.Buckets)-1]
	}
	return fmt.Sprintf("count=%d p50<=%g p90<=%g p99<=%g max<=%g", total, q(0.5), q(0.9), q(0.99), q(1))
}

func cmdGC(_ context.Context, args []string, w io.Writer) error {
	if err := noArgs(args); err != nil {
		return err
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	t0 := time.Now()
	runtime.GC()
	d := time.Since(t0)
	runtime.ReadMemStats(&after)
	fmt.Fprintf(w, "gc done in %s: heap %s -> %s, %d -> %d objects\n", d.Round(time.Microsecond),
		formatBytes(before.HeapAlloc), formatBytes(after.HeapAlloc), before.HeapObjects, after.HeapObjects)
	return nil
}

func cmdSetGC(_ context.Context, args []string, w io.Writer) error {
	if len(args) != 1 {
		return errors.New("usage: setgc PERCENT|off")
	}
	pct := -1
	if args[0] != "off" {
		n, err := strconv.Atoi(args[0])
		if err != nil || n < 0 {
			return fmt.Errorf("bad percent %q: want a non-negative integer or off", args[0])
		}
		pct = n
	}
	old := debug.SetGCPercent(pct)
	fmt.Fprintf(w, "GOGC %s -> %s\n", gcPercentString(old), gcPercentString(pct))
	return nil
}

func gcPercentString(p int) string {
	if p < 0 {
		return "off"
	}
	return strconv.Itoa(p)
}

func cmdMemlimit(_ context.Context, args []string, w io.Writer) error {
	if len(args) > 1 {
		return errors.New("usage: memlimit [BYTES|off]")
	}
	cur := debug.SetMemoryLimit(-1)
	if len(args) == 0 {
		fmt.Fprintf(w, "GOMEMLIMIT %s\n", memlimitString(cur))
		return nil
	}
	n, err := ParseSize(args[0])
	if err != nil {
		return err
	}
	old := debug.SetMemoryLimit(n)
	fmt.Fprintf(w, "GOMEMLIMIT %s -> %s\n", memlimitString(old), memlimitString(n))
	return nil
}

func memlimitString(n int64) string {
	if n == math.MaxInt64 {
		return "off"
	}
	return fmt.Sprintf("%d (%s)", n, formatBytes(uint64(n)))
}

// ParseSize reads a byte count: a number with an optional unit (B, KB, MB,
// GB, TB decimal; KiB, MiB, GiB, TiB binary; K/M/G/T are binary), or "off"
// for no limit.
func ParseSize(s string) (int64, error) {
	if s == "off" {
		return math.MaxInt64, nil
	}
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	num, unit := t[:i], strings.TrimSpace(t[i:])
	if num == "" {
		return 0, fmt.Errorf("bad size %q: want e.g. 512MiB, 2GB, 1000000 or off", s)
	}
	mult := map[string]float64{
		"": 1, "B": 1,
		"KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
		"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40,
		"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40,
	}[unit]
	if mult == 0 {
		return 0, fmt.Errorf("bad size %q: unknown unit %q", s, unit)
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("bad size %q", s)
	}
	v := f * mult
	if v >= math.MaxInt64 || math.IsNaN(v) {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return int64(v), nil
}

func (a *Agent) cmdLoglevel(_ context.Context, args []string, w io.Writer) error {
	lv := a.cfg.LogLevel
	if lv == nil {
		return errors.New("the service did not give the agent its log level (repl.Config.LogLevel)")
	}
	switch len(args) {
	case 0:
		fmt.Fprintln(w, lv.Level())
		return nil
	case 1:
		var l slog.Level
		if err := l.UnmarshalText([]byte(args[0])); err != nil {
			return fmt.Errorf("bad level %q: want DEBUG, INFO, WARN, ERROR, optionally +N/-N", args[0])
		}
		old := lv.Level()
		lv.Set(l)
		fmt.Fprintf(w, "%s -> %s\n", old, l)
		return nil
	}
	return errors.New("usage: loglevel [LEVEL]")
}

// readValue reads an exposed value: a function is called (with any panic
// contained by the caller), an expvar.Var gives its JSON.
func readValue(v any) (any, error) {
	switch x := v.(type) {
	case expvar.Var:
		return json.RawMessage(x.String()), nil
	case func() any:
		return x(), nil
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Func {
		t := rv.Type()
		if t.NumIn() != 0 || t.NumOut() < 1 || t.NumOut() > 2 ||
			(t.NumOut() == 2 && !t.Out(1).Implements(reflect.TypeFor[error]())) {
			return nil, fmt.Errorf("exposed function of type %s: want func() T or func() (T, error)", t)
		}
		out := rv.Call(nil)
		if len(out) == 2 && !out[1].IsNil() {
			return nil, out[1].Interface().(error)
		}
		return out[0].Interface(), nil
	}
	return v, nil
}

func (a *Agent) exposedNames() []string {
	a.mu.RLock()
	defer a.mu.RUnlock()
	names := make([]string, 0, len(a.vars))
	for n := range a.vars {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (a *Agent) exposedJSON(name string) ([]byte, bool, error) {
	a.mu.RLock()
	v, ok := a.vars[name]
	a.mu.RUnlock()
	if !ok {
		ev := expvar.Get(name)
		if ev == nil {
			return nil, false, nil
		}
		return []byte(ev.String()), true, nil
	}
	x, err := readValue(v)
	if err != nil {
		return nil, true, fmt.Errorf("read %s: %w", name, err)
	}
	b, err := json.Marshal(x)
	if err != nil {
		return nil, true, fmt.Errorf("%s as JSON: %w", name, err)
	}
	return b, true, nil
}

func (a *Agent) cmdVars(_ context.Context, args []string, w io.Writer) error {
	if err := noArgs(args); err != nil {
		return err
	}
	for _, n := range a.exposedNames() {
		b, _, err := a.exposedJSON(n)
		if err != nil {
			fmt.Fprintf(w, "%s !error %q\n", n, err.Error())
			continue
		}
		fmt.Fprintf(w, "%s %s\n", n, b)
	}
	var lines []string
	expvar.Do(func(kv expvar.KeyValue) {
		if kv.Key == "memstats" {
			// Hundreds of numbers, and a stop-the-world: the memstats
			// command shows them readably.
			lines = append(lines, "expvar.memstats (see the memstats command)")
			return
		}
		var c bytes.Buffer
		if json.Compact(&c, []byte(kv.Value.String())) != nil {
			c.Reset()
			c.WriteString(kv.Value.String())
		}
		lines = append(lines, "expvar."+kv.Key+" "+c.String())
	})
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
	return nil
}

func (a *Agent) cmdGet(_ context.Context, args []string, w io.Writer) error {
	if len(args) != 1 {
		return errors.New("usage: get NAME")
	}
	b, ok, err := a.exposedJSON(strings.TrimPrefix(args[0], "expvar."))
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("nothing exposed as %q (see vars)", args[0])
	}
	var out bytes.Buffer
	if json.Indent(&out, b, "", "  ") != nil {
		out.Reset()
		out.Write(b)
	}
	out.WriteByte('\n')
	_, err = w.Write(out.Bytes())
	return err
}

func cmdBuildinfo(_ context.Context, args []string, w io.Writer) error {
	if err := noArgs(args); err != nil {
		return err
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return errors.New("the binary carries no build information")
	}
	_, err := io.WriteString(w, bi.String()+"\n")
	return err
}

func (a *Agent) cmdUptime(_ context.Context, args []string, w io.Writer) error {
	if err := noArgs(args); err != nil {
		return err
	}
	fmt.Fprintf(w, "%s pid %d up %s (agent started %s), %s\n", a.name, os.Getpid(),
		time.Since(a.started).Round(time.Second), a.started.UTC().Format(time.RFC3339), runtime.Version())
	return nil
}

// parseSeconds reads an optional SECONDS argument with a default and a cap.
func parseSeconds(args []string, def, max float64) (time.Duration, bool, error) {
	if len(args) == 0 {
		return time.Duration(def * float64(time.Second)), false, nil
	}
	if len(args) > 1 {
		return 0, false, fmt.Errorf("too many arguments %q", strings.Join(args, " "))
	}
	f, err := strconv.ParseFloat(args[0], 64)
	if err != nil || f <= 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, false, fmt.Errorf("bad seconds %q: want a positive number", args[0])
	}
	if f > max {
		return 0, false, fmt.Errorf("%g seconds is over the limit of %g", f, max)
	}
	return time.Duration(f * float64(time.Second)), true, nil
}

// sleepCtx waits for d or for ctx, and reports whether d elapsed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// blockRate is the block profile rate the profile command turns on: one
// sample per 10µs spent blocked.
const blockRate = 10000

func (a *Agent) cmdProfile(ctx context.Context, args []string, w io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: profile cpu|heap|allocs|goroutine|mutex|block [SECONDS]")
	}
	kind, rest := args[0], args[1:]
	switch kind {
	case "cpu":
		d, _, err := parseSeconds(rest, 10, 600)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(w); err != nil {
			return fmt.Errorf("start CPU profile: %w", err)
		}
		ok := sleepCtx(ctx, d)
		pprof.StopCPUProfile()
		if !ok {
			return ctx.Err()
		}
		return nil
	case "heap", "allocs":
		d, window, err := parseSeconds(rest, 0, 600)
		if err != nil {
			return err
		}
		if !window {
			return pprof.Lookup(kind).WriteTo(w, 0)
		}
		return deltaProfile(ctx, kind, d, w)
	case "goroutine":
		if len(rest) > 0 {
			return errors.New("goroutine takes no SECONDS")
		}
		return pprof.Lookup(kind).WriteTo(w, 0)
	case "mutex", "block":
		d, window, err := parseSeconds(rest, 0, 600)
		if err != nil {
			return err
		}
		if window {
			if kind == "mutex" {
				old := runtime.SetMutexProfileFraction(-1)
				if old == 0 {
					runtime.SetMutexProfileFraction(10)
					defer runtime.SetMutexProfileFraction(0)
				}
			} else {
				runtime.SetBlockProfileRate(blockRate)
				defer runtime.SetBlockProfileRate(0)
			}
			if !sleepCtx(ctx, d) {
				return ctx.Err()
			}
		}
		return pprof.Lookup(kind).WriteTo(w, 0)
	}
	return fmt.Errorf("unknown profile %q: want cpu, heap, allocs, goroutine, mutex or block", kind)
}

// deltaProfile writes what was allocated during d: the profile at the end
// minus the profile at the start.
func deltaProfile(ctx context.Context, kind string, d time.Duration, w io.Writer) error {
	var b0 bytes.Buffer
	if err := pprof.Lookup(kind).WriteTo(&b0, 0); err != nil {
		return err
	}
	t0 := time.Now()
	if !sleepCtx(ctx, d) {
		return ctx.Err()
	}
	var b1 bytes.Buffer
	if err := pprof.Lookup(kind).WriteTo(&b1, 0); err != nil {
		return err
	}
	p0, err := profile.Parse(&b0)
	if err != nil {
		return fmt.Errorf("parse %s profile: %w", kind, err)
	}
	p1, err := profile.Parse(&b1)
	if err != nil {
		return fmt.Errorf("parse %s profile: %w", kind, err)
	}
	p0.Scale(-1)
	diff, err := profile.Merge([]*profile.Profile{p0, p1})
	if err != nil {
		return fmt.Errorf("difference of %s profiles: %w", kind, err)
	}
	diff.TimeNanos = t0.UnixNano()
	diff.DurationNanos = time.Since(t0).Nanoseconds()
	return diff.Write(w)
}

func (a *Agent) cmdTrace(ctx context.Context, args []string, w io.Writer) error {
	d, _, err := parseSeconds(args, 1, 60)
	if err != nil {
		return err
	}
	if err := trace.Start(w); err != nil {
		return fmt.Errorf("start trace: %w", err)
	}
	ok := sleepCtx(ctx, d)
	trace.Stop()
	if !ok {
		return ctx.Err()
	}
	return nil
}
