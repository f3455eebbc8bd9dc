package probes

import (
	"strings"
	"testing"

	"github.com/obs-toolkit/obs/internal/testenv"
)

// TestCountGoExact counts every call of a Go function, none invented, in a
// plain, a stripped (symbols from .gopclntab only) and a PIE build.
func TestCountGoExact(t *testing.T) {
	testenv.RequireRoot(t)
	for _, tc := range []struct {
		name  string
		flags []string
	}{
		{"plain", nil},
		{"stripped", []string{"-ldflags=-s -w"}},
		{"pie", []string{"-buildmode=pie"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bin := goFixture(t, "", tc.flags...)
			const n = 2500
			p := startFixture(t, bin, "calls", "2500")
			tg, err := ProcessTarget(p.pid())
			if err != nil {
				t.Fatal(err)
			}
			probes, err := tg.ResolveAll([]string{"main.work", "main.sleepy", "main.mix"})
			if err != nil {
				t.Fatal(err)
			}
			if probes[0].Entry.Cost != "emulated" || !strings.Contains(probes[0].Entry.Inst, "PUSHQ BP") {
				t.Errorf("entry site of main.work = %+v, want the emulated PUSHQ BP", probes[0].Entry)
			}
			c, err := Count(tg, probes)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			p.goAhead()
			p.expect("done")
			got, err := c.Read()
			if err != nil {
				t.Fatal(err)
			}
			if got[0] != n || got[1] != 0 || got[2] != n {
				t.Fatalf("counts = %v, want [%d 0 %d]", got, n, n)
			}
			c.Close()
			p.finish()
		})
	}
}
