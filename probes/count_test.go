package probes

import (
	"strings"
	"testing"

	"github.com/obs-toolkit/obs/internal/testenv"
)

func TestCountGoExact(t *testing.T) {
	testenv.RequireRoot(t)
	bin := goFixture(t, "")
	const n = 2500
	p := startFixture(t, bin, "calls", "2500")
	tg, err := ProcessTarget(p.pid())
	if err != nil {
		t.Fatal(err)
	}
	probes, err := tg.ResolveAll([]string{"main.work", "main.sleepy"})
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
	if got[0] != n || got[1] != 0 {
		t.Fatalf("counts = %v, want [%d 0]", got, n)
	}
	c.Close()
	p.finish()
}
