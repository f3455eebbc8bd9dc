package main

import (
	"context"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/obs-toolkit/obs/internal/doctor"
	"github.com/obs-toolkit/obs/internal/output"
)

func init() { register(newDoctorCmd) }

type doctorOptions struct {
	json   bool
	strict bool
}

func newDoctorCmd(g *globals) *cobra.Command {
	var o doctorOptions
	c := &cobra.Command{
		Use:   "doctor",
		Short: "Check what obs can do on this host, and how to fix what it cannot",
		Long: `Check what obs can do on this host, and how to fix what it cannot.

Every check is performed, not guessed: doctor loads a BPF program, attaches a
uprobe to one of its own functions and a raw tracepoint to sys_enter and
counts their hits, tries a kprobe, opens software and hardware perf events,
ptrace-attaches a child it spawns, and reads the core dump and rlimit
settings. Nothing it attaches outlives the run.

Status: ok (works), warn (partly, or a feature obs can do without is
missing), fail (a capability obs needs is unavailable).
Exit status: 0 unless a check fails (1); with --strict a warning also exits 1.

--json fields: host, kernel, duration_ns, summary {ok, warn, fail}, checks[]
{name, status, found, fix, affects[], facts{...}}. Check names: ` + strings.Join(doctor.Names(), ", ") + `.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runDoctor(c.Context(), g.IO(), o)
		},
	}
	c.Flags().BoolVar(&o.json, "json", false, "print JSON")
	c.Flags().BoolVar(&o.strict, "strict", false, "exit 1 on warnings too")
	return c
}

func runDoctor(ctx context.Context, io *output.IO, o doctorOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	r := doctor.Run(ctx)
	if o.json {
		if err := io.JSON(r); err != nil {
			return err
		}
	} else {
		printDoctor(io, r)
	}
	if r.Summary.Fail > 0 || o.strict && r.Summary.Warn > 0 {
		return output.Silent(output.ExitFail)
	}
	return nil
}

func printDoctor(io *output.IO, r *doctor.Report) {
	io.Printf("obs doctor on %s, Linux %s\n\n", r.Host, r.Kernel)
	t := output.NewTable("CHECK", "STATUS", "FOUND")
	for _, c := range r.Checks {
		t.Row(c.Name, paintStatus(io, c.Status), c.Found)
	}
	t.Render(io)
	// Checks that share a fix (usually: run as root) are listed together.
	var order []string
	byFix := map[string][]string{}
	for _, c := range r.Checks {
		if c.Status == doctor.OK || c.Fix == "" {
			continue
		}
		if byFix[c.Fix] == nil {
			order = append(order, c.Fix)
		}
		byFix[c.Fix] = append(byFix[c.Fix], c.Name)
	}
	if len(order) > 0 {
		io.Printf("\nTo fix:\n")
	}
	for _, fix := range order {
		io.Printf("  %s: %s\n", strings.Join(byFix[fix], ", "), fix)
	}
	io.Printf("\n%d ok, %d warn, %d fail (%s)\n", r.Summary.OK, r.Summary.Warn, r.Summary.Fail,
		r.Duration.Round(time.Millisecond))
}

func paintStatus(io *output.IO, s doctor.Status) string {
	switch s {
	case doctor.OK:
		return io.Paint(output.Green, string(s))
	case doctor.Warn:
		return io.Paint(output.Yellow, string(s))
	}
	return io.Paint(output.Red, string(s))
}
