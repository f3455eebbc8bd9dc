// Package triage collects, in one run, what an operator needs about a
// misbehaving process: who it is, what it has open, its memory, what its obs
// agent says, CPU and off-CPU profiles and syscall counts over a window, a live core analysed
// for goroutines, leaks and heap, its recent slow and failed traces, and its
// recent logs, into a bundle directory with report.md and report.json.
//
// Each section records what it could not collect and why, and the run never
// fails as a whole because one section failed. The service is never stopped
// by triage for more than a moment; sections that read memory or attach
// probes are as gentle
// as the capability packages they call; the live core stops it for the
// moment its memory is copied (reported as stopped_ns).
package triage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/obs-toolkit/obs/internal/procfs"
)

// Status is how much of a section was collected.
type Status string

// Section outcomes.
const (
	OK      Status = "ok"      // everything collected
	Partial Status = "partial" // some parts collected, Missing says what not
	Skipped Status = "skipped" // not applicable or not asked for (no agent, no --log)
	Failed  Status = "failed"  // nothing collected, Missing says why
)

// Options configure a Run.
type Options struct {
	Pid       int
	Duration  time.Duration // profiling window (default 10s)
	Dir       string        // bundle directory, created if missing
	LogFile   string        // the service's bunyan/JSON log file, optional
	LogLines  int           // how many of its last records to keep (default 50)
	TracesURL string        // a Zipkin API base URL, optional
	Service   string        // the service name for traces (default: the agent's or comm)
	NoBPF     bool          // attach nothing: no eBPF profiles or syscall tracepoints (the CPU profile comes from the agent)
	NoCore    bool          // take no live core (it stops the process while its memory is copied)
	// Progress, when set, is told each section's name as it starts.
	Progress func(section string)
}

// Section is one part of the report.
type Section struct {
	Name     string        `json:"name"`
	Status   Status        `json:"status"`
	Findings []string      `json:"findings,omitempty"` // what stands out: leaks, errors, limits near
	Summary  []string      `json:"summary,omitempty"`  // lines for a person
	Missing  []string      `json:"missing,omitempty"`  // what could not be collected, and why
	Files    []string      `json:"files,omitempty"`    // bundle files, relative to the bundle dir
	Data     any           `json:"data,omitempty"`     // the section's figures for scripts
	Duration time.Duration `json:"duration_ns"`
}

func (s *Section) note(format string, a ...any) {
	s.Summary = append(s.Summary, fmt.Sprintf(format, a...))
}
func (s *Section) miss(format string, a ...any) {
	s.Missing = append(s.Missing, fmt.Sprintf(format, a...))
}

// finding records something an operator should look at first.
func (s *Section) finding(format string, a ...any) {
	s.Findings = append(s.Findings, fmt.Sprintf(format, a...))
}

// Report is the result of a Run, also written as report.json.
type Report struct {
	Pid      int           `json:"pid"`
	Comm     string        `json:"comm"`
	Started  time.Time     `json:"started"`
	Duration time.Duration `json:"duration_ns"`
	Window   time.Duration `json:"window_ns"`
	Dir      string        `json:"dir"`
	Findings []string      `json:"findings"` // every section's findings, "section: finding"
	Sections []*Section    `json:"sections"`
}

// Section returns the section with the given name, or nil.
func (r *Report) Section(name string) *Section {
	for _, s := range r.Sections {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// ErrNoProcess is returned by Run when the pid does not exist.
var ErrNoProcess = errors.New("no such process")

// env is what every section sees.
type env struct {
	opts  Options
	pid   int
	dir   string
	exe   string // the executable as obs can open it
	agent *agentConn
	mu    sync.Mutex // guards file writes from concurrent sections
}

// write stores data as name in the bundle and lists it in s.
func (e *env) write(s *Section, name string, data []byte) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := os.WriteFile(filepath.Join(e.dir, name), data, 0o644); err != nil {
		s.miss("write %s: %v", name, err)
		return
	}
	s.Files = append(s.Files, name)
}

// writeJSON stores v as indented JSON.
func (e *env) writeJSON(s *Section, name string, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		s.miss("encode %s: %v", name, err)
		return
	}
	e.write(s, name, append(b, '\n'))
}

type sectionFunc struct {
	name string
	run  func(ctx context.Context, e *env, s *Section)
}

// Sections before the window, during it (concurrently) and after it. The
// report lists them in this order.
var (
	before = []sectionFunc{
		{"identity", identity},
		{"files", files},
		{"memory", memory},
		{"agent", agentSection},
	}
	during = []sectionFunc{
		{"cpu", cpuProfile},
		{"offcpu", offCPUProfile},
		{"syscalls", syscallsSection},
	}
	after = []sectionFunc{
		{"core", coreSection},
		{"traces", tracesSection},
		{"logs", logsSection},
	}
)

// SectionNames lists the sections a Run reports, in order.
func SectionNames() []string {
	var out []string
	for _, l := range [][]sectionFunc{before, during, after} {
		for _, f := range l {
			out = append(out, f.name)
		}
	}
	return out
}

// Run triages opts.Pid into opts.Dir. It returns an error only when it
// cannot start (no such process, no bundle directory); everything else is
// recorded in the sections.
func Run(ctx context.Context, opts Options) (*Report, error) {
	if opts.Pid <= 0 {
		return nil, fmt.Errorf("triage: pid must be positive, got %d", opts.Pid)
	}
	if !procfs.Alive(opts.Pid) {
		return nil, fmt.Errorf("triage pid %d: %w", opts.Pid, ErrNoProcess)
	}
	if opts.Duration <= 0 {
		opts.Duration = 10 * time.Second
	}
	if opts.LogLines <= 0 {
		opts.LogLines = 50
	}
	if opts.Dir == "" {
		opts.Dir = fmt.Sprintf("triage-%d-%s", opts.Pid, time.Now().UTC().Format("20060102T150405Z"))
	}
	// A bundle never mixes two runs: the directory must be new or empty.
	if ents, err := os.ReadDir(opts.Dir); err == nil && len(ents) > 0 {
		return nil, fmt.Errorf("triage: bundle directory %s is not empty; choose a new one with -o", opts.Dir)
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("triage: bundle directory: %w", err)
	}
	e := &env{opts: opts, pid: opts.Pid, dir: opts.Dir}
	if exe, err := procfs.Exe(opts.Pid); err == nil {
		e.exe = exe
	}
	r := &Report{Pid: opts.Pid, Comm: procfs.Comm(opts.Pid), Started: time.Now().UTC(), Window: opts.Duration, Dir: opts.Dir}
	defer e.closeAgent()

	runList := func(list []sectionFunc, concurrent bool) {
		secs := make([]*Section, len(list))
		var wg sync.WaitGroup
		for i, f := range list {
			secs[i] = &Section{Name: f.name}
			if opts.Progress != nil {
				opts.Progress(f.name)
			}
			if concurrent {
				wg.Add(1)
				go func() { defer wg.Done(); runSection(ctx, e, f, secs[i]) }()
			} else {
				runSection(ctx, e, f, secs[i])
			}
		}
		wg.Wait()
		r.Sections = append(r.Sections, secs...)
	}
	runList(before, false)
	runList(during, true)
	runList(after, false)
	r.Duration = time.Since(r.Started)
	r.Findings = []string{}
	for _, s := range r.Sections {
		for _, f := range s.Findings {
			r.Findings = append(r.Findings, s.Name+": "+f)
		}
	}

	// The report files themselves: failures here are the one thing the
	// caller must hear about, as the bundle would be incomplete.
	b, err := json.MarshalIndent(r, "", "  ")
	if err == nil {
		err = os.WriteFile(filepath.Join(opts.Dir, "report.json"), append(b, '\n'), 0o644)
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(opts.Dir, "report.md"), []byte(Markdown(r)), 0o644)
	}
	if err != nil {
		return r, fmt.Errorf("triage: write report: %w", err)
	}
	return r, nil
}

// runSection runs one section, turning a panic into a failed section.
func runSection(ctx context.Context, e *env, f sectionFunc, s *Section) {
	start := time.Now()
	defer func() {
		if p := recover(); p != nil {
			s.miss("section crashed: %v (an obs bug)", p)
			s.Status = Failed
		}
		s.Duration = time.Since(start)
		if s.Status == "" {
			switch {
			case len(s.Missing) == 0:
				s.Status = OK
			case len(s.Summary) > 0 || len(s.Files) > 0 || s.Data != nil:
				s.Status = Partial
			default:
				s.Status = Failed
			}
		}
	}()
	if !procfs.Alive(e.pid) {
		s.Status = Failed
		s.miss("pid %d has exited", e.pid)
		return
	}
	f.run(ctx, e, s)
}

func itoa(n int) string { return strconv.Itoa(n) }
