package triage

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/pprof/profile"

	"github.com/obs-toolkit/obs/internal/pprofx"
	"github.com/obs-toolkit/obs/probes/sample"
)

// ProfileData is what the cpu and offcpu sections record.
type ProfileData struct {
	Source   string            `json:"source"` // "ebpf" or "agent" (the service's own runtime/pprof)
	Event    string            `json:"event,omitempty"`
	Samples  uint64            `json:"samples"`
	Lost     uint64            `json:"lost,omitempty"`
	Top      []pprofx.TopEntry `json:"top,omitempty"`
	Total    int64             `json:"total"`
	Unit     string            `json:"unit"`
	Cost     *sample.Cost      `json:"cost,omitempty"`
	Warnings []string          `json:"warnings,omitempty"`
}

func cpuProfile(ctx context.Context, e *env, s *Section) {
	if e.opts.NoBPF {
		if e.agent == nil {
			s.Status = Skipped
			s.note("eBPF turned off (--no-bpf) and no agent to profile through")
			return
		}
		agentCPU(ctx, e, s)
		return
	}
	res, err := sample.Run(ctx, sample.RunOptions{Options: sample.Options{Pid: e.pid, Kind: sample.CPU}, Duration: e.opts.Duration})
	if err != nil {
		s.miss("eBPF CPU profile: %s", bpfErr(err))
		if e.agent != nil {
			agentCPU(ctx, e, s)
		}
		return
	}
	recordProfile(e, s, res, "cpu.pb.gz", 1, "on-CPU")
}

func offCPUProfile(ctx context.Context, e *env, s *Section) {
	if e.opts.NoBPF {
		s.Status = Skipped
		s.note("eBPF turned off (--no-bpf)")
		return
	}
	res, err := sample.Run(ctx, sample.RunOptions{Options: sample.Options{Pid: e.pid, Kind: sample.OffCPU}, Duration: e.opts.Duration})
	if err != nil {
		s.miss("eBPF off-CPU profile: %s", bpfErr(err))
		return
	}
	recordProfile(e, s, res, "offcpu.pb.gz", 1, "off-CPU")
}

func recordProfile(e *env, s *Section, res *sample.Result, file string, index int, what string) {
	d := &ProfileData{Source: "ebpf", Event: res.Stats.Event, Samples: res.Stats.Samples, Lost: res.Stats.Lost,
		Cost: &res.Cost, Warnings: res.Warnings}
	s.Data = d
	var buf bytes.Buffer
	if err := res.Profile.Write(&buf); err != nil {
		s.miss("encode %s: %v", file, err)
	} else {
		e.write(s, file, buf.Bytes())
	}
	if res.Exited {
		s.miss("the process exited during the window")
	}
	summarize(s, d, res.Profile, index, what)
	s.note("profiling cost obs %.1f%% of a CPU (%s in BPF)", 100*res.Cost.ObsCPUShare, fmtPct(res.Cost.BPFShare))
}

// summarize fills Top and the summary lines from a profile.
func summarize(s *Section, d *ProfileData, p *profile.Profile, index int, what string) {
	if index >= len(p.SampleType) {
		index = len(p.SampleType) - 1
	}
	if index < 0 {
		return
	}
	d.Unit = p.SampleType[index].Unit
	d.Top, d.Total = pprofx.Top(userOnly(p), index, 8)
	if d.Total == 0 {
		s.note("%s: no samples over %s (the process was idle)", what, time.Duration(p.DurationNanos).Round(time.Millisecond))
		return
	}
	s.note("%s: %d samples over %s, %s in total; top user-space functions:", what, d.Samples, time.Duration(p.DurationNanos).Round(time.Millisecond), valueStr(d.Total, d.Unit))
	for i, t := range d.Top {
		if i == 5 {
			break
		}
		s.note("  %5.1f%% flat %5.1f%% cum  %s", t.FlatPct, t.CumPct, t.Function)
	}
	if len(d.Top) > 0 && d.Top[0].FlatPct >= 50 && strings.HasPrefix(what, "on-CPU") {
		s.finding("%.0f%% of on-CPU time in %s", d.Top[0].FlatPct, d.Top[0].Function)
	}
}

// userOnly returns a copy of p without kernel frames, so that the top
// functions are the service's own (the bundle's file keeps whole stacks).
func userOnly(p *profile.Profile) *profile.Profile {
	q := p.Copy()
	for _, smp := range q.Sample {
		locs := smp.Location[:0]
		for _, l := range smp.Location {
			if l.Mapping == nil || l.Mapping.File != "[kernel.kallsyms]" {
				locs = append(locs, l)
			}
		}
		smp.Location = locs
	}
	return q
}

// agentCPU falls back on the service's own CPU profiler through its agent:
// Go's SIGPROF sampling, which needs no privileges.
func agentCPU(ctx context.Context, e *env, s *Section) {
	secs := int(e.opts.Duration / time.Second)
	if secs < 1 {
		secs = 1
	}
	out, err := e.agent.do(ctx, e.opts.Duration+30*time.Second, "profile", "cpu", strconv.Itoa(secs))
	if err != nil {
		s.miss("agent CPU profile: %v", oneLine(err))
		return
	}
	e.write(s, "cpu-agent.pb.gz", out)
	p, err := profile.ParseData(out)
	if err != nil {
		s.miss("agent CPU profile unreadable: %v", err)
		return
	}
	d := &ProfileData{Source: "agent"}
	for _, smp := range p.Sample {
		if len(smp.Value) > 0 {
			d.Samples += uint64(smp.Value[0])
		}
	}
	s.Data = d
	summarize(s, d, p, 1, "on-CPU (the service's runtime/pprof, through its agent)")
}

func valueStr(v int64, unit string) string {
	if unit == "nanoseconds" {
		return time.Duration(v).Round(time.Millisecond).String()
	}
	return fmt.Sprintf("%d %s", v, unit)
}

func fmtPct(f float64) string { return fmt.Sprintf("%.2f%%", 100*f) }
