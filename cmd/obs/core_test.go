package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/obs-toolkit/obs/postmortem/coretest"
)

func TestCoreCommands(t *testing.T) {
	defer coretest.Cleanup()
	core, exe := coretest.CrashCore(t, "", "leak")

	code, out, errs := runObs(t, "core", "info", "--json", core)
	if code != 0 {
		t.Fatalf("info exit %d: %s", code, errs)
	}
	var in struct {
		Panic      struct{ Message string }
		Exe        string
		Goroutines int
	}
	if err := json.Unmarshal([]byte(out), &in); err != nil {
		t.Fatalf("info json: %v\n%s", err, out)
	}
	if in.Panic.Message != "leak fixture done" || in.Exe != exe || in.Goroutines < 30 {
		t.Fatalf("info %+v", in)
	}

	code, out, _ = runObs(t, "core", "leaks", "--json", core)
	var lk struct{ Leaked int }
	if code != 0 || json.Unmarshal([]byte(out), &lk) != nil || lk.Leaked != 12 {
		t.Fatalf("leaks exit %d leaked %d:\n%s", code, lk.Leaked, out)
	}

	code, out, _ = runObs(t, "core", "goroutines", "--state", "select", core)
	if code != 0 || !strings.Contains(out, "3 goroutines in 1 buckets") || !strings.Contains(out, "main.leakSelect") {
		t.Fatalf("goroutines exit %d:\n%s", code, out)
	}

	dir := t.TempDir()
	junit, md, pb := filepath.Join(dir, "r.xml"), filepath.Join(dir, "r.md"), filepath.Join(dir, "h.pb.gz")
	code, out, _ = runObs(t, "core", "report", "--junit", junit, "--markdown", md, core)
	if code != 1 || !strings.Contains(out, "CRASHED") {
		t.Fatalf("report exit %d (want 1 for a crash):\n%s", code, out)
	}
	for _, f := range []string{junit, md} {
		if st, err := os.Stat(f); err != nil || st.Size() == 0 {
			t.Errorf("%s not written: %v", f, err)
		}
	}
	code, out, errs = runObs(t, "core", "heap", "--pprof", pb, core)
	if code != 0 || !strings.Contains(out, "main.Record") {
		t.Fatalf("heap exit %d %s:\n%s", code, errs, out)
	}
	code, out, _ = runObs(t, "core", "diff", "--json", core, core)
	if code != 0 || !strings.Contains(out, `"same_binary": true`) {
		t.Fatalf("diff exit %d:\n%s", code, out)
	}
}

func TestCoreErrors(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "not-a-core")
	os.WriteFile(bad, []byte("hello, this is not an ELF file at all........................................"), 0o644)
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"core", "info"}, 2},
		{[]string{"core", "dump"}, 2},
		{[]string{"core", "info", bad}, 1},
		{[]string{"core", "leaks", "/no/such/core"}, 1},
		{[]string{"core", "goroutines", bad}, 1},
	} {
		code, _, errs := runObs(t, tc.args...)
		if code != tc.code {
			t.Errorf("%v: exit %d, want %d (%s)", tc.args, code, tc.code, errs)
		}
		if strings.Count(strings.TrimSpace(errs), "\n") != 0 || !strings.HasPrefix(errs, "obs: ") {
			t.Errorf("%v: want one-line error, got %q", tc.args, errs)
		}
	}
}
