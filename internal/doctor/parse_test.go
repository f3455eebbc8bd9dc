package doctor

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseCapSet(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want CapSet
		bad  bool
	}{
		{"000001fffeffffff", 0x1fffeffffff, false},
		{"0000000000000000", 0, false},
		{" a80425fb\n", 0xa80425fb, false},
		{"", 0, true},
		{"xyz", 0, true},
		{"00000000000000000", 0, true}, // 17 digits
	} {
		got, err := ParseCapSet(tc.in)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("ParseCapSet(%q) = %x, %v; want %x, bad=%v", tc.in, got, err, tc.want, tc.bad)
		}
	}
	c, _ := ParseCapSet("000001fffeffffff")
	for bit, want := range map[uint]bool{CapBPF: true, CapPerfmon: true, CapSysAdmin: true, CapSysPtrace: true, CapSysResouce: false, 63: false, 64: false} {
		if c.Has(bit) != want {
			t.Errorf("Has(%d) = %v, want %v", bit, !want, want)
		}
	}
	// A typical unprivileged shell's set, and docker's default set.
	docker, _ := ParseCapSet("00000000a80425fb")
	if docker.Has(CapBPF) || docker.Has(CapSysAdmin) || docker.Has(CapSysPtrace) || !docker.Has(0) {
		t.Errorf("docker default set decoded wrong: %x", uint64(docker))
	}
}

func TestStatusCapEff(t *testing.T) {
	status := "Name:\tcat\nUmask:\t0022\nCapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\nCapEff:\t0000000000000000\nCapBnd:\t000001ffffffffff\n"
	c, err := StatusCapEff(status)
	if err != nil || c != 0 {
		t.Fatalf("got %x, %v; want CapEff (0), not CapPrm", uint64(c), err)
	}
	if _, err := StatusCapEff("Name:\tx\n"); err == nil {
		t.Fatal("no CapEff line: want an error")
	}
}

func TestParseKernelRelease(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want KernelVersion
		bad  bool
	}{
		{"6.18.44-fc-v669", KernelVersion{6, 18, 44, "-fc-v669"}, false},
		{"5.10.0-27-amd64", KernelVersion{5, 10, 0, "-27-amd64"}, false},
		{"6.1", KernelVersion{6, 1, 0, ""}, false},
		{"4.19.0+\n", KernelVersion{4, 19, 0, "+"}, false},
		{"6.8.0-rc3", KernelVersion{6, 8, 0, "-rc3"}, false},
		{"6.", KernelVersion{}, true},
		{"abc", KernelVersion{}, true},
		{"", KernelVersion{}, true},
	} {
		got, err := ParseKernelRelease(tc.in)
		if (err != nil) != tc.bad || (!tc.bad && got != tc.want) {
			t.Errorf("ParseKernelRelease(%q) = %+v, %v; want %+v bad=%v", tc.in, got, err, tc.want, tc.bad)
		}
	}
	v := KernelVersion{Major: 5, Minor: 8}
	if !v.AtLeast(5, 8) || !v.AtLeast(4, 20) || v.AtLeast(5, 9) || v.AtLeast(6, 0) {
		t.Error("AtLeast is wrong")
	}
}

func TestParseCorePattern(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want CorePattern
		bad  bool
	}{
		{"core\n", CorePattern{Raw: "core", Path: "core", Relative: true}, false},
		{"/var/crash/core.%e.%p", CorePattern{Raw: "/var/crash/core.%e.%p", Path: "/var/crash/core.%e.%p"}, false},
		{"|/usr/lib/systemd/systemd-coredump %P %u %g %s %t 9223372036854775808 %h\n", CorePattern{
			Raw: "|/usr/lib/systemd/systemd-coredump %P %u %g %s %t 9223372036854775808 %h", Pipe: true,
			Handler: "/usr/lib/systemd/systemd-coredump", Args: []string{"%P", "%u", "%g", "%s", "%t", "9223372036854775808", "%h"},
			Known: "systemd-coredump"}, false},
		{"|/usr/share/apport/apport -p%p -s%s -c%c -d%d -P%P -u%u -g%g -- %E", CorePattern{
			Raw: "|/usr/share/apport/apport -p%p -s%s -c%c -d%d -P%P -u%u -g%g -- %E", Pipe: true,
			Handler: "/usr/share/apport/apport", Args: []string{"-p%p", "-s%s", "-c%c", "-d%d", "-P%P", "-u%u", "-g%g", "--", "%E"},
			Known: "apport"}, false},
		{"|/bin/false", CorePattern{Raw: "|/bin/false", Pipe: true, Handler: "/bin/false", Args: []string{}}, false},
		{"", CorePattern{}, true},
		{"|  ", CorePattern{}, true},
	} {
		got, err := ParseCorePattern(tc.in)
		if (err != nil) != tc.bad {
			t.Errorf("ParseCorePattern(%q): err %v, want bad=%v", tc.in, err, tc.bad)
			continue
		}
		if tc.bad {
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseCorePattern(%q) =\n %+v\nwant\n %+v", tc.in, got, tc.want)
		}
	}
}

func TestFindMounts(t *testing.T) {
	mounts := `sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0
proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0
tracefs /sys/kernel/tracing tracefs rw,nosuid,nodev,noexec,relatime 0 0
debugfs /sys/kernel/debug debugfs rw,nosuid,nodev,noexec,relatime 0 0
none /mnt/my\040traces tracefs rw 0 0
`
	if got := FindMounts(mounts, "tracefs"); !reflect.DeepEqual(got, []string{"/sys/kernel/tracing", "/mnt/my traces"}) {
		t.Errorf("tracefs mounts: %q", got)
	}
	if got := FindMounts(mounts, "bpf"); got != nil {
		t.Errorf("bpf mounts: %q, want none", got)
	}
	if got := unescapeMount(`/a\04`); got != `/a\04` {
		t.Errorf("truncated escape: %q", got)
	}
}

func TestParseIntFile(t *testing.T) {
	if v, err := ParseIntFile("-1\n"); err != nil || v != -1 {
		t.Errorf("got %d, %v", v, err)
	}
	if _, err := ParseIntFile("two"); err == nil || !strings.Contains(err.Error(), "two") {
		t.Errorf("want an error naming the input, got %v", err)
	}
}

func FuzzParseCapSet(f *testing.F) {
	f.Add("000001fffeffffff")
	f.Add("Name:\tx\nCapEff:\t00000000a80425fb\n")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCapSet(s)
		if err == nil {
			// What parses must survive a round trip through the status format.
			back, err := StatusCapEff("CapEff:\t" + strings.TrimSpace(s) + "\n")
			if err != nil || back != c {
				t.Fatalf("round trip of %q: %x, %v", s, uint64(back), err)
			}
		}
		_, _ = StatusCapEff(s)
	})
}

func FuzzParseKernelRelease(f *testing.F) {
	for _, s := range []string{"6.18.44-fc-v669", "5.10.0-27-amd64", "4.19", "6.", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseKernelRelease(s)
		if err != nil {
			return
		}
		if v.Major < 0 || v.Minor < 0 || v.Patch < 0 {
			t.Fatalf("negative numbers from %q: %+v", s, v)
		}
		if !strings.HasSuffix(strings.TrimSpace(s), v.Extra) {
			t.Fatalf("extra %q is not the tail of %q", v.Extra, s)
		}
	})
}

func FuzzParseCorePattern(f *testing.F) {
	for _, s := range []string{"core", "|/usr/lib/systemd/systemd-coredump %P %u", "/var/crash/%e", "|", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseCorePattern(s)
		if err != nil {
			return
		}
		if p.Pipe && (p.Handler == "" || p.Path != "") {
			t.Fatalf("pipe pattern %q parsed as %+v", s, p)
		}
		if !p.Pipe && p.Path == "" {
			t.Fatalf("file pattern %q has no path", s)
		}
	})
}

func FuzzFindMounts(f *testing.F) {
	f.Add("tracefs /sys/kernel/tracing tracefs rw 0 0\nnone /a\\040b tracefs rw 0 0\n")
	f.Fuzz(func(t *testing.T, s string) {
		for _, m := range FindMounts(s, "tracefs") {
			if len(m) > len(s) {
				t.Fatalf("mount point %q longer than the input", m)
			}
		}
	})
}

func TestKallsymsVisible(t *testing.T) {
	if v, n := KallsymsVisible("ffffffff81000000 T _stext\n"); !v || n != 1 {
		t.Errorf("real address: %v %d", v, n)
	}
	if v, n := KallsymsVisible("0000000000000000 T _stext\n0000000000000000 T _text\n"); v || n != 2 {
		t.Errorf("hidden addresses: %v %d", v, n)
	}
	if v, n := KallsymsVisible(""); v || n != 0 {
		t.Errorf("empty: %v %d", v, n)
	}
}

func TestParseNSpid(t *testing.T) {
	if ns, err := ParseNSpid("Name:\tx\nNSpid:\t4242\t7\n"); err != nil || !reflect.DeepEqual(ns, []int{4242, 7}) {
		t.Errorf("nested: %v %v", ns, err)
	}
	if ns, err := ParseNSpid("NSpid:\t9084\n"); err != nil || !reflect.DeepEqual(ns, []int{9084}) {
		t.Errorf("initial: %v %v", ns, err)
	}
	for _, bad := range []string{"", "NSpid:\n", "NSpid:\tx\n", "NSpid:\t-1\n"} {
		if _, err := ParseNSpid(bad); err == nil {
			t.Errorf("ParseNSpid(%q): want an error", bad)
		}
	}
}

func FuzzParseNSpidKallsyms(f *testing.F) {
	f.Add("NSpid:\t4242\t7\n")
	f.Add("ffffffff81000000 T _stext\n")
	f.Fuzz(func(t *testing.T, s string) {
		if ns, err := ParseNSpid(s); err == nil {
			for _, n := range ns {
				if n <= 0 {
					t.Fatalf("pid %d from %q", n, s)
				}
			}
		}
		if _, n := KallsymsVisible(s); n > 20 {
			t.Fatalf("%d lines read, want at most 20", n)
		}
	})
}
