// Command leaf burns CPU in a frameless Go leaf function called from two
// callers, callerA doing three times the work of callerB. A frame-pointer
// unwinder skips the caller of a frameless leaf, so a correct profile must
// still show callerA:callerB near 3:1. With -labels the two run under pprof
// labels job=heavy and job=light.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"
)

const unit = 200000

// leaf has no calls and few live values: the compiler gives it no frame.
//
//go:noinline
func leaf(n int) int {
	s := 0
	for i := 0; i < n; i++ {
		s += i ^ (s >> 3)
	}
	return s
}

//go:noinline
func callerA() int { return leaf(3 * unit) }

//go:noinline
func callerB() int { return leaf(unit) }

var sink int

func main() {
	rounds := flag.Int("rounds", 0, "do this many rounds of work, print \"cpu_ns wall_ns\" and exit (0: run for the duration argument, or forever)")
	labels := flag.Bool("labels", false, "run callerA under pprof label job=heavy and callerB under job=light")
	wait := flag.Bool("wait", false, "after \"ready\", wait for SIGUSR1 before working")
	flag.Parse()
	var d time.Duration
	if flag.NArg() > 0 {
		var err error
		if d, err = time.ParseDuration(flag.Arg(0)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
	go1 := make(chan os.Signal, 1)
	signal.Notify(go1, syscall.SIGUSR1)
	fmt.Println("ready")
	if *wait {
		<-go1
	}
	start := time.Now()
	if *rounds > 0 {
		var r0, r1 syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &r0)
		for i := 0; i < *rounds; i++ {
			sink += callerA() + callerB()
		}
		syscall.Getrusage(syscall.RUSAGE_SELF, &r1)
		cpu := r1.Utime.Nano() + r1.Stime.Nano() - r0.Utime.Nano() - r0.Stime.Nano()
		fmt.Println(cpu, time.Since(start).Nanoseconds())
		return
	}
	heavy := pprof.Labels("job", "heavy")
	light := pprof.Labels("job", "light")
	ctx := context.Background()
	for d == 0 || time.Since(start) < d {
		if *labels {
			pprof.Do(ctx, heavy, func(context.Context) { sink += callerA() })
			pprof.Do(ctx, light, func(context.Context) { sink += callerB() })
			continue
		}
		sink += callerA() + callerB()
	}
}
