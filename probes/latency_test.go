package probes

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/obs-toolkit/obs/internal/testenv"
)

func TestLatencyGoSleep(t *testing.T) {
	testenv.RequireRoot(t)
	bin := goFixture(t, "")
	p := startFixture(t, bin, "sleep", "8", "30")
	tg, probes := resolveIn(t, p.pid(), "main.sleepy")
	hs := timeUntilDone(t, p, tg, probes)
	h := hs[0]
	if h.Count != 8 {
		t.Fatalf("count = %d, want 8 (%+v)", h.Count, h)
	}
	// Each call sleeps 30 ms; allow a loaded machine plenty of slack.
	min, max := 30*time.Millisecond, 3*time.Second
	if p50 := time.Duration(h.Quantile(0.5)); p50 < min/2 || p50 > max {
		t.Errorf("p50 = %v, want about 30ms", p50)
	}
	if time.Duration(h.MaxNs) < min || time.Duration(h.MaxNs) > max {
		t.Errorf("max = %v, want about 30ms", time.Duration(h.MaxNs))
	}
	if avg := time.Duration(h.SumNs / h.Count); avg < min {
		t.Errorf("mean = %v, below the 30ms sleep", avg)
	}
	p.finish()
}

// TestLatencyStackGrowth times a deeply recursive function whose goroutine
// stacks are copied while calls are in flight: every call must be matched
// and the target must finish correctly.
func TestLatencyStackGrowth(t *testing.T) {
	testenv.RequireRoot(t)
	for _, tc := range []struct{ name, toolchain string }{{"default", ""}, {"go1.25", "go1.25.4"}} {
		t.Run(tc.name, func(t *testing.T) { testStackGrowth(t, goFixture(t, tc.toolchain)) })
	}
}

func testStackGrowth(t *testing.T, bin string) {
	const goroutines = 40
	p := startFixture(t, bin, "grow", strconv.Itoa(goroutines))
	tg, probes := resolveIn(t, p.pid(), "main.grow")
	l, err := MeasureLatency(tg, probes)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	rets := 0
	for _, s := range l.Sites {
		if s.Kind == "ret" {
			rets++
		}
	}
	if rets < 1 {
		t.Fatalf("no RET sites: %+v", l.Sites)
	}
	p.goAhead()
	done := p.expect("done")
	// Each goroutine i recurses 200+i%50 levels: depth+1 calls.
	want := uint64(0)
	wantResult := 0
	for i := 0; i < goroutines; i++ {
		d := 200 + i%50
		want += uint64(d + 1)
		wantResult += expectGrow(d) + len("g"+strconv.Itoa(i))
	}
	if done != fmt.Sprintf("done %d", wantResult) {
		t.Errorf("target computed %q, want done %d", done, wantResult)
	}
	hs, err := l.Read()
	if err != nil {
		t.Fatal(err)
	}
	if hs[0].Count != want {
		t.Errorf("timed %d calls, want %d", hs[0].Count, want)
	}
	l.Close()
	p.finish()
	if strings.Contains(p.errb.String(), "fatal") || strings.Contains(p.errb.String(), "panic") {
		t.Fatalf("target stderr: %s", p.errb.String())
	}
}

func expectGrow(depth int) int {
	s := 0
	for d := depth; d >= 0; d-- {
		if d != 0 {
			s += d % 256 // byte(depth) stored at pad[depth%512]
		}
	}
	return s
}
