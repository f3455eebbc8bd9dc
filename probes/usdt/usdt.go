// Package usdt reads the statically defined probes (SystemTap SDT, "USDT")
// of an ELF binary from its .note.stapsdt notes: provider, name, the probe's
// file offset, its semaphore's file offset and its argument specs. Nothing
// here touches the kernel; the probes package attaches what this finds.
package usdt

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Probe is one USDT site. A probe name used at several places in the source
// has one Probe per site.
type Probe struct {
	Provider string
	Name     string
	Addr     uint64 // link-time address of the site, adjusted by .stapsdt.base
	Offset   uint64 // file offset of the site (for the uprobe)
	SemAddr  uint64 // link-time address of the semaphore, 0 if none
	SemOff   uint64 // file offset of the semaphore (the uprobe's ref_ctr_offset)
	ArgSpec  string // the raw argument string, e.g. "-4@%edi 8@-80(%rbx)"
	Args     []Arg
	ArgErr   error // why Args could not be parsed, if it could not
}

// Read returns the USDT probes of the ELF file at path (none is not an
// error).
func Read(path string) ([]Probe, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	ps, err := FromELF(f)
	if err != nil {
		return nil, fmt.Errorf("read USDT notes of %s: %w", path, err)
	}
	return ps, nil
}

// FromELF reads the USDT probes of an opened ELF file.
func FromELF(f *elf.File) (ps []Probe, err error) {
	defer func() {
		if r := recover(); r != nil {
			ps, err = nil, fmt.Errorf("malformed ELF: %v", r)
		}
	}()
	sec := f.Section(".note.stapsdt")
	if sec == nil {
		return nil, nil
	}
	data, err := sec.Data()
	if err != nil {
		return nil, err
	}
	var base uint64
	haveBase := false
	if b := f.Section(".stapsdt.base"); b != nil {
		base, haveBase = b.Addr, true
	}
	notes, err := ParseNotes(data, f.ByteOrder, f.Class == elf.ELFCLASS64)
	if err != nil {
		return nil, err
	}
	var syms map[string]uint64
	for _, n := range notes {
		p := Probe{Provider: n.Provider, Name: n.Name, Addr: n.PC, SemAddr: n.Semaphore, ArgSpec: n.Args}
		if haveBase && n.Base != 0 {
			p.Addr = n.PC + base - n.Base
		}
		off, ok := fileOffset(f, p.Addr, true)
		if !ok {
			continue
		}
		p.Offset = off
		if p.SemAddr != 0 {
			if p.SemOff, ok = fileOffset(f, p.SemAddr, false); !ok {
				return nil, fmt.Errorf("probe %s:%s: semaphore %#x is in no loaded segment", p.Provider, p.Name, p.SemAddr)
			}
		}
		p.Args, p.ArgErr = ParseArgs(n.Args)
		for i := range p.Args {
			a := &p.Args[i]
			if a.Sym == "" {
				continue
			}
			addr, ok := symbolAddr(f, a.Sym, &syms)
			if !ok {
				if p.ArgErr == nil {
					p.ArgErr = fmt.Errorf("arg%d: symbol %s not found", i, a.Sym)
				}
				continue
			}
			a.Disp = int64(addr) + a.Disp - int64(p.Addr)
		}
		ps = append(ps, p)
	}
	return ps, nil
}

// symbolAddr finds a data symbol's address (the table is read on first
// use).
func symbolAddr(f *elf.File, name string, cache *map[string]uint64) (uint64, bool) {
	if *cache == nil {
		*cache = map[string]uint64{}
		for _, read := range []func() ([]elf.Symbol, error){f.Symbols, f.DynamicSymbols} {
			syms, _ := read()
			for _, s := range syms {
				if s.Section != elf.SHN_UNDEF && s.Value != 0 {
					if _, dup := (*cache)[s.Name]; !dup {
						(*cache)[s.Name] = s.Value
					}
				}
			}
		}
	}
	v, ok := (*cache)[name]
	return v, ok
}

func fileOffset(f *elf.File, addr uint64, exec bool) (uint64, bool) {
	for _, p := range f.Progs {
		if p.Type != elf.PT_LOAD || (exec && p.Flags&elf.PF_X == 0) {
			continue
		}
		if addr >= p.Vaddr && addr < p.Vaddr+p.Memsz {
			return addr - p.Vaddr + p.Off, true
		}
	}
	return 0, false
}

// Note is one decoded stapsdt note, before address adjustment.
type Note struct {
	PC, Base, Semaphore uint64
	Provider, Name      string
	Args                string
}

const ntStapsdt = 3

// ParseNotes decodes the contents of a .note.stapsdt section. Notes of other
// owners or types are skipped; a truncated note is an error.
func ParseNotes(data []byte, bo binary.ByteOrder, is64 bool) ([]Note, error) {
	var out []Note
	word := 4
	if is64 {
		word = 8
	}
	for len(data) > 0 {
		if len(data) < 12 {
			return out, errors.New("truncated note header")
		}
		namesz := uint64(bo.Uint32(data[0:]))
		descsz := uint64(bo.Uint32(data[4:]))
		typ := bo.Uint32(data[8:])
		data = data[12:]
		nameEnd := align4(namesz)
		if nameEnd > uint64(len(data)) {
			return out, errors.New("truncated note name")
		}
		name := data[:namesz]
		data = data[nameEnd:]
		descEnd := align4(descsz)
		if descEnd > uint64(len(data)) {
			if descsz > uint64(len(data)) {
				return out, errors.New("truncated note descriptor")
			}
			descEnd = uint64(len(data))
		}
		desc := data[:descsz]
		data = data[descEnd:]
		if typ != ntStapsdt || string(bytes.TrimRight(name, "\x00")) != "stapsdt" {
			continue
		}
		if len(desc) < 3*word {
			return out, errors.New("stapsdt note too short")
		}
		rd := func(b []byte) uint64 {
			if is64 {
				return bo.Uint64(b)
			}
			return uint64(bo.Uint32(b))
		}
		n := Note{PC: rd(desc), Base: rd(desc[word:]), Semaphore: rd(desc[2*word:])}
		strs := bytes.SplitN(desc[3*word:], []byte{0}, 4)
		if len(strs) < 3 {
			return out, errors.New("stapsdt note strings truncated")
		}
		n.Provider, n.Name, n.Args = string(strs[0]), string(strs[1]), string(strs[2])
		if n.Provider == "" || n.Name == "" {
			return out, errors.New("stapsdt note without provider or name")
		}
		out = append(out, n)
	}
	return out, nil
}

func align4(n uint64) uint64 { return (n + 3) &^ 3 }

// ArgKind says where an argument's value lives.
type ArgKind int

// Kinds of argument location.
const (
	ArgConst ArgKind = iota // an immediate: Value
	ArgReg                  // a register: Reg
	ArgMem                  // memory at Reg+Disp (or Disp alone when Reg is "")
)

// Arg is one parsed argument spec such as "-4@%edi" or "8@-80(%rbx)".
type Arg struct {
	Size   int  // bytes: 1, 2, 4 or 8
	Signed bool // negative size in the spec
	Kind   ArgKind
	Value  int64  // ArgConst
	Reg    string // base register, 64-bit name ("rdi", "rip")
	RegOff int    // byte offset of Reg in struct pt_regs (x86-64)
	SubOff int    // byte offset of a sub-register (%ah: 1)
	RegSz  int    // width of the register as written (%edi: 4)
	Disp   int64  // ArgMem displacement
	// Sym is the symbol of a rip-relative operand ("40+CheckpointStats(%rip)").
	// FromELF resolves it: Disp then is the symbol's address plus the
	// offset minus the probe's address, and the base is the probe's
	// instruction pointer (which is the site's address when it fires).
	Sym  string
	Text string // the spec as written
}

func (a Arg) String() string { return a.Text }

// TypeName is a C-like type for the argument's size and signedness.
func (a Arg) TypeName() string {
	if a.Signed {
		return fmt.Sprintf("int%d", a.Size*8)
	}
	return fmt.Sprintf("uint%d", a.Size*8)
}

// ParseArgs parses a space-separated stapsdt argument string.
func ParseArgs(s string) ([]Arg, error) {
	var out []Arg
	for i, f := range strings.Fields(s) {
		a, err := ParseArg(f)
		if err != nil {
			return out, fmt.Errorf("arg%d: %w", i, err)
		}
		out = append(out, a)
	}
	return out, nil
}

// ParseArg parses one argument spec: [-]SIZE@OPERAND where OPERAND is
// %reg, $imm, disp(%reg) or (%reg). A spec without "SIZE@" is taken as
// 8 bytes, as old SDT headers wrote.
func ParseArg(s string) (Arg, error) {
	a := Arg{Text: s, Size: 8}
	op := s
	if at := strings.IndexByte(s, '@'); at >= 0 {
		sz, err := strconv.Atoi(s[:at])
		if err != nil {
			return a, fmt.Errorf("bad size in %q", s)
		}
		if sz < 0 {
			a.Signed, sz = true, -sz
		}
		switch sz {
		case 1, 2, 4, 8:
		default:
			return a, fmt.Errorf("bad size %d in %q", sz, s)
		}
		a.Size = sz
		op = s[at+1:]
	}
	switch {
	case op == "":
		return a, fmt.Errorf("empty operand in %q", s)
	case op[0] == '$':
		v, err := parseInt(op[1:])
		if err != nil {
			return a, fmt.Errorf("bad immediate in %q", s)
		}
		a.Kind, a.Value = ArgConst, v
	case op[0] == '%':
		r, ok := regs[op[1:]]
		if !ok {
			return a, fmt.Errorf("unknown register in %q", s)
		}
		a.Kind = ArgReg
		a.Reg, a.RegOff, a.SubOff, a.RegSz = r.name, r.off, r.sub, r.size
	default:
		open := strings.IndexByte(op, '(')
		if open < 0 || !strings.HasSuffix(op, ")") {
			return a, fmt.Errorf("unsupported operand in %q", s)
		}
		inner := op[open+1 : len(op)-1]
		if open > 0 {
			d, sym, err := parseDisp(op[:open])
			if err != nil {
				return a, fmt.Errorf("unsupported displacement in %q", s)
			}
			if sym != "" && inner != "%rip" {
				return a, fmt.Errorf("symbol displacement without %%rip in %q", s)
			}
			a.Disp, a.Sym = d, sym
		}
		if strings.Contains(inner, ",") {
			return a, fmt.Errorf("indexed operand unsupported in %q", s)
		}
		if !strings.HasPrefix(inner, "%") {
			return a, fmt.Errorf("bad base register in %q", s)
		}
		r, ok := regs[inner[1:]]
		if !ok || r.size != 8 {
			return a, fmt.Errorf("unknown base register in %q", s)
		}
		if r.name == "rip" && a.Sym == "" {
			return a, fmt.Errorf("rip-relative operand without a symbol unsupported in %q", s)
		}
		a.Kind = ArgMem
		a.Reg, a.RegOff, a.RegSz = r.name, r.off, 8
	}
	return a, nil
}

// parseDisp parses a displacement: numbers and at most one symbol joined
// by + or -, e.g. "-80", "NBuffers", "40+CheckpointStats".
func parseDisp(s string) (int64, string, error) {
	var total int64
	sym := ""
	for len(s) > 0 {
		neg := false
		if s[0] == '+' || s[0] == '-' {
			neg = s[0] == '-'
			s = s[1:]
		}
		end := strings.IndexAny(s, "+-")
		term := s
		if end >= 0 {
			term, s = s[:end], s[end:]
		} else {
			s = ""
		}
		if term == "" {
			return 0, "", errors.New("empty term")
		}
		if c := term[0]; c >= '0' && c <= '9' {
			v, err := parseInt(term)
			if err != nil {
				return 0, "", err
			}
			if neg {
				v = -v
			}
			total += v
			continue
		}
		if neg || sym != "" || !isSymbol(term) {
			return 0, "", errors.New("bad symbol term")
		}
		sym = term
	}
	return total, sym, nil
}

func isSymbol(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c == '.' || c == '$' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return s != ""
}

func parseInt(s string) (int64, error) {
	neg := false
	if strings.HasPrefix(s, "-") {
		neg, s = true, s[1:]
	} else if strings.HasPrefix(s, "+") {
		s = s[1:]
	}
	if s == "" {
		return 0, errors.New("empty number")
	}
	v, err := strconv.ParseUint(s, 0, 64)
	if err != nil {
		return 0, err
	}
	if neg {
		return -int64(v), nil
	}
	return int64(v), nil
}

type reg struct {
	name     string
	off, sub int
	size     int
}

// Offsets of the 64-bit registers in the x86-64 struct pt_regs.
var ptRegs = map[string]int{
	"r15": 0, "r14": 8, "r13": 16, "r12": 24, "rbp": 32, "rbx": 40, "r11": 48, "r10": 56,
	"r9": 64, "r8": 72, "rax": 80, "rcx": 88, "rdx": 96, "rsi": 104, "rdi": 112,
	"rip": 128, "rsp": 152,
}

// PtRegsOffset returns the byte offset of a 64-bit register in struct
// pt_regs on x86-64.
func PtRegsOffset(name string) (int, bool) { o, ok := ptRegs[name]; return o, ok }

var regs = func() map[string]reg {
	m := map[string]reg{}
	for n, o := range ptRegs {
		m[n] = reg{n, o, 0, 8}
	}
	for _, l := range []string{"a", "b", "c", "d"} {
		full := "r" + l + "x"
		o := ptRegs[full]
		m["e"+l+"x"] = reg{full, o, 0, 4}
		m[l+"x"] = reg{full, o, 0, 2}
		m[l+"l"] = reg{full, o, 0, 1}
		m[l+"h"] = reg{full, o, 1, 1}
	}
	for _, l := range []string{"si", "di", "bp", "sp"} {
		full := "r" + l
		o := ptRegs[full]
		m["e"+l] = reg{full, o, 0, 4}
		m[l] = reg{full, o, 0, 2}
		m[l+"l"] = reg{full, o, 0, 1}
	}
	for i := 8; i <= 15; i++ {
		full := fmt.Sprintf("r%d", i)
		o := ptRegs[full]
		m[full+"d"] = reg{full, o, 0, 4}
		m[full+"w"] = reg{full, o, 0, 2}
		m[full+"b"] = reg{full, o, 0, 1}
	}
	return m
}()
