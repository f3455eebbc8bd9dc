// Command crasher crashes, deadlocks or leaks on purpose so that obs core
// has real kernel cores with known contents to read. Run it with
// GOTRACEBACK=crash and a core size limit (ulimit -c unlimited).
//
//	crasher nil       nil pointer dereference in a goroutine
//	crasher panic     explicit panic with an error value
//	crasher deadlock  every goroutine blocked: the runtime's fatal error
//	crasher leak [N]  park goroutines (see below), then panic; N adds N more
//	                  leaked receivers and N*100 more Records (for diffs)
//	crasher hold      park the same goroutines, print "ready", run on
//	crasher serve     a healthy service: 3 workers on a jobs channel, main
//	                  waiting for SIGTERM; prints "ready" (no leaks at all)
//	crasher bench MB  park them, plus 2000 goroutines on channels a global
//	                  holds and MB megabytes of live linked Records, then panic
//
// The leak and hold modes park exactly:
//   - 17 goroutines receiving on one channel a global holds (not leaked),
//     with the pprof label pool=shared,
//   - 5 goroutines each receiving on its own channel nothing else holds
//     (leaked for certain), whose addresses are also kept as integers in a
//     global and in a heap object, so that only a precise mark gets them
//     right,
//   - 3 goroutines in select on two channels nothing holds (leaked),
//   - 2 goroutines locking a sync.Mutex held forever that nothing else
//     holds (leaked), 2 waiting on a WaitGroup nothing holds (leaked),
//   - 1 goroutine locking a global sync.Mutex held forever (not provably
//     leaked: the global could still be unlocked),
//   - 2 goroutines sleeping in time.Sleep (not leaked),
//
// and keep 1000 live *Record values (64 bytes each) reachable from a global
// and 50 *Session values reachable only through a map,
// allocated with MemProfileRate=1 so that the heap profile is exact. Block
// and mutex profiling are on, with one ~20 ms wait of each kind (contend).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// Session is only ever reachable through the sessions map, for the census
// to type through a map.
type Session struct {
	User  string
	Owner *Record
	Hits  int
}

var sessions = map[int]*Session{}

// Record is the type the heap census counts.
type Record struct {
	ID    int
	Name  string
	Next  *Record
	Score [4]int32
	Tag   uint64
}

var (
	shared  = make(chan int) // the 17 parked goroutines wait here
	records []*Record
	// leakedAddrs holds the leaked channels' addresses as plain integers:
	// a word-by-word scan would take them for pointers.
	leakedAddrs [8]uintptr
	decoy       *addrBox
	sink        int
)

type addrBox struct{ addrs [8]uintptr }

// guarded and wgBox keep the lock in an object of its own (not a tiny
// allocation shared with other values).
type guarded struct {
	mu    sync.Mutex
	owner *Record
}

type wgBox struct {
	wg    sync.WaitGroup
	owner *Record
}

var globalMu sync.Mutex

//go:noinline
func lockGuarded(g *guarded) { g.mu.Lock(); sink++ }

//go:noinline
func waitBox(w *wgBox) { w.wg.Wait(); sink++ }

//go:noinline
func lockGlobal() { globalMu.Lock(); sink++ }

//go:noinline
func makeRecords(n int) []*Record {
	out := make([]*Record, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, &Record{ID: i, Name: "r"})
	}
	return out
}

//go:noinline
func waitShared(i int) { sink += <-shared + i }

//go:noinline
func leakOne(c chan int) { sink += <-c }

// holdAddr keeps a leaked channel's address as an integer live on its
// stack across the sleep: the stack map says it is not a pointer.
//
//go:noinline
func holdAddr(a uintptr) {
	time.Sleep(time.Hour)
	sink += int(a)
}

//go:noinline
func leakSelect(a, b chan string) {
	select {
	case s := <-a:
		sink += len(s)
	case s := <-b:
		sink += len(s)
	}
}

// park parks the goroutines listed at the top; extra adds leaked
// receivers and Records.
func park(extra int) {
	runtime.MemProfileRate = 1
	runtime.SetBlockProfileRate(1)
	runtime.SetMutexProfileFraction(1)
	contend()
	records = makeRecords(1000 + 100*extra)
	for i := 0; i < 50; i++ {
		sessions[i] = &Session{User: "u", Owner: records[i]}
	}
	for i := 0; i < 17; i++ {
		go func(i int) {
			pprof.Do(context.Background(), pprof.Labels("pool", "shared"), func(context.Context) { waitShared(i) })
		}(i)
	}
	decoy = &addrBox{}
	for i := 0; i < 5+extra; i++ {
		c := make(chan int)
		if i < len(leakedAddrs) {
			leakedAddrs[i] = *(*uintptr)(unsafe.Pointer(&c))
			decoy.addrs[i] = leakedAddrs[i]
		}
		go leakOne(c)
	}
	for i := 0; i < 3; i++ {
		go leakSelect(make(chan string), make(chan string))
	}
	locked := &guarded{}
	locked.mu.Lock()
	for i := 0; i < 2; i++ {
		go lockGuarded(locked)
	}
	box := &wgBox{}
	box.wg.Add(1)
	for i := 0; i < 2; i++ {
		go waitBox(box)
	}
	globalMu.Lock()
	go lockGlobal()
	go time.Sleep(time.Hour)
	go holdAddr(leakedAddrs[0])
	// Wait until all 32 are parked, then let two GCs stamp their wait times.
	waitParked(32 + extra)
	runtime.GC()
	runtime.GC()
	time.Sleep(20 * time.Millisecond)
}

var (
	benchChans []chan int
	benchHeap  []*Record
)

// benchLoad parks 2000 goroutines on channels a global holds and keeps
// mb megabytes of Records live in chains.
func benchLoad(mb int) {
	for i := 0; i < 2000; i++ {
		c := make(chan int)
		benchChans = append(benchChans, c)
		go leakOne(c)
	}
	n := mb << 20 / 64
	var prev *Record
	for i := 0; i < n; i++ {
		r := &Record{ID: i, Next: prev}
		if i%100 == 0 {
			benchHeap = append(benchHeap, r)
			prev = nil
		} else {
			prev = r
		}
	}
	waitParked(2032)
	runtime.GC()
}

// contend blocks once on a channel receive and once on a mutex, for
// about 20 ms each, so that the block and mutex profiles have a sample.
//
//go:noinline
func contend() {
	c := make(chan int)
	go func() { time.Sleep(20 * time.Millisecond); c <- 1 }()
	<-c
	var mu sync.Mutex
	mu.Lock()
	go func() { time.Sleep(20 * time.Millisecond); mu.Unlock() }()
	mu.Lock()
	mu.Unlock()
}

// waitParked waits (up to a minute) until at least n goroutines besides
// the caller are parked, as the runtime's own traceback reports them, so
// that a loaded machine cannot leave one still starting when the GC
// stamps wait times or the core is made.
func waitParked(n int) {
	buf := make([]byte, 1<<20)
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		for {
			k := runtime.Stack(buf, true)
			if k < len(buf) {
				buf = buf[:k]
				break
			}
			buf = make([]byte, 2*len(buf))
		}
		parked := 0
		for _, line := range strings.Split(string(buf), "\n") {
			if strings.HasPrefix(line, "goroutine ") && !strings.Contains(line, "[running") && !strings.Contains(line, "[runnable") {
				parked++
			}
		}
		buf = buf[:cap(buf)]
		if parked >= n {
			return
		}
	}
}

type fixtureError struct{ code int }

func (e *fixtureError) Error() string { return fmt.Sprintf("fixture error code %d", e.code) }

//go:noinline
func deref(p *Record) int { return p.ID }

//go:noinline
func explode(reason string, code int) {
	panic(fmt.Errorf("explode %s: %w", reason, &fixtureError{code}))
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: crasher nil|panic|deadlock|leak|hold")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "nil":
		done := make(chan int)
		go func() { done <- deref(nil) }()
		<-done
	case "panic":
		explode("on purpose", 42)
	case "deadlock":
		c := make(chan int)
		go func() { c <- 1; c <- 2 }()
		<-c
		select {}
	case "leak":
		extra := 0
		if len(os.Args) > 2 {
			extra, _ = strconv.Atoi(os.Args[2])
		}
		park(extra)
		panic(errors.New("leak fixture done"))
	case "bench":
		park(0)
		mb := 10
		if len(os.Args) > 2 {
			mb, _ = strconv.Atoi(os.Args[2])
		}
		benchLoad(mb)
		panic(errors.New("bench fixture done"))
	case "serve":
		jobs := make(chan int)
		for i := 0; i < 3; i++ {
			go func() {
				for j := range jobs {
					sink += j
				}
			}()
		}
		stop := make(chan os.Signal, 1)
		signal.Notify(stop, syscall.SIGTERM)
		fmt.Println("ready")
		<-stop
		close(jobs)
	case "hold":
		park(0)
		fmt.Println("ready")
		for {
			time.Sleep(10 * time.Millisecond)
			sink++
		}
	default:
		fmt.Fprintln(os.Stderr, "unknown mode", os.Args[1])
		os.Exit(2)
	}
}
