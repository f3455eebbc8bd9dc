package doctor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/obs-toolkit/obs/internal/procfs"
)

// Paths the checks read; tests never change them, but keeping them in one
// place documents what doctor looks at.
const (
	btfPath          = "/sys/kernel/btf/vmlinux"
	unprivBPFPath    = "/proc/sys/kernel/unprivileged_bpf_disabled"
	uprobePMUPath    = "/sys/bus/event_source/devices/uprobe/type"
	kprobePMUPath    = "/sys/bus/event_source/devices/kprobe/type"
	cpuPMUPath       = "/sys/bus/event_source/devices/cpu"
	paranoidPath     = "/proc/sys/kernel/perf_event_paranoid"
	yamaPath         = "/proc/sys/kernel/yama/ptrace_scope"
	corePatternPath  = "/proc/sys/kernel/core_pattern"
	coreUsesPidPath  = "/proc/sys/kernel/core_uses_pid"
	suidDumpablePath = "/proc/sys/fs/suid_dumpable"
)

const rootFix = "run obs as root, or grant it the capabilities: setcap cap_bpf,cap_perfmon,cap_sys_ptrace+ep $(command -v obs)"

func hostname() string {
	h, _ := os.Hostname()
	return h
}

func uname() (release, machine string) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "", ""
	}
	return unix.ByteSliceToString(u.Release[:]), unix.ByteSliceToString(u.Machine[:])
}

func kernelRelease() string { r, _ := uname(); return r }

func readTrim(path string) (string, error) {
	b, err := os.ReadFile(path)
	return strings.TrimSpace(string(b)), err
}

func readInt(path string) (int, error) {
	s, err := readTrim(path)
	if err != nil {
		return 0, err
	}
	return ParseIntFile(s)
}

// effectiveCaps returns obs's own effective capability set.
func effectiveCaps() (CapSet, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	return StatusCapEff(string(b))
}

// canBPF reports whether obs holds the capabilities a BPF tracing program
// needs (CAP_BPF with CAP_PERFMON, or CAP_SYS_ADMIN).
func canBPF(c CapSet) bool {
	return c.Has(CapSysAdmin) || c.Has(CapBPF) && c.Has(CapPerfmon)
}

func checkKernel(_ context.Context, c *Check) {
	rel, machine := uname()
	c.Facts["release"] = rel
	c.Facts["machine"] = machine
	v, err := ParseKernelRelease(rel)
	if err != nil {
		c.Status, c.Found = Warn, err.Error()
		c.Fix = "obs expects Linux 5.8 or newer"
		return
	}
	c.Facts["version"] = fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch)
	c.Found = fmt.Sprintf("Linux %s %s", rel, machine)
	switch {
	case !v.AtLeast(4, 18):
		c.Status = Fail
		c.Fix = "obs needs Linux 4.18 or newer (5.8+ for CAP_BPF and the BPF ring buffer)"
	case !v.AtLeast(5, 8):
		c.Status = Warn
		c.Fix = "Linux 5.8+ gives CAP_BPF/CAP_PERFMON and the BPF ring buffer; some obs features need them"
	case machine != "x86_64":
		c.Status = Warn
		c.Found += " (obs's probes and unwinders are tested on x86_64 only)"
		c.Fix = "expect gaps on " + machine
	default:
		c.Status = OK
	}
}

func checkBTF(_ context.Context, c *Check) {
	st, err := os.Stat(btfPath)
	if err != nil {
		c.Status = Warn
		c.Found = btfPath + " is missing: the kernel exposes no BTF type information"
		c.Fix = "use a kernel built with CONFIG_DEBUG_INFO_BTF=y; programs that read kernel structures (off-CPU task state) are unavailable without it"
		c.Facts["present"] = false
		return
	}
	c.Facts["present"] = true
	c.Facts["size"] = st.Size()
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		c.Status = Warn
		c.Found = fmt.Sprintf("%s present (%d bytes) but does not load: %v", btfPath, st.Size(), err)
		c.Fix = "the kernel's BTF is unreadable; check the kernel build or obs's cilium/ebpf version"
		return
	}
	var ts *btf.Struct
	if err := spec.TypeByName("task_struct", &ts); err != nil {
		c.Status = Warn
		c.Found = fmt.Sprintf("BTF loads but has no task_struct: %v", err)
		c.Fix = "the kernel's BTF looks incomplete"
		return
	}
	c.Facts["task_struct_size"] = ts.Size
	c.Status = OK
	c.Found = fmt.Sprintf("%s loaded (%d KiB), task_struct is %d bytes", btfPath, st.Size()/1024, ts.Size)
}

func checkCaps(_ context.Context, c *Check) {
	caps, err := effectiveCaps()
	if err != nil {
		c.Status, c.Found = Fail, "cannot read obs's own capabilities: "+err.Error()
		c.Fix = "/proc must be mounted"
		return
	}
	c.Facts["cap_eff"] = fmt.Sprintf("%016x", uint64(caps))
	c.Facts["euid"] = os.Geteuid()
	var have, missing []string
	for _, n := range capNames {
		c.Facts[strings.ToLower(n.name)] = caps.Has(n.bit)
		if caps.Has(n.bit) {
			have = append(have, n.name)
		} else {
			missing = append(missing, n.name)
		}
	}
	c.Found = fmt.Sprintf("uid %d; effective: %s", os.Geteuid(), orNone(have))
	if len(missing) > 0 {
		c.Found += "; missing: " + strings.Join(missing, " ")
	}
	switch {
	case !canBPF(caps):
		c.Status = Fail
		c.Fix = rootFix
	case !caps.Has(CapSysPtrace):
		c.Status = Warn
		c.Fix = "grant CAP_SYS_PTRACE for core dumps of live processes and Go return probes"
	default:
		c.Status = OK
	}
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, " ")
}

// explainBPFErr turns the usual errnos of bpf() into a fix.
func explainBPFErr(err error) string {
	switch {
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return rootFix
	case errors.Is(err, unix.ENOSYS):
		return "the kernel has no bpf() syscall (CONFIG_BPF_SYSCALL) or a seccomp filter blocks it; in a container, allow bpf in its seccomp profile"
	case errors.Is(err, ebpf.ErrNotSupported):
		return "this kernel lacks the feature; use Linux 5.8 or newer"
	}
	return "see the error; `dmesg` may say more"
}

// bpfErrString is err's text without cilium/ebpf's memlock hint when obs
// lacks the capabilities, which are then the cause.
func bpfErrString(err error) string {
	s := err.Error()
	if caps, _ := effectiveCaps(); !canBPF(caps) {
		s = strings.TrimSpace(strings.ReplaceAll(s, "(MEMLOCK may be too low, consider rlimit.RemoveMemlock)", ""))
	}
	return s
}

func checkBPF(_ context.Context, c *Check) {
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:    "obs_doctor",
		Type:    ebpf.SocketFilter,
		License: "GPL",
		Instructions: asm.Instructions{
			asm.Mov.Imm(asm.R0, 0),
			asm.Return(),
		},
	})
	if err != nil {
		c.Status = Fail
		c.Found = "loading a 2-instruction socket filter failed: " + bpfErrString(err)
		c.Fix = explainBPFErr(err)
		return
	}
	defer prog.Close()
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 1})
	if err != nil {
		c.Status = Fail
		c.Found = "a program loads but creating a 1-entry array map failed: " + bpfErrString(err)
		c.Fix = explainBPFErr(err)
		return
	}
	m.Close()
	c.Status = OK
	c.Found = "bpf(): loaded a socket filter program and created an array map"
}

func checkUnprivBPF(_ context.Context, c *Check) {
	v, err := readInt(unprivBPFPath)
	if err != nil {
		c.Status = Warn
		c.Found = "cannot read " + unprivBPFPath + ": " + err.Error()
		c.Fix = "the kernel may be too old for obs"
		return
	}
	c.Facts["value"] = v
	caps, _ := effectiveCaps()
	meaning := map[int]string{0: "unprivileged BPF allowed", 1: "unprivileged BPF disabled until reboot", 2: "unprivileged BPF disabled, root may re-enable"}[v]
	if meaning == "" {
		meaning = "unknown setting"
	}
	c.Found = fmt.Sprintf("%s = %d (%s)", filepath.Base(unprivBPFPath), v, meaning)
	switch {
	case v == 0:
		c.Status = OK
	case canBPF(caps):
		c.Status = OK
		c.Found += "; obs holds CAP_BPF/CAP_SYS_ADMIN, so it does not apply"
	default:
		c.Status = Warn
		c.Fix = "obs's tracing programs need privileges anyway: " + rootFix
	}
}

// counterProgram loads a program of the given type that adds one to slot 0
// of a 1-entry array map each time it runs.
func counterProgram(typ ebpf.ProgramType) (*ebpf.Program, *ebpf.Map, error) {
	m, err := ebpf.NewMap(&ebpf.MapSpec{Name: "obs_doctor_n", Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 1})
	if err != nil {
		return nil, nil, fmt.Errorf("create counter map: %w", err)
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:    "obs_doctor",
		Type:    typ,
		License: "GPL",
		Instructions: asm.Instructions{
			asm.StoreImm(asm.RFP, -4, 0, asm.Word),
			asm.LoadMapPtr(asm.R1, m.FD()),
			asm.Mov.Reg(asm.R2, asm.RFP),
			asm.Add.Imm(asm.R2, -4),
			asm.FnMapLookupElem.Call(),
			asm.JEq.Imm(asm.R0, 0, "out"),
			asm.Mov.Imm(asm.R1, 1),
			asm.StoreXAdd(asm.R0, asm.R1, asm.DWord),
			asm.Mov.Imm(asm.R0, 0).WithSymbol("out"),
			asm.Return(),
		},
	})
	if err != nil {
		m.Close()
		return nil, nil, fmt.Errorf("load %s program: %w", typ, err)
	}
	return prog, m, nil
}

func readCounter(m *ebpf.Map) uint64 {
	var n uint64
	if err := m.Lookup(uint32(0), &n); err != nil {
		return 0
	}
	return n
}

// uprobeTarget is the function of obs's own binary the uprobe check attaches
// to and then calls.
//
//go:noinline
func uprobeTarget(n int) int { return n*3 + 1 }

func checkUprobes(_ context.Context, c *Check) {
	pmu, perr := readInt(uprobePMUPath)
	if perr == nil {
		c.Facts["pmu_type"] = pmu
	}
	c.Facts["pmu"] = perr == nil
	prog, m, err := counterProgram(ebpf.Kprobe)
	if err != nil {
		c.Status, c.Found, c.Fix = Fail, bpfErrString(err), explainBPFErr(err)
		return
	}
	defer prog.Close()
	defer m.Close()
	exe, err := os.Executable()
	if err != nil {
		c.Status, c.Found = Warn, "cannot find obs's own executable to probe: "+err.Error()
		return
	}
	pc := reflect.ValueOf(uprobeTarget).Pointer()
	sym := runtime.FuncForPC(pc).Name()
	c.Facts["binary"] = exe
	c.Facts["symbol"] = sym
	// Find the function's file offset from where it is mapped, so that a
	// stripped binary works as well as one with a symbol table.
	maps, err := procfs.Maps(os.Getpid())
	if err != nil {
		c.Status, c.Found = Warn, "cannot read obs's own memory map: "+err.Error()
		return
	}
	mp, ok := procfs.Find(maps, uint64(pc))
	if !ok || !mp.IsFile() {
		c.Status, c.Found = Warn, fmt.Sprintf("%s at %#x is not in a file mapping", sym, pc)
		return
	}
	off := uint64(pc) - mp.Start + mp.Offset
	c.Facts["file_offset"] = off
	ex, err := link.OpenExecutable(mp.Path)
	if err != nil {
		c.Status, c.Found = Warn, "cannot open obs's executable: "+err.Error()
		return
	}
	l, err := ex.Uprobe(sym, prog, &link.UprobeOptions{Address: off})
	if err != nil {
		c.Status = Fail
		c.Found = fmt.Sprintf("attaching a uprobe to %s failed: %v", sym, err)
		if perr != nil {
			c.Found += "; no uprobe perf PMU (" + uprobePMUPath + ")"
			c.Fix = "use a kernel with CONFIG_UPROBE_EVENTS=y (the uprobe PMU appeared in 4.17)"
		} else {
			c.Fix = explainBPFErr(err)
		}
		return
	}
	const calls = 3
	for i := 0; i < calls; i++ {
		uprobeTarget(i)
	}
	hits := readCounter(m)
	l.Close()
	c.Facts["hits"] = hits
	if hits == 0 {
		c.Status = Warn
		c.Found = fmt.Sprintf("uprobe on %s attached but did not fire in %d calls", sym, calls)
		c.Fix = "uprobes attach but do not run: check `dmesg` for uprobe errors"
		return
	}
	c.Status = OK
	how := "perf PMU uprobe"
	if perr != nil {
		how = "tracefs uprobe_events"
	}
	c.Found = fmt.Sprintf("%s (type %d): probe on own function fired %d times in %d calls", how, pmu, hits, calls)
}

func checkKprobes(_ context.Context, c *Check) {
	pmu, perr := readInt(kprobePMUPath)
	c.Facts["pmu"] = perr == nil
	if perr == nil {
		c.Facts["pmu_type"] = pmu
	}
	prog, m, err := counterProgram(ebpf.Kprobe)
	if err != nil {
		// obs needs no kprobes, so not being able to try is no failure.
		c.Status, c.Found, c.Fix = Warn, "cannot try a kprobe without BPF: "+bpfErrString(err), explainBPFErr(err)
		return
	}
	defer prog.Close()
	defer m.Close()
	const sym = "vfs_read"
	l, err := link.Kprobe(sym, prog, nil)
	if err != nil {
		c.Facts["available"] = false
		c.Facts["error"] = err.Error()
		c.Status = Warn
		c.Found = "attaching a kprobe to " + sym + " failed: " + err.Error()
		if perr != nil {
			c.Found = "no kprobe PMU; attaching a kprobe to " + sym + " failed"
			if errors.Is(err, os.ErrNotExist) || strings.Contains(err.Error(), "tracefs") {
				c.Found += ", and there is no tracefs to fall back to"
			} else {
				c.Found += ": " + err.Error()
			}
		}
		c.Fix = "kernel built without CONFIG_KPROBES/CONFIG_KPROBE_EVENTS: obs's user-space probes and syscall tracepoints still work; kernel-function probes need such a kernel"
		return
	}
	l.Close()
	c.Facts["available"] = true
	c.Status = OK
	c.Found = "attached a kprobe to " + sym
	if perr == nil {
		c.Found = fmt.Sprintf("kprobe PMU (type %d): attached a kprobe to %s", pmu, sym)
	}
}

func checkTracepoints(_ context.Context, c *Check) {
	prog, m, err := counterProgram(ebpf.RawTracepoint)
	if err != nil {
		c.Status, c.Found, c.Fix = Fail, bpfErrString(err), explainBPFErr(err)
		return
	}
	defer prog.Close()
	defer m.Close()
	l, err := link.AttachRawTracepoint(link.RawTracepointOptions{Name: "sys_enter", Program: prog})
	if err != nil {
		c.Status = Fail
		c.Found = "attaching to raw tracepoint sys_enter failed: " + err.Error()
		c.Fix = explainBPFErr(err)
		return
	}
	for i := 0; i < 3; i++ {
		syscall.Getppid()
	}
	hits := readCounter(m)
	l.Close()
	c.Facts["raw_sys_enter_hits"] = hits
	if hits == 0 {
		c.Status = Warn
		c.Found = "raw tracepoint sys_enter attached but saw no syscall"
		c.Fix = "check `dmesg`"
		return
	}
	// The perf-event flavour needs the tracepoint's id from tracefs.
	tp, terr := link.Tracepoint("raw_syscalls", "sys_enter", prog, nil)
	if terr == nil {
		tp.Close()
	}
	c.Facts["perf_tracepoint"] = terr == nil
	c.Status = OK
	c.Found = fmt.Sprintf("raw tracepoint sys_enter: %d syscalls seen while attached", hits)
	if terr != nil {
		c.Found += "; tracepoints by perf event id unavailable (no tracefs)"
	} else {
		c.Found += "; tracepoints by perf event id work too"
	}
}

func checkTracefs(_ context.Context, c *Check) {
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		c.Status, c.Found = Warn, "cannot read /proc/self/mounts: "+err.Error()
		return
	}
	at := FindMounts(string(b), "tracefs")
	for _, d := range FindMounts(string(b), "debugfs") {
		if st, err := os.Stat(filepath.Join(d, "tracing", "events")); err == nil && st.IsDir() {
			at = append(at, filepath.Join(d, "tracing"))
		}
	}
	fs, _ := os.ReadFile("/proc/filesystems")
	supported := strings.Contains(string(fs), "\ttracefs\n")
	c.Facts["mounted"] = len(at) > 0
	c.Facts["mount_points"] = at
	c.Facts["supported"] = supported
	if len(at) > 0 {
		c.Status = OK
		c.Found = "tracefs mounted at " + strings.Join(at, ", ")
		return
	}
	c.Status = Warn
	c.Found = "tracefs is not mounted; obs does not need it (raw tracepoints and perf PMUs), but bpftrace, perf trace and tracepoints by id do"
	if supported {
		c.Fix = "mount -t tracefs nodev /sys/kernel/tracing"
	} else {
		c.Found += "; the kernel has no tracefs"
		c.Fix = "a kernel with CONFIG_TRACING gives tracefs"
	}
}

func checkParanoid(_ context.Context, c *Check) {
	v, err := readInt(paranoidPath)
	if err != nil {
		c.Status = Fail
		c.Found = "cannot read " + paranoidPath + ": " + err.Error()
		c.Fix = "the kernel has no perf events (CONFIG_PERF_EVENTS); obs profile cannot work"
		return
	}
	c.Facts["value"] = v
	meaning := "unknown level"
	switch {
	case v <= -1:
		meaning = "no restrictions"
	case v == 0:
		meaning = "CPU-wide events allowed, no raw tracepoints"
	case v == 1:
		meaning = "user and kernel profiling of own processes"
	case v == 2:
		meaning = "user-space profiling of own processes only"
	default:
		meaning = "perf disabled for unprivileged users"
	}
	c.Found = fmt.Sprintf("perf_event_paranoid = %d (%s)", v, meaning)
	caps, _ := effectiveCaps()
	switch {
	case caps.Has(CapPerfmon) || caps.Has(CapSysAdmin):
		c.Status = OK
		c.Found += "; obs holds CAP_PERFMON, so it does not apply"
	case v <= 0:
		c.Status = OK
	default:
		c.Status = Warn
		c.Fix = "grant CAP_PERFMON, or `sysctl kernel.perf_event_paranoid=-1` (CPU-wide profiling needs one of them)"
	}
}

// perfOpen opens a perf event and returns its fd. userOnly excludes kernel
// and hypervisor time, which perf_event_paranoid 2 requires of
// unprivileged users.
func perfOpen(typ uint32, config uint64, pid, cpu int, sampleFreq uint64, userOnly bool) (int, error) {
	attr := unix.PerfEventAttr{Type: typ, Config: config, Bits: unix.PerfBitDisabled}
	if userOnly {
		attr.Bits |= unix.PerfBitExcludeKernel | unix.PerfBitExcludeHv
	}
	attr.Size = uint32(unsafe.Sizeof(attr))
	if sampleFreq > 0 {
		attr.Sample = sampleFreq
		attr.Bits |= unix.PerfBitFreq
	}
	return unix.PerfEventOpen(&attr, pid, cpu, -1, unix.PERF_FLAG_FD_CLOEXEC)
}

func checkPerfSoftware(_ context.Context, c *Check) {
	// Count this thread's CPU time while it spins a moment: proves events
	// count. The event follows the thread that opens it, so stay on it.
	runtime.LockOSThread()
	fd, err := perfOpen(unix.PERF_TYPE_SOFTWARE, unix.PERF_COUNT_SW_CPU_CLOCK, 0, -1, 0, true)
	if err != nil {
		runtime.UnlockOSThread()
		c.Status = Fail
		c.Found = "opening a user-space cpu-clock event on obs itself failed: " + err.Error()
		c.Fix = "the kernel has no usable perf events; check perf_event_paranoid (3 and above forbid them) and seccomp (perf_event_open)"
		return
	}
	var counted uint64
	// Spin until 2 ms of CPU are counted, or 500 ms have passed on a host
	// too loaded to give the thread that much.
	start := time.Now()
	if err := unix.IoctlSetInt(fd, unix.PERF_EVENT_IOC_ENABLE, 0); err == nil {
		var buf [8]byte
		for x := 0; time.Since(start) < 500*time.Millisecond; x++ {
			for i := 0; i < 1000; i++ {
				_ = uprobeTarget(x + i)
			}
			if n, err := unix.Read(fd, buf[:]); err == nil && n == 8 {
				counted = *(*uint64)(unsafe.Pointer(&buf[0]))
			}
			if counted >= 2e6 {
				break
			}
		}
	}
	spun := time.Since(start)
	unix.Close(fd)
	runtime.UnlockOSThread()
	c.Facts["counted_ns"] = counted
	// A profiler samples every CPU at a frequency: open that on CPU 0.
	fd, err = perfOpen(unix.PERF_TYPE_SOFTWARE, unix.PERF_COUNT_SW_CPU_CLOCK, -1, 0, 99, false)
	c.Facts["cpu_wide_sampling"] = err == nil
	if err != nil {
		c.Status = Warn
		c.Found = fmt.Sprintf("cpu-clock counts obs's own time (%.1f ms), but a CPU-wide sampling event is refused: %v", float64(counted)/1e6, err)
		c.Fix = "grant CAP_PERFMON or lower perf_event_paranoid to 0 for CPU-wide profiling"
		return
	}
	unix.Close(fd)
	if counted == 0 {
		c.Status = Warn
		c.Found = "cpu-clock events open but counted nothing"
		c.Fix = "check for a hypervisor or seccomp oddity"
		return
	}
	c.Status = OK
	c.Found = fmt.Sprintf("cpu-clock counted %.1f ms of CPU in a %.1f ms spin; CPU-wide sampling at 99 Hz opens",
		float64(counted)/1e6, float64(spun)/1e6)
}

func checkPerfHardware(_ context.Context, c *Check) {
	_, pmuErr := os.Stat(cpuPMUPath)
	c.Facts["cpu_pmu"] = pmuErr == nil
	fd, err := perfOpen(unix.PERF_TYPE_HARDWARE, unix.PERF_COUNT_HW_CPU_CYCLES, 0, -1, 0, true)
	c.Facts["cycles"] = err == nil
	if err != nil {
		c.Status = Warn
		c.Found = "no hardware counters: opening a cycles event failed: " + err.Error() + "; profiling uses the software cpu-clock"
		if pmuErr != nil {
			c.Found = "no CPU PMU in /sys/bus/event_source/devices; " + c.Found
		}
		c.Fix = "a virtual machine without PMU passthrough has none; nothing obs needs depends on them"
		return
	}
	unix.Close(fd)
	c.Status = OK
	c.Found = "hardware cycles event opens"
}

func checkPtrace(ctx context.Context, c *Check) {
	scope := -1
	if v, err := readInt(yamaPath); err == nil {
		scope = v
		c.Facts["yama_ptrace_scope"] = v
		c.Found = fmt.Sprintf("yama ptrace_scope = %d", v)
	} else {
		c.Found = "no yama LSM (classic ptrace permissions)"
	}
	caps, _ := effectiveCaps()
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		c.Status = Warn
		c.Found += "; no `sleep` program to spawn a child to attach to, attach not tried"
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, sleep, "30")
	if err := cmd.Start(); err != nil {
		c.Status = Warn
		c.Found += "; cannot spawn a child to attach to: " + err.Error()
		return
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	err = attachDetach(ctx, cmd.Process.Pid)
	c.Facts["attach"] = err == nil
	if err != nil {
		c.Status = Fail
		c.Found += "; PTRACE_ATTACH to a child failed: " + err.Error()
		c.Fix = "run obs as root or grant CAP_SYS_PTRACE; in a container allow ptrace in its seccomp profile"
		if scope == 3 {
			c.Fix = "yama ptrace_scope 3 forbids ptrace until reboot"
		}
		return
	}
	c.Found += "; attached to and detached from a child"
	switch {
	case scope >= 3:
		c.Status = Fail
		c.Fix = "yama ptrace_scope 3 forbids attaching to other processes until reboot"
	case scope >= 1 && !caps.Has(CapSysPtrace):
		c.Status = Warn
		c.Found += "; without CAP_SYS_PTRACE only descendants can be attached"
		c.Fix = "grant CAP_SYS_PTRACE, or `sysctl kernel.yama.ptrace_scope=0`"
	case !caps.Has(CapSysPtrace):
		c.Status = OK
		c.Found += "; processes of other users need CAP_SYS_PTRACE"
	default:
		c.Status = OK
	}
}

// attachDetach ptrace-attaches pid, waits for it to stop and detaches. All
// ptrace calls on one tracee must come from one OS thread.
func attachDetach(ctx context.Context, pid int) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := syscall.PtraceAttach(pid); err != nil {
		return fmt.Errorf("attach pid %d: %w", pid, err)
	}
	var ws syscall.WaitStatus
	for {
		got, err := syscall.Wait4(pid, &ws, syscall.WNOHANG|unix.WALL, nil)
		if err != nil {
			return fmt.Errorf("wait for pid %d to stop: %w", pid, err)
		}
		if got == pid && ws.Stopped() {
			break
		}
		if got == pid && (ws.Exited() || ws.Signaled()) {
			return fmt.Errorf("pid %d ended while attaching", pid)
		}
		if ctx.Err() != nil {
			_ = syscall.PtraceDetach(pid)
			return fmt.Errorf("pid %d did not stop after attach", pid)
		}
		time.Sleep(time.Millisecond)
	}
	if err := syscall.PtraceDetach(pid); err != nil {
		return fmt.Errorf("detach pid %d: %w", pid, err)
	}
	return nil
}

// coredumpBinaries are where distributions install systemd-coredump.
var coredumpBinaries = []string{"/usr/lib/systemd/systemd-coredump", "/lib/systemd/systemd-coredump"}

func checkCorePattern(_ context.Context, c *Check) {
	raw, err := os.ReadFile(corePatternPath)
	if err != nil {
		c.Status, c.Found = Warn, "cannot read "+corePatternPath+": "+err.Error()
		return
	}
	p, err := ParseCorePattern(string(raw))
	c.Facts["pattern"] = p
	if v, err := readInt(coreUsesPidPath); err == nil {
		c.Facts["core_uses_pid"] = v
	}
	if v, err := readInt(suidDumpablePath); err == nil {
		c.Facts["suid_dumpable"] = v
	}
	for _, b := range coredumpBinaries {
		if _, err := os.Stat(b); err == nil {
			c.Facts["systemd_coredump"] = b
		}
	}
	if err != nil {
		c.Status, c.Found = Fail, err.Error()
		c.Fix = "sysctl kernel.core_pattern=core (or a handler such as systemd-coredump); live snapshots with `obs core dump` still work"
		return
	}
	switch {
	case p.Pipe && p.Known == "systemd-coredump":
		c.Status = OK
		c.Found = fmt.Sprintf("cores piped to systemd-coredump (%s); `coredumpctl dump PID -o core` gets one for obs core", p.Handler)
	case p.Pipe && p.Known != "":
		c.Status = OK
		c.Found = fmt.Sprintf("cores piped to %s (%s)", p.Known, p.Handler)
	case p.Pipe:
		c.Status = Warn
		c.Found = fmt.Sprintf("cores piped to an unrecognised handler %q", p.Handler)
		c.Fix = "find where " + filepath.Base(p.Handler) + " stores cores; or `sysctl kernel.core_pattern=core`"
	case p.Relative:
		c.Status = OK
		c.Found = fmt.Sprintf("core_pattern %q: a file in the crashing process's working directory (which must be writable)", p.Raw)
	default:
		dir := filepath.Dir(p.Path)
		if strings.Contains(dir, "%") {
			c.Status = OK
			c.Found = fmt.Sprintf("core_pattern %q: files under a per-process directory", p.Raw)
		} else if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			c.Status = Warn
			c.Found = fmt.Sprintf("core_pattern %q but %s does not exist", p.Raw, dir)
			c.Fix = "mkdir -p " + dir
		} else {
			c.Status = OK
			c.Found = fmt.Sprintf("core_pattern %q: files in %s", p.Raw, dir)
		}
	}
}

func rlimitString(v uint64) string {
	if v == unix.RLIM_INFINITY {
		return "unlimited"
	}
	return fmt.Sprint(v)
}

func checkCoreRlimit(_ context.Context, c *Check) {
	var r unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_CORE, &r); err != nil {
		c.Status, c.Found = Warn, "getrlimit(RLIMIT_CORE): "+err.Error()
		return
	}
	c.Facts["soft"] = rlimitString(r.Cur)
	c.Facts["hard"] = rlimitString(r.Max)
	c.Found = fmt.Sprintf("RLIMIT_CORE of obs's shell: soft %s, hard %s", rlimitString(r.Cur), rlimitString(r.Max))
	if r.Cur == 0 {
		c.Status = Warn
		c.Found += ": programs started from here write no kernel cores"
		c.Fix = "`ulimit -c unlimited` before starting the service (LimitCORE=infinity in a systemd unit); `obs core dump` of a live process needs no limit; `obs triage` shows the service's own limit"
		return
	}
	c.Status = OK
}

func checkMemlock(_ context.Context, c *Check) {
	var r unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &r); err != nil {
		c.Status, c.Found = Warn, "getrlimit(RLIMIT_MEMLOCK): "+err.Error()
		return
	}
	c.Facts["soft"] = rlimitString(r.Cur)
	c.Facts["hard"] = rlimitString(r.Max)
	c.Found = fmt.Sprintf("RLIMIT_MEMLOCK soft %s, hard %s", rlimitString(r.Cur), rlimitString(r.Max))
	if caps, _ := effectiveCaps(); !canBPF(caps) {
		c.Status = Warn
		c.Found += "; how BPF memory is accounted cannot be tested without CAP_BPF"
		c.Fix = rootFix
		return
	}
	// Kernels since 5.11 charge BPF memory to the memory cgroup instead of
	// this limit. Find out by creating a map with the limit at zero.
	memcg, err := memcgAccounting(r)
	if err != nil {
		c.Status = Warn
		c.Found += "; could not test how BPF memory is accounted: " + err.Error()
		return
	}
	c.Facts["memcg_accounting"] = memcg
	const want = 64 << 20
	switch {
	case memcg:
		c.Status = OK
		c.Found += "; BPF memory is charged to the memory cgroup, so the limit does not apply"
	case r.Cur == unix.RLIM_INFINITY || r.Cur >= want:
		c.Status = OK
		c.Found += "; BPF maps count against it"
	default:
		c.Status = Warn
		c.Found += "; BPF maps count against it and it is small"
		c.Fix = "`ulimit -l unlimited` (obs raises it itself when it has CAP_SYS_RESOURCE)"
	}
}

// memcgAccounting lowers RLIMIT_MEMLOCK to zero for a moment and tries to
// create a map: that works only when the kernel charges BPF memory to the
// memory cgroup. The limit is restored before returning. Run it while no
// other goroutine is creating BPF objects.
func memcgAccounting(orig unix.Rlimit) (bool, error) {
	zero := unix.Rlimit{Cur: 0, Max: orig.Max}
	if err := unix.Setrlimit(unix.RLIMIT_MEMLOCK, &zero); err != nil {
		return false, fmt.Errorf("lower RLIMIT_MEMLOCK: %w", err)
	}
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 1})
	if rerr := unix.Setrlimit(unix.RLIMIT_MEMLOCK, &orig); rerr != nil {
		return false, fmt.Errorf("restore RLIMIT_MEMLOCK: %w", rerr)
	}
	if err == nil {
		m.Close()
		return true, nil
	}
	if errors.Is(err, unix.EPERM) {
		return false, nil
	}
	return false, fmt.Errorf("create map: %w", err)
}

func checkKallsyms(_ context.Context, c *Check) {
	restrict, rerr := readInt("/proc/sys/kernel/kptr_restrict")
	if rerr == nil {
		c.Facts["kptr_restrict"] = restrict
	}
	f, err := os.Open("/proc/kallsyms")
	if err != nil {
		c.Status, c.Found = Warn, "cannot read /proc/kallsyms: "+err.Error()
		c.Fix = "kernel frames in profiles stay unsymbolized; a kernel with CONFIG_KALLSYMS gives them names"
		return
	}
	defer f.Close()
	buf := make([]byte, 4096)
	n, _ := f.Read(buf)
	visible, lines := KallsymsVisible(string(buf[:n]))
	c.Facts["visible"] = visible
	if lines == 0 {
		c.Status, c.Found = Warn, "/proc/kallsyms is empty"
		c.Fix = "kernel frames in profiles stay unsymbolized"
		return
	}
	if !visible {
		c.Status = Warn
		// The kernel shows addresses to CAP_SYSLOG, and with kptr_restrict
		// 0 also to whoever may use perf on the kernel (paranoid <= 1).
		c.Found = fmt.Sprintf("/proc/kallsyms shows zero addresses (kptr_restrict = %d)", restrict)
		switch restrict {
		case 0:
			c.Fix = "run obs as root (CAP_SYSLOG), or `sysctl kernel.perf_event_paranoid=1`, for kernel frames with names"
		case 1:
			c.Fix = "run obs as root (CAP_SYSLOG), or `sysctl kernel.kptr_restrict=0` with perf_event_paranoid <= 1"
		default:
			c.Fix = "kptr_restrict 2 hides kernel addresses from everyone: `sysctl kernel.kptr_restrict=0`"
		}
		return
	}
	c.Status = OK
	c.Found = fmt.Sprintf("/proc/kallsyms readable with addresses (kptr_restrict = %d)", restrict)
}

func checkPidNS(_ context.Context, c *Check) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		c.Status, c.Found = Warn, "cannot read /proc/self/status: "+err.Error()
		return
	}
	ns, err := ParseNSpid(string(b))
	if err != nil {
		c.Status, c.Found = Warn, err.Error()
		return
	}
	c.Facts["nspid"] = ns
	c.Facts["nested"] = len(ns) > 1
	if len(ns) > 1 {
		c.Status = Warn
		c.Found = fmt.Sprintf("obs runs in a nested pid namespace (its pid is %d here, %d outside): processes outside it are invisible", ns[len(ns)-1], ns[0])
		c.Fix = "run obs on the host (or in the service's own container, e.g. `kubectl debug --target`) to see the service"
		return
	}
	c.Status = OK
	c.Found = "obs runs in the initial pid namespace: every process on the host is visible"
	if self, e1 := os.Readlink("/proc/self/ns/mnt"); e1 == nil {
		if init, e2 := os.Readlink("/proc/1/ns/mnt"); e2 == nil && init != self {
			c.Found += "; pid 1 has another mount namespace (obs opens other processes' files through /proc/PID/root)"
		}
	}
}
