package repl

import (
	"bufio"
	"context"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// agentGoroutines returns the goroutines running agent code.
func agentGoroutines() []Goroutine {
	var out []Goroutine
	for _, g := range ParseGoroutines(allStacks()) {
		for _, f := range g.Frames {
			if strings.Contains(f.Func, "/repl.(*Agent).") {
				out = append(out, g)
				break
			}
		}
	}
	return out
}

// TestIdleCostsNothing checks what the agent costs with nobody connected:
// one goroutine parked in Accept (the netpoller, not a timer, wakes it) and
// not one allocation over an idle stretch.
func TestIdleCostsNothing(t *testing.T) {
	a, _ := startAgent(t, Config{})
	c := dial(t, a)
	must(t, c, "uptime")
	c.Close()
	// Wait for the connection's goroutines to end and the accept loop to
	// park again (it runs briefly after each connection).
	parked := func(g Goroutine) bool {
		for _, f := range g.Frames {
			if strings.HasSuffix(f.Func, ".Accept") {
				return g.State == "IO wait"
			}
		}
		return false
	}
	var gs []Goroutine
	for deadline := time.Now().Add(30 * time.Second); ; {
		gs = agentGoroutines()
		if len(gs) == 1 && parked(gs[0]) || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(gs) != 1 {
		t.Fatalf("%d agent goroutines while idle, want 1:\n%v", len(gs), gs)
	}
	if !parked(gs[0]) {
		t.Fatalf("idle goroutine is not parked in Accept: [%s]\n%s", gs[0].State, gs[0].Raw)
	}

	// Record every allocation during the idle stretch, then look for any
	// made by agent code. (The process as a whole may allocate: goroutines
	// left by earlier tests, the runtime's own bookkeeping.)
	old := runtime.MemProfileRate
	runtime.MemProfileRate = 1
	before := agentAllocs()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	time.Sleep(500 * time.Millisecond)
	runtime.ReadMemStats(&m1)
	after := agentAllocs()
	if after != before {
		runtime.MemProfileRate = old
		t.Fatalf("the agent allocated %d times in half a second of idling", after-before)
	}
	t.Logf("%d allocations in the whole process while idle", m1.Mallocs-m0.Mallocs)
	// The count does see the agent's allocations when it works.
	c = dial(t, a)
	must(t, c, "uptime")
	busy := agentAllocs()
	runtime.MemProfileRate = old
	if busy <= after {
		t.Fatalf("a served request shows no agent allocations (%d, then %d): the check is blind", after, busy)
	}
}

// agentAllocs counts the allocations recorded so far (as of the last GC,
// which it runs) whose stack includes agent code.
func agentAllocs() int64 {
	runtime.GC()
	n, _ := runtime.MemProfile(nil, true)
	recs := make([]runtime.MemProfileRecord, n+50)
	n, ok := runtime.MemProfile(recs, true)
	if !ok {
		return -1
	}
	var total int64
	for _, r := range recs[:n] {
		frames := runtime.CallersFrames(r.Stack())
		for {
			f, more := frames.Next()
			if strings.Contains(f.Function, "/repl.(*Agent).") || strings.Contains(f.Function, "/repl.(*outWriter).") {
				total += r.AllocObjects
				break
			}
			if !more {
				break
			}
		}
	}
	return total
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkIdle measures the process's CPU time per 10 ms of idling
// without an agent and with one nobody is connected to, interleaved in
// blocks of ten sleeps so that both see the same machine, and reports the
// ratio (1.0: the agent costs nothing) and the allocations per sleep with
// the agent (0). Starting the agent, a first connection that warms it up,
// and closing it happen between blocks and are not measured.
func BenchmarkIdle(b *testing.B) {
	const block = 10
	var cpu [2]time.Duration
	var n [2]int
	var mallocs [2]uint64
	var ms runtime.MemStats
	b.ReportAllocs()
	for done := 0; done < b.N; done += block {
		mode := (done / block) % 2 // 0: no agent, 1: agent
		var a *Agent
		if mode == 1 {
			a, _ = startAgent(b, Config{})
			c := dial(b, a)
			must(b, c, "uptime")
			c.Close()
			for len(agentGoroutines()) > 1 {
				time.Sleep(time.Millisecond)
			}
		}
		// Finish any GC the set-up's allocations would start inside the
		// measured stretch, in both modes alike.
		runtime.GC()
		runtime.ReadMemStats(&ms)
		m0 := ms.Mallocs
		c0 := cpuTime()
		k := min(block, b.N-done)
		for i := 0; i < k; i++ {
			time.Sleep(10 * time.Millisecond)
		}
		cpu[mode] += cpuTime() - c0
		runtime.ReadMemStats(&ms)
		mallocs[mode] += ms.Mallocs - m0
		n[mode] += k
		if a != nil {
			a.Close()
		}
	}
	b.StopTimer()
	if n[0] == 0 || n[1] == 0 {
		return // b.N too small for both modes
	}
	none := float64(cpu[0]) / float64(n[0])
	agent := float64(cpu[1]) / float64(n[1])
	b.ReportMetric(none, "cpu-ns/sleep-none")
	b.ReportMetric(agent, "cpu-ns/sleep-agent")
	b.ReportMetric(agent/none, "agent/none")
	b.ReportMetric(float64(mallocs[0])/float64(n[0]), "mallocs/sleep-none")
	b.ReportMetric(float64(mallocs[1])/float64(n[1]), "mallocs/sleep-agent")
}

// connPair returns the two ends of a unix stream socket pair, the bare
// transport the benchmarks measure the agent against; they are closed when
// the benchmark run ends.
func connPair(b *testing.B) (left, right net.Conn) {
	b.Helper()
	pair, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		b.Fatal(err)
	}
	left, _ = net.FileConn(os.NewFile(uintptr(pair[0]), "l"))
	right, _ = net.FileConn(os.NewFile(uintptr(pair[1]), "r"))
	b.Cleanup(func() {
		right.Close()
		left.Close()
	})
	return left, right
}

// BenchmarkRequest measures one request through the agent (a command that
// writes nothing) against its floor, a bare frame ping-pong over another
// unix socket pair, interleaved in the same loop, and reports both and
// their ratio.
func BenchmarkRequest(b *testing.B) {
	a, _ := startAgent(b, Config{})
	a.Command("noop", "nothing", func(context.Context, []string, io.Writer) error { return nil })
	c := dial(b, a)
	left, right := connPair(b)
	go func() {
		br := bufio.NewReader(right)
		for {
			if _, err := ReadFrame(br); err != nil {
				return
			}
			if WriteFrame(right, FrameDone, nil) != nil {
				return
			}
		}
	}()
	lr := bufio.NewReader(left)
	ctx := context.Background()
	var raw, full time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		WriteFrame(left, FrameRequest, []byte("noop"))
		if _, err := ReadFrame(lr); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := c.Do(ctx, "noop", nil, io.Discard); err != nil {
			b.Fatal(err)
		}
		raw += t1.Sub(t0)
		full += time.Since(t1)
	}
	b.StopTimer()
	b.ReportMetric(float64(raw)/float64(b.N), "ns/pingpong")
	b.ReportMetric(float64(full)/float64(b.N), "ns/request")
	b.ReportMetric(float64(full)/float64(raw), "request/pingpong")
}

// BenchmarkOutput streams 8 MiB of command output through the agent and,
// in the same loop, the same bytes over a bare unix socket pair, and
// reports both throughputs and their ratio.
func BenchmarkOutput(b *testing.B) {
	const size = 8 << 20
	data := make([]byte, size)
	a, _ := startAgent(b, Config{})
	a.Command("blob", "8 MiB", func(_ context.Context, _ []string, w io.Writer) error {
		for off := 0; off < size; off += 64 << 10 {
			if _, err := w.Write(data[off : off+64<<10]); err != nil {
				return err
			}
		}
		return nil
	})
	c := dial(b, a)
	left, right := connPair(b)
	ctx := context.Background()
	rbuf := make([]byte, 64<<10)
	var raw, full time.Duration
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		go func() {
			for off := 0; off < size; off += 64 << 10 {
				left.Write(data[off : off+64<<10])
			}
		}()
		for got := 0; got < size; {
			n, err := right.Read(rbuf)
			if err != nil {
				b.Fatal(err)
			}
			got += n
		}
		t1 := time.Now()
		if err := c.Do(ctx, "blob", nil, io.Discard); err != nil {
			b.Fatal(err)
		}
		raw += t1.Sub(t0)
		full += time.Since(t1)
	}
	b.StopTimer()
	mbs := func(d time.Duration) float64 { return float64(size) * float64(b.N) / d.Seconds() / 1e6 }
	b.ReportMetric(mbs(raw), "MB/s-socket")
	b.ReportMetric(mbs(full), "MB/s-agent")
	b.ReportMetric(mbs(full)/mbs(raw), "agent/socket")
}
