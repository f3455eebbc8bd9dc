// Package postmortem analyses Linux core dumps of Go programs: what
// crashed and why, goroutines bucketed by stack, leak suspects found by a
// reachability mark over the heap, the runtime's sampled heap profile as
// pprof, a census of live objects by type, and live dumps of a running
// process.
//
// Goroutine stacks, arguments and values come from delve's pkg/proc; the
// heap, channels and other runtime structures are read here, laid out by
// the DWARF types in the executable, so that the analysis follows the Go
// version the program was built with.
package postmortem

import (
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/go-delve/delve/pkg/dwarf/godwarf"
	"github.com/go-delve/delve/pkg/proc"
	"github.com/go-delve/delve/pkg/proc/core"

	"github.com/obs-toolkit/obs/postmortem/elfcore"
)

// ErrNotGo is wrapped by analyses that need a Go program's runtime.
var ErrNotGo = errors.New("not a Go program")

// Core is an opened core dump and, when found, its executable.
type Core struct {
	Path    string
	ExePath string
	File    *elfcore.File
	Exe     *elf.File
	Mem     *elfcore.Memory
	Bias    uint64 // load address of a PIE executable
	Build   *buildinfo.BuildInfo
	// GoErr says why Go analyses are unavailable (not a Go program, no
	// executable, delve could not read it); nil when they are.
	GoErr error
	// Warnings are problems that leave the analysis partial.
	Warnings []string

	target    *proc.Target
	group     *proc.TargetGroup
	syms      map[string]uint64
	symSize   map[string]uint64
	rt        *runtimeLayout
	gcache    []*Goroutine
	heap      *heap
	typeNames map[uint64]string
	dataSyms  []symRange
	pcln      *pcln
}

// Options for Open.
type Options struct {
	// Exe is the executable; empty means the one named by the core's
	// NT_FILE note.
	Exe string
	// NoDelve skips loading goroutines and DWARF through delve (the
	// heap-only analyses are then unavailable too); used for non-Go cores.
	NoDelve bool
}

// Open reads the core at path. A core that is not an ELF core, or whose
// headers are cut off, is an error; a core without a usable executable
// opens with GoErr set so that signal, threads and mappings can still be
// reported.
func Open(path string, opt Options) (*Core, error) {
	f, err := elfcore.Open(path)
	if err != nil {
		return nil, err
	}
	c := &Core{Path: path, File: f}
	if f.NoteErr != nil {
		c.Warnings = append(c.Warnings, "notes damaged: "+f.NoteErr.Error())
	}
	if n := f.Truncated(); n > 0 {
		c.Warnings = append(c.Warnings, fmt.Sprintf("core truncated: %d memory segment(s) cut short by the end of the file", n))
	}
	if len(f.Notes.Threads) == 0 {
		c.GoErr = errors.New("the core has no NT_PRSTATUS notes (no threads)")
	}
	exe := opt.Exe
	if exe == "" {
		exe = f.Notes.ExePath()
	}
	if exe == "" {
		c.fail("the core names no executable (no NT_FILE note); pass --exe")
		c.Mem = elfcore.NewMemory(f, nil, 0)
		return c, nil
	}
	ef, err := elf.Open(exe)
	if err != nil {
		if opt.Exe != "" {
			f.Close()
			return nil, fmt.Errorf("open executable: %w", err)
		}
		c.fail(fmt.Sprintf("executable %s (named by the core) cannot be opened: %v; pass --exe", exe, unwrapPath(err)))
		c.Mem = elfcore.NewMemory(f, nil, 0)
		return c, nil
	}
	c.ExePath, c.Exe = exe, ef
	if ef.Type == elf.ET_DYN {
		if e := f.Notes.Aux(elfcore.AtEntry); e != 0 {
			c.Bias = e - ef.Entry
		}
	}
	c.Mem = elfcore.NewMemory(f, ef, c.Bias)
	if err := c.checkExe(); err != nil {
		c.fail(err.Error())
		return c, nil
	}
	c.syms, c.symSize = map[string]uint64{}, map[string]uint64{}
	if syms, err := ef.Symbols(); err == nil {
		for _, s := range syms {
			if s.Value != 0 {
				c.syms[s.Name] = s.Value + c.Bias
				c.symSize[s.Name] = s.Size
			}
		}
	}
	bi, err := buildinfo.ReadFile(exe)
	if err != nil {
		c.fail(fmt.Sprintf("%s has no Go build information: %v", exe, ErrNotGo))
		return c, nil
	}
	c.Build = bi
	if opt.NoDelve || c.GoErr != nil {
		return c, nil
	}
	grp, err := openDelve(path, exe)
	if err != nil {
		c.fail(fmt.Sprintf("load goroutines and DWARF from %s: %v", exe, err))
		return c, nil
	}
	c.group, c.target = grp, grp.Selected
	rt, err := newRuntimeLayout(c)
	if err != nil {
		c.fail(fmt.Sprintf("runtime layout from DWARF: %v", err))
		return c, nil
	}
	c.rt = rt
	return c, nil
}

// checkExe compares the ELF header page the kernel dumps for the
// executable's first mapping with the file: a rebuilt binary does not
// match its old core, and reading one with the other gives nonsense.
func (c *Core) checkExe() error {
	phdr := c.File.Notes.Aux(elfcore.AtPhdr)
	for _, m := range c.File.Notes.Files {
		if m.Offset != 0 || !(m.Start <= phdr && phdr < m.End) {
			continue
		}
		seg := c.File.Segment(m.Start)
		if seg == nil || seg.Vaddr != m.Start || seg.Filesz < 64 {
			return nil // not dumped: nothing to compare
		}
		dumped := c.File.Bytes(seg)
		want := make([]byte, min(len(dumped), 4096))
		f, err := os.Open(c.ExePath)
		if err != nil {
			return nil
		}
		n, _ := f.ReadAt(want, 0)
		f.Close()
		if n < len(want) || !bytes.Equal(dumped[:len(want)], want) {
			return fmt.Errorf("executable %s does not match the core (rebuilt since the crash?); pass --exe with the binary that ran", c.ExePath)
		}
		return nil
	}
	return nil
}

// openDelve opens the core through delve, turning a panic on a damaged
// core into an error.
//
// delve prints a multi-line "Warning: no debug info found" straight to
// os.Stderr for an executable without DWARF; obs reports that itself, in
// one line, so delve's stderr is muted while it loads.
func openDelve(path, exe string) (grp *proc.TargetGroup, err error) {
	defer guard(&err, "delve")
	if null, oerr := os.OpenFile(os.DevNull, os.O_WRONLY, 0); oerr == nil {
		saved := os.Stderr
		os.Stderr = null
		defer func() { os.Stderr = saved; null.Close() }()
	}
	return core.OpenCore(path, exe, nil)
}

// guard turns a panic while reading a damaged core into an error: the
// structures read come from a crashed process and may be garbage.
func guard(err *error, what string) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("%s: the core's data is inconsistent (damaged or from another build?): %v", what, r)
	}
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func (c *Core) fail(msg string) {
	if c.GoErr == nil {
		c.GoErr = errors.New(msg)
	}
}

// Close releases the core and the executable.
func (c *Core) Close() error {
	if c.group != nil {
		c.group.Detach(false)
	}
	if c.Exe != nil {
		c.Exe.Close()
	}
	return c.File.Close()
}

// requireGo returns an error when the Go analyses cannot run.
func (c *Core) requireGo() error {
	if c.GoErr != nil {
		return c.GoErr
	}
	return nil
}

// GoVersion is the toolchain that built the executable, or "".
func (c *Core) GoVersion() string {
	if c.Build == nil {
		return ""
	}
	return c.Build.GoVersion
}

// sym returns the address of a symbol in the executable.
func (c *Core) sym(name string) (uint64, error) {
	a, ok := c.syms[name]
	if !ok {
		return 0, fmt.Errorf("symbol %s not in %s (stripped?)", name, c.ExePath)
	}
	return a, nil
}

func (c *Core) u64(addr uint64) uint64 {
	v, _ := c.Mem.Uint64(addr)
	return v
}

func (c *Core) u32(addr uint64) uint32 {
	var b [4]byte
	if _, err := c.Mem.ReadAt(b[:], addr); err != nil {
		return 0
	}
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

func (c *Core) u16(addr uint64) uint16 {
	var b [2]byte
	if _, err := c.Mem.ReadAt(b[:], addr); err != nil {
		return 0
	}
	return uint16(b[0]) | uint16(b[1])<<8
}

func (c *Core) u8(addr uint64) uint8 {
	var b [1]byte
	if _, err := c.Mem.ReadAt(b[:], addr); err != nil {
		return 0
	}
	return b[0]
}

// readString reads a Go string header at addr, at most max bytes.
func (c *Core) readString(addr uint64, max int) string {
	p, n := c.u64(addr), c.u64(addr+8)
	if p == 0 || n == 0 {
		return ""
	}
	if n > uint64(max) {
		n = uint64(max)
	}
	b := make([]byte, n)
	if _, err := c.Mem.ReadAt(b, p); err != nil {
		return ""
	}
	return string(b)
}

// runtimeLayout holds offsets and sizes of the runtime structures read
// here, taken from DWARF.
type runtimeLayout struct {
	c     *Core
	types map[string]*godwarf.StructType
	g     *gfields // cached offsets in runtime.g
}

func newRuntimeLayout(c *Core) (*runtimeLayout, error) {
	l := &runtimeLayout{c: c, types: map[string]*godwarf.StructType{}}
	// Check the ones every analysis needs up front, so the error is early
	// and names what is missing.
	for _, f := range []string{"runtime.g.goid", "runtime.g.atomicstatus", "runtime.g.waiting", "runtime.sudog.c"} {
		if _, err := l.off(f); err != nil {
			return nil, err
		}
	}
	return l, nil
}

func (l *runtimeLayout) structType(name string) (*godwarf.StructType, error) {
	if t, ok := l.types[name]; ok {
		if t == nil {
			return nil, fmt.Errorf("type %s not in DWARF", name)
		}
		return t, nil
	}
	t, err := l.c.target.BinInfo().FindType(name)
	var st *godwarf.StructType
	if err == nil {
		st, _ = resolveTypedef(t).(*godwarf.StructType)
	}
	l.types[name] = st
	if st == nil {
		return nil, fmt.Errorf("type %s not in DWARF", name)
	}
	return st, nil
}

func resolveTypedef(t godwarf.Type) godwarf.Type {
	for {
		td, ok := t.(*godwarf.TypedefType)
		if !ok {
			return t
		}
		t = td.Type
	}
}

// off resolves "pkg.type.field.sub" to a byte offset.
func (l *runtimeLayout) off(path string) (int64, error) {
	// The type name is everything up to the second dot after the package
	// (package paths in runtime have no dots).
	parts := strings.Split(path, ".")
	if len(parts) < 3 {
		return 0, fmt.Errorf("bad field path %s", path)
	}
	tname := parts[0] + "." + parts[1]
	st, err := l.structType(tname)
	if err != nil {
		return 0, err
	}
	var total int64
	var cur godwarf.Type = st
	for _, fname := range parts[2:] {
		s, ok := resolveTypedef(cur).(*godwarf.StructType)
		if !ok {
			return 0, fmt.Errorf("%s: %s is not a struct", path, fname)
		}
		found := false
		for _, f := range s.Field {
			if f.Name == fname {
				total += f.ByteOffset
				cur = f.Type
				found = true
				break
			}
		}
		if !found {
			return 0, fmt.Errorf("field %s not in DWARF type %s", fname, s.StructName)
		}
	}
	return total, nil
}

// mustOff is off for fields checked at open or optional ones: -1 if absent.
func (l *runtimeLayout) mustOff(path string) int64 {
	o, err := l.off(path)
	if err != nil {
		return -1
	}
	return o
}

// size returns the byte size of a named type.
func (l *runtimeLayout) size(name string) int64 {
	st, err := l.structType(name)
	if err != nil {
		return -1
	}
	return st.ByteSize
}
