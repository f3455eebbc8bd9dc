package triage

import (
	"reflect"
	"strings"
	"testing"
)

const limitsText = `Limit                     Soft Limit           Hard Limit           Units     
Max cpu time              unlimited            unlimited            seconds   
Max core file size        0                    unlimited            bytes     
Max open files            1024                 524288               files     
Max locked memory         8388608              8388608              bytes     
Max realtime timeout      unlimited            unlimited            us        
`

func TestParseLimits(t *testing.T) {
	l, err := ParseLimits(limitsText)
	if err != nil {
		t.Fatal(err)
	}
	want := []Limit{
		{"Max cpu time", "unlimited", "unlimited", "seconds"},
		{"Max core file size", "0", "unlimited", "bytes"},
		{"Max open files", "1024", "524288", "files"},
		{"Max locked memory", "8388608", "8388608", "bytes"},
		{"Max realtime timeout", "unlimited", "unlimited", "us"},
	}
	if !reflect.DeepEqual(l, want) {
		t.Errorf("got %+v", l)
	}
	for _, bad := range []string{"", "nonsense\n", "Limit x\n"} {
		if _, err := ParseLimits(bad); err == nil {
			t.Errorf("ParseLimits(%q): want an error", bad)
		}
	}
}

func TestParseStatStart(t *testing.T) {
	// A command name with spaces and a ')' inside, as a process may choose.
	stat := "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 1234 0 0 0 10 5 0 0 20 0 9 0 987654 123456789 2000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
	v, err := ParseStatStart(stat)
	if err != nil || v != 987654 {
		t.Errorf("got %d, %v; want 987654", v, err)
	}
	for _, bad := range []string{"", "1 (x) S 1 2", "1 (x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 bad"} {
		if _, err := ParseStatStart(bad); err == nil {
			t.Errorf("ParseStatStart(%q): want an error", bad)
		}
	}
}

func TestParseInetSockets(t *testing.T) {
	tcp := `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 31337 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 31338 1 0000000000000000 20 4 30 10 -1
`
	m, err := ParseInetSockets(tcp, "tcp")
	if err != nil {
		t.Fatal(err)
	}
	if got := m[31337]; got != (Socket{Proto: "tcp", Local: "127.0.0.1:8080", State: "LISTEN", Inode: 31337}) {
		t.Errorf("listener: %+v", got)
	}
	if got := m[31338]; got != (Socket{Proto: "tcp", Local: "127.0.0.1:8080", Remote: "127.0.0.1:54321", State: "ESTABLISHED", Inode: 31338}) {
		t.Errorf("connection: %+v", got)
	}
	tcp6 := `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 777 1 0000000000000000 100 0 0 10 0
   1: 0000000000000000FFFF00000100007F:0050 0000000000000000FFFF00000200007F:C000 01 00000000:00000000 00:00000000 00000000     0        0 778 1 0000000000000000 100 0 0 10 0
`
	m, err = ParseInetSockets(tcp6, "tcp6")
	if err != nil {
		t.Fatal(err)
	}
	if got := m[777].Local; got != "[::1]:22" {
		t.Errorf("tcp6 ::1 listener: %q", got)
	}
	if got := m[778]; got.Local != "127.0.0.1:80" || got.Remote != "127.0.0.2:49152" {
		t.Errorf("v4-mapped: %+v", got)
	}
	if _, err := ParseInetSockets("hdr\n 0: zz:1 00:0 0A a b c d e 1\n", "tcp"); err == nil {
		t.Error("bad address: want an error")
	}
}

func TestParseUnixSockets(t *testing.T) {
	u := `Num       RefCount Protocol Flags    Type St Inode Path
0000000000000000: 00000002 00000000 00010000 0001 01 12345 /tmp/obs-0/42.sock
0000000000000000: 00000003 00000000 00000000 0001 03 12346
0000000000000000: 00000003 00000000 00000000 0001 03 12347 /run/with space
`
	m, err := ParseUnixSockets(u)
	if err != nil {
		t.Fatal(err)
	}
	if got := m[12345]; got.State != "LISTEN" || got.Local != "/tmp/obs-0/42.sock" {
		t.Errorf("listener: %+v", got)
	}
	if got := m[12346]; got.State != "CONNECTED" || got.Local != "" {
		t.Errorf("connected: %+v", got)
	}
	if got := m[12347].Local; got != "/run/with space" {
		t.Errorf("path with space: %q", got)
	}
}

func TestParseCgroup(t *testing.T) {
	got := ParseCgroup("12:memory:/system.slice/x.service\n0::/system.slice/x.service\n")
	want := []string{"memory:/system.slice/x.service", "/system.slice/x.service"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q", got)
	}
}

func TestParseSmapsRollup(t *testing.T) {
	m := ParseSmapsRollup("00400000-7ffd [rollup]\nRss:                5000 kB\nPss:    4000 kB\nSwap: 0 kB\nBad: x kB\n")
	if m["Rss"] != 5000*1024 || m["Pss"] != 4000*1024 || m["Swap"] != 0 || len(m) != 3 {
		t.Errorf("got %v", m)
	}
}

func TestLastLines(t *testing.T) {
	b := []byte("a\nb\n\nc\r\nd")
	if got := LastLines(b, 3); !reflect.DeepEqual(got, []string{"b", "c", "d"}) {
		t.Errorf("got %q", got)
	}
	if got := LastLines(b, 10); len(got) != 4 {
		t.Errorf("got %q", got)
	}
	if got := LastLines(nil, 3); got != nil {
		t.Errorf("empty: %q", got)
	}
}

func TestLevelName(t *testing.T) {
	for v, want := range map[any]string{30.0: "info", 50.0: "error", 60.0: "fatal", 10.0: "trace", "ERROR": "error", "WARN": "warn", "INFO+2": "info", "x": "other", nil: "other"} {
		if got := levelName(v); got != want {
			t.Errorf("levelName(%v) = %s, want %s", v, got, want)
		}
	}
}

func FuzzParseLimits(f *testing.F) {
	f.Add(limitsText)
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseLimits(s)
		if err == nil && len(l) > strings.Count(s, "\n")+1 {
			t.Fatalf("%d limits from %d lines", len(l), strings.Count(s, "\n")+1)
		}
	})
}

func FuzzParseStatStart(f *testing.F) {
	f.Add("1 (init) S 0 1 1 0 -1 4194560 1 0 0 0 1 1 0 0 20 0 1 0 5 1 1 1 1")
	f.Fuzz(func(t *testing.T, s string) { _, _ = ParseStatStart(s) })
}

func FuzzParseSockets(f *testing.F) {
	f.Add("hdr\n 0: 0100007F:1F90 00000000:0000 0A 0:0 0:0 0 0 0 31337 1\n", true)
	f.Add("Num R P F T St I Path\n0: 2 0 00010000 1 01 1 /x y\n", false)
	f.Fuzz(func(t *testing.T, s string, inet bool) {
		var m map[uint64]Socket
		var err error
		if inet {
			m, err = ParseInetSockets(s, "tcp6")
		} else {
			m, err = ParseUnixSockets(s)
		}
		if err == nil && len(m) > strings.Count(s, "\n")+1 {
			t.Fatalf("%d sockets from %d lines", len(m), strings.Count(s, "\n")+1)
		}
	})
}

func FuzzSmallParsers(f *testing.F) {
	f.Add("0::/x\nRss: 1 kB\n")
	f.Fuzz(func(t *testing.T, s string) {
		_ = ParseCgroup(s)
		for k, v := range ParseSmapsRollup(s) {
			if v%1024 != 0 || k == "" {
				t.Fatalf("%q: %d", k, v)
			}
		}
		lines := LastLines([]byte(s), 3)
		if len(lines) > 3 {
			t.Fatalf("%d lines", len(lines))
		}
	})
}
