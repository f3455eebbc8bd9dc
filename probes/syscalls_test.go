package probes

import (
	"testing"

	"github.com/obs-toolkit/obs/internal/testenv"
)

// TestSyscalls counts a C fixture's syscalls: its one usleep is a
// clock_nanosleep of at least 5 ms, and nothing from other processes leaks
// in (obs's own write syscalls are not in the target).
func TestSyscalls(t *testing.T) {
	testenv.RequireRoot(t)
	bin := cFixture(t)
	p := startFixture(t, bin, "3")
	s, err := TraceSyscalls(p.pid())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p.goAhead()
	p.expect("done")
	sts, err := s.Read()
	if err != nil {
		t.Fatal(err)
	}
	by := map[string]SyscallStat{}
	for _, st := range sts {
		by[st.Name] = st
	}
	sl, ok := by["clock_nanosleep"]
	if !ok {
		sl, ok = by["nanosleep"]
	}
	if !ok || sl.Count != 1 || sl.MaxNs < 5e6 {
		t.Errorf("sleep syscall: %+v (all: %v)", sl, sts)
	}
	if w := by["write"]; w.Count < 1 {
		t.Errorf("write not seen: %v", sts)
	}
	if _, ok := by["bpf"]; ok {
		t.Errorf("obs's own bpf syscalls were counted: %v", sts)
	}
	s.Close()
	p.finish()
}

// TestCountSyscallSpec counts syscall:NAME specs next to a function probe.
func TestCountSyscallSpec(t *testing.T) {
	testenv.RequireRoot(t)
	bin := cFixture(t)
	p := startFixture(t, bin, "4")
	tg, ps := resolveIn(t, p.pid(), "syscall:clock_nanosleep", "syscall:nanosleep", "cwork", "syscall:getpid")
	got := countUntilDone(t, p, tg, ps)
	if got[0]+got[1] != 1 || got[2] != 4 || got[3] != 0 {
		t.Errorf("counts %v, want one sleep, 4 cwork, no getpid", got)
	}
	p.finish()
	if _, err := (&Target{Exe: bin}).Resolve("syscall:open*"); err == nil {
		t.Error("syscall spec accepted without a process")
	}
}
