// Command cgocrash dereferences a NULL pointer in C code called through
// cgo, so that obs core has a core of a crash outside Go. Run it with
// GOTRACEBACK=crash and a core size limit.
package main

/*
static int crash_in_c(volatile int *p) { return *p; }
*/
import "C"

import "fmt"

//go:noinline
func callC() int { return int(C.crash_in_c(nil)) }

func main() {
	fmt.Println(callC())
}
