// Command gofixture is the probe tests' target. It prints "ready", waits
// for a line on stdin, runs the chosen workload, prints "done <result>" and
// waits for stdin to close before exiting.
//
//	gofixture calls N      call main.work N times
//	gofixture sleep N MS   call main.sleepy N times, each sleeping MS ms
//	gofixture grow N       N goroutines each recursing deeply through main.grow
//	gofixture loop         call main.work forever (until stdin gets a line)
//	gofixture bench N      call main.work N times at once and print ns_per_call
package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

//go:noinline
func work(name string, n int, tags []int) int {
	return mix(len(name), n) + len(tags)
}

//go:noinline
func mix(a, b int) int { return a ^ b }

// many takes more integer words than there are registers: c does not fit
// in the two left after d and goes on the stack; g still gets R11 and f X0.
//
//go:noinline
func many(a, b string, s []int, d int, c string, f float64, g bool) int {
	return len(a) + len(b) + len(s) + len(c) + d + int(f)
}

var errOdd = errors.New("odd")

// check returns nil for even n and an error for odd n.
//
//go:noinline
func check(n int) error {
	if n%2 == 1 {
		return errOdd
	}
	return nil
}

//go:noinline
func sleepy(ms int) int {
	time.Sleep(time.Duration(ms) * time.Millisecond)
	return ms
}

// grow recurses with a large frame so goroutine stacks are copied to bigger
// ones many times while calls are in flight.
//
//go:noinline
func grow(depth int, label string) (int, string) {
	var pad [512]byte
	pad[depth%512] = byte(depth)
	if depth == 0 {
		return int(pad[0]), label
	}
	n, s := grow(depth-1, label)
	return n + int(pad[depth%512]), s
}

//go:noinline
func inlinable(x int) int { return x * 2 }

func small(x int) int { return x + 1 }

// pick is always inlined; its bounds check keeps it in the inline tables,
// so obs can say why it cannot be probed.
func pick(s []int, i int) int { return s[i] * 2 }

var sink int

func expectGrow(depth int) int {
	s := 0
	for d := depth; d > 0; d-- {
		s += d % 256
	}
	return s
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: gofixture calls|sleep|grow|loop ...")
		os.Exit(2)
	}
	arg := func(i, def int) int {
		if len(os.Args) > i {
			v, err := strconv.Atoi(os.Args[i])
			if err == nil {
				return v
			}
		}
		return def
	}
	in := bufio.NewReader(os.Stdin)
	fmt.Println("ready")
	if os.Args[1] == "bench" {
		n := arg(2, 100000)
		t0 := time.Now()
		for i := 0; i < n; i++ {
			sink += work("bench", i, nil)
		}
		fmt.Printf("ns_per_call %.1f\n", float64(time.Since(t0).Nanoseconds())/float64(n))
		return
	}
	if os.Args[1] != "loop" {
		in.ReadString('\n')
	}
	result := 0
	switch os.Args[1] {
	case "calls":
		n := arg(2, 100)
		for i := 0; i < n; i++ {
			if check(i) != nil {
				result--
			}
			result += many("aa", "bbb", []int{7, 8}, i, "stack-"+strconv.Itoa(i), 2.5, i%2 == 0) - many("", "", nil, i, "", 0, false)
			tags := []int{i, 2, 3}
			result += work("hello-"+strconv.Itoa(i%10), i, tags) + pick(tags, len(os.Args)-2) - pick(tags, len(os.Args)-2)
		}
	case "sleep":
		n, ms := arg(2, 5), arg(3, 20)
		for i := 0; i < n; i++ {
			result += sleepy(ms)
		}
	case "grow":
		n := arg(2, 50)
		var wg sync.WaitGroup
		var mu sync.Mutex
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				r, s := grow(200+i%50, "g"+strconv.Itoa(i))
				mu.Lock()
				result += r + len(s)
				mu.Unlock()
			}(i)
		}
		wg.Wait()
	case "loop":
		go func() { in.ReadString('\n'); os.Exit(0) }()
		for i := 0; ; i++ {
			if r := work("loop", i, nil); r != 4^i {
				panic(fmt.Sprintf("work(loop, %d) = %d, want %d", i, r, 4^i))
			}
			if r, _ := grow(i%8, "x"); r != expectGrow(i%8) {
				panic(fmt.Sprintf("grow(%d) = %d", i%8, r))
			}
			sink += small(i) + inlinable(i)
		}
	default:
		fmt.Fprintln(os.Stderr, "unknown mode", os.Args[1])
		os.Exit(2)
	}
	fmt.Println("done", result)
	rest, _ := in.ReadString('\n')
	_ = strings.TrimSpace(rest)
}
