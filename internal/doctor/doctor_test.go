package doctor

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/obs-toolkit/obs/internal/testenv"
)

// kernelConfig reads /proc/config.gz when the kernel exposes it, as an
// independent account of what it was built with.
func kernelConfig(t *testing.T) map[string]string {
	f, err := os.Open("/proc/config.gz")
	if err != nil {
		return nil
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("read /proc/config.gz: %v", err)
	}
	cfg := map[string]string{}
	sc := bufio.NewScanner(z)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok && strings.HasPrefix(k, "CONFIG_") {
			cfg[k] = v
		}
	}
	return cfg
}

// tracefsMounted asks statfs, not /proc/mounts as the check does.
func tracefsMounted() bool {
	const tracefsMagic = 0x74726163
	for _, p := range []string{"/sys/kernel/tracing", "/sys/kernel/debug/tracing"} {
		var st unix.Statfs_t
		if unix.Statfs(p, &st) == nil && st.Type == tracefsMagic {
			return true
		}
	}
	return false
}

func mustFind(t *testing.T, r *Report, name string) Check {
	t.Helper()
	c, ok := r.Find(name)
	if !ok {
		t.Fatalf("no %s check in the report", name)
	}
	return c
}

func TestRunOnThisHost(t *testing.T) {
	testenv.RequireRoot(t)
	r := Run(context.Background())
	if len(r.Checks) != len(Names()) || len(r.Checks) < 16 {
		t.Fatalf("%d checks, want %d (>= 16)", len(r.Checks), len(Names()))
	}
	for _, c := range r.Checks {
		t.Logf("%-16s %-4s %s", c.Name, c.Status, c.Found)
		if c.Status != OK && c.Status != Warn && c.Status != Fail {
			t.Errorf("%s: bad status %q", c.Name, c.Status)
		}
		if c.Found == "" {
			t.Errorf("%s: says nothing about what it found", c.Name)
		}
		if c.Status != OK && c.Fix == "" && c.Name != "core-rlimit" {
			t.Errorf("%s: %s without a fix", c.Name, c.Status)
		}
	}
	// Root on a BPF-capable kernel (what CI runs on): nothing obs needs fails.
	if r.Summary.Fail != 0 {
		t.Errorf("%d checks fail as root", r.Summary.Fail)
	}
	for _, n := range []string{"capabilities", "bpf-syscall", "tracepoints", "perf-software", "ptrace", "memlock", "kernel-symbols"} {
		if c := mustFind(t, r, n); c.Status != OK {
			t.Errorf("%s: %s (%s), want ok as root", n, c.Status, c.Found)
		}
	}

	cfg := kernelConfig(t)

	// BTF: the check agrees with the file's presence.
	_, err := os.Stat("/sys/kernel/btf/vmlinux")
	if c := mustFind(t, r, "btf"); (c.Status == OK) != (err == nil) {
		t.Errorf("btf %s but stat says %v", c.Status, err)
	}

	// Uprobes: the probe on our own function must have fired for each call.
	up := mustFind(t, r, "uprobes")
	if cfg != nil && cfg["CONFIG_UPROBE_EVENTS"] == "y" || fileExists(uprobePMUPath) {
		if up.Status != OK {
			t.Errorf("uprobes %s (%s) on a kernel with uprobe events", up.Status, up.Found)
		}
		if hits, _ := up.Facts["hits"].(uint64); hits < 3 {
			t.Errorf("uprobe hits %v, want >= 3", up.Facts["hits"])
		}
	}

	// Kprobes: available exactly when the kernel has them and a way to
	// create them (the PMU, or tracefs to fall back on).
	kp := mustFind(t, r, "kprobes")
	if cfg != nil {
		want := cfg["CONFIG_KPROBE_EVENTS"] == "y" && (fileExists(kprobePMUPath) || tracefsMounted())
		if got := kp.Facts["available"] == true; got != want {
			t.Errorf("kprobes available=%v (%s), kernel config says %v", got, kp.Found, want)
		}
	}
	if !fileExists(kprobePMUPath) && !tracefsMounted() && (kp.Status != Warn || kp.Facts["available"] != false) {
		t.Errorf("no kprobe PMU nor tracefs, yet kprobes %s (%s)", kp.Status, kp.Found)
	}

	// Tracefs: the check (reading mounts) agrees with statfs.
	tf := mustFind(t, r, "tracefs")
	if m := tracefsMounted(); tf.Facts["mounted"] != m || (tf.Status == OK) != m {
		t.Errorf("tracefs check says %s mounted=%v, statfs says %v", tf.Status, tf.Facts["mounted"], m)
	}
	tp := mustFind(t, r, "tracepoints")
	if hits, _ := tp.Facts["raw_sys_enter_hits"].(uint64); hits == 0 {
		t.Errorf("raw tracepoint saw no syscalls: %v", tp.Facts)
	}
	if tp.Facts["perf_tracepoint"] == true && !tracefsMounted() {
		t.Errorf("perf tracepoint by id worked without tracefs")
	}

	// Hardware counters cannot work without a CPU PMU.
	if hw := mustFind(t, r, "perf-hardware"); !fileExists(cpuPMUPath) && hw.Status == OK {
		t.Errorf("hardware counters ok without %s", cpuPMUPath)
	}

	// The pid namespace check agrees with the test's own NSpid line.
	st, _ := os.ReadFile("/proc/self/status")
	nested := strings.Count(strings.SplitN(strings.SplitN(string(st), "NSpid:", 2)[1], "\n", 2)[0], "\t") > 1
	if pn := mustFind(t, r, "pid-namespace"); pn.Facts["nested"] != nested {
		t.Errorf("pid-namespace nested=%v, status says %v", pn.Facts["nested"], nested)
	}

	// core_pattern as read by the test itself.
	raw, _ := os.ReadFile(corePatternPath)
	cp := mustFind(t, r, "core-pattern")
	if p, ok := cp.Facts["pattern"].(CorePattern); !ok || p.Raw != strings.TrimRight(string(raw), "\n") {
		t.Errorf("core pattern facts %v, file says %q", cp.Facts["pattern"], raw)
	}
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// The core-rlimit check follows the limit it is run under.
func TestCoreRlimitFollowsLimit(t *testing.T) {
	var orig unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_CORE, &orig); err != nil {
		t.Fatal(err)
	}
	defer unix.Setrlimit(unix.RLIMIT_CORE, &orig)
	run := func() Check {
		c := Check{Facts: map[string]any{}}
		checkCoreRlimit(context.Background(), &c)
		return c
	}
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{Cur: 0, Max: orig.Max}); err != nil {
		t.Fatal(err)
	}
	if c := run(); c.Status != Warn || c.Facts["soft"] != "0" {
		t.Errorf("soft limit 0: %s %v", c.Status, c.Facts)
	}
	if orig.Max == 0 {
		t.Skip("hard RLIMIT_CORE is 0 here")
	}
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{Cur: orig.Max, Max: orig.Max}); err != nil {
		t.Fatal(err)
	}
	if c := run(); c.Status != OK || c.Facts["soft"] != rlimitString(orig.Max) {
		t.Errorf("soft limit %s: %s %v", rlimitString(orig.Max), c.Status, c.Facts)
	}
}

// TestUnprivileged runs the checks as nobody: the privileged paths must fail
// with a fix, and the report must still come out whole.
func TestUnprivileged(t *testing.T) {
	if os.Getenv("OBS_DOCTOR_CHILD") == "1" {
		_ = json.NewEncoder(os.Stdout).Encode(Run(context.Background()))
		os.Exit(0)
	}
	testenv.RequireRoot(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// Copy the test binary where nobody can run it.
	dir, err := os.MkdirTemp("", "obs-doctor-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "doctor.test")
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^TestUnprivileged$")
	cmd.Env = append(os.Environ(), "OBS_DOCTOR_CHILD=1")
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("run as nobody: %v\n%s", err, out)
	}
	var r Report
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("child output: %v\n%s", err, out)
	}
	if len(r.Checks) != len(Names()) {
		t.Fatalf("%d checks as nobody, want %d", len(r.Checks), len(Names()))
	}
	for _, n := range []string{"capabilities", "bpf-syscall", "uprobes"} {
		c := mustFind(t, &r, n)
		t.Logf("%s: %s %s / %s", n, c.Status, c.Found, c.Fix)
		if c.Status != Fail || !strings.Contains(c.Fix, "setcap") {
			t.Errorf("%s as nobody: %s (%s), fix %q; want fail with the setcap fix", n, c.Status, c.Found, c.Fix)
		}
	}
	// Counting its own user-space time needs no privilege up to paranoid 2.
	if p, err := readInt(paranoidPath); err == nil && p <= 2 {
		c := mustFind(t, &r, "perf-software")
		if n, _ := c.Facts["counted_ns"].(float64); n == 0 {
			t.Errorf("perf-software as nobody with paranoid %d: %s (%s), counted %v", p, c.Status, c.Found, c.Facts["counted_ns"])
		}
	}
	if c := mustFind(t, &r, "unprivileged-bpf"); c.Facts["value"] != float64(0) && c.Status != Warn {
		t.Errorf("unprivileged-bpf as nobody with the sysctl set: %s", c.Status)
	}
}
