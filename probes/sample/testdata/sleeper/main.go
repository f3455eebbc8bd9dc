// Command sleeper blocks in a loop of 5 ms nanosleep calls from
// main.sleeper, and spins a little in main.spin, so that an off-CPU profile
// has one dominant blocking stack.
package main

import (
	"fmt"
	"syscall"
)

//go:noinline
func sleeper() {
	ts := syscall.Timespec{Nsec: 5e6}
	syscall.Nanosleep(&ts, nil)
}

//go:noinline
func spin() int {
	s := 0
	for i := 0; i < 100000; i++ {
		s += i
	}
	return s
}

var sink int

func main() {
	fmt.Println("ready")
	for {
		sleeper()
		sink += spin()
	}
}
