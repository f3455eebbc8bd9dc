package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/obs-toolkit/obs/internal/output"
)

// runObs runs the CLI in process and returns exit code, stdout and stderr.
func runObs(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	g := &globals{io: output.Buffer(&out, &errb)}
	code := run(args, g)
	return code, out.String(), errb.String()
}

func TestVersionJSON(t *testing.T) {
	code, out, _ := runObs(t, "version", "--json")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	var v versionInfo
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("bad json %q: %v", out, err)
	}
	if !strings.HasPrefix(v.GoVersion, "go") || v.OS == "" || v.Arch == "" {
		t.Fatalf("incomplete version %+v", v)
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	for _, args := range [][]string{{"no-such-command"}, {"version", "--no-such-flag"}, {"version", "extra"}} {
		code, _, errs := runObs(t, args...)
		if code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
		if !strings.Contains(errs, "--help") || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
			t.Errorf("%v: want one-line error with usage hint, got %q", args, errs)
		}
	}
}

func TestUsageHintOnce(t *testing.T) {
	_, _, errs := runObs(t, "version", "--bogus")
	if n := strings.Count(errs, "--help"); n != 1 {
		t.Fatalf("usage hint appears %d times: %q", n, errs)
	}
}
