package probes

import (
	"strings"
	"testing"

	"github.com/obs-toolkit/obs/internal/testenv"
)

func TestStacksGo(t *testing.T) {
	testenv.RequireRoot(t)
	bin := goFixture(t, "")
	p := startFixture(t, bin, "calls", "300")
	tg, ps := resolveIn(t, p.pid(), "main.mix")
	s, err := CollectStacks(tg, ps)
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
	if len(sts) == 0 {
		t.Fatalf("no stacks")
	}
	var total uint64
	for _, st := range sts {
		total += st.Count
	}
	if total+s.Dropped() != 300 {
		t.Errorf("%d stacks counted + %d dropped, want 300", total, s.Dropped())
	}
	var names []string
	for _, f := range sts[0].Frames {
		names = append(names, f.Func)
	}
	got := strings.Join(names, ";")
	// main.mix is frameless: its caller main.work is found through the
	// return address at SP, which a frame-pointer walk alone misses.
	if !strings.HasPrefix(got, "main.mix;main.work;main.main;runtime.main") {
		t.Errorf("top stack = %s", got)
	}
	s.Close()
	p.finish()
}
