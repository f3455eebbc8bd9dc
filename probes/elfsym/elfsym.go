// Package elfsym resolves function names in ELF binaries to virtual
// addresses and file offsets, which is what a uprobe is placed by. It reads
// .symtab and .dynsym, and for stripped Go binaries the .gopclntab function
// table. Opening a binary parses its symbols once (a few milliseconds for a
// 10 MB Go binary); lookups after that are in memory.
package elfsym

import (
	"bytes"
	"debug/elf"
	"debug/gosym"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
)

// ErrNotFound is returned when no function matches a name or pattern.
var ErrNotFound = errors.New("no such function")

// Source says where a function's name came from.
type Source string

// The places a function can be found.
const (
	FromSymtab  Source = "symtab"
	FromDynsym  Source = "dynsym"
	FromPclntab Source = "pclntab"
)

// Func is one function of a binary.
type Func struct {
	Name   string
	Addr   uint64 // link-time virtual address
	Size   uint64 // bytes, 0 when unknown
	Offset uint64 // file offset of Addr (what a uprobe is attached by)
	Source Source
}

// End is the address just past the function (Addr when the size is unknown).
func (f Func) End() uint64 { return f.Addr + f.Size }

// Binary is an opened ELF file's function table.
type Binary struct {
	Path   string
	IsGo   bool // has a .gopclntab or Go build ID
	PIE    bool // ET_DYN: loaded at a base chosen at run time
	Funcs  []Func
	loads  []elf.ProgHeader // executable PT_LOAD segments
	progs  []elf.ProgHeader // all PT_LOAD segments
	byName map[string]int
	text   textSection
	pcln   []byte
	// Go type descriptors and itabs by address (type:*, go:itab.*), for
	// naming the dynamic type of an interface value.
	typeSyms map[uint64]string
}

type textSection struct {
	addr uint64
	data []byte
}

// Open reads the function table of the ELF file at path.
func Open(p string) (*Binary, error) {
	f, err := elf.Open(p)
	if err != nil {
		var fe *elf.FormatError
		if errors.As(err, &fe) {
			return nil, fmt.Errorf("%s: not an ELF executable or library", p)
		}
		return nil, fmt.Errorf("open %s: %w", p, err)
	}
	defer f.Close()
	b, err := load(f)
	if err != nil {
		return nil, fmt.Errorf("read symbols of %s: %w", p, err)
	}
	b.Path = p
	return b, nil
}

func load(f *elf.File) (b *Binary, err error) {
	defer func() {
		// debug/elf and debug/gosym can panic on hostile input.
		if r := recover(); r != nil {
			b, err = nil, fmt.Errorf("malformed ELF: %v", r)
		}
	}()
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return nil, fmt.Errorf("not an executable or shared object (%s)", f.Type)
	}
	b = &Binary{PIE: f.Type == elf.ET_DYN, byName: map[string]int{}}
	for _, p := range f.Progs {
		if p.Type != elf.PT_LOAD {
			continue
		}
		b.progs = append(b.progs, p.ProgHeader)
		if p.Flags&elf.PF_X != 0 {
			b.loads = append(b.loads, p.ProgHeader)
		}
	}
	add := func(name string, addr, size uint64, src Source) {
		if name == "" || addr == 0 {
			return
		}
		if i, ok := b.byName[name]; ok {
			if b.Funcs[i].Size == 0 && size != 0 {
				b.Funcs[i].Size = size
			}
			return
		}
		off, ok := b.offsetOf(addr)
		if !ok {
			return
		}
		b.byName[name] = len(b.Funcs)
		b.Funcs = append(b.Funcs, Func{Name: name, Addr: addr, Size: size, Offset: off, Source: src})
	}
	for _, which := range []struct {
		read func() ([]elf.Symbol, error)
		src  Source
	}{{f.Symbols, FromSymtab}, {f.DynamicSymbols, FromDynsym}} {
		syms, err := which.read()
		if err != nil && !errors.Is(err, elf.ErrNoSymbols) {
			return nil, err
		}
		for _, s := range syms {
			if elf.ST_TYPE(s.Info) == elf.STT_OBJECT && s.Value != 0 &&
				(strings.HasPrefix(s.Name, "type:") || strings.HasPrefix(s.Name, "go:itab.")) {
				if b.typeSyms == nil {
					b.typeSyms = map[uint64]string{}
				}
				b.typeSyms[s.Value] = s.Name
				continue
			}
			if elf.ST_TYPE(s.Info) != elf.STT_FUNC || s.Section == elf.SHN_UNDEF {
				continue
			}
			name := s.Name
			if i := strings.Index(name, "@"); i > 0 && which.src == FromDynsym {
				name = name[:i]
			}
			add(name, s.Value, s.Size, which.src)
		}
	}
	if sec := f.Section(".gopclntab"); sec != nil {
		b.IsGo = true
		if data, err := sec.Data(); err == nil {
			b.pcln = data
			var textStart uint64
			if t := f.Section(".text"); t != nil {
				textStart = t.Addr
			}
			tab, err := gosym.NewTable(nil, gosym.NewLineTable(data, textStart))
			if err == nil {
				for _, fn := range tab.Funcs {
					size := uint64(0)
					if fn.End > fn.Entry {
						size = fn.End - fn.Entry
					}
					add(fn.Name, fn.Entry, size, FromPclntab)
				}
			}
		}
	} else if f.Section(".note.go.buildid") != nil {
		b.IsGo = true
	}
	if t := f.Section(".text"); t != nil && t.Type != elf.SHT_NOBITS {
		if data, err := t.Data(); err == nil {
			b.text = textSection{addr: t.Addr, data: data}
		}
	}
	sort.Slice(b.Funcs, func(i, j int) bool { return b.Funcs[i].Addr < b.Funcs[j].Addr })
	for i, fn := range b.Funcs {
		b.byName[fn.Name] = i
	}
	return b, nil
}

// offsetOf maps a link-time virtual address to its file offset through the
// program headers.
func (b *Binary) offsetOf(addr uint64) (uint64, bool) {
	for _, p := range b.loads {
		if addr >= p.Vaddr && addr < p.Vaddr+p.Filesz {
			return addr - p.Vaddr + p.Off, true
		}
	}
	return 0, false
}

// OffsetOf maps a link-time virtual address to its file offset.
func (b *Binary) OffsetOf(addr uint64) (uint64, bool) { return b.offsetOf(addr) }

// AddrOfOffset maps a file offset back to its link-time virtual address.
func (b *Binary) AddrOfOffset(off uint64) (uint64, bool) {
	for _, p := range b.progs {
		if off >= p.Off && off < p.Off+p.Filesz {
			return off - p.Off + p.Vaddr, true
		}
	}
	return 0, false
}

// Lookup returns the function with exactly this name.
func (b *Binary) Lookup(name string) (Func, bool) {
	i, ok := b.byName[name]
	if !ok {
		return Func{}, false
	}
	return b.Funcs[i], true
}

// Match returns the functions whose name matches pattern: an exact name, or
// a glob with * ? and [...] (path.Match syntax, where '/' is an ordinary
// character here). An empty pattern matches everything.
func (b *Binary) Match(pattern string) ([]Func, error) {
	if pattern == "" {
		return append([]Func(nil), b.Funcs...), nil
	}
	if !IsGlob(pattern) {
		if f, ok := b.Lookup(pattern); ok {
			return []Func{f}, nil
		}
		return nil, nil
	}
	if _, err := Glob(pattern, ""); err != nil {
		return nil, err
	}
	var out []Func
	for _, f := range b.Funcs {
		if ok, _ := Glob(pattern, f.Name); ok {
			out = append(out, f)
		}
	}
	return out, nil
}

// IsGlob reports whether s has glob metacharacters. Go method names'
// parentheses and asterisk in "(*T)" are literal, so "*" directly after "("
// does not count.
func IsGlob(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '?', '[':
			return true
		case '*':
			if i > 0 && s[i-1] == '(' {
				continue
			}
			return true
		}
	}
	return false
}

// Glob matches name against pattern, treating "(*" as a literal (Go pointer
// receivers) and '/' as an ordinary character.
func Glob(pattern, name string) (bool, error) {
	// path.Match treats '/' specially; swap it for a byte that cannot
	// appear in either side of a symbol name, and quote "(*".
	const slash = "\x00"
	p := strings.ReplaceAll(pattern, "/", slash)
	p = strings.ReplaceAll(p, "(*", `(\*`)
	ok, err := path.Match(p, strings.ReplaceAll(name, "/", slash))
	if err != nil {
		return false, fmt.Errorf("bad pattern %q: %w", pattern, err)
	}
	return ok, nil
}

// At returns the function containing the link-time address addr.
func (b *Binary) At(addr uint64) (Func, bool) {
	i := sort.Search(len(b.Funcs), func(i int) bool { return b.Funcs[i].Addr > addr })
	if i == 0 {
		return Func{}, false
	}
	f := b.Funcs[i-1]
	if f.Size != 0 && addr >= f.End() {
		return Func{}, false
	}
	if f.Size == 0 && i < len(b.Funcs) && addr >= b.Funcs[i].Addr {
		return Func{}, false
	}
	return f, true
}

// Code returns the machine code of fn (nil when it lies outside .text or its
// size is unknown).
func (b *Binary) Code(fn Func) []byte {
	t := b.text
	if fn.Size == 0 || fn.Addr < t.addr || fn.End() > t.addr+uint64(len(t.data)) {
		return nil
	}
	return t.data[fn.Addr-t.addr : fn.End()-t.addr]
}

// InlinedOnly reports whether name is a Go function the binary knows only
// as inlined into callers: its name is in the .gopclntab name table (which
// inline trees refer to) but it has no function entry.
func (b *Binary) InlinedOnly(name string) bool {
	if _, ok := b.byName[name]; ok || len(b.pcln) == 0 || name == "" {
		return false
	}
	needle := append(append([]byte{0}, name...), 0)
	return bytes.Contains(b.pcln, needle)
}

// GoTypeName names the Go type whose descriptor (or itab) is at the
// link-time address addr: "*errors.errorString" for both the descriptor
// type:*errors.errorString and the itab go:itab.*errors.errorString,error.
// It needs the symbol table (not stripped binaries) and only knows
// descriptors and itabs the linker laid out.
func (b *Binary) GoTypeName(addr uint64) (string, bool) {
	n, ok := b.typeSyms[addr]
	if !ok {
		return "", false
	}
	if rest, ok := strings.CutPrefix(n, "go:itab."); ok {
		// go:itab.CONCRETE,INTERFACE; the interface type may itself
		// contain commas only inside brackets, the concrete type too, so
		// split at the last top-level comma.
		depth := 0
		for i := len(rest) - 1; i >= 0; i-- {
			switch rest[i] {
			case ']', ')', '}':
				depth++
			case '[', '(', '{':
				depth--
			case ',':
				if depth == 0 {
					return rest[:i], true
				}
			}
		}
		return rest, true
	}
	return strings.TrimPrefix(n, "type:"), true
}
