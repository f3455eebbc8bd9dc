// Package doctor checks what obs can do on this host: the kernel's BPF, perf,
// probe and tracepoint support, the privileges obs runs with, ptrace and core
// dump settings. Every check is performed, not inferred from a version
// number: it loads a BPF program, attaches a uprobe to a function of the
// running binary and triggers it, opens perf events, ptrace-attaches a child.
//
// A full Run takes a few tens of milliseconds, most of it loading the
// kernel's BTF. It attaches nothing that outlives the call.
package doctor

import (
	"context"
	"time"
)

// Status is the outcome of one check.
type Status string

// The outcomes, from best to worst.
const (
	OK   Status = "ok"   // works as obs needs
	Warn Status = "warn" // works partly, or a feature obs can do without is missing
	Fail Status = "fail" // a capability obs needs is unavailable
)

// Check is the result of one check.
type Check struct {
	Name    string         `json:"name"`              // stable identifier, e.g. "uprobes"
	Status  Status         `json:"status"`            // ok, warn or fail
	Found   string         `json:"found"`             // what the check saw, for a person
	Fix     string         `json:"fix,omitempty"`     // what to do when not ok
	Affects []string       `json:"affects,omitempty"` // obs commands that depend on it
	Facts   map[string]any `json:"facts,omitempty"`   // the same findings for scripts
}

// Report is the result of Run.
type Report struct {
	Host     string        `json:"host"`
	Kernel   string        `json:"kernel"`
	Checks   []Check       `json:"checks"`
	Summary  Summary       `json:"summary"`
	Duration time.Duration `json:"duration_ns"`
}

// Summary counts the checks by status.
type Summary struct {
	OK   int `json:"ok"`
	Warn int `json:"warn"`
	Fail int `json:"fail"`
}

// Worst returns the worst status in the report.
func (r *Report) Worst() Status {
	switch {
	case r.Summary.Fail > 0:
		return Fail
	case r.Summary.Warn > 0:
		return Warn
	}
	return OK
}

// Find returns the check with the given name.
func (r *Report) Find(name string) (Check, bool) {
	for _, c := range r.Checks {
		if c.Name == name {
			return c, true
		}
	}
	return Check{}, false
}

// checker runs one check. It must not panic, must undo everything it set up
// and should finish quickly; ctx bounds the few that wait.
type checker struct {
	name    string
	affects []string
	run     func(ctx context.Context, c *Check)
}

// checkers lists every check in the order they are reported.
var checkers = []checker{
	{"kernel", []string{"all"}, checkKernel},
	{"btf", []string{"probe", "profile"}, checkBTF},
	{"capabilities", []string{"probe", "profile", "core dump", "triage"}, checkCaps},
	{"bpf-syscall", []string{"probe", "profile", "logs -p"}, checkBPF},
	{"unprivileged-bpf", []string{"probe", "profile"}, checkUnprivBPF},
	{"uprobes", []string{"probe", "logs -p"}, checkUprobes},
	{"kprobes", []string{"probe kernel functions"}, checkKprobes},
	{"tracepoints", []string{"probe syscalls", "triage"}, checkTracepoints},
	{"tracefs", []string{"peers: bpftrace, perf trace"}, checkTracefs},
	{"perf-paranoid", []string{"profile"}, checkParanoid},
	{"perf-software", []string{"profile"}, checkPerfSoftware},
	{"perf-hardware", []string{"profile --event cycles"}, checkPerfHardware},
	{"ptrace", []string{"core dump", "triage", "probe (Go returns)"}, checkPtrace},
	{"core-pattern", []string{"core (kernel cores)"}, checkCorePattern},
	{"core-rlimit", []string{"core (kernel cores)"}, checkCoreRlimit},
	{"memlock", []string{"probe", "profile"}, checkMemlock},
	{"kernel-symbols", []string{"profile (kernel frames)", "probe stacks"}, checkKallsyms},
	{"pid-namespace", []string{"triage", "probe -p", "core dump"}, checkPidNS},
}

// Names lists the checks Run performs, in order.
func Names() []string {
	out := make([]string, len(checkers))
	for i, c := range checkers {
		out[i] = c.name
	}
	return out
}

// Run performs every check and returns the report. It never fails as a
// whole: a check that cannot be performed says so in its own result.
func Run(ctx context.Context) *Report {
	start := time.Now()
	r := &Report{Host: hostname(), Kernel: kernelRelease()}
	for _, k := range checkers {
		c := Check{Name: k.name, Affects: k.affects, Facts: map[string]any{}}
		runOne(ctx, k, &c)
		if c.Status == OK {
			c.Fix = ""
		}
		if len(c.Facts) == 0 {
			c.Facts = nil
		}
		r.Checks = append(r.Checks, c)
		switch c.Status {
		case OK:
			r.Summary.OK++
		case Warn:
			r.Summary.Warn++
		default:
			r.Summary.Fail++
		}
	}
	r.Duration = time.Since(start)
	return r
}

// runOne runs a check, turning a panic in it into a failed check so one bad
// check never takes the report down.
func runOne(ctx context.Context, k checker, c *Check) {
	defer func() {
		if p := recover(); p != nil {
			c.Status = Fail
			c.Found = "the check itself failed: " + panicString(p)
			c.Fix = "report this as an obs bug"
		}
	}()
	k.run(ctx, c)
	if c.Status == "" {
		c.Status = Fail
		c.Found = "the check reported nothing"
	}
}

func panicString(p any) string {
	if e, ok := p.(error); ok {
		return e.Error()
	}
	if s, ok := p.(string); ok {
		return s
	}
	return "panic"
}
