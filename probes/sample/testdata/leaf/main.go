// Command leaf burns CPU in a frameless Go leaf function called from two
// callers, callerA doing three times the work of callerB. A frame-pointer
// unwinder skips the caller of a frameless leaf, so a correct profile must
// still show callerA:callerB near 3:1.
package main

import (
	"fmt"
	"os"
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
	d := 0 * time.Second
	if len(os.Args) > 1 {
		var err error
		if d, err = time.ParseDuration(os.Args[1]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
	fmt.Println("ready")
	start := time.Now()
	for d == 0 || time.Since(start) < d {
		sink += callerA() + callerB()
	}
}
