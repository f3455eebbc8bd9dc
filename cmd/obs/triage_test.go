package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/obs-toolkit/obs/internal/triage"
)

func TestTriageUsage(t *testing.T) {
	for _, args := range [][]string{{"triage"}, {"triage", "-p", "1", "-d", "-1s"}, {"triage", "-p", "x"}, {"triage", "-p", "1", "--lines", "0"}} {
		if code, _, errs := runObs(t, args...); code != 2 || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
			t.Errorf("%v: exit %d %q, want 2 and one line", args, code, errs)
		}
	}
	code, _, errs := runObs(t, "triage", "-p", "1073741824", "-o", t.TempDir())
	if code != 1 || !strings.Contains(errs, "no such process") {
		t.Errorf("missing pid: exit %d %q", code, errs)
	}
}

func TestTriageJSON(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Skip("no sleep program:", err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	dir := filepath.Join(t.TempDir(), "b")
	code, out, errs := runObs(t, "triage", "-p", strconv.Itoa(cmd.Process.Pid), "-d", "100ms", "-o", dir, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var r triage.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("bad json: %v", err)
	}
	if r.Pid != cmd.Process.Pid || r.Comm != "sleep" || len(r.Sections) != len(triage.SectionNames()) {
		t.Errorf("report: pid %d comm %s, %d sections", r.Pid, r.Comm, len(r.Sections))
	}
	if _, err := os.Stat(filepath.Join(dir, "report.json")); err != nil {
		t.Error(err)
	}
	// The table form names every section and what it missed.
	code, out, _ = runObs(t, "triage", "-p", strconv.Itoa(cmd.Process.Pid), "-d", "100ms", "-o", dir+"2")
	if code != 0 || !strings.Contains(out, "agent skipped") || !strings.Contains(out, "not collected:") {
		t.Errorf("table: exit %d\n%s", code, out)
	}
}
