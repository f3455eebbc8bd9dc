package repl

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
)

// FD is one open file descriptor of the process.
type FD struct {
	Num    int
	Kind   string // file, dir, socket, pipe, anon, device, other
	Target string // readlink of /proc/self/fd/N, or a socket's addresses
}

// sockInfo describes a socket found in /proc/self/net.
type sockInfo struct {
	Proto  string // tcp, tcp6, udp, udp6, unix
	Local  string
	Remote string
	State  string
}

func (s sockInfo) String() string {
	switch {
	case s.Proto == "unix":
		if s.Local == "" {
			return "unix " + s.State
		}
		return "unix " + s.Local + " " + s.State
	case s.Remote == "" || strings.HasSuffix(s.Remote, ":0") && s.State == "LISTEN":
		return s.Proto + " " + s.Local + " " + s.State
	}
	return s.Proto + " " + s.Local + " -> " + s.Remote + " " + s.State
}

var tcpStates = map[string]string{
	"01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1", "05": "FIN_WAIT2",
	"06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT", "09": "LAST_ACK", "0A": "LISTEN", "0B": "CLOSING",
}

// parseProcNet reads /proc/net/{tcp,tcp6,udp,udp6} text into sockets keyed
// by inode. Malformed lines are skipped.
func parseProcNet(b []byte, proto string, out map[uint64]sockInfo) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), 1<<16)
	first := true
	for sc.Scan() {
		if first {
			first = false // the header
			continue
		}
		f := strings.Fields(sc.Text())
		if len(f) < 10 {
			continue
		}
		local, ok1 := hexAddr(f[1])
		remote, ok2 := hexAddr(f[2])
		inode, err := strconv.ParseUint(f[9], 10, 64)
		if !ok1 || !ok2 || err != nil || inode == 0 {
			continue
		}
		st := tcpStates[f[3]]
		if strings.HasPrefix(proto, "udp") {
			st = ""
			if f[3] == "01" {
				st = "connected"
			}
		}
		out[inode] = sockInfo{Proto: proto, Local: local, Remote: remote, State: st}
	}
}

// hexAddr decodes "0100007F:1F90" (IPv4) or 32 hex digits ":PORT" (IPv6):
// the address as words in host byte order, the port big-endian.
func hexAddr(s string) (string, bool) {
	a, p, ok := strings.Cut(s, ":")
	if !ok {
		return "", false
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return "", false
	}
	raw, err := hex.DecodeString(a)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return "", false
	}
	var ip [16]byte
	for i := 0; i+4 <= len(raw); i += 4 {
		binary.BigEndian.PutUint32(ip[i:], binary.NativeEndian.Uint32(raw[i:]))
	}
	var addr netip.Addr
	if len(raw) == 4 {
		addr = netip.AddrFrom4([4]byte(ip[:4]))
	} else {
		addr = netip.AddrFrom16(ip).Unmap()
	}
	return netip.AddrPortFrom(addr, uint16(port)).String(), true
}

// parseProcNetUnix reads /proc/net/unix text into sockets keyed by inode.
func parseProcNetUnix(b []byte, out map[uint64]sockInfo) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), 1<<16)
	first := true
	for sc.Scan() {
		if first {
			first = false
			continue
		}
		f := strings.Fields(sc.Text())
		if len(f) < 7 {
			continue
		}
		inode, err := strconv.ParseUint(f[6], 10, 64)
		if err != nil || inode == 0 {
			continue
		}
		st := map[string]string{"01": "unconnected", "02": "connecting", "03": "connected", "04": "disconnecting"}[f[5]]
		if f[3] == "00010000" {
			st = "LISTEN"
		}
		path := ""
		if len(f) > 7 {
			path = strings.Join(f[7:], " ")
		}
		out[inode] = sockInfo{Proto: "unix", Local: path, State: st}
	}
}

// sockets reads the sockets of this process's network namespace.
func sockets() map[uint64]sockInfo {
	out := map[uint64]sockInfo{}
	for _, p := range []string{"tcp", "tcp6", "udp", "udp6"} {
		if b, err := os.ReadFile("/proc/self/net/" + p); err == nil {
			parseProcNet(b, p, out)
		}
	}
	if b, err := os.ReadFile("/proc/self/net/unix"); err == nil {
		parseProcNetUnix(b, out)
	}
	return out
}

// OpenFDs lists the process's open file descriptors from /proc/self/fd,
// sockets described by their addresses from /proc/self/net.
func OpenFDs() ([]FD, error) {
	dir := "/proc/self/fd"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	var socks map[uint64]sockInfo
	var out []FD
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		target, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // closed meanwhile (ReadDir's own descriptor)
		}
		fd := FD{Num: n, Target: target, Kind: "other"}
		switch {
		case strings.HasPrefix(target, "socket:["):
			fd.Kind = "socket"
			if socks == nil {
				socks = sockets()
			}
			ino, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(target, "socket:["), "]"), 10, 64)
			if s, ok := socks[ino]; ok {
				fd.Target = s.String()
			}
		case strings.HasPrefix(target, "pipe:["):
			fd.Kind = "pipe"
		case strings.HasPrefix(target, "anon_inode:"):
			fd.Kind = "anon"
			fd.Target = strings.TrimPrefix(target, "anon_inode:")
		case strings.HasPrefix(target, "/dev/"):
			fd.Kind = "device"
		case strings.HasPrefix(target, "/"):
			fd.Kind = "file"
			if fi, err := os.Stat(target); err == nil && fi.IsDir() {
				fd.Kind = "dir"
			}
		}
		out = append(out, fd)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Num < out[j].Num })
	return out, nil
}

func cmdFds(_ context.Context, args []string, w io.Writer) error {
	if err := noArgs(args); err != nil {
		return err
	}
	fds, err := OpenFDs()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FD\tKIND\tTARGET")
	counts := map[string]int{}
	for _, f := range fds {
		counts[f.Kind]++
		fmt.Fprintf(tw, "%d\t%s\t%s\n", f.Num, f.Kind, f.Target)
	}
	tw.Flush()
	kinds := make([]string, 0, len(counts))
	for k, n := range counts {
		kinds = append(kinds, fmt.Sprintf("%d %s", n, k))
	}
	sort.Strings(kinds)
	fmt.Fprintf(w, "%d open: %s\n", len(fds), strings.Join(kinds, ", "))
	return nil
}
