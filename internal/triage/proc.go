package triage

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Limit is one line of /proc/PID/limits.
type Limit struct {
	Name  string `json:"name"`
	Soft  string `json:"soft"`
	Hard  string `json:"hard"`
	Units string `json:"units,omitempty"`
}

// ParseLimits parses /proc/PID/limits. Its columns are aligned by position
// under the header, and names contain spaces ("Max open files").
func ParseLimits(s string) ([]Limit, error) {
	lines := strings.Split(s, "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "Limit") {
		return nil, fmt.Errorf("limits: no header line")
	}
	h := lines[0]
	soft := strings.Index(h, "Soft Limit")
	hard := strings.Index(h, "Hard Limit")
	units := strings.Index(h, "Units")
	if soft <= 0 || hard <= soft || units <= hard {
		return nil, fmt.Errorf("limits: unexpected header %q", h)
	}
	var out []Limit
	for _, l := range lines[1:] {
		if strings.TrimSpace(l) == "" {
			continue
		}
		if len(l) < hard {
			return nil, fmt.Errorf("limits: short line %q", l)
		}
		col := func(a, b int) string {
			if a >= len(l) {
				return ""
			}
			if b > len(l) || b < 0 {
				b = len(l)
			}
			return strings.TrimSpace(l[a:b])
		}
		out = append(out, Limit{Name: col(0, soft), Soft: col(soft, hard), Hard: col(hard, units), Units: col(units, -1)})
	}
	return out, nil
}

// ParseStatStart returns the start time field (clock ticks since boot) of
// /proc/PID/stat. The command name may hold spaces and parentheses, so the
// fields are counted from the last ')'.
func ParseStatStart(s string) (uint64, error) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("stat: no ')' after the command name")
	}
	f := strings.Fields(s[i+1:])
	// After the name: state is field 3, starttime field 22.
	if len(f) < 20 {
		return 0, fmt.Errorf("stat: %d fields after the name, want at least 20", len(f))
	}
	v, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stat: bad starttime %q", f[19])
	}
	return v, nil
}

// Socket is one socket of /proc/PID/net/{tcp,tcp6,udp,udp6,unix}.
type Socket struct {
	Proto  string `json:"proto"`            // tcp, tcp6, udp, udp6, unix
	Local  string `json:"local,omitempty"`  // address:port, or the unix path
	Remote string `json:"remote,omitempty"` // address:port for connected sockets
	State  string `json:"state,omitempty"`  // LISTEN, ESTABLISHED, ...
	Inode  uint64 `json:"inode"`
}

// tcpStates names the st column of /proc/net/tcp (include/net/tcp_states.h).
var tcpStates = map[uint64]string{
	1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2", 6: "TIME_WAIT",
	7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN", 11: "CLOSING", 12: "NEW_SYN_RECV",
}

// ParseInetSockets parses /proc/net/tcp, tcp6, udp or udp6 (proto names
// which) and returns the sockets by inode.
func ParseInetSockets(s, proto string) (map[uint64]Socket, error) {
	out := map[uint64]Socket{}
	for n, l := range strings.Split(s, "\n") {
		f := strings.Fields(l)
		if n == 0 || len(f) == 0 {
			continue // header
		}
		if len(f) < 10 {
			return nil, fmt.Errorf("%s line %d: %d fields, want 10 or more", proto, n+1, len(f))
		}
		local, err := parseHexAddr(f[1])
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w", proto, n+1, err)
		}
		remote, err := parseHexAddr(f[2])
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w", proto, n+1, err)
		}
		st, err := strconv.ParseUint(f[3], 16, 8)
		if err != nil {
			return nil, fmt.Errorf("%s line %d: bad state %q", proto, n+1, f[3])
		}
		inode, err := strconv.ParseUint(f[9], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s line %d: bad inode %q", proto, n+1, f[9])
		}
		sk := Socket{Proto: proto, Local: local.String(), Inode: inode}
		if strings.HasPrefix(proto, "tcp") {
			sk.State = tcpStates[st]
		} else if st == 1 {
			sk.State = "ESTABLISHED"
		}
		if remote.Port() != 0 || !remote.Addr().IsUnspecified() {
			sk.Remote = remote.String()
		}
		out[inode] = sk
	}
	return out, nil
}

// parseHexAddr decodes "0100007F:1F90" (IPv4) or the 32-digit IPv6 form:
// the address is stored as 32-bit words in host (little-endian) order.
func parseHexAddr(s string) (netip.AddrPort, error) {
	a, p, ok := strings.Cut(s, ":")
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("bad address %q", s)
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("bad port in %q", s)
	}
	b, err := hex.DecodeString(a)
	if err != nil || (len(b) != 4 && len(b) != 16) {
		return netip.AddrPort{}, fmt.Errorf("bad address %q", s)
	}
	for w := 0; w+4 <= len(b); w += 4 {
		b[w], b[w+1], b[w+2], b[w+3] = b[w+3], b[w+2], b[w+1], b[w]
	}
	addr, _ := netip.AddrFromSlice(b)
	return netip.AddrPortFrom(addr.Unmap(), uint16(port)), nil
}

// unixStates names the St column of /proc/net/unix (socket states).
var unixStates = map[string]string{"01": "UNCONNECTED", "02": "CONNECTING", "03": "CONNECTED", "04": "DISCONNECTING"}

// ParseUnixSockets parses /proc/net/unix and returns the sockets by inode.
func ParseUnixSockets(s string) (map[uint64]Socket, error) {
	out := map[uint64]Socket{}
	for n, l := range strings.Split(s, "\n") {
		f := strings.Fields(l)
		if n == 0 || len(f) == 0 {
			continue
		}
		if len(f) < 7 {
			return nil, fmt.Errorf("unix line %d: %d fields, want 7 or more", n+1, len(f))
		}
		inode, err := strconv.ParseUint(f[6], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("unix line %d: bad inode %q", n+1, f[6])
		}
		sk := Socket{Proto: "unix", Inode: inode, State: unixStates[f[5]]}
		if f[3] == "00010000" {
			sk.State = "LISTEN" // __SO_ACCEPTCON
		}
		if len(f) > 7 {
			sk.Local = strings.Join(f[7:], " ")
		}
		out[inode] = sk
	}
	return out, nil
}

// ParseCgroup parses /proc/PID/cgroup into its paths, "0::/x" as "/x" and
// v1 lines as "controllers:/x".
func ParseCgroup(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		id, rest, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		ctrl, path, ok := strings.Cut(rest, ":")
		if !ok {
			continue
		}
		if id == "0" && ctrl == "" {
			out = append(out, path)
		} else {
			out = append(out, ctrl+":"+path)
		}
	}
	return out
}

// ParseSmapsRollup returns the kB values of /proc/PID/smaps_rollup (Rss,
// Pss, Anonymous, Swap, ...) in bytes.
func ParseSmapsRollup(s string) map[string]uint64 {
	out := map[string]uint64{}
	for _, l := range strings.Split(s, "\n") {
		k, v, ok := strings.Cut(l, ":")
		if !ok || strings.TrimSpace(k) == "" || strings.ContainsAny(k, " \t") {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			continue
		}
		n, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil || n > 1<<53 {
			continue
		}
		out[k] = n * 1024
	}
	return out
}
