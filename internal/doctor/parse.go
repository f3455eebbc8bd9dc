package doctor

import (
	"fmt"
	"path"
	"strconv"
	"strings"
)

// Capability numbers from linux/capability.h that obs cares about.
const (
	CapSysPtrace  = 19
	CapSysAdmin   = 21
	CapSysResouce = 24
	CapPerfmon    = 38
	CapBPF        = 39
)

// capNames names the capabilities reported by the capabilities check.
var capNames = []struct {
	bit  uint
	name string
}{
	{CapBPF, "CAP_BPF"},
	{CapPerfmon, "CAP_PERFMON"},
	{CapSysAdmin, "CAP_SYS_ADMIN"},
	{CapSysPtrace, "CAP_SYS_PTRACE"},
	{CapSysResouce, "CAP_SYS_RESOURCE"},
}

// CapSet is a capability bit set as in /proc/PID/status.
type CapSet uint64

// Has reports whether capability bit is in the set.
func (c CapSet) Has(bit uint) bool { return bit < 64 && c&(1<<bit) != 0 }

// ParseCapSet parses the hexadecimal value of a CapEff/CapPrm line.
func ParseCapSet(s string) (CapSet, error) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 16 {
		return 0, fmt.Errorf("capability set %q: want 1 to 16 hex digits", s)
	}
	v, err := strconv.ParseUint(s, 16, 64)
	if err != nil {
		return 0, fmt.Errorf("capability set %q: not hexadecimal", s)
	}
	return CapSet(v), nil
}

// StatusCapEff finds the CapEff line in the text of /proc/PID/status and
// parses it.
func StatusCapEff(status string) (CapSet, error) {
	for _, l := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(l, "CapEff:"); ok {
			return ParseCapSet(v)
		}
	}
	return 0, fmt.Errorf("no CapEff line in status")
}

// KernelVersion is a parsed kernel release such as "6.18.44-fc-v669".
type KernelVersion struct {
	Major, Minor, Patch int
	Extra               string // everything after the numbers, e.g. "-fc-v669"
}

// AtLeast reports whether the version is major.minor or newer.
func (v KernelVersion) AtLeast(major, minor int) bool {
	return v.Major > major || v.Major == major && v.Minor >= minor
}

// ParseKernelRelease parses the release string of uname(2).
func ParseKernelRelease(s string) (KernelVersion, error) {
	var v KernelVersion
	rest := strings.TrimSpace(s)
	nums := make([]int, 0, 3)
	for len(nums) < 3 {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 || i > 9 {
			break
		}
		n, _ := strconv.Atoi(rest[:i])
		nums = append(nums, n)
		rest = rest[i:]
		if len(nums) < 3 && strings.HasPrefix(rest, ".") && len(rest) > 1 && rest[1] >= '0' && rest[1] <= '9' {
			rest = rest[1:]
			continue
		}
		break
	}
	if len(nums) < 2 {
		return v, fmt.Errorf("kernel release %q: want major.minor", s)
	}
	v.Major, v.Minor = nums[0], nums[1]
	if len(nums) == 3 {
		v.Patch = nums[2]
	}
	v.Extra = rest
	return v, nil
}

// CorePattern is a parsed /proc/sys/kernel/core_pattern.
type CorePattern struct {
	Raw      string   `json:"raw"`
	Pipe     bool     `json:"pipe"`              // cores go to a program's stdin
	Handler  string   `json:"handler,omitempty"` // the program's path when Pipe
	Args     []string `json:"args,omitempty"`    // its arguments when Pipe
	Path     string   `json:"path,omitempty"`    // the file template when not Pipe
	Relative bool     `json:"relative"`          // Path is relative to the crashing process's cwd
	Known    string   `json:"known,omitempty"`   // a recognised handler: systemd-coredump, apport, abrt, ...
}

// knownHandlers maps a pipe handler's base name to what obs calls it.
var knownHandlers = map[string]string{
	"systemd-coredump":  "systemd-coredump",
	"apport":            "apport",
	"abrt-hook-ccpp":    "abrt",
	"containerd-shim":   "containerd",
	"core-dump-handler": "core-dump-handler",
}

// ParseCorePattern parses the contents of core_pattern. An empty pattern
// means the kernel writes no cores at all, and is reported as an error.
func ParseCorePattern(s string) (CorePattern, error) {
	s = strings.TrimRight(s, "\n")
	p := CorePattern{Raw: s}
	if strings.TrimSpace(s) == "" {
		return p, fmt.Errorf("core_pattern is empty: the kernel writes no cores")
	}
	if rest, ok := strings.CutPrefix(s, "|"); ok {
		f := strings.Fields(rest)
		if len(f) == 0 {
			return p, fmt.Errorf("core_pattern %q: pipe without a program", s)
		}
		p.Pipe = true
		p.Handler = f[0]
		p.Args = f[1:]
		p.Known = knownHandlers[path.Base(f[0])]
		return p, nil
	}
	p.Path = s
	p.Relative = !strings.HasPrefix(s, "/")
	return p, nil
}

// FindMounts returns the mount points of the given filesystem type in the
// text of /proc/mounts (or /proc/self/mounts).
func FindMounts(mounts, fstype string) []string {
	var out []string
	for _, l := range strings.Split(mounts, "\n") {
		f := strings.Fields(l)
		if len(f) >= 3 && f[2] == fstype {
			out = append(out, unescapeMount(f[1]))
		}
	}
	return out
}

// unescapeMount undoes the octal escapes (\040 for a space) in a mount point.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// ParseIntFile parses a sysctl-like file holding one integer.
func ParseIntFile(s string) (int, error) {
	v, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("want an integer, got %q", strings.TrimSpace(s))
	}
	return v, nil
}

// KallsymsVisible reports whether the first lines of /proc/kallsyms carry
// real addresses (kptr_restrict hides them as zeros from the unprivileged).
// It reads at most the first 20 symbol lines of text.
func KallsymsVisible(text string) (visible bool, lines int) {
	for _, l := range strings.SplitN(text, "\n", 21) {
		f := strings.Fields(l)
		if len(f) < 3 {
			continue
		}
		lines++
		if v, err := strconv.ParseUint(f[0], 16, 64); err == nil && v != 0 {
			return true, lines
		}
		if lines == 20 {
			break
		}
	}
	return false, lines
}

// ParseNSpid returns the pids of the NSpid line of /proc/PID/status, from
// the outermost pid namespace the reader can see to the process's own.
func ParseNSpid(status string) ([]int, error) {
	for _, l := range strings.Split(status, "\n") {
		v, ok := strings.CutPrefix(l, "NSpid:")
		if !ok {
			continue
		}
		var out []int
		for _, f := range strings.Fields(v) {
			n, err := strconv.Atoi(f)
			if err != nil || n <= 0 {
				return nil, fmt.Errorf("NSpid %q: not a list of pids", strings.TrimSpace(v))
			}
			out = append(out, n)
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("NSpid line is empty")
		}
		return out, nil
	}
	return nil, fmt.Errorf("no NSpid line (kernel older than 4.1)")
}
