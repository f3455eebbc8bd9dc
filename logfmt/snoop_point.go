package logfmt

import "sync/atomic"

// The probe point of `obs logs -p PID` (bunyan's -p, which used DTrace).
// While a snooper is attached it raises snoopOn in this process (writing
// the variable through /proc/PID/mem, like a USDT semaphore) and puts a
// uprobe on snoopRecord; every Handler then renders every record, at every
// level, even those below its Level, and calls snoopRecord with it. The
// records below the Level go nowhere else. When nobody listens the cost is
// one atomic load and branch per record (BenchmarkHandlerSnoopOff).

// SnoopFlagSymbol and SnoopFuncSymbol are the ELF symbols obs logs -p
// looks up in the target.
const (
	SnoopFlagSymbol = "github.com/obs-toolkit/obs/logfmt.snoopOn"
	SnoopFuncSymbol = "github.com/obs-toolkit/obs/logfmt.snoopRecord"
)

// snoopOn counts attached snoopers.
var snoopOn uint32

// snoopCalls keeps snoopRecord's body from being empty.
var snoopCalls uint64

// snoopRecord is where the probe sits: rec points at n bytes of one bunyan
// JSON record (no newline), in the register ABI's first two registers.
//
//go:noinline
func snoopRecord(rec *byte, n int) {
	if rec != nil && n >= 0 {
		atomic.AddUint64(&snoopCalls, 1)
	}
}
