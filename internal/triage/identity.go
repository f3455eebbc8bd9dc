package triage

import (
	"context"
	"debug/buildinfo"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/obs-toolkit/obs/internal/procfs"
)

// Identity is the identity section's data.
type Identity struct {
	Exe       string            `json:"exe,omitempty"`
	ExeSize   int64             `json:"exe_size,omitempty"`
	Deleted   bool              `json:"exe_deleted,omitempty"` // replaced on disk since it started
	Cmdline   []string          `json:"cmdline,omitempty"`
	Cwd       string            `json:"cwd,omitempty"`
	GoVersion string            `json:"go_version,omitempty"`
	Module    string            `json:"module,omitempty"`
	Version   string            `json:"version,omitempty"`
	Settings  map[string]string `json:"build_settings,omitempty"`
	Deps      int               `json:"deps,omitempty"`
	Started   time.Time         `json:"started,omitzero"`
	Uptime    time.Duration     `json:"uptime_ns,omitempty"`
	User      string            `json:"user,omitempty"`
	Uid       int               `json:"uid"`
	PPid      int               `json:"ppid,omitempty"`
	State     string            `json:"state,omitempty"`
	Threads   int               `json:"threads,omitempty"`
	Cgroups   []string          `json:"cgroups,omitempty"`
	Limits    []Limit           `json:"limits,omitempty"`
}

func procPath(pid int, name string) string {
	return filepath.Join(procfs.Proc, strconv.Itoa(pid), name)
}

func identity(_ context.Context, e *env, s *Section) {
	id := &Identity{Uid: -1}
	s.Data = id
	link, err := os.Readlink(procPath(e.pid, "exe"))
	if err != nil {
		s.miss("executable: %v", err)
	} else {
		id.Deleted = strings.HasSuffix(link, " (deleted)")
		id.Exe = strings.TrimSuffix(link, " (deleted)")
		if st, err := os.Stat(procPath(e.pid, "exe")); err == nil {
			id.ExeSize = st.Size()
		}
	}
	if argv, err := procfs.Cmdline(e.pid); err != nil {
		s.miss("cmdline: %v", err)
	} else {
		id.Cmdline = argv
	}
	if cwd, err := os.Readlink(procPath(e.pid, "cwd")); err == nil {
		id.Cwd = cwd
	}

	// Build info from the running binary (through /proc/PID/exe, which
	// works even when the file was replaced or deleted on disk).
	if bi, err := buildinfo.ReadFile(procPath(e.pid, "exe")); err != nil {
		s.miss("Go build info: %v (not a Go binary, or too old)", err)
	} else {
		id.GoVersion, id.Module, id.Version = bi.GoVersion, bi.Main.Path, bi.Main.Version
		id.Deps = len(bi.Deps)
		id.Settings = map[string]string{}
		for _, kv := range bi.Settings {
			id.Settings[kv.Key] = kv.Value
		}
	}

	if st, err := procfs.Status(e.pid); err != nil {
		s.miss("status: %v", err)
	} else {
		id.State = st["State"]
		id.PPid, _ = strconv.Atoi(st["PPid"])
		id.Threads, _ = strconv.Atoi(st["Threads"])
		if f := strings.Fields(st["Uid"]); len(f) > 1 {
			id.Uid, _ = strconv.Atoi(f[1]) // effective
			id.User = f[1]
			if u, err := user.LookupId(f[1]); err == nil {
				id.User = u.Username
			}
		}
	}
	if started, err := startTime(e.pid); err != nil {
		s.miss("start time: %v", err)
	} else {
		id.Started = started.UTC()
		id.Uptime = time.Since(started).Round(time.Millisecond)
	}
	if b, err := os.ReadFile(procPath(e.pid, "cgroup")); err != nil {
		s.miss("cgroup: %v", err)
	} else {
		id.Cgroups = ParseCgroup(string(b))
	}
	if b, err := os.ReadFile(procPath(e.pid, "limits")); err != nil {
		s.miss("limits: %v", err)
	} else if l, err := ParseLimits(string(b)); err != nil {
		s.miss("%v", err)
	} else {
		id.Limits = l
	}

	s.note("pid %d (%s), %s, user %s, up %s", e.pid, filepath.Base(id.Exe), id.State, id.User, fmtDuration(id.Uptime))
	s.note("cmdline: %s", strings.Join(id.Cmdline, " "))
	if id.GoVersion != "" {
		rev := id.Settings["vcs.revision"]
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if rev != "" {
			rev = " commit " + rev
		}
		s.note("built with %s, module %s %s%s, %d dependencies", id.GoVersion, id.Module, id.Version, rev, id.Deps)
	}
	if id.Deleted {
		s.finding("the executable was replaced or deleted on disk since the process started (the bundle's exe is the running one)")
	}
	var cg []string
	for _, c := range id.Cgroups {
		if !strings.HasSuffix(c, ":/") && c != "/" {
			cg = append(cg, c)
		}
	}
	if len(cg) == 0 && len(id.Cgroups) > 0 {
		cg = []string{"/ (root)"}
	}
	for _, c := range cg {
		s.note("cgroup %s", c)
	}
	for _, l := range id.Limits {
		switch l.Name {
		case "Max open files", "Max core file size", "Max locked memory", "Max processes":
			s.note("%s: soft %s, hard %s", strings.ToLower(l.Name), l.Soft, l.Hard)
		}
	}
	e.writeJSON(s, "identity.json", id)
}

// startTime is when pid started: the boot time plus its start ticks.
func startTime(pid int) (time.Time, error) {
	b, err := os.ReadFile(procPath(pid, "stat"))
	if err != nil {
		return time.Time{}, err
	}
	ticks, err := ParseStatStart(string(b))
	if err != nil {
		return time.Time{}, err
	}
	st, err := os.ReadFile(filepath.Join(procfs.Proc, "stat"))
	if err != nil {
		return time.Time{}, err
	}
	for _, l := range strings.Split(string(st), "\n") {
		if v, ok := strings.CutPrefix(l, "btime "); ok {
			bt, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				break
			}
			// USER_HZ is 100 on every Linux architecture obs supports.
			return time.Unix(bt, 0).Add(time.Duration(ticks) * (time.Second / 100)), nil
		}
	}
	return time.Time{}, fmt.Errorf("no btime in /proc/stat")
}

func fmtDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "unknown"
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	case d < 48*time.Hour:
		return d.Round(time.Second).String()
	}
	return fmt.Sprintf("%dd%s", d/(24*time.Hour), (d % (24 * time.Hour)).Round(time.Minute))
}
