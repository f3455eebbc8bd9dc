package triage

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
)

// FD is one open file descriptor.
type FD struct {
	FD     int     `json:"fd"`
	Kind   string  `json:"kind"` // file, socket, pipe, anon, dev, other
	Target string  `json:"target"`
	Socket *Socket `json:"socket,omitempty"`
}

// Files is the files section's data.
type Files struct {
	Count   int            `json:"count"`
	Limit   string         `json:"limit,omitempty"` // soft RLIMIT_NOFILE
	ByKind  map[string]int `json:"by_kind"`
	Listen  []Socket       `json:"listening,omitempty"`
	Conns   map[string]int `json:"connections_by_remote,omitempty"` // "tcp 127.0.0.1:8080 ESTABLISHED" -> count
	FDs     []FD           `json:"fds"`
	Skipped int            `json:"skipped,omitempty"` // fds that closed while being read
}

// maxFDs bounds how many descriptors are listed one by one.
const maxFDs = 20000

func files(_ context.Context, e *env, s *Section) {
	dir := procPath(e.pid, "fd")
	ents, err := os.ReadDir(dir)
	if err != nil {
		s.miss("list %s: %v", dir, err)
		return
	}
	socks := map[uint64]Socket{}
	for _, p := range []string{"tcp", "tcp6", "udp", "udp6"} {
		b, err := os.ReadFile(procPath(e.pid, "net/"+p))
		if err != nil {
			if p == "tcp" {
				s.miss("read net/%s: %v", p, err)
			}
			continue
		}
		m, err := ParseInetSockets(string(b), p)
		if err != nil {
			s.miss("%v", err)
			continue
		}
		for k, v := range m {
			socks[k] = v
		}
	}
	if b, err := os.ReadFile(procPath(e.pid, "net/unix")); err == nil {
		if m, err := ParseUnixSockets(string(b)); err == nil {
			for k, v := range m {
				socks[k] = v
			}
		} else {
			s.miss("%v", err)
		}
	}

	f := &Files{ByKind: map[string]int{}, Conns: map[string]int{}}
	s.Data = f
	for _, ent := range ents {
		n, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		f.Count++
		if len(f.FDs) >= maxFDs {
			continue
		}
		target, err := os.Readlink(dir + "/" + ent.Name())
		if err != nil {
			f.Skipped++
			continue
		}
		fd := FD{FD: n, Target: target, Kind: fdKind(target)}
		if fd.Kind == "socket" {
			if ino, ok := bracketed(target); ok {
				if sk, ok := socks[ino]; ok {
					fd.Socket = &sk
					if sk.State == "LISTEN" {
						f.Listen = append(f.Listen, sk)
					} else if sk.Remote != "" {
						f.Conns[sk.Proto+" "+sk.Remote+" "+sk.State]++
					}
				}
			}
		}
		f.ByKind[fd.Kind]++
		f.FDs = append(f.FDs, fd)
	}
	if f.Count > maxFDs {
		s.miss("%d descriptors open; only the first %d are listed", f.Count, maxFDs)
	}
	if b, err := os.ReadFile(procPath(e.pid, "limits")); err == nil {
		if ls, err := ParseLimits(string(b)); err == nil {
			for _, l := range ls {
				if l.Name == "Max open files" {
					f.Limit = l.Soft
				}
			}
		}
	}

	kinds := make([]string, 0, len(f.ByKind))
	for k := range f.ByKind {
		kinds = append(kinds, k)
	}
	sort.Slice(kinds, func(i, j int) bool {
		return f.ByKind[kinds[i]] > f.ByKind[kinds[j]] || f.ByKind[kinds[i]] == f.ByKind[kinds[j]] && kinds[i] < kinds[j]
	})
	var parts []string
	for _, k := range kinds {
		parts = append(parts, fmt.Sprintf("%d %s", f.ByKind[k], k))
	}
	lim := ""
	if f.Limit != "" {
		lim = " (limit " + f.Limit + ")"
		if n, err := strconv.Atoi(f.Limit); err == nil && n > 0 && f.Count*10 >= n*8 {
			lim += ": close to the limit"
			s.finding("%d of %d file descriptors in use", f.Count, n)
		}
	}
	s.note("%d open descriptors%s: %s", f.Count, lim, strings.Join(parts, ", "))
	for _, l := range f.Listen {
		s.note("listening: %s %s", l.Proto, l.Local)
	}
	remotes := make([]string, 0, len(f.Conns))
	for k := range f.Conns {
		remotes = append(remotes, k)
	}
	sort.Slice(remotes, func(i, j int) bool {
		return f.Conns[remotes[i]] > f.Conns[remotes[j]] || f.Conns[remotes[i]] == f.Conns[remotes[j]] && remotes[i] < remotes[j]
	})
	for i, k := range remotes {
		if i == 5 {
			s.note("... %d more remote endpoints in fds.json", len(remotes)-5)
			break
		}
		s.note("%d connection(s) to %s", f.Conns[k], k)
	}
	e.writeJSON(s, "fds.json", f)
}

func fdKind(target string) string {
	switch {
	case strings.HasPrefix(target, "socket:"):
		return "socket"
	case strings.HasPrefix(target, "pipe:"):
		return "pipe"
	case strings.HasPrefix(target, "anon_inode:"):
		return "anon"
	case strings.HasPrefix(target, "/dev/"):
		return "dev"
	case strings.HasPrefix(target, "/"):
		return "file"
	}
	return "other"
}

// bracketed extracts the number in "socket:[12345]".
func bracketed(s string) (uint64, bool) {
	i := strings.IndexByte(s, '[')
	j := strings.LastIndexByte(s, ']')
	if i < 0 || j <= i {
		return 0, false
	}
	n, err := strconv.ParseUint(s[i+1:j], 10, 64)
	return n, err == nil
}
