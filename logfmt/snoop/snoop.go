// Package snoop captures the bunyan records a running Go process writes
// through logfmt.Handler, at every level, as bunyan -p did with DTrace: it
// raises the handler's enable flag in the process, attaches a uprobe to the
// handler's probe point and copies each record into a ring buffer. The flag
// is lowered and the probe detached on every exit path.
package snoop

import (
	"context"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/ringbuf"

	"github.com/obs-toolkit/obs/logfmt"
	"github.com/obs-toolkit/obs/probes"
	"github.com/obs-toolkit/obs/probes/usdt"
)

// MaxRecord is the longest record copied; longer ones are cut (and then
// shown as text, not rendered).
const MaxRecord = 16 << 10

// ErrNoHandler means the process has no logfmt.Handler (or its symbols
// were stripped).
var ErrNoHandler = errors.New("no logfmt.Handler probe point (not linked in, or the binary is stripped)")

// Session is one attached snooper.
type Session struct {
	pid   int
	mem   *os.File
	flag  uint64 // address of the enable flag in the process
	rb    *ebpf.Map
	prog  *ebpf.Program
	link  interface{ Close() error }
	rd    *ringbuf.Reader
	once  sync.Once
	Sites int // probe sites attached
}

// Attach starts snooping pid.
func Attach(pid int) (s *Session, err error) {
	exe := fmt.Sprintf("/proc/%d/exe", pid)
	path, err := os.Readlink(exe)
	if err != nil {
		return nil, fmt.Errorf("snoop pid %d: %w", pid, err)
	}
	flag, err := flagAddress(pid, exe, path)
	if err != nil {
		return nil, fmt.Errorf("snoop pid %d (%s): %w", pid, path, err)
	}
	u, err := probes.FuncEntry(exe, logfmt.SnoopFuncSymbol)
	if err != nil {
		return nil, fmt.Errorf("snoop pid %d (%s): %w: %v", pid, path, ErrNoHandler, err)
	}
	u.PID = pid
	s = &Session{pid: pid, flag: flag}
	defer func() {
		if err != nil {
			s.Close()
			s = nil
		}
	}()
	if s.rb, err = ebpf.NewMap(&ebpf.MapSpec{Name: "obs_snoop_rb", Type: ebpf.RingBuf, MaxEntries: 4 << 20}); err != nil {
		return s, fmt.Errorf("snoop: ring buffer: %w", err)
	}
	if s.prog, err = program(s.rb); err != nil {
		return s, err
	}
	l, err := probes.AttachUprobe(u, s.prog)
	if err != nil {
		return s, fmt.Errorf("snoop pid %d: %w", pid, err)
	}
	s.link = l
	s.Sites = 1
	if s.rd, err = ringbuf.NewReader(s.rb); err != nil {
		return s, fmt.Errorf("snoop: %w", err)
	}
	if s.mem, err = os.OpenFile(fmt.Sprintf("/proc/%d/mem", pid), os.O_RDWR, 0); err != nil {
		return s, fmt.Errorf("snoop pid %d: open memory: %w", pid, err)
	}
	if err = s.bumpFlag(1); err != nil {
		return s, err
	}
	return s, nil
}

// bumpFlag adds d to the process's snooper count.
func (s *Session) bumpFlag(d int32) error {
	var b [4]byte
	if _, err := s.mem.ReadAt(b[:], int64(s.flag)); err != nil {
		return fmt.Errorf("snoop pid %d: read flag: %w", s.pid, err)
	}
	v := int32(binary.LittleEndian.Uint32(b[:])) + d
	if v < 0 {
		v = 0
	}
	binary.LittleEndian.PutUint32(b[:], uint32(v))
	if _, err := s.mem.WriteAt(b[:], int64(s.flag)); err != nil {
		return fmt.Errorf("snoop pid %d: write flag: %w", s.pid, err)
	}
	return nil
}

// Run calls fn with each record (without newline) until ctx ends or the
// process exits.
func (s *Session) Run(ctx context.Context, fn func(rec []byte)) error {
	stop := context.AfterFunc(ctx, func() { s.rd.Close() })
	defer stop()
	gone := make(chan struct{})
	go func() {
		// The ring reader does not notice the process exiting; poll.
		for {
			select {
			case <-ctx.Done():
				return
			case <-gone:
				return
			default:
			}
			if _, err := os.Stat(fmt.Sprintf("/proc/%d", s.pid)); err != nil {
				s.rd.Close()
				return
			}
			sleepCtx(ctx, 200)
		}
	}()
	defer close(gone)
	for {
		rec, err := s.rd.Read()
		if err != nil {
			if errors.Is(err, os.ErrClosed) || errors.Is(err, ringbuf.ErrClosed) {
				return nil
			}
			return fmt.Errorf("snoop: read: %w", err)
		}
		b := rec.RawSample
		if len(b) < 8 {
			continue
		}
		n := int(binary.LittleEndian.Uint32(b[0:4]))
		if n > len(b)-8 {
			n = len(b) - 8
		}
		fn(b[8 : 8+n])
	}
}

// Close lowers the flag and detaches. It is safe to call more than once.
func (s *Session) Close() error {
	var first error
	s.once.Do(func() {
		if s.mem != nil {
			first = s.bumpFlag(-1)
			s.mem.Close()
		}
		if s.link != nil {
			s.link.Close()
		}
		if s.rd != nil {
			s.rd.Close()
		}
		if s.prog != nil {
			s.prog.Close()
		}
		if s.rb != nil {
			s.rb.Close()
		}
	})
	return first
}

// program copies (rax, rbx) = (record pointer, length), bounded by
// MaxRecord, into a ring buffer event: u32 copied, u32 length, bytes.
func program(rb *ebpf.Map) (*ebpf.Program, error) {
	rax, _ := usdt.PtRegsOffset("rax")
	rbx, _ := usdt.PtRegsOffset("rbx")
	insns := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.LoadMapPtr(asm.R1, rb.FD()),
		asm.Mov.Imm(asm.R2, 8+MaxRecord),
		asm.Mov.Imm(asm.R3, 0),
		asm.FnRingbufReserve.Call(),
		asm.JEq.Imm(asm.R0, 0, "out"),
		asm.Mov.Reg(asm.R7, asm.R0),
		asm.LoadMem(asm.R2, asm.R6, int16(rbx), asm.DWord),
		asm.StoreMem(asm.R7, 4, asm.R2, asm.Word),
		asm.JLE.Imm(asm.R2, MaxRecord, "sized"),
		asm.Mov.Imm(asm.R2, MaxRecord),
		asm.StoreMem(asm.R7, 0, asm.R2, asm.Word).WithSymbol("sized"),
		asm.Mov.Reg(asm.R1, asm.R7),
		asm.Add.Imm(asm.R1, 8),
		asm.LoadMem(asm.R3, asm.R6, int16(rax), asm.DWord),
		asm.FnProbeReadUser.Call(),
		asm.Mov.Reg(asm.R1, asm.R7),
		asm.Mov.Imm(asm.R2, 0),
		asm.FnRingbufSubmit.Call(),
		asm.Mov.Imm(asm.R0, 0).WithSymbol("out"),
		asm.Return(),
	}
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: "obs_log_snoop", Type: ebpf.Kprobe, Instructions: insns, License: "GPL"})
	if err != nil {
		return nil, fmt.Errorf("snoop: load BPF program: %w", err)
	}
	return p, nil
}

// flagAddress finds the enable flag's address in the running process: its
// symbol value, moved by the load bias for a position-independent binary.
func flagAddress(pid int, exe, path string) (uint64, error) {
	f, err := elf.Open(exe)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		return 0, ErrNoHandler
	}
	var addr uint64
	for _, s := range syms {
		if s.Name == logfmt.SnoopFlagSymbol {
			addr = s.Value
			break
		}
	}
	if addr == 0 {
		return 0, ErrNoHandler
	}
	if f.Type != elf.ET_DYN {
		return addr, nil
	}
	var lowest uint64 = ^uint64(0)
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD && p.Vaddr < lowest {
			lowest = p.Vaddr &^ 0xfff
		}
	}
	maps, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(maps), "\n") {
		fs := strings.Fields(line)
		if len(fs) < 6 || fs[5] != path || fs[2] != "00000000" {
			continue
		}
		start, err := strconv.ParseUint(strings.SplitN(fs[0], "-", 2)[0], 16, 64)
		if err != nil {
			continue
		}
		return addr + start - lowest, nil
	}
	return 0, fmt.Errorf("no mapping of %s in /proc/%d/maps", path, pid)
}

func sleepCtx(ctx context.Context, ms int) {
	t := time.NewTimer(time.Duration(ms) * time.Millisecond)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
