package goabi

import (
	"debug/dwarf"
	"debug/elf"
	"errors"
	"fmt"
	"strings"
)

// IntRegs are the integer argument and result registers of Go's internal
// register ABI on amd64, in assignment order.
var IntRegs = []string{"rax", "rbx", "rcx", "rdi", "rsi", "r8", "r9", "r10", "r11"}

// SysVRegs are the integer argument registers of the System V C ABI.
var SysVRegs = []string{"rdi", "rsi", "rdx", "rcx", "r8", "r9"}

const maxFloatRegs = 15

// Kind is how a parameter's value is shown.
type Kind int

// Kinds of parameter value.
const (
	KInt Kind = iota
	KUint
	KBool
	KPtr
	KString  // Go string: ptr, len
	KSlice   // Go slice: ptr, len, cap
	KCString // C char*: NUL-terminated
	KIface   // Go interface: type word, data word
	KWords   // anything else in registers, shown as raw words
	KFloat   // float registers (not readable from pt_regs)
	KStack   // passed on the stack (not decoded)
)

// Param is one argument or result of a function as the ABI passes it.
type Param struct {
	Name   string
	Type   string
	Result bool
	Kind   Kind
	Size   int // bytes of a scalar
	// Regs are the integer registers holding it, in order; for a value
	// passed on the stack, "stack+N" names each 8-byte word at SP+N as it is
	// at the function's entry (and at its RETs).
	Regs     []string
	ElemSize int  // slices: element size
	ElemKind Kind // slices: KInt, KUint, KBool or KWords
	OnStack  bool // passed on the stack (Regs are "stack+N")
}

// MaxStackWords bounds how many 8-byte stack words are read per probe.
const MaxStackWords = 7

// Readable reports whether the value can be read from the probed registers.
func (p Param) Readable() bool { return (p.Kind != KFloat || p.OnStack) && p.Kind != KStack }

// Why explains an unreadable parameter.
func (p Param) Why() string {
	switch p.Kind {
	case KFloat:
		return "float register"
	case KStack:
		return "on stack"
	}
	return ""
}

// ErrNoDWARF is returned when the binary carries no debug information.
var ErrNoDWARF = errors.New("no DWARF debug info")

// Debug holds a binary's DWARF, for looking up parameters and runtime
// layouts.
type Debug struct {
	d *dwarf.Data
}

// OpenDebug loads the DWARF of an opened ELF file.
func OpenDebug(f *elf.File) (dbg *Debug, err error) {
	defer func() {
		if r := recover(); r != nil {
			dbg, err = nil, fmt.Errorf("malformed DWARF: %v", r)
		}
	}()
	d, err := f.DWARF()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoDWARF, err)
	}
	return &Debug{d: d}, nil
}

// Params returns the parameters of the named function, results included
// (Result set), with their registers assigned by Go's register ABI when
// isGo and by the System V ABI otherwise.
func (g *Debug) Params(fn string, isGo bool) (ps []Param, err error) {
	defer func() {
		if r := recover(); r != nil {
			ps, err = nil, fmt.Errorf("malformed DWARF for %s: %v", fn, r)
		}
	}()
	r := g.d.Reader()
	for {
		e, err := r.Next()
		if err != nil {
			return nil, err
		}
		if e == nil {
			return nil, fmt.Errorf("%s: not in DWARF", fn)
		}
		if e.Tag != dwarf.TagSubprogram {
			if e.Tag != dwarf.TagCompileUnit && e.Children {
				r.SkipChildren()
			}
			continue
		}
		name, _ := e.Val(dwarf.AttrName).(string)
		if name != fn || !e.Children {
			if e.Children {
				r.SkipChildren()
			}
			continue
		}
		if _, abstract := e.Val(dwarf.AttrInline).(int64); abstract {
			r.SkipChildren()
			continue
		}
		return g.params(r, isGo)
	}
}

func (g *Debug) params(r *dwarf.Reader, isGo bool) ([]Param, error) {
	var args, results []typed
	depth := 1
	for depth > 0 {
		e, err := r.Next()
		if err != nil {
			return nil, err
		}
		if e == nil {
			break
		}
		if e.Tag == 0 {
			depth--
			continue
		}
		if e.Tag != dwarf.TagFormalParameter {
			if e.Children {
				r.SkipChildren()
			}
			continue
		}
		name, _ := e.Val(dwarf.AttrName).(string)
		off, ok := e.Val(dwarf.AttrType).(dwarf.Offset)
		if !ok {
			continue
		}
		t, err := g.d.Type(off)
		if err != nil {
			return nil, err
		}
		p := typed{Param{Name: name, Type: typeName(t)}, t}
		if v, _ := e.Val(dwarf.AttrVarParam).(bool); v {
			p.Result = true
			results = append(results, p)
		} else {
			args = append(args, p)
		}
		if e.Children {
			r.SkipChildren()
		}
	}
	if isGo {
		return assignGoAll(args, results), nil
	}
	return assignSysV(args), nil
}

type typed struct {
	Param
	t dwarf.Type
}

func typeName(t dwarf.Type) string {
	if t == nil {
		return "?"
	}
	n := t.String()
	for _, pre := range []string{"struct ", "union ", "class "} {
		if strings.HasPrefix(n, pre) && !strings.HasPrefix(n, pre+"{") {
			n = strings.TrimPrefix(n, pre)
		}
	}
	if n == "" {
		n = "?"
	}
	return n
}

// typeByName finds a type by its DWARF name (first match).
func (g *Debug) typeByName(name string) (dwarf.Type, bool) {
	r := g.d.Reader()
	for {
		e, err := r.Next()
		if err != nil || e == nil {
			return nil, false
		}
		switch e.Tag {
		case dwarf.TagCompileUnit:
			continue
		case dwarf.TagStructType, dwarf.TagTypedef, dwarf.TagBaseType, dwarf.TagPointerType:
			if n, _ := e.Val(dwarf.AttrName).(string); n == name {
				t, err := g.d.Type(e.Offset)
				return t, err == nil
			}
		}
		if e.Children {
			r.SkipChildren()
		}
	}
}

// FieldOffset returns the byte offset of field in the struct type named
// typ (e.g. "runtime.g", "goid").
func (g *Debug) FieldOffset(typ, field string) (int64, bool) {
	t, ok := g.typeByName(typ)
	if !ok {
		return 0, false
	}
	st, ok := underlying(t).(*dwarf.StructType)
	if !ok {
		return 0, false
	}
	for _, f := range st.Field {
		if f.Name == field {
			return f.ByteOffset, true
		}
	}
	return 0, false
}

func underlying(t dwarf.Type) dwarf.Type {
	for i := 0; i < 16; i++ {
		switch v := t.(type) {
		case *dwarf.TypedefType:
			t = v.Type
		case *dwarf.QualType:
			t = v.Type
		default:
			return t
		}
	}
	return t
}

// Go's ABI assignment: each value goes wholly into registers or wholly on
// the stack.
type assigner struct {
	ints, floats int
	regs         []string
}

// parts counts the integer and float registers a value needs; ok is false
// when it can never go in registers (arrays longer than one).
func parts(t dwarf.Type, depth int) (ints, floats int, ok bool) {
	if depth > 8 {
		return 0, 0, false
	}
	switch u := underlying(t).(type) {
	case *dwarf.FloatType:
		return 0, 1, true
	case *dwarf.ComplexType:
		return 0, 2, true
	case *dwarf.StructType:
		for _, f := range u.Field {
			i, fl, ok := parts(f.Type, depth+1)
			if !ok {
				return 0, 0, false
			}
			ints += i
			floats += fl
		}
		return ints, floats, true
	case *dwarf.ArrayType:
		switch u.Count {
		case 0:
			return 0, 0, true
		case 1:
			return parts(u.Type, depth+1)
		}
		return 0, 0, false
	case nil:
		return 0, 0, false
	default:
		if u.Size() == 0 {
			return 0, 0, true
		}
		if u.Size() > 8 {
			return 0, 0, false
		}
		return 1, 0, true
	}
}

// assignGoAll gives each value its registers by Go's internal ABI: a value
// whose integer and float parts all fit in the remaining registers takes
// them in order; otherwise it goes on the stack, after the return address,
// at its alignment. Results start again from the first register, and their
// stack slots follow the arguments' (pointer-aligned).
func assignGoAll(args, results []typed) []Param {
	stack := int64(0)
	words := 0
	out := assignGo(args, &stack, &words)
	stack = alignUp(stack, 8)
	return append(out, assignGo(results, &stack, &words)...)
}

func assignGo(ps []typed, stack *int64, words *int) []Param {
	out := make([]Param, 0, len(ps))
	ints, floats := 0, 0
	for _, tp := range ps {
		p := tp.Param
		classify(&p, tp.t, true)
		ni, nf, ok := parts(tp.t, 0)
		if ok && ints+ni <= len(IntRegs) && floats+nf <= maxFloatRegs {
			p.Regs = append([]string(nil), IntRegs[ints:ints+ni]...)
			ints += ni
			floats += nf
			if nf > 0 {
				p.Kind = KFloat
			}
			out = append(out, p)
			continue
		}
		size := tp.t.Size()
		if size < 0 {
			size = 0
		}
		*stack = alignUp(*stack, alignOf(tp.t, 0))
		off := 8 + *stack // past the return address
		*stack += size
		n := int((size + 7) / 8)
		scalarFloat := false
		if _, isF := underlying(tp.t).(*dwarf.FloatType); isF {
			scalarFloat = true
		}
		if *words+n > MaxStackWords || (p.Kind == KFloat && !scalarFloat) || n == 0 {
			p.Kind = KStack
			out = append(out, p)
			continue
		}
		*words += n
		p.OnStack = true
		for k := 0; k < n; k++ {
			p.Regs = append(p.Regs, fmt.Sprintf("stack+%d", off+int64(8*k)))
		}
		out = append(out, p)
	}
	return out
}

func alignUp(n, a int64) int64 {
	if a <= 1 {
		return n
	}
	return (n + a - 1) / a * a
}

// alignOf is a Go type's alignment on amd64.
func alignOf(t dwarf.Type, depth int) int64 {
	if depth > 8 {
		return 8
	}
	switch u := underlying(t).(type) {
	case *dwarf.StructType:
		a := int64(1)
		for _, f := range u.Field {
			if fa := alignOf(f.Type, depth+1); fa > a {
				a = fa
			}
		}
		return a
	case *dwarf.ArrayType:
		return alignOf(u.Type, depth+1)
	case *dwarf.ComplexType:
		return u.Size() / 2
	case nil:
		return 8
	default:
		if s := u.Size(); s > 0 && s < 8 {
			return s
		}
		return 8
	}
}

// assignSysV gives the first six integer-class arguments of at most 8
// bytes their System V registers; the rest are left on the stack.
func assignSysV(ps []typed) []Param {
	out := make([]Param, 0, len(ps))
	ints := 0
	for _, tp := range ps {
		p := tp.Param
		classify(&p, tp.t, false)
		switch {
		case p.Kind == KFloat:
		case p.Size > 8 || p.Kind == KWords || ints >= len(SysVRegs):
			p.Kind = KStack
		default:
			p.Regs = []string{SysVRegs[ints]}
			ints++
		}
		out = append(out, p)
	}
	return out
}

// classify fills Kind, Size and element information from a DWARF type.
func classify(p *Param, t dwarf.Type, isGo bool) {
	u := underlying(t)
	p.Size = int(u.Size())
	switch v := u.(type) {
	case *dwarf.IntType:
		p.Kind = KInt
	case *dwarf.UintType, *dwarf.UcharType, *dwarf.AddrType:
		p.Kind = KUint
	case *dwarf.CharType:
		p.Kind = KInt
	case *dwarf.BoolType:
		p.Kind = KBool
	case *dwarf.PtrType:
		p.Kind = KPtr
		if !isGo {
			if c := underlying(v.Type); c != nil {
				switch c.(type) {
				case *dwarf.CharType, *dwarf.UcharType:
					p.Kind = KCString
				}
			}
		}
	case *dwarf.FloatType, *dwarf.ComplexType:
		p.Kind = KFloat
	case *dwarf.StructType:
		switch {
		case isGo && v.StructName == "string":
			p.Kind = KString
		case isGo && strings.HasPrefix(v.StructName, "[]") && len(v.Field) == 3:
			p.Kind = KSlice
			if pt, ok := underlying(v.Field[0].Type).(*dwarf.PtrType); ok && pt.Type != nil {
				et := underlying(pt.Type)
				p.ElemSize = int(et.Size())
				switch et.(type) {
				case *dwarf.IntType, *dwarf.CharType:
					p.ElemKind = KInt
				case *dwarf.UintType, *dwarf.UcharType:
					p.ElemKind = KUint
				case *dwarf.BoolType:
					p.ElemKind = KBool
				default:
					p.ElemKind = KWords
				}
			}
		case isGo && (v.StructName == "runtime.iface" || v.StructName == "runtime.eface"):
			p.Kind = KIface
		default:
			p.Kind = KWords
		}
	default:
		p.Kind = KWords
	}
}

// InlinedOnly reports whether DWARF knows fn only as an abstract (inlined)
// subprogram, with no concrete out-of-line instance.
func (g *Debug) InlinedOnly(fn string) (only bool) {
	defer func() {
		if recover() != nil {
			only = false
		}
	}()
	r := g.d.Reader()
	abstract, concrete := false, false
	for {
		e, err := r.Next()
		if err != nil || e == nil {
			break
		}
		if e.Tag == dwarf.TagCompileUnit {
			continue
		}
		if e.Tag == dwarf.TagSubprogram {
			if n, _ := e.Val(dwarf.AttrName).(string); n == fn {
				if _, ok := e.Val(dwarf.AttrInline).(int64); ok {
					abstract = true
				} else {
					concrete = true
				}
			}
		}
		if e.Children {
			r.SkipChildren()
		}
	}
	return abstract && !concrete
}
