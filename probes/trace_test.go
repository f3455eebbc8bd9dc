package probes

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/obs-toolkit/obs/internal/testenv"
)

func collect(t *testing.T, tr *Tracer, n int) []Event {
	t.Helper()
	ch := make(chan Event, n)
	go func() {
		for {
			ev, err := tr.Next()
			if err != nil {
				close(ch)
				return
			}
			ch <- ev
		}
	}()
	var out []Event
	timeout := time.After(60 * time.Second)
	for len(out) < n {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatalf("tracer ended after %d events", len(out))
			}
			out = append(out, ev)
		case <-timeout:
			t.Fatalf("only %d of %d events", len(out), n)
		}
	}
	return out
}

func argString(ev Event) string {
	var parts []string
	for _, a := range ev.Args {
		parts = append(parts, a.Name+"="+a.Value)
	}
	return strings.Join(parts, " ")
}

func TestTraceGoArgs(t *testing.T) {
	testenv.RequireRoot(t)
	for _, tc := range []struct{ name, toolchain string }{{"default", ""}, {"go1.25", "go1.25.4"}} {
		t.Run(tc.name, func(t *testing.T) {
			bin := goFixture(t, tc.toolchain)
			p := startFixture(t, bin, "calls", "20")
			tg, ps := resolveIn(t, p.pid(), "main.work")
			tr, err := Trace(tg, ps, TraceOptions{Ret: true})
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			p.goAhead()
			evs := collect(t, tr, 40)
			p.expect("done")
			entries, rets := 0, 0
			var goid int64 = -1
			for _, ev := range evs {
				if ev.PID != p.pid() {
					t.Errorf("event from pid %d", ev.PID)
				}
				if ev.Ret {
					// work returns len(name) ^ n + len(tags) = (7 ^ i) + 3.
					i := rets
					want := fmt.Sprintf("~r0=%d", (len(fmt.Sprintf("hello-%d", i%10))^i)+3)
					if got := argString(ev); got != want {
						t.Errorf("return %d = %q, want %q", i, got, want)
					}
					rets++
					continue
				}
				i := entries
				want := fmt.Sprintf(`name="hello-%d" n=%d tags=len=3 cap=3 [%d 2 3]`, i%10, i, i)
				if got := argString(ev); got != want {
					t.Errorf("call %d args = %q, want %q", i, got, want)
				}
				if ev.Goid <= 0 || (goid >= 0 && ev.Goid != goid) {
					t.Errorf("goroutine id %d (first %d)", ev.Goid, goid)
				}
				goid = ev.Goid
				entries++
			}
			if entries != 20 || rets != 20 {
				t.Errorf("%d entries, %d returns; want 20 each", entries, rets)
			}
			if tr.Lost() != 0 {
				t.Errorf("lost %d events", tr.Lost())
			}
			tr.Close()
			p.finish()
		})
	}
}

func TestTraceCString(t *testing.T) {
	testenv.RequireRoot(t)
	bin := cFixture(t)
	p := startFixture(t, bin, "3")
	tg, ps := resolveIn(t, p.pid(), "cwork")
	tr, err := Trace(tg, ps, TraceOptions{Ret: true})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	p.goAhead()
	evs := collect(t, tr, 6)
	var got []string
	for _, ev := range evs {
		got = append(got, fmt.Sprintf("%v:%s", ev.Ret, argString(ev)))
	}
	want := `false:name="cfixture" n=0,true:ret=8,false:name="cfixture" n=1,true:ret=9,false:name="cfixture" n=2,true:ret=10`
	if strings.Join(got, ",") != want {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, ","), want)
	}
	tr.Close()
	p.finish()
}

// TestTraceGoInterface decodes an error result: nil, or the dynamic type
// named from the binary's itab symbols (PIE included).
func TestTraceGoInterface(t *testing.T) {
	testenv.RequireRoot(t)
	for _, flags := range [][]string{nil, {"-buildmode=pie"}} {
		bin := goFixture(t, "", flags...)
		p := startFixture(t, bin, "calls", "6")
		tg, ps := resolveIn(t, p.pid(), "main.check")
		tr, err := Trace(tg, ps, TraceOptions{Ret: true})
		if err != nil {
			t.Fatal(err)
		}
		p.goAhead()
		var rets []string
		for _, ev := range collect(t, tr, 12) {
			if ev.Ret {
				v := argString(ev)
				if i := strings.Index(v, ")0x"); i > 0 {
					v = v[:i+1] // drop the data pointer
				}
				rets = append(rets, v)
			}
		}
		want := "~r0=nil ~r0=(*errors.errorString) ~r0=nil ~r0=(*errors.errorString) ~r0=nil ~r0=(*errors.errorString)"
		if got := strings.Join(rets, " "); got != want {
			t.Errorf("%v: returns %s\nwant %s", flags, got, want)
		}
		tr.Close()
		p.expect("done")
		p.finish()
	}
}

// TestTraceGoStackArgs decodes Go arguments that do not fit in the nine
// integer registers and are passed on the stack.
func TestTraceGoStackArgs(t *testing.T) {
	testenv.RequireRoot(t)
	bin := goFixture(t, "")
	p := startFixture(t, bin, "calls", "2")
	tg, ps := resolveIn(t, p.pid(), "main.many")
	tr, err := Trace(tg, ps, TraceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	p.goAhead()
	evs := collect(t, tr, 4)
	want := []string{
		`a="aa" b="bbb" s=len=2 cap=2 [7 8] d=0 c="stack-0" f=?(float register) g=true`,
		`a="" b="" s=len=0 cap=0 [] d=0 c="" f=?(float register) g=false`,
		`a="aa" b="bbb" s=len=2 cap=2 [7 8] d=1 c="stack-1" f=?(float register) g=false`,
		`a="" b="" s=len=0 cap=0 [] d=1 c="" f=?(float register) g=false`,
	}
	for i, ev := range evs {
		if got := argString(ev); got != want[i] {
			t.Errorf("call %d: %s\nwant    %s", i, got, want[i])
		}
	}
	tr.Close()
	p.expect("done")
	p.finish()
}

// TestTraceLostEvents fills a one-page ring buffer that nobody reads: the
// events that did not fit are counted, and the target is unharmed.
func TestTraceLostEvents(t *testing.T) {
	testenv.RequireRoot(t)
	bin := goFixture(t, "")
	p := startFixture(t, bin, "loop")
	tg, ps := resolveIn(t, p.pid(), "main.work")
	tr, err := Trace(tg, ps, TraceOptions{RingSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	deadline := time.Now().Add(30 * time.Second)
	for tr.Lost() == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if tr.Lost() == 0 {
		t.Fatal("no lost events counted with a full ring buffer")
	}
	ev, err := tr.Next()
	if err != nil || ev.PID != p.pid() {
		t.Errorf("first buffered event: %+v, %v", ev, err)
	}
	tr.Close()
	if !alive(p.pid()) {
		t.Fatalf("target died: %s", p.errb.String())
	}
	p.stdin.Write([]byte("\n"))
	p.finish()
}
