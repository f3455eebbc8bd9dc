package main

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/obs-toolkit/obs/internal/output"
	"github.com/obs-toolkit/obs/internal/triage"
)

func init() { register(newTriageCmd) }

type triageOptions struct {
	pid      int
	duration time.Duration
	dir      string
	logFile  string
	lines    int
	traces   string
	service  string
	noBPF    bool
	noCore   bool
	json     bool
}

func newTriageCmd(g *globals) *cobra.Command {
	var o triageOptions
	c := &cobra.Command{
		Use:   "triage -p PID [-d 10s] [-o DIR] [--log FILE] [--traces URL]",
		Short: "Collect everything about a misbehaving process into one bundle",
		Long: `Collect everything about a misbehaving process into one bundle directory,
with report.md and report.json, and print a summary.

Sections: ` + strings.Join(triage.SectionNames(), ", ") + `.
identity: binary, Go build info, cmdline, uptime, user, cgroup, limits.
files: open descriptors, sockets with addresses and states, listeners.
memory: mappings by kind, resident and swapped sizes, largest mapped files.
agent: through the service's obs REPL agent when it links one: memstats, log
level, exposed values, goroutines, heap and goroutine profiles.
cpu, offcpu: eBPF profiles over the window -d (pprof files); without BPF the
CPU profile falls back on the agent's runtime/pprof.
syscalls: counts, errors and latency per syscall over the same window
(raw syscall tracepoints).
core: a live core (the process stops for a moment while its memory is
copied), with the executable beside it, analysed for goroutine buckets,
certain leaks and suspects, the heap profile and the largest types.
traces: with --traces URL, the service's recent traces: root duration p50
and p99, the slowest, and those with errors (traces.json).
logs: the last --lines records of --log FILE, counted by level, also
rendered as bunyan's long format (log-tail.txt).

Each section says what it could not collect and why; one failed section
never fails the run. Exit status: 0 when the bundle was written, 1 when the
process does not exist or the bundle cannot be written, 2 for usage errors.

Findings (printed first, and at the top of report.md) are what stands out:
certain leaks and suspects, error traces, error log records, descriptors near
the limit, swapping, one function holding most of the CPU, a replaced binary.

--json prints report.json: pid, comm, started, duration_ns, window_ns, dir,
findings[], sections[] {name, status (ok, partial, skipped, failed),
findings[], summary[], missing[], files[], data, duration_ns}.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if o.pid <= 0 {
				return output.Usagef("-p PID is required")
			}
			if o.duration <= 0 || o.duration > time.Hour {
				return output.Usagef("-d must be between 0 and 1h, got %s", o.duration)
			}
			if o.lines < 1 || o.lines > 100000 {
				return output.Usagef("--lines must be 1..100000, got %d", o.lines)
			}
			return runTriage(c.Context(), g.IO(), o)
		},
	}
	c.Flags().IntVarP(&o.pid, "pid", "p", 0, "process to triage")
	c.Flags().DurationVarP(&o.duration, "duration", "d", 10*time.Second, "profiling window")
	c.Flags().StringVarP(&o.dir, "output", "o", "", "bundle directory (default triage-PID-TIME)")
	c.Flags().StringVar(&o.logFile, "log", "", "the service's JSON/bunyan log file")
	c.Flags().IntVar(&o.lines, "lines", 50, "log records to keep from --log")
	c.Flags().StringVar(&o.traces, "traces", "", "a Zipkin API base URL (obs trace serve) to read the service's recent traces from")
	c.Flags().StringVar(&o.service, "service", "", "the service's name in traces (default: its agent's name, or its command name)")
	c.Flags().BoolVar(&o.noBPF, "no-bpf", false, "attach no eBPF programs (CPU profile through the agent, no off-CPU or syscalls)")
	c.Flags().BoolVar(&o.noCore, "no-core", false, "take no live core (it stops the process while its memory is copied)")
	c.Flags().BoolVar(&o.json, "json", false, "print the report as JSON")
	return c
}

func runTriage(ctx context.Context, io *output.IO, o triageOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	opts := triage.Options{Pid: o.pid, Duration: o.duration, Dir: o.dir, LogFile: o.logFile, LogLines: o.lines,
		TracesURL: o.traces, Service: o.service, NoBPF: o.noBPF, NoCore: o.noCore}
	if io.IsTTY && !o.json {
		opts.Progress = func(name string) { io.Printf("%s\n", io.Paint(output.Dim, "collecting "+name+"...")) }
	}
	r, err := triage.Run(ctx, opts)
	if err != nil {
		if errors.Is(err, triage.ErrNoProcess) {
			return output.Failf("%v", err)
		}
		if r == nil {
			return output.Failf("%v", err)
		}
		io.Warnf("%v", err)
	}
	if o.json {
		return io.JSON(r)
	}
	io.Printf("obs triage of pid %d (%s): %s window, bundle %s\n", r.Pid, r.Comm, r.Window, r.Dir)
	if len(r.Findings) > 0 {
		io.Printf("\n%s\n", io.Paint(output.Bold, "findings"))
		for _, f := range r.Findings {
			io.Printf("  %s %s\n", io.Paint(output.Red, "!"), f)
		}
	}
	for _, s := range r.Sections {
		io.Printf("\n%s %s\n", io.Paint(output.Bold, s.Name), paintSection(io, s.Status))
		for _, l := range s.Summary {
			io.Printf("  %s\n", l)
		}
		for _, m := range s.Missing {
			io.Printf("  %s %s\n", io.Paint(output.Yellow, "not collected:"), m)
		}
	}
	io.Printf("\nreport: %s/report.md, %s/report.json\n", r.Dir, r.Dir)
	return nil
}

func paintSection(io *output.IO, s triage.Status) string {
	switch s {
	case triage.OK:
		return io.Paint(output.Green, string(s))
	case triage.Partial, triage.Skipped:
		return io.Paint(output.Yellow, string(s))
	}
	return io.Paint(output.Red, string(s))
}
