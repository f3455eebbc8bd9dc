package repl

import (
	"debug/buildinfo"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/obs-toolkit/obs/internal/procfs"
)

// Process is a process on this host that obs can talk to: a Go program
// (its build information names the Go version), with or without an agent.
type Process struct {
	PID       int    `json:"pid"`
	Name      string `json:"name"` // the agent's name, else the executable's base name
	User      string `json:"user"`
	UID       int    `json:"uid"`
	GoVersion string `json:"go_version"`
	Module    string `json:"module,omitempty"` // main module path from the build information
	Exe       string `json:"exe"`
	Agent     bool   `json:"agent"`            // an agent socket answers
	Socket    string `json:"socket,omitempty"` // the agent's socket
	AgentErr  string `json:"agent_error,omitempty"`
}

// Processes lists the Go processes this process can read (all of them as
// root), sorted by pid, and whether an agent listens in each. The Go
// version and module come from the executable's build information
// (debug/buildinfo on /proc/PID/exe); processes whose executable cannot be
// read or is not Go are left out unless an agent answers for them.
func Processes() ([]Process, error) {
	pids, err := procfs.Pids()
	if err != nil {
		return nil, err
	}
	agents, _ := List()
	byPID := map[int]AgentInfo{}
	for _, a := range agents {
		byPID[a.PID] = a
	}
	type bi struct {
		goVersion, module string
		ok                bool
	}
	cache := map[string]bi{}
	self := os.Getpid()
	var out []Process
	for _, pid := range pids {
		ag, hasAgent := byPID[pid]
		if pid == self && !hasAgent {
			continue // obs itself
		}
		p := Process{PID: pid, UID: -1}
		exe, err := procfs.Exe(pid)
		if err == nil {
			p.Exe = exe
			info, seen := cache[exe]
			if !seen {
				if b, err := buildinfo.ReadFile(exe); err == nil {
					info = bi{b.GoVersion, b.Main.Path, true}
				}
				cache[exe] = info
			}
			if !info.ok && !hasAgent {
				continue
			}
			p.GoVersion, p.Module = info.goVersion, info.module
		} else if !hasAgent {
			continue
		}
		p.Name = procfs.Comm(pid)
		if p.Exe != "" {
			p.Name = baseName(p.Exe)
		}
		if st, err := procfs.Status(pid); err == nil {
			if f := strings.Fields(st["Uid"]); len(f) > 1 {
				if uid, err := strconv.Atoi(f[1]); err == nil {
					p.UID = uid
					p.User = userName(uid)
				}
			}
		}
		if hasAgent {
			p.Socket = ag.Socket
			p.AgentErr = ag.Err
			p.Agent = ag.Err == ""
			if ag.Name != "" {
				p.Name = ag.Name
			}
			if p.GoVersion == "" {
				p.GoVersion = ag.GoVersion
			}
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PID < out[j].PID })
	return out, nil
}

func baseName(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}
