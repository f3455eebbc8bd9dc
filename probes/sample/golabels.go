package sample

import (
	"debug/buildinfo"
	"debug/dwarf"
	"debug/elf"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// labelsOffsets is offsetof(runtime.g, labels) on amd64 by Go minor
// version, for binaries without DWARF (measured from each toolchain's
// DWARF).
var labelsOffsets = map[int]int32{24: 352, 25: 344, 26: 352}

// GoLabelsOf says where a Go executable keeps the current goroutine's pprof
// labels: the offset of runtime.g's labels field (from DWARF when the
// binary has it, else from the Go version) and of the g pointer from the
// thread pointer (from the PT_TLS segment). It returns an error saying why
// when labels cannot be had (not Go, an unknown Go version, amd64 only).
func GoLabelsOf(path string) (*GoLabels, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if f.Machine != elf.EM_X86_64 {
		return nil, errors.New("goroutine labels: amd64 only")
	}
	if f.Section(".gopclntab") == nil && f.Section(".note.go.buildid") == nil {
		return nil, errors.New("goroutine labels: not a Go binary")
	}
	gl := &GoLabels{TLS: -8}
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("goroutine labels: no Go version: %w", err)
	}
	// Before Go 1.24 the label set was a map, which the BPF program does
	// not walk.
	minor := goMinor(bi.GoVersion)
	if minor < 24 {
		return nil, fmt.Errorf("goroutine labels: need Go 1.24 or later, the binary is %s", bi.GoVersion)
	}
	off, ok := labelsFromDWARF(f)
	if !ok {
		if off, ok = labelsOffsets[minor]; !ok {
			return nil, fmt.Errorf("goroutine labels: no DWARF, and runtime.g's layout in %s is not known", bi.GoVersion)
		}
	}
	gl.LabelsOff = off
	for _, p := range f.Progs {
		if p.Type != elf.PT_TLS {
			continue
		}
		// Variant II TLS: the executable's block ends at the thread
		// pointer; runtime.tlsg is the g slot inside it.
		align := p.Align
		if align == 0 {
			align = 1
		}
		size := (p.Memsz + align - 1) / align * align
		var tlsg uint64
		found := false
		if syms, err := f.Symbols(); err == nil {
			for _, s := range syms {
				if s.Name == "runtime.tlsg" {
					tlsg, found = s.Value, true
					break
				}
			}
		}
		if !found && p.Memsz != 8 {
			return nil, errors.New("goroutine labels: TLS block holds more than the g slot and runtime.tlsg is stripped")
		}
		gl.TLS = int32(int64(tlsg) - int64(size))
	}
	return gl, nil
}

func goMinor(v string) int {
	v = strings.TrimPrefix(v, "go")
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 || parts[0] != "1" {
		return 0
	}
	d := parts[1]
	for i, r := range d {
		if r < '0' || r > '9' {
			d = d[:i]
			break
		}
	}
	n, _ := strconv.Atoi(d)
	return n
}

func labelsFromDWARF(f *elf.File) (int32, bool) {
	defer func() { recover() }()
	d, err := f.DWARF()
	if err != nil {
		return 0, false
	}
	r := d.Reader()
	for {
		e, err := r.Next()
		if err != nil || e == nil {
			return 0, false
		}
		if e.Tag == dwarf.TagCompileUnit {
			if name, _ := e.Val(dwarf.AttrName).(string); name != "runtime" {
				r.SkipChildren()
			}
			continue
		}
		if e.Tag != dwarf.TagStructType || e.Val(dwarf.AttrName) != "runtime.g" {
			r.SkipChildren()
			continue
		}
		t, err := d.Type(e.Offset)
		if err != nil {
			return 0, false
		}
		st, ok := t.(*dwarf.StructType)
		if !ok {
			return 0, false
		}
		for _, fl := range st.Field {
			if fl.Name == "labels" {
				return int32(fl.ByteOffset), true
			}
		}
		return 0, false
	}
}
