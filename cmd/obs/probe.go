package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/obs-toolkit/obs/internal/output"
	"github.com/obs-toolkit/obs/probes"
)

func init() { register(newProbeCmd) }

func newProbeCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "probe",
		Short: "Dynamic probes on running processes: list, count, latency, trace, stacks, syscalls",
		Long: `Attach probes to a live process (or every process running a binary) without
restarting it, aggregate in the kernel, and print on Ctrl-C, SIGTERM, target
exit or after -d. Safe for Go: no uretprobe is ever placed on Go code.

Spec forms: main.handle, 'net/http.(*conn).serve', 'main.*' (globs),
lib:libc.so.6:malloc, usdt:python:gc__start.`,
	}
	c.AddCommand(newProbeListCmd(g), newProbeCountCmd(g), newProbeLatencyCmd(g), newProbeTraceCmd(g), newProbeStacksCmd(g), newProbeSyscallsCmd(g))
	return c
}

// targetFlags are the flags every probe command shares.
type targetFlags struct {
	pid      int
	exe      string
	command  string
	dur      time.Duration
	interval time.Duration
	asJSON   bool
	maxRate  uint64
}

func (f *targetFlags) add(c *cobra.Command, run bool) {
	c.Flags().IntVarP(&f.pid, "pid", "p", 0, "probe this process")
	c.Flags().StringVar(&f.exe, "exe", "", "probe every process running this executable")
	c.Flags().BoolVar(&f.asJSON, "json", false, "print JSON")
	if run {
		c.Flags().StringVarP(&f.command, "command", "c", "", "start this command with the probes in place, and stop when it exits")
		c.Flags().DurationVarP(&f.dur, "duration", "d", 0, "detach and print after this long (default: until Ctrl-C or the target exits)")
		c.Flags().DurationVar(&f.interval, "interval", 0, "print and reset this often")
		c.Flags().Uint64Var(&f.maxRate, "max-rate", 200000, "detach if hits per second stay above this for a second (0: no limit)")
	}
}

// probeRun is one attach-and-wait run's context.
type probeRun struct {
	t     *probes.Target
	child *probes.Child
}

func (f *targetFlags) target() (*probeRun, error) {
	n := 0
	for _, set := range []bool{f.pid != 0, f.exe != "", f.command != ""} {
		if set {
			n++
		}
	}
	if n != 1 {
		return nil, output.Usagef("give exactly one of -p PID, --exe PATH, -c CMD")
	}
	var r probeRun
	var err error
	switch {
	case f.pid != 0:
		r.t, err = probes.ProcessTarget(f.pid)
	case f.exe != "":
		r.t, err = probes.ExeTarget(f.exe)
	default:
		argv, serr := probes.SplitCommand(f.command)
		if serr != nil {
			return nil, output.Usagef("-c: %v", serr)
		}
		if len(argv) == 0 {
			return nil, output.Usagef("-c: empty command")
		}
		r.child, err = probes.StartStopped(argv)
		if err == nil {
			r.t, err = probes.ProcessTarget(r.child.PID)
			if err != nil {
				r.child.Stop(time.Second)
			}
		}
	}
	if err != nil {
		return nil, cliErr(err)
	}
	return &r, nil
}

// resolve picks the target from the flags and resolves specs in it; on a
// resolve error it stops a -c child it started.
func (f *targetFlags) resolve(specs []string) (*probeRun, []probes.Probe, error) {
	r, err := f.target()
	if err != nil {
		return nil, nil, err
	}
	ps, err := r.t.ResolveAll(specs)
	if err != nil {
		r.abort()
		return nil, nil, cliErr(err)
	}
	return r, ps, nil
}

// start lets a stopped child run; call after attaching.
func (r *probeRun) start() error {
	if r.child == nil {
		return nil
	}
	return r.child.Resume()
}

// abort stops a child that was started but never resumed or whose probes
// failed.
func (r *probeRun) abort() {
	if r.child != nil {
		r.child.Stop(2 * time.Second)
	}
}

func (r *probeRun) wait(f *targetFlags, hits func() uint64, onInterval func(), done <-chan struct{}) probes.StopReason {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	o := probes.WaitOptions{Duration: f.dur, Interval: f.interval, OnInterval: onInterval, Hits: hits, MaxRate: f.maxRate, Done: done}
	if r.child != nil {
		o.Exited = r.child.Exited
	} else if r.t.PID != 0 {
		o.PID = r.t.PID
	}
	return probes.Wait(ctx, o)
}

// aggregator is what an in-kernel aggregating command (count, latency,
// stacks, syscalls) has attached.
type aggregator interface {
	Total() uint64
	Reset() error
	Close() error
}

// aggregate is the loop those commands share once attached: it lets a -c
// child run, then at every --interval prints and resets agg, and when the
// run stops prints with the reason, detaches, and turns a rate stop into an
// error. print gets the time the figures it reads began to accumulate.
func (r *probeRun) aggregate(f *targetFlags, agg aggregator, print func(reason probes.StopReason, began time.Time)) error {
	if err := r.start(); err != nil {
		return cliErr(err)
	}
	began := time.Now()
	reason := r.wait(f, agg.Total, func() { print("", began); agg.Reset(); began = time.Now() }, nil)
	print(reason, began)
	agg.Close()
	return rateErr(reason, f)
}

// cliErr turns a library error into a one-line CLI error with the right
// exit code.
func cliErr(err error) error {
	if err == nil {
		return nil
	}
	var ee *output.ExitError
	if errors.As(err, &ee) {
		return err
	}
	if errors.Is(err, probes.ErrUsage) {
		return output.Usagef("%s", strings.TrimPrefix(err.Error(), "usage: "))
	}
	return output.Failf("%v", err)
}

func rateErr(reason probes.StopReason, f *targetFlags) error {
	if reason == probes.StopRate {
		return output.Failf("detached: more than %d hits per second (raise --max-rate to allow more)", f.maxRate)
	}
	return nil
}

// costNote describes what the chosen sites cost per hit. The figures are
// typical on the development VM (bench/probe.sh measures them: emulated
// entry 1.4-2.7 us, single-stepped 36 us, entry+RET 55 us under load).
func costNote(sites []probes.AttachedSite) string {
	n := map[string]int{}
	for _, s := range sites {
		n[s.Cost]++
	}
	var parts []string
	for _, k := range []string{"emulated", "single-stepped", "return trampoline"} {
		if n[k] == 0 {
			continue
		}
		est := map[string]string{"emulated": "~3us", "single-stepped": "~20-50us", "return trampoline": "~5us"}[k]
		parts = append(parts, fmt.Sprintf("%d %s (%s/hit)", n[k], k, est))
	}
	return strings.Join(parts, ", ")
}

func newProbeListCmd(g *globals) *cobra.Command {
	var f targetFlags
	c := &cobra.Command{
		Use:   "list (-p PID | --exe PATH) [PATTERN]",
		Short: "List functions and USDT probes of a process or binary",
		Long: `List the functions (Go and C symbols, with the shared object they live in)
and USDT probes (provider:name, argument specs) of a process and every
library it maps, or of an executable. PATTERN is a glob; 'usdt:*' lists only
USDT probes.

--json: array of {kind ("func"|"usdt"), name, object, lib, addr, offset,
size, source ("symtab"|"dynsym"|"pclntab"), sites, args, semaphore}.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			r, err := f.target()
			if err != nil {
				return err
			}
			pat := ""
			if len(args) == 1 {
				pat = args[0]
			}
			ls, err := r.t.List(pat)
			if err != nil {
				return cliErr(err)
			}
			io := g.IO()
			if f.asJSON {
				if ls == nil {
					ls = []probes.Listing{}
				}
				return io.JSON(ls)
			}
			tab := output.NewTable("KIND", "NAME", "OBJECT", "OFFSET", "ARGS")
			for _, l := range ls {
				obj := l.Lib
				if obj == "" {
					obj = "(exe)"
				}
				args := l.Args
				if l.Kind == probes.KindUSDT && l.Sites > 1 {
					args = fmt.Sprintf("%s  [%d sites]", args, l.Sites)
				}
				if l.Sem {
					args += "  [semaphore]"
				}
				tab.Row(string(l.Kind), l.Name, obj, fmt.Sprintf("%#x", l.Offset), args)
			}
			tab.Render(io)
			if len(ls) == 0 {
				return output.Failf("nothing matches %q", pat)
			}
			return nil
		},
	}
	f.add(c, false)
	return c
}

// countJSON is what `obs probe count --json` prints (one object per
// interval with --interval).
type countJSON struct {
	Probes     []countProbeJSON `json:"probes"`
	Seconds    float64          `json:"seconds"`
	StopReason string           `json:"stop_reason,omitempty"`
}

type countProbeJSON struct {
	Name   string `json:"name"`
	Object string `json:"object"`
	Count  uint64 `json:"count"`
	Sites  int    `json:"sites"`
	Cost   string `json:"site_cost"`
}

func newProbeCountCmd(g *globals) *cobra.Command {
	var f targetFlags
	c := &cobra.Command{
		Use:   "count (-p PID | --exe PATH | -c CMD) SPEC...",
		Short: "Count calls per probe, in the kernel",
		Long: `Count calls per probe (a glob counts each matching function apart), like
funccount. Counting happens in the kernel; nothing is sent per hit.

--json fields: probes (array of name, object, count, sites, site_cost),
seconds, stop_reason.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, specs []string) error {
			r, ps, err := f.resolve(specs)
			if err != nil {
				return err
			}
			defer r.abort()
			cnt, err := probes.Count(r.t, ps)
			if err != nil {
				return cliErr(err)
			}
			defer cnt.Close()
			io := g.IO()
			if !f.asJSON {
				fmt.Fprintf(io.Err, "obs: counting %d probe(s) at %d site(s): %s. Ctrl-C to stop.\n", len(ps), len(cnt.Sites), costNote(cnt.Sites))
			}
			print := func(reason probes.StopReason, began time.Time) {
				counts, err := cnt.Read()
				if err != nil {
					io.Warnf("%v", err)
					return
				}
				sites := map[int]int{}
				cost := map[int]string{}
				for _, s := range cnt.Sites {
					sites[s.Probe]++
					cost[s.Probe] = s.Cost
				}
				if f.asJSON {
					out := countJSON{Seconds: time.Since(began).Seconds(), StopReason: string(reason)}
					for i, p := range ps {
						out.Probes = append(out.Probes, countProbeJSON{Name: p.Name, Object: p.Path, Count: counts[i], Sites: sites[i], Cost: cost[i]})
					}
					io.JSON(out)
					return
				}
				if f.interval > 0 {
					io.Printf("%s\n", time.Now().Format("15:04:05"))
				}
				// Most frequent first; with many probes (globs) only those hit.
				order := make([]int, len(ps))
				for i := range order {
					order[i] = i
				}
				sort.SliceStable(order, func(a, b int) bool { return counts[order[a]] > counts[order[b]] })
				tab := output.NewTable("PROBE", "COUNT").AlignRight(1)
				hidden := 0
				for _, i := range order {
					if counts[i] == 0 && len(ps) > 20 {
						hidden++
						continue
					}
					tab.Row(ps[i].Name, counts[i])
				}
				tab.Render(io)
				if hidden > 0 {
					io.Printf("(%d probes with no hits not shown; --json lists all)\n", hidden)
				}
			}
			return r.aggregate(&f, cnt, print)
		},
	}
	f.add(c, true)
	return c
}

// latencyJSON is one probe's result in `obs probe latency --json`.
type latencyJSON struct {
	Name    string       `json:"name"`
	Count   uint64       `json:"count"`
	P50     uint64       `json:"p50_ns"`
	P90     uint64       `json:"p90_ns"`
	P99     uint64       `json:"p99_ns"`
	Max     uint64       `json:"max_ns"`
	Mean    uint64       `json:"mean_ns"`
	Buckets []bucketJSON `json:"buckets"`
	Sites   []siteJSON   `json:"sites"`
}

type bucketJSON struct {
	LowNs  uint64 `json:"low_ns"`
	HighNs uint64 `json:"high_ns"`
	Count  uint64 `json:"count"`
}

type siteJSON struct {
	Kind   string `json:"kind"`
	Offset uint64 `json:"offset"`
	Inst   string `json:"inst"`
	Cost   string `json:"cost"`
}

func newProbeLatencyCmd(g *globals) *cobra.Command {
	var f targetFlags
	c := &cobra.Command{
		Use:   "latency (-p PID | --exe PATH | -c CMD) FUNC|usdt:P:START..DONE...",
		Short: "Histogram of call durations, entry to every return",
		Long: `Time each call from entry to return, in the kernel, and print a power-of-two
histogram as DTrace's quantize does, with count, p50, p90, p99 and max.

Go functions get no uretprobe: obs disassembles them and probes every RET and
tail jump, matching returns to entries by goroutine and stack depth, so a
stack the runtime moves is still matched. C functions use a uretprobe.
A USDT pair, usdt:PROVIDER:START..DONE (usdt:python:gc__start..gc__done),
is timed from START to the next DONE on the same thread.
Percentiles are estimated within their power-of-two bucket.

--json: array of {name, count, p50_ns, p90_ns, p99_ns, max_ns, mean_ns,
buckets: [{low_ns, high_ns, count}], sites: [{kind, offset, inst, cost}]}.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, specs []string) error {
			r, ps, err := f.resolve(specs)
			if err != nil {
				return err
			}
			defer r.abort()
			lat, err := probes.MeasureLatency(r.t, ps)
			if err != nil {
				return cliErr(err)
			}
			defer lat.Close()
			io := g.IO()
			if !f.asJSON {
				fmt.Fprintf(io.Err, "obs: timing %d function(s) at %d site(s): %s. Ctrl-C to stop.\n", len(ps), len(lat.Sites), costNote(lat.Sites))
			}
			print := func(probes.StopReason, time.Time) {
				hs, err := lat.Read()
				if err != nil {
					io.Warnf("%v", err)
					return
				}
				if f.asJSON {
					var out []latencyJSON
					for i, p := range ps {
						out = append(out, latencyResult(p, hs[i], lat.Sites, i))
					}
					io.JSON(out)
					return
				}
				for i, p := range ps {
					printQuantize(io, p.Name, hs[i])
				}
			}
			return r.aggregate(&f, lat, print)
		},
	}
	f.add(c, true)
	return c
}

func latencyResult(p probes.Probe, h probes.Histogram, sites []probes.AttachedSite, i int) latencyJSON {
	o := latencyJSON{Name: p.Name, Count: h.Count, P50: h.Quantile(0.5), P90: h.Quantile(0.9), P99: h.Quantile(0.99), Max: h.MaxNs, Buckets: []bucketJSON{}}
	if h.Count > 0 {
		o.Mean = h.SumNs / h.Count
	}
	for b, n := range h.Buckets {
		if n == 0 {
			continue
		}
		lo := uint64(1) << b
		if b == 0 {
			lo = 0
		}
		hi := uint64(math.MaxUint64)
		if b < 63 {
			hi = uint64(1)<<(b+1) - 1
		}
		o.Buckets = append(o.Buckets, bucketJSON{LowNs: lo, HighNs: hi, Count: n})
	}
	for _, s := range sites {
		if s.Probe == i {
			o.Sites = append(o.Sites, siteJSON{Kind: s.Kind, Offset: s.Offset, Inst: s.Inst, Cost: s.Cost})
		}
	}
	return o
}

func fmtNs(ns uint64) string { return probes.FormatNs(ns) }

func printQuantize(io *output.IO, name string, h probes.Histogram) {
	probes.WriteQuantize(io.Out, name, h)
}

// traceJSON is one line of `obs probe trace --json` (JSON Lines).
type traceJSON struct {
	Time  string         `json:"time"`
	PID   int            `json:"pid"`
	TID   int            `json:"tid"`
	Goid  int64          `json:"goid,omitempty"`
	Probe string         `json:"probe"`
	Ret   bool           `json:"ret,omitempty"`
	Args  []probes.Value `json:"args"`
}

func newProbeTraceCmd(g *globals) *cobra.Command {
	var f targetFlags
	var n int
	var ret bool
	var strSize int
	var filter string
	var strs []string
	c := &cobra.Command{
		Use:   "trace (-p PID | --exe PATH | -c CMD) SPEC... [-n N]",
		Short: "One line per hit with decoded arguments (and --ret return values)",
		Long: `Print one line per probe hit: time, pid/tid, goroutine id for Go, and the
arguments by name. Go arguments are decoded by the register ABI with names
and types from DWARF (strings and slices copied up to --strsize bytes in the
probe); C arguments by the System V ABI; USDT arguments by their note's specs.
--ret adds return values, read at every RET of a Go function (never a
uretprobe) and by a uretprobe for C. Events the ring buffer had no room for
are counted and reported as lost.

--filter EXPR shows only events for which EXPR is true (evaluated in obs on
each event; every hit still costs its probe). Names: each argument by name
and as arg.NAME (USDT: arg0..arg8), pid, tid, goid, probe, ret. Example:
--filter 'arg.n > 5 && name startsWith "hello"'. --str arg0,... copies those
USDT arguments as C strings (e.g. python:audit's event name).

--json: one JSON object per line: time (RFC 3339, ns), pid, tid, goid,
probe, ret, args: [{name, type, value}].`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, specs []string) error {
			if n < 0 {
				return output.Usagef("-n must be >= 0")
			}
			if strSize < 1 || strSize > 256 {
				return output.Usagef("--strsize must be between 1 and 256, not %d", strSize)
			}
			var flt *probes.Filter
			if filter != "" {
				var err error
				if flt, err = probes.CompileFilter(filter); err != nil {
					return cliErr(err)
				}
			}
			r, ps, err := f.resolve(specs)
			if err != nil {
				return err
			}
			defer r.abort()
			tr, err := probes.Trace(r.t, ps, probes.TraceOptions{Ret: ret, StrSize: strSize, Strings: strs})
			if err != nil {
				return cliErr(err)
			}
			defer tr.Close()
			io := g.IO()
			for i, p := range ps {
				if note := tr.Note(i); note != "" && !f.asJSON {
					io.Warnf("%s: arguments shown as raw registers: %s", p.Name, note)
				}
			}
			if !f.asJSON {
				fmt.Fprintf(io.Err, "obs: tracing %d probe(s) at %d site(s): %s. Ctrl-C to stop.\n", len(ps), len(tr.Sites), costNote(tr.Sites))
			}
			if err := r.start(); err != nil {
				return cliErr(err)
			}
			done := make(chan struct{})
			go func() {
				defer close(done)
				seen := 0
				for {
					ev, err := tr.Next()
					if err != nil {
						return
					}
					if !flt.Match(ps[ev.Probe].Name, ev) {
						continue
					}
					printEvent(io, f.asJSON, ps[ev.Probe], ev)
					seen++
					if n > 0 && seen >= n {
						return
					}
				}
			}()
			reason := r.wait(&f, tr.Hits, nil, done)
			tr.Close()
			<-done
			if lost := tr.Lost(); lost > 0 {
				io.Warnf("%d event(s) lost: the ring buffer was full", lost)
			}
			return rateErr(reason, &f)
		},
	}
	f.add(c, true)
	c.Flags().IntVarP(&n, "count", "n", 0, "stop after N events (0: no limit)")
	c.Flags().BoolVar(&ret, "ret", false, "also print return values")
	c.Flags().IntVar(&strSize, "strsize", 64, "bytes copied per string or slice (at most 256)")
	c.Flags().StringVar(&filter, "filter", "", "show only events for which this expression is true")
	c.Flags().StringSliceVar(&strs, "str", nil, "USDT arguments to copy as C strings (arg0,arg1,...)")
	c.Flags().Lookup("max-rate").DefValue = "10000"
	c.Flags().Set("max-rate", "10000")
	return c
}

func printEvent(io *output.IO, asJSON bool, p probes.Probe, ev probes.Event) {
	if asJSON {
		args := ev.Args
		if args == nil {
			args = []probes.Value{}
		}
		b, err := json.Marshal(traceJSON{Time: ev.Time.Format(time.RFC3339Nano), PID: ev.PID, TID: ev.TID, Goid: ev.Goid, Probe: p.Name, Ret: ev.Ret, Args: args})
		if err == nil {
			io.Printf("%s\n", b)
		}
		return
	}
	var b strings.Builder
	b.WriteString(ev.Time.Format("15:04:05.000000"))
	fmt.Fprintf(&b, " %d/%d", ev.PID, ev.TID)
	if ev.Goid > 0 {
		fmt.Fprintf(&b, " g%d", ev.Goid)
	}
	b.WriteString(" " + p.Name)
	var parts []string
	for _, a := range ev.Args {
		parts = append(parts, a.Name+"="+a.Value)
	}
	if ev.Ret {
		b.WriteString(" -> (" + strings.Join(parts, ", ") + ")")
	} else {
		b.WriteString("(" + strings.Join(parts, ", ") + ")")
	}
	io.Printf("%s\n", b.String())
}

// stackJSON is one stack in `obs probe stacks --json`.
type stackJSON struct {
	Probe  string         `json:"probe"`
	PID    int            `json:"pid"`
	Count  uint64         `json:"count"`
	Frames []probes.Frame `json:"frames"`
}

func newProbeStacksCmd(g *globals) *cobra.Command {
	var f targetFlags
	var folded bool
	var top int
	c := &cobra.Command{
		Use:   "stacks (-p PID | --exe PATH | -c CMD) SPEC...",
		Short: "User stacks at probe hits, aggregated by count and symbolized",
		Long: `Count the user stacks at each hit of the probes, in the kernel, and print them
symbolized, most frequent first. --folded prints one line per stack,
root first, ';'-separated, then the count (for flame graphs). Hits whose
stack could not be kept (more distinct stacks than the map holds) are
counted and reported.

--json: {stacks: [{probe, pid, count, frames: [{addr, func, offset,
object}]}] (leaf first), dropped}.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, specs []string) error {
			r, ps, err := f.resolve(specs)
			if err != nil {
				return err
			}
			defer r.abort()
			st, err := probes.CollectStacks(r.t, ps)
			if err != nil {
				return cliErr(err)
			}
			defer st.Close()
			io := g.IO()
			if !f.asJSON && !folded {
				fmt.Fprintf(io.Err, "obs: collecting stacks at %d site(s): %s. Ctrl-C to stop.\n", len(st.Sites), costNote(st.Sites))
			}
			print := func(probes.StopReason, time.Time) {
				stacks, err := st.Read()
				if err != nil {
					io.Warnf("%v", err)
					return
				}
				printStacks(io, ps, stacks, st.Dropped(), f.asJSON, folded, top)
			}
			return r.aggregate(&f, st, print)
		},
	}
	f.add(c, true)
	c.Flags().BoolVar(&folded, "folded", false, "print folded stacks (root;...;leaf count) for flame graphs")
	c.Flags().IntVar(&top, "top", 0, "print only the N most frequent stacks (0: all)")
	return c
}

func printStacks(io *output.IO, ps []probes.Probe, stacks []probes.Stack, dropped uint64, asJSON, folded bool, top int) {
	if top > 0 && len(stacks) > top {
		stacks = stacks[:top]
	}
	switch {
	case asJSON:
		out := struct {
			Stacks  []stackJSON `json:"stacks"`
			Dropped uint64      `json:"dropped"`
		}{Stacks: []stackJSON{}, Dropped: dropped}
		for _, s := range stacks {
			out.Stacks = append(out.Stacks, stackJSON{Probe: ps[s.Probe].Name, PID: s.PID, Count: s.Count, Frames: s.Frames})
		}
		io.JSON(out)
		return
	case folded:
		for _, s := range stacks {
			var names []string
			for i := len(s.Frames) - 1; i >= 0; i-- {
				names = append(names, strings.ReplaceAll(s.Frames[i].String(), ";", ":"))
			}
			io.Printf("%s %d\n", strings.Join(names, ";"), s.Count)
		}
	default:
		for _, s := range stacks {
			io.Printf("%s  pid %d  count %d\n", ps[s.Probe].Name, s.PID, s.Count)
			for _, fr := range s.Frames {
				name := fr.String()
				if fr.Func != "" {
					name = fmt.Sprintf("%s+%#x", fr.Func, fr.Offset)
				}
				if fr.Object != "" {
					name += "  (" + fr.Object + ")"
				}
				io.Printf("    %s\n", name)
			}
			io.Printf("\n")
		}
	}
	if dropped > 0 {
		io.Warnf("%d hit(s) without a stack (map full or stack unreadable)", dropped)
	}
}

// syscallJSON is one row of `obs probe syscalls --json`.
type syscallJSON struct {
	Name    string `json:"name"`
	Nr      int    `json:"nr"`
	Count   uint64 `json:"count"`
	Errors  uint64 `json:"errors"`
	TotalNs uint64 `json:"total_ns"`
	MeanNs  uint64 `json:"mean_ns"`
	P99Ns   uint64 `json:"p99_ns"`
	MaxNs   uint64 `json:"max_ns"`
}

func newProbeSyscallsCmd(g *globals) *cobra.Command {
	var f targetFlags
	var hist string
	c := &cobra.Command{
		Use:   "syscalls (-p PID | -c CMD)",
		Short: "Per-syscall counts and latency from the raw_syscalls tracepoints",
		Long: `Count and time every system call of a process from the raw_syscalls
sys_enter/sys_exit tracepoints (no kprobes needed), filtered in the kernel.
Errors are returns from -4095 to -1. --hist NAME also prints that syscall's
latency histogram.

--json: {syscalls: [{name, nr, count, errors, total_ns, mean_ns, p99_ns,
max_ns}], seconds, stop_reason}.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if f.exe != "" {
				return output.Usagef("syscalls takes -p PID or -c CMD, not --exe")
			}
			r, err := f.target()
			if err != nil {
				return err
			}
			defer r.abort()
			pid := r.t.PID
			sc, err := probes.TraceSyscalls(pid)
			if err != nil {
				return cliErr(err)
			}
			defer sc.Close()
			io := g.IO()
			if !f.asJSON {
				fmt.Fprintf(io.Err, "obs: timing syscalls of pid %d. Ctrl-C to stop.\n", pid)
			}
			print := func(reason probes.StopReason, began time.Time) {
				sts, err := sc.Read()
				if err != nil {
					io.Warnf("%v", err)
					return
				}
				if f.asJSON {
					out := struct {
						Syscalls   []syscallJSON `json:"syscalls"`
						Seconds    float64       `json:"seconds"`
						StopReason string        `json:"stop_reason,omitempty"`
					}{Syscalls: []syscallJSON{}, Seconds: time.Since(began).Seconds(), StopReason: string(reason)}
					for _, s := range sts {
						out.Syscalls = append(out.Syscalls, syscallJSON{Name: s.Name, Nr: s.Nr, Count: s.Count, Errors: s.Errors, TotalNs: s.SumNs, MeanNs: s.SumNs / s.Count, P99Ns: s.Hist.Quantile(0.99), MaxNs: s.MaxNs})
					}
					io.JSON(out)
					return
				}
				tab := output.NewTable("SYSCALL", "COUNT", "ERRORS", "TOTAL", "MEAN", "P99", "MAX").AlignRight(1, 2, 3, 4, 5, 6)
				for _, s := range sts {
					tab.Row(s.Name, s.Count, s.Errors, fmtNs(s.SumNs), fmtNs(s.SumNs/s.Count), fmtNs(s.Hist.Quantile(0.99)), fmtNs(s.MaxNs))
				}
				tab.Render(io)
				for _, s := range sts {
					if s.Name == hist {
						io.Printf("\n")
						printQuantize(io, s.Name, s.Hist)
					}
				}
			}
			return r.aggregate(&f, sc, print)
		},
	}
	f.add(c, true)
	c.Flags().StringVar(&hist, "hist", "", "also print this syscall's latency histogram")
	c.Flags().Set("max-rate", "1000000")
	c.Flags().Lookup("max-rate").DefValue = "1000000"
	return c
}
