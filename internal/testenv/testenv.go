// Package testenv holds the helpers tests use to decide whether the host can
// run them: root, BPF, ptrace, external peers. A test that cannot run skips
// with the reason, unless OBS_REQUIRE_PRIVILEGED=1 (set by CI), which turns
// every such skip into a failure so that CI never passes by skipping.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// Required reports whether skips must fail (OBS_REQUIRE_PRIVILEGED=1).
func Required() bool { return os.Getenv("OBS_REQUIRE_PRIVILEGED") == "1" }

// SkipOrFail skips the test with reason, or fails it when skips are not
// allowed.
func SkipOrFail(t testing.TB, reason string) {
	t.Helper()
	if Required() {
		t.Fatalf("OBS_REQUIRE_PRIVILEGED=1 but: %s", reason)
	}
	t.Skip(reason)
}

// RequireRoot skips (or fails under CI) unless running as root, which the
// BPF, perf and ptrace tests need.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		SkipOrFail(t, "needs root (CAP_BPF, CAP_PERFMON, CAP_SYS_PTRACE)")
	}
}

// RequireTool skips (or fails under CI) unless the named program is on PATH,
// and returns its path.
func RequireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		SkipOrFail(t, name+" not installed (.ci/run installs it)")
	}
	return p
}
