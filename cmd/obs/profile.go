package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/google/pprof/profile"
	"github.com/spf13/cobra"

	"github.com/obs-toolkit/obs/internal/output"
	"github.com/obs-toolkit/obs/internal/pprofx"
	"github.com/obs-toolkit/obs/probes/sample"
	"github.com/obs-toolkit/obs/repl"
)

func init() { register(newProfileCmd) }

func newProfileCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "profile",
		Short: "CPU and off-CPU profiles of any running process (eBPF), runtime profiles through the agent",
		Long: `Profiles as pprof files that 'go tool pprof' and 'obs profile top|web' read.

  obs profile cpu -p PID       on-CPU samples with eBPF, any process (Go, C, ...)
  obs profile offcpu -p PID    where threads block, from sched_switch
  obs profile heap -p PID      heap, allocs, goroutine, mutex, block from a Go
                               service's runtime through its obs agent
  obs profile top FILE         top functions of a profile
  obs profile web FILE         the pprof web UI (flame graph) on loopback`,
	}
	c.AddCommand(newProfileSampleCmd(g, sample.CPU), newProfileSampleCmd(g, sample.OffCPU),
		newProfileTopCmd(g), newProfileWebCmd(g))
	for _, k := range []string{"heap", "allocs", "goroutine", "mutex", "block"} {
		c.AddCommand(newProfileAgentCmd(g, k))
	}
	return c
}

type profileOpts struct {
	pid      int
	duration time.Duration
	freq     int
	out      string
	folded   bool
	asJSON   bool
	top      int
	noFix    bool
	noLabels bool
	agent    bool
}

// profileReport is what --json prints for cpu and offcpu.
type profileReport struct {
	Pid      int               `json:"pid"`
	Kind     string            `json:"kind"`
	Output   string            `json:"output"`
	Exited   bool              `json:"target_exited"`
	Stats    sample.Stats      `json:"stats"`
	Build    sample.BuildStats `json:"build"`
	Cost     sample.Cost       `json:"cost"`
	Unit     string            `json:"unit"`
	Total    int64             `json:"total"`
	Top      []pprofx.TopEntry `json:"top"`
	Warnings []string          `json:"warnings,omitempty"`
}

func newProfileSampleCmd(g *globals, kind sample.Kind) *cobra.Command {
	o := &profileOpts{}
	name := kind.String()
	c := &cobra.Command{
		Use:  name + " -p PID",
		Args: cobra.NoArgs,
		Short: map[sample.Kind]string{sample.CPU: "Sample a process's CPU use with eBPF into a pprof file",
			sample.OffCPU: "Record where a process's threads are off CPU (blocked or preempted) into a pprof file"}[kind],
		Long: profileLong(kind),
		RunE: func(c *cobra.Command, _ []string) error {
			if o.pid <= 0 {
				return output.Usagef("-p PID is required")
			}
			if o.freq < 1 || o.freq > 10000 {
				return output.Usagef("-F %d: want 1..10000 Hz", o.freq)
			}
			if o.duration < 0 {
				return output.Usagef("-d %v: negative duration", o.duration)
			}
			if o.out == "" {
				o.out = fmt.Sprintf("%s-%d.pb.gz", name, o.pid)
			}
			if o.agent {
				if kind != sample.CPU {
					return output.Usagef("--agent works for cpu only")
				}
				return runAgentProfile(g, "cpu", o)
			}
			return runSampleProfile(g, kind, o)
		},
	}
	f := c.Flags()
	f.IntVarP(&o.pid, "pid", "p", 0, "process to profile")
	f.DurationVarP(&o.duration, "duration", "d", 10*time.Second, "how long to profile (0: until Ctrl-C or the process exits)")
	f.StringVarP(&o.out, "output", "o", "", "pprof file to write (default "+name+"-PID.pb.gz)")
	f.BoolVar(&o.folded, "folded", false, "print folded stacks (flamegraph.pl, speedscope) instead of the top table")
	f.BoolVar(&o.asJSON, "json", false, "print JSON")
	f.IntVarP(&o.top, "top", "n", 15, "functions in the top table")
	f.BoolVar(&o.noLabels, "no-labels", false, "do not read Go goroutine labels")
	f.BoolVar(&o.noFix, "no-leaf-fix", false, "do not recover the callers of frameless Go leaves (shows what a frame-pointer walk alone gives)")
	if kind == sample.CPU {
		f.IntVarP(&o.freq, "freq", "F", 99, "samples per second on each CPU")
		f.BoolVar(&o.agent, "agent", false, "take the Go runtime's CPU profile through the obs agent instead of eBPF")
	} else {
		o.freq = 99
	}
	return c
}

func profileLong(kind sample.Kind) string {
	common := `
Ends after -d, on Ctrl-C, or when the process exits, and detaches everything
in each case. Stacks are aggregated in the kernel (bounded maps: samples that
do not fit are counted as lost). Needs root (CAP_BPF, CAP_PERFMON).

Go stacks are exact: a frame-pointer walk skips the caller of a Go function
that has no frame (golang/go#73753); obs also records the word at the stack
pointer and puts the caller back when .gopclntab says the sampled pc has no
frame.

--json fields: pid, kind, output, target_exited, stats {event, samples, lost,
ustack_errors, kstack_errors (user-mode samples have no kernel stack),
start_lost, labels_lost, bpf_runs, bpf_run_ns, bpf_ns_per_run, duration_ns}, build {samples,
leaf_fixed, no_user_stack}, cost {obs_cpu_ns, obs_cpu_share, target_cpu_ns,
bpf_share, symbolize_ns}, unit, total, top [{function, flat, flat_pct, cum,
cum_pct}], warnings.`
	if kind == sample.OffCPU {
		return `Record where a process's threads are off CPU.

Each time a thread of the process is switched out (sched_switch raw
tracepoint), its user and kernel stacks are noted; when it runs again the
time it was away is charged to them, labelled state=blocked (it waited for
something) or state=preempted (it was runnable). Sample types:
switches/count and offcpu/nanoseconds. The table ranks functions by
cumulative time and leaves kernel frames out (flat time goes to the
innermost user function); the pprof file keeps everything. The tracepoint
fires for every context switch on the host, so its cost grows with the
host's switch rate, not the target's.
` + common
	}
	return `Sample a process's CPU use with eBPF.

A sampling perf event on every CPU (hardware cycles when the machine has
them, else the software cpu-clock) runs a BPF program that keeps the
target's user and kernel stacks. Works on any process: Go (stripped, PIE,
cgo), C, and others with frame pointers. Sample types: samples/count and
cpu/nanoseconds; samples are labelled by thread ("thread", "tid") and, for
Go 1.24 and later, with the interrupted goroutine's pprof labels (up to 4,
each key and value cut to 32 bytes), read by the BPF program at the
sample.
` + common
}

// checkOutput fails at once when the profile could not be written to path,
// rather than after the whole -d has been spent profiling.
func checkOutput(path string) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".obs-write-check-*")
	if err != nil {
		return fmt.Errorf("cannot write the profile to %s: %v", path, errors.Unwrap(err))
	}
	f.Close()
	os.Remove(f.Name())
	return nil
}

func runSampleProfile(g *globals, kind sample.Kind, o *profileOpts) error {
	io := g.IO()
	if err := checkOutput(o.out); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := sample.Run(ctx, sample.RunOptions{
		Options:   sample.Options{Pid: o.pid, Kind: kind, Freq: o.freq},
		Duration:  o.duration,
		NoLeafFix: o.noFix,
		NoLabels:  o.noLabels,
		Attached: func(event string) {
			// On stderr, also with --json: scripts wait for it to know
			// the events are enabled.
			d := "until Ctrl-C"
			if o.duration > 0 {
				d = "for " + o.duration.String()
			}
			fmt.Fprintf(io.Err, "profiling pid %d (%s) %s\n", o.pid, event, d)
		},
	})
	if err != nil {
		return fmt.Errorf("profile %s of pid %d: %w (see 'obs doctor')", kind, o.pid, err)
	}
	if err := writeProfile(o.out, res.Profile); err != nil {
		return err
	}
	index, unit := 0, "samples"
	if kind == sample.OffCPU {
		index, unit = 1, "nanoseconds"
	}
	top, total := pprofx.TopWith(res.Profile, pprofx.TopOptions{Index: index, N: o.top,
		ByCum: kind == sample.OffCPU, UserOnly: kind == sample.OffCPU})
	if o.asJSON {
		return io.JSON(profileReport{Pid: o.pid, Kind: kind.String(), Output: o.out, Exited: res.Exited,
			Stats: res.Stats, Build: res.Build, Cost: res.Cost, Unit: unit, Total: total, Top: top, Warnings: res.Warnings})
	}
	for _, w := range res.Warnings {
		io.Warnf("%s", w)
	}
	if o.folded {
		return pprofx.WriteFolded(io.Out, res.Profile, index)
	}
	printTop(io, top, total, kind == sample.OffCPU)
	st := res.Stats
	fmt.Fprintf(io.Err, "wrote %s: %d samples, %d lost", o.out, st.Samples, st.Lost)
	if kind == sample.CPU && res.Build.LeafFixed > 0 {
		fmt.Fprintf(io.Err, ", %d with a frameless Go leaf's caller recovered", res.Build.LeafFixed)
	}
	if res.Exited {
		fmt.Fprintf(io.Err, "; the process exited")
	}
	fmt.Fprintln(io.Err)
	fmt.Fprintf(io.Err, "cost: obs %.2f%% of a CPU, BPF %s per run (%d runs, %.3f%% of a CPU), symbolizing %s\n",
		100*res.Cost.ObsCPUShare, st.BPFPerRun, st.BPFRuns, 100*res.Cost.BPFShare, res.Cost.SymbolizeDur.Round(time.Millisecond))
	return nil
}

func writeProfile(path string, p *profile.Profile) error {
	var buf bytes.Buffer
	if err := p.Write(&buf); err != nil {
		return fmt.Errorf("encode profile: %w", err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write profile: %w", err)
	}
	return nil
}

func printTop(io *output.IO, top []pprofx.TopEntry, total int64, times bool) {
	fmtv := func(v int64) string {
		if times {
			return time.Duration(v).Round(time.Microsecond).String()
		}
		return strconv.FormatInt(v, 10)
	}
	t := output.NewTable("FLAT", "FLAT%", "CUM", "CUM%", "FUNCTION").AlignRight(0, 1, 2, 3)
	for _, e := range top {
		t.Row(fmtv(e.Flat), fmt.Sprintf("%.1f%%", e.FlatPct), fmtv(e.Cum), fmt.Sprintf("%.1f%%", e.CumPct), e.Function)
	}
	t.Render(io)
	if total == 0 {
		fmt.Fprintln(io.Out, "(no samples)")
	}
}

func readProfile(path string) (*profile.Profile, error) {
	fd, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open profile: %w", err)
	}
	defer fd.Close()
	p, err := profile.Parse(fd)
	if err != nil {
		return nil, fmt.Errorf("read profile %s: %w", path, err)
	}
	return p, nil
}

func newProfileTopCmd(g *globals) *cobra.Command {
	var asJSON bool
	var n int
	var index string
	var byCum, userOnly bool
	c := &cobra.Command{
		Use:   "top FILE",
		Short: "Print the top functions of a pprof profile",
		Long: `Print the top functions of a pprof profile by flat value (the function
was the leaf) with cumulative values (anywhere on the stack), like
'go tool pprof -top'. Inlined functions count as their own.

--json fields: file, sample_type, unit, total, top [{function, flat,
flat_pct, cum, cum_pct}].`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			p, err := readProfile(args[0])
			if err != nil {
				return err
			}
			i := len(p.SampleType) - 1
			if index == "" && p.DefaultSampleType != "" {
				index = p.DefaultSampleType
			}
			if index != "" {
				i = -1
				for j, st := range p.SampleType {
					if st.Type == index {
						i = j
					}
				}
				if i < 0 {
					return output.Usagef("sample type %q not in %s", index, args[0])
				}
			}
			if i < 0 {
				return output.Failf("%s has no sample types", args[0])
			}
			top, total := pprofx.TopWith(p, pprofx.TopOptions{Index: i, N: n, ByCum: byCum, UserOnly: userOnly})
			io := g.IO()
			if asJSON {
				return io.JSON(map[string]any{"file": args[0], "sample_type": p.SampleType[i].Type,
					"unit": p.SampleType[i].Unit, "total": total, "top": top})
			}
			printTop(io, top, total, p.SampleType[i].Unit == "nanoseconds")
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.Flags().IntVarP(&n, "top", "n", 20, "functions to show (0: all)")
	c.Flags().BoolVar(&byCum, "cum", false, "rank by cumulative value (useful for off-CPU profiles)")
	c.Flags().BoolVar(&userOnly, "user", false, "leave kernel frames out (flat goes to the innermost user function)")
	c.Flags().StringVar(&index, "sample-index", "", "sample type to rank by (default: the profile's default, else the last)")
	return c
}

func newProfileWebCmd(g *globals) *cobra.Command {
	var addr string
	var asJSON bool
	c := &cobra.Command{
		Use:   "web FILE",
		Short: "Serve the pprof web UI (flame graph, top, source) for a profile on loopback",
		Long: `Serve google/pprof's web UI for a profile until Ctrl-C. The flame graph
needs nothing else; the graph view needs graphviz's dot. Binds loopback by
default and then serves loopback clients only.

--json prints {"url": ...} once listening.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if _, err := readProfile(args[0]); err != nil {
				return err
			}
			io := g.IO()
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return pprofx.Web(ctx, args[0], addr, func(url string) {
				if asJSON {
					io.JSON(map[string]string{"url": url})
				} else {
					fmt.Fprintf(io.Out, "serving %s on %s (Ctrl-C to stop)\n", args[0], url)
				}
			}, io.Err)
		},
	}
	c.Flags().StringVar(&addr, "http", "127.0.0.1:0", "address to serve on (port 0: any free port)")
	c.Flags().BoolVar(&asJSON, "json", false, "print the URL as JSON")
	return c
}

func newProfileAgentCmd(g *globals, kind string) *cobra.Command {
	o := &profileOpts{}
	c := &cobra.Command{
		Use:   kind + " -p PID",
		Short: "Take the Go runtime's " + kind + " profile through the service's obs agent",
		Long: `Take the Go runtime's ` + kind + ` profile of a service that links the obs agent
(package repl) and write it as a pprof file; print its top functions.
For mutex and block, -d is how long sampling is switched on; for allocs, a
non-zero -d gives the allocations over that window.

--json fields: pid, kind, output, bytes, sample_type, unit, total, top
[{function, flat, flat_pct, cum, cum_pct}].`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if o.pid <= 0 {
				return output.Usagef("-p PID is required")
			}
			if o.out == "" {
				o.out = fmt.Sprintf("%s-%d.pb.gz", kind, o.pid)
			}
			return runAgentProfile(g, kind, o)
		},
	}
	f := c.Flags()
	f.IntVarP(&o.pid, "pid", "p", 0, "service to profile (its obs agent)")
	def := time.Duration(0)
	if kind == "mutex" || kind == "block" {
		def = 5 * time.Second
	}
	f.DurationVarP(&o.duration, "duration", "d", def, "sampling window (mutex, block, allocs)")
	f.StringVarP(&o.out, "output", "o", "", "pprof file to write (default "+kind+"-PID.pb.gz)")
	f.BoolVar(&o.asJSON, "json", false, "print JSON")
	f.IntVarP(&o.top, "top", "n", 15, "functions in the top table")
	return c
}

func runAgentProfile(g *globals, kind string, o *profileOpts) error {
	io := g.IO()
	if err := checkOutput(o.out); err != nil {
		return err
	}
	cl, err := repl.Dial(strconv.Itoa(o.pid))
	if err != nil {
		return fmt.Errorf("profile %s of pid %d through the agent: %w", kind, o.pid, err)
	}
	defer cl.Close()
	args := []string{kind}
	if o.duration > 0 {
		secs := int(o.duration.Round(time.Second) / time.Second)
		if secs < 1 {
			secs = 1
		}
		args = append(args, strconv.Itoa(secs))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var buf bytes.Buffer
	if err := cl.Do(ctx, "profile", args, &buf); err != nil {
		var ce *repl.CommandError
		if errors.As(err, &ce) {
			return output.Failf("agent of pid %d: %s", o.pid, ce.Msg)
		}
		return fmt.Errorf("profile %s of pid %d through the agent: %w", kind, o.pid, err)
	}
	p, err := profile.ParseData(buf.Bytes())
	if err != nil {
		return fmt.Errorf("agent of pid %d sent a bad %s profile: %w", o.pid, kind, err)
	}
	if err := os.WriteFile(o.out, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write profile: %w", err)
	}
	i := len(p.SampleType) - 1
	for j, st := range p.SampleType {
		if st.Type == p.DefaultSampleType {
			i = j
		}
	}
	var top []pprofx.TopEntry
	var total int64
	st := &profile.ValueType{}
	if i >= 0 {
		top, total = pprofx.Top(p, i, o.top)
		st = p.SampleType[i]
	}
	if o.asJSON {
		return io.JSON(map[string]any{"pid": o.pid, "kind": kind, "output": o.out, "bytes": buf.Len(),
			"sample_type": st.Type, "unit": st.Unit, "total": total, "top": top})
	}
	printTop(io, top, total, st.Unit == "nanoseconds")
	fmt.Fprintf(io.Err, "wrote %s (%d bytes, %s %s)\n", o.out, buf.Len(), st.Type, st.Unit)
	return nil
}
