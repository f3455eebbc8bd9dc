package repl

import (
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
)

const sampleTCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1234 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 1235 1 0000000000000000 20 4 30 10 -1
   2: garbage
`

const sampleTCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2000 1 0000000000000000 100 0 0 10 0
   1: 0000000000000000FFFF00000100007F:0050 0000000000000000FFFF00000100007F:C000 01 00000000:00000000 00:00000000 00000000     0        0 2001 1 0000000000000000 100 0 0 10 0
`

const sampleUnix = `Num       RefCount Protocol Flags    Type St Inode Path
0000000000000000: 00000002 00000000 00010000 0001 01 3000 /run/obs/1.sock
0000000000000000: 00000003 00000000 00000000 0001 03 3001
0000000000000000: 00000003 00000000 00000000 0001 03 3002 /tmp/with space
`

func TestParseProcNet(t *testing.T) {
	m := map[uint64]sockInfo{}
	parseProcNet([]byte(sampleTCP), "tcp", m)
	parseProcNet([]byte(sampleTCP6), "tcp6", m)
	parseProcNetUnix([]byte(sampleUnix), m)
	for ino, want := range map[uint64]string{
		1234: "tcp 127.0.0.1:8080 LISTEN",
		1235: "tcp 127.0.0.1:8080 -> 127.0.0.1:54321 ESTABLISHED",
		2000: "tcp6 [::1]:80 LISTEN",
		2001: "tcp6 127.0.0.1:80 -> 127.0.0.1:49152 ESTABLISHED",
		3000: "unix /run/obs/1.sock LISTEN",
		3001: "unix connected",
		3002: "unix /tmp/with space connected",
	} {
		if got := m[ino].String(); got != want {
			t.Errorf("inode %d: %q, want %q", ino, got, want)
		}
	}
	if len(m) != 7 {
		t.Errorf("%d sockets, want 7", len(m))
	}
}

func TestOpenFDs(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f, err := os.CreateTemp("", "obs-fd")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	fds, err := OpenFDs()
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	var sawSock, sawFile bool
	for _, fd := range fds {
		if fd.Kind == "socket" && fd.Target == "tcp 127.0.0.1:"+port+" LISTEN" {
			sawSock = true
		}
		if fd.Kind == "file" && fd.Target == f.Name() && fd.Num == int(f.Fd()) {
			sawFile = true
		}
	}
	if !sawSock || !sawFile {
		var b strings.Builder
		for _, fd := range fds {
			b.WriteString(strconv.Itoa(fd.Num) + " " + fd.Kind + " " + fd.Target + "\n")
		}
		t.Fatalf("listener on %s seen %v, file %s seen %v in:\n%s", port, sawSock, f.Name(), sawFile, b.String())
	}
}

func FuzzProcNet(f *testing.F) {
	f.Add([]byte(sampleTCP), false)
	f.Add([]byte(sampleTCP6), false)
	f.Add([]byte(sampleUnix), true)
	f.Fuzz(func(t *testing.T, data []byte, unix bool) {
		m := map[uint64]sockInfo{}
		if unix {
			parseProcNetUnix(data, m)
		} else {
			parseProcNet(data, "tcp", m)
		}
		for ino, s := range m {
			if ino == 0 {
				t.Fatal("inode 0 recorded")
			}
			_ = s.String()
		}
	})
}
