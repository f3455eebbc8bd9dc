package store

import (
	"os"
	"syscall"
)

func fdatasync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }

// preallocate reserves size bytes for f (best effort).
func preallocate(f *os.File, size int64) { _ = syscall.Fallocate(int(f.Fd()), 0, 0, size) }
