// Command gofix prints program counters of its own stack, with the frames
// the Go runtime gives them, as JSON lines; then it waits for stdin to close
// so that a test can symbolize the same addresses through /proc.
package main

import (
	"encoding/json"
	"io"
	"os"
	"runtime"
)

type frame struct {
	Function string
	File     string
	Line     int
}

type sample struct {
	PC     uintptr
	Frames []frame
}

var out = json.NewEncoder(os.Stdout)

func emit() {
	pcs := make([]uintptr, 32)
	n := runtime.Callers(1, pcs)
	for _, pc := range pcs[:n] {
		var s sample
		s.PC = pc - 1
		fs := runtime.CallersFrames([]uintptr{pc})
		for {
			f, more := fs.Next()
			s.Frames = append(s.Frames, frame{f.Function, f.File, f.Line})
			if !more {
				break
			}
		}
		out.Encode(s)
	}
}

// inner is small enough to be inlined into middle.
func inner(x int) int {
	if x > 0 {
		emit()
	}
	return x + 1
}

//go:noinline
func middle(x int) int { return inner(x) * 2 }

//go:noinline
func outer() int { return middle(3) + 1 }

func main() {
	outer()
	os.Stdout.WriteString("ready\n")
	io.Copy(io.Discard, os.Stdin)
}
