// Package procfs reads what obs needs from /proc: memory maps, the
// executable, command line, status and the process's root (for processes in
// other mount namespaces). Each call reads the file once; nothing is cached.
package procfs

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Proc is the /proc mount to read; tests may point it elsewhere.
var Proc = "/proc"

// Mapping is one line of /proc/PID/maps.
type Mapping struct {
	Start, End uint64 // address range [Start, End)
	Perms      string // e.g. "r-xp"
	Offset     uint64 // file offset of Start
	Dev        string
	Inode      uint64
	Path       string // file path, "[heap]", "[stack]", "" for anonymous
}

// Exec reports whether the mapping is executable.
func (m Mapping) Exec() bool { return len(m.Perms) > 2 && m.Perms[2] == 'x' }

// IsFile reports whether the mapping is backed by a file on disk.
func (m Mapping) IsFile() bool { return m.Inode != 0 && strings.HasPrefix(m.Path, "/") }

// Maps reads /proc/PID/maps.
func Maps(pid int) ([]Mapping, error) {
	b, err := os.ReadFile(filepath.Join(Proc, strconv.Itoa(pid), "maps"))
	if err != nil {
		return nil, fmt.Errorf("read maps of pid %d: %w", pid, err)
	}
	return ParseMaps(b)
}

// ParseMaps parses the text of a maps file.
func ParseMaps(b []byte) ([]Mapping, error) {
	var out []Mapping
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if strings.TrimSpace(text) == "" {
			continue
		}
		m, err := parseMapLine(text)
		if err != nil {
			return nil, fmt.Errorf("maps line %d: %w", line, err)
		}
		out = append(out, m)
	}
	return out, sc.Err()
}

func parseMapLine(s string) (Mapping, error) {
	var m Mapping
	f := strings.Fields(s)
	if len(f) < 5 {
		return m, fmt.Errorf("want at least 5 fields, got %d", len(f))
	}
	lo, hi, ok := strings.Cut(f[0], "-")
	if !ok {
		return m, fmt.Errorf("bad range %q", f[0])
	}
	var err error
	if m.Start, err = strconv.ParseUint(lo, 16, 64); err != nil {
		return m, fmt.Errorf("bad start %q", lo)
	}
	if m.End, err = strconv.ParseUint(hi, 16, 64); err != nil {
		return m, fmt.Errorf("bad end %q", hi)
	}
	if m.End < m.Start {
		return m, fmt.Errorf("range %q ends before it starts", f[0])
	}
	m.Perms = f[1]
	if m.Offset, err = strconv.ParseUint(f[2], 16, 64); err != nil {
		return m, fmt.Errorf("bad offset %q", f[2])
	}
	m.Dev = f[3]
	if m.Inode, err = strconv.ParseUint(f[4], 10, 64); err != nil {
		return m, fmt.Errorf("bad inode %q", f[4])
	}
	if len(f) > 5 {
		// The path may contain spaces: take everything after the fifth field.
		rest := s
		for i := 0; i < 5; i++ {
			rest = strings.TrimLeft(rest, " \t")
			if j := strings.IndexAny(rest, " \t"); j >= 0 {
				rest = rest[j:]
			} else {
				rest = ""
			}
		}
		m.Path = strings.TrimSpace(rest)
	}
	return m, nil
}

// Find returns the mapping containing addr.
func Find(maps []Mapping, addr uint64) (Mapping, bool) {
	for _, m := range maps {
		if addr >= m.Start && addr < m.End {
			return m, true
		}
	}
	return Mapping{}, false
}

// Exe returns the path of the process's executable as seen from obs's mount
// namespace (through /proc/PID/root when the target lives in another one).
func Exe(pid int) (string, error) {
	link := filepath.Join(Proc, strconv.Itoa(pid), "exe")
	target, err := os.Readlink(link)
	if err != nil {
		return "", fmt.Errorf("read executable of pid %d: %w", pid, err)
	}
	target = strings.TrimSuffix(target, " (deleted)")
	return HostPath(pid, target), nil
}

// HostPath turns a path inside pid's mount namespace into one obs can open:
// /proc/PID/root/<path> when that differs from obs's own view, else path.
func HostPath(pid int, path string) string {
	root := filepath.Join(Proc, strconv.Itoa(pid), "root")
	if sameMountNS(pid) {
		return path
	}
	return filepath.Join(root, path)
}

func sameMountNS(pid int) bool {
	self, err1 := os.Readlink(filepath.Join(Proc, "self", "ns", "mnt"))
	other, err2 := os.Readlink(filepath.Join(Proc, strconv.Itoa(pid), "ns", "mnt"))
	if err1 != nil || err2 != nil {
		return true
	}
	return self == other
}

// Cmdline returns the process's argv.
func Cmdline(pid int) ([]string, error) {
	b, err := os.ReadFile(filepath.Join(Proc, strconv.Itoa(pid), "cmdline"))
	if err != nil {
		return nil, fmt.Errorf("read cmdline of pid %d: %w", pid, err)
	}
	b = bytes.TrimRight(b, "\x00")
	if len(b) == 0 {
		return nil, nil
	}
	return strings.Split(string(b), "\x00"), nil
}

// Comm returns the process's short name.
func Comm(pid int) string {
	b, _ := os.ReadFile(filepath.Join(Proc, strconv.Itoa(pid), "comm"))
	return strings.TrimSpace(string(b))
}

// Status returns the key/value pairs of /proc/PID/status.
func Status(pid int) (map[string]string, error) {
	b, err := os.ReadFile(filepath.Join(Proc, strconv.Itoa(pid), "status"))
	if err != nil {
		return nil, fmt.Errorf("read status of pid %d: %w", pid, err)
	}
	out := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(l, ":")
		if ok {
			out[k] = strings.TrimSpace(v)
		}
	}
	return out, nil
}

// Alive reports whether pid exists.
func Alive(pid int) bool {
	_, err := os.Stat(filepath.Join(Proc, strconv.Itoa(pid)))
	return err == nil
}

// Threads returns the thread ids of pid.
func Threads(pid int) ([]int, error) {
	ents, err := os.ReadDir(filepath.Join(Proc, strconv.Itoa(pid), "task"))
	if err != nil {
		return nil, fmt.Errorf("list threads of pid %d: %w", pid, err)
	}
	var out []int
	for _, e := range ents {
		if n, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, n)
		}
	}
	return out, nil
}

// Pids lists every process id in /proc.
func Pids() ([]int, error) {
	ents, err := os.ReadDir(Proc)
	if err != nil {
		return nil, err
	}
	var out []int
	for _, e := range ents {
		if n, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, n)
		}
	}
	return out, nil
}
