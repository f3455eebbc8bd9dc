package repl

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/obs-toolkit/obs/internal/procfs"
)

// SocketDir returns the directory this user's agents listen in:
// $XDG_RUNTIME_DIR/obs when XDG_RUNTIME_DIR is set, else /tmp/obs-UID.
func SocketDir() string { return socketDirFrom(os.Getenv("XDG_RUNTIME_DIR"), os.Geteuid()) }

func socketDirFrom(xdg string, uid int) string {
	if xdg != "" {
		return filepath.Join(xdg, "obs")
	}
	return filepath.Join(os.TempDir(), "obs-"+strconv.Itoa(uid))
}

// ensureDir creates dir with mode 0700 and checks that it is a real
// directory owned by this user that nobody else can enter: a directory
// planted by another user in /tmp is refused rather than used.
func ensureDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create socket directory %s: %w", dir, err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("socket directory %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("socket directory %s is not a directory", dir)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("socket directory %s: no owner information", dir)
	}
	if int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("socket directory %s is owned by uid %d, not %d: remove it", dir, st.Uid, os.Geteuid())
	}
	if fi.Mode().Perm() != 0o700 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("socket directory %s: %w", dir, err)
		}
	}
	return nil
}

// socketName is the file name of pid's socket.
func socketName(pid int) string { return strconv.Itoa(pid) + ".sock" }

// pidOfSocket parses "PID.sock".
func pidOfSocket(name string) (int, bool) {
	s, ok := strings.CutSuffix(name, ".sock")
	if !ok {
		return 0, false
	}
	pid, err := strconv.Atoi(s)
	if err != nil || pid <= 0 {
		return 0, false
	}
	return pid, true
}

// cleanStale removes sockets in dir whose process no longer exists, and
// returns how many it removed.
func cleanStale(dir string) int {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range ents {
		pid, ok := pidOfSocket(e.Name())
		if !ok || e.Type()&os.ModeSocket == 0 {
			continue
		}
		if !alive(pid) {
			if os.Remove(filepath.Join(dir, e.Name())) == nil {
				n++
			}
		}
	}
	return n
}

// alive reports whether pid exists (signal 0: EPERM still means it does).
func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// candidateDirs lists the directories agents of any user may listen in, as
// far as this process can see them: its own, every /run/user/UID/obs and
// every /tmp/obs-UID.
func candidateDirs() []string {
	seen := map[string]bool{}
	var out []string
	add := func(d string) {
		d = filepath.Clean(d)
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	add(SocketDir())
	var more []string
	if m, _ := filepath.Glob("/run/user/*/obs"); m != nil {
		for _, d := range m {
			if isUID(filepath.Base(filepath.Dir(d))) {
				more = append(more, d)
			}
		}
	}
	for _, tmp := range []string{os.TempDir(), "/tmp"} {
		if m, _ := filepath.Glob(filepath.Join(tmp, "obs-*")); m != nil {
			for _, d := range m {
				if isUID(strings.TrimPrefix(filepath.Base(d), "obs-")) {
					more = append(more, d)
				}
			}
		}
	}
	sort.Strings(more)
	for _, d := range more {
		add(d)
	}
	return out
}

func isUID(s string) bool {
	_, err := strconv.ParseUint(s, 10, 32)
	return err == nil
}

// socketForPID finds the socket of the agent in process pid. It looks where
// that process would have put it (its own XDG_RUNTIME_DIR, read from
// /proc/PID/environ, or /tmp/obs-UID, inside the process's mount namespace
// and under its own pid number there), then in every candidate directory.
func socketForPID(pid int) (string, error) {
	if !alive(pid) {
		return "", fmt.Errorf("no process with pid %d", pid)
	}
	var tries []string
	nspid := pid
	uid := -1
	if st, err := procfs.Status(pid); err == nil {
		if f := strings.Fields(st["NSpid"]); len(f) > 0 {
			if n, err := strconv.Atoi(f[len(f)-1]); err == nil {
				nspid = n
			}
		}
		if f := strings.Fields(st["Uid"]); len(f) > 1 {
			uid, _ = strconv.Atoi(f[1])
		}
	}
	if env, err := os.ReadFile(filepath.Join(procfs.Proc, strconv.Itoa(pid), "environ")); err == nil && uid >= 0 {
		xdg := ""
		tmp := "/tmp"
		for _, kv := range bytes.Split(env, []byte{0}) {
			if v, ok := bytes.CutPrefix(kv, []byte("XDG_RUNTIME_DIR=")); ok {
				xdg = string(v)
			}
			if v, ok := bytes.CutPrefix(kv, []byte("TMPDIR=")); ok && len(v) > 0 {
				tmp = string(v)
			}
		}
		dir := filepath.Join(tmp, "obs-"+strconv.Itoa(uid))
		if xdg != "" {
			dir = filepath.Join(xdg, "obs")
		}
		tries = append(tries, procfs.HostPath(pid, filepath.Join(dir, socketName(nspid))))
	}
	for _, d := range candidateDirs() {
		tries = append(tries, filepath.Join(d, socketName(pid)))
	}
	for _, p := range tries {
		if fi, err := os.Stat(p); err == nil && fi.Mode()&os.ModeSocket != 0 {
			return p, nil
		}
	}
	looked := uniq(tries)
	if len(looked) > 4 {
		looked = append(looked[:4], fmt.Sprintf("%d more", len(looked)-4))
	}
	return "", fmt.Errorf("process %d has no obs agent socket (looked at %s)", pid, strings.Join(looked, ", "))
}

func uniq(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}
