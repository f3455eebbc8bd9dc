package symtab

import (
	"debug/dwarf"
	"sort"
	"sync"
)

// dwarfState reads a C file's DWARF lazily: only the compilation units
// that looked-up addresses fall in are parsed, so a library with tens of
// megabytes of debug info costs only the units a profile touches.
type dwarfState struct {
	mu     sync.Mutex
	loaded bool
	d      *dwarf.Data
	r      *dwarf.Reader // unit lookups by pc
	walk   *dwarf.Reader // walking one unit
	origin *dwarf.Reader // abstract origins, anywhere
	names  map[dwarf.Offset]string
	units  map[dwarf.Offset]*unitInfo
}

// unitInfo is one compilation unit's line rows and functions with inlined
// calls, each sorted by address.
type unitInfo struct {
	lines []lineRow
	subs  []subprogram
}

// subprogram is one DWARF function's address range and the calls inlined
// into it.
type subprogram struct {
	lo, hi uint64
	inl    []inlinedCall
}

// inlinedCall is one DW_TAG_inlined_subroutine range.
type inlinedCall struct {
	lo, hi   uint64
	depth    int // nesting: 1 directly in the function, 2 inside that, ...
	name     string
	callFile string
	callLine int
}

// unitFor returns the parsed compilation unit holding addr, nil when the
// file has no DWARF for it.
func (f *File) unitFor(addr uint64) (u *unitInfo) {
	w := &f.dw
	w.mu.Lock()
	defer w.mu.Unlock()
	defer func() {
		if recover() != nil { // malformed DWARF: nothing for this address
			u = nil
		}
	}()
	if !w.loaded {
		w.loaded = true
		d, err := f.ef.DWARF()
		if err != nil {
			return nil
		}
		w.d, w.r, w.walk, w.origin = d, d.Reader(), d.Reader(), d.Reader()
		w.names, w.units = map[dwarf.Offset]string{}, map[dwarf.Offset]*unitInfo{}
	}
	if w.d == nil {
		return nil
	}
	cu, err := w.r.SeekPC(addr)
	if err != nil || cu == nil {
		return nil
	}
	if u, ok := w.units[cu.Offset]; ok {
		return u
	}
	u = w.parseUnit(cu)
	w.units[cu.Offset] = u
	return u
}

func (w *dwarfState) nameOf(off dwarf.Offset, hops int) string {
	if n, ok := w.names[off]; ok {
		return n
	}
	w.origin.Seek(off)
	e, err := w.origin.Next()
	if err != nil || e == nil {
		return ""
	}
	n, _ := e.Val(dwarf.AttrName).(string)
	if n == "" && hops < 4 {
		for _, a := range []dwarf.Attr{dwarf.AttrAbstractOrigin, dwarf.AttrSpecification} {
			if o, ok := e.Val(a).(dwarf.Offset); ok {
				n = w.nameOf(o, hops+1)
				break
			}
		}
	}
	w.names[off] = n
	return n
}

func (w *dwarfState) parseUnit(cu *dwarf.Entry) *unitInfo {
	u := &unitInfo{}
	var files []*dwarf.LineFile
	if lr, err := w.d.LineReader(cu); err == nil && lr != nil {
		for {
			var le dwarf.LineEntry
			if err := lr.Next(&le); err != nil {
				break
			}
			if le.EndSequence {
				u.lines = append(u.lines, lineRow{addr: le.Address})
				continue
			}
			name := ""
			if le.File != nil {
				name = le.File.Name
			}
			u.lines = append(u.lines, lineRow{addr: le.Address, file: name, line: le.Line})
		}
		files = lr.Files()
		sort.SliceStable(u.lines, func(i, j int) bool { return u.lines[i].addr < u.lines[j].addr })
	}
	if !cu.Children {
		return u
	}
	r := w.walk
	r.Seek(cu.Offset)
	if _, err := r.Next(); err != nil {
		return u
	}
	// Walk the unit's tree, tracking the enclosing function and the depth
	// of inlining.
	type level struct{ sub, inl bool }
	var stack []level
	var cur *subprogram
	depth := 0
	closeSub := func() {
		if cur != nil && len(cur.inl) > 0 {
			u.subs = append(u.subs, *cur)
		}
		cur, depth = nil, 0
	}
	for {
		e, err := r.Next()
		if err != nil || e == nil {
			break
		}
		if e.Tag == 0 { // end of a sibling list
			if len(stack) == 0 {
				break // end of the unit
			}
			top := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if top.inl {
				depth--
			}
			if top.sub {
				closeSub()
			}
			continue
		}
		lv := level{}
		switch e.Tag {
		case dwarf.TagSubprogram:
			if cur == nil {
				if rs, err := w.d.Ranges(e); err == nil && len(rs) > 0 {
					lo, hi := rs[0][0], rs[0][1]
					for _, x := range rs[1:] {
						lo, hi = min(lo, x[0]), max(hi, x[1])
					}
					cur = &subprogram{lo: lo, hi: hi}
					lv.sub = true
				}
			}
		case dwarf.TagInlinedSubroutine:
			if cur != nil {
				depth++
				lv.inl = true
				name := ""
				if o, ok := e.Val(dwarf.AttrAbstractOrigin).(dwarf.Offset); ok {
					name = w.nameOf(o, 0)
				}
				file := ""
				if i, ok := e.Val(dwarf.AttrCallFile).(int64); ok && i >= 0 && int(i) < len(files) && files[i] != nil {
					file = files[i].Name
				}
				line, _ := e.Val(dwarf.AttrCallLine).(int64)
				if rs, err := w.d.Ranges(e); err == nil {
					for _, x := range rs {
						cur.inl = append(cur.inl, inlinedCall{lo: x[0], hi: x[1], depth: depth, name: name, callFile: file, callLine: int(line)})
					}
				}
			}
		}
		if e.Children {
			stack = append(stack, lv)
		} else if lv.inl {
			depth--
		} else if lv.sub {
			closeSub()
		}
	}
	sort.Slice(u.subs, func(i, j int) bool { return u.subs[i].lo < u.subs[j].lo })
	return u
}

// inlinedAt returns the calls inlined at addr, outermost first.
func (u *unitInfo) inlinedAt(addr uint64) []inlinedCall {
	i := sort.Search(len(u.subs), func(i int) bool { return u.subs[i].lo > addr }) - 1
	if i < 0 || addr >= u.subs[i].hi {
		return nil
	}
	var out []inlinedCall
	for _, c := range u.subs[i].inl {
		if addr >= c.lo && addr < c.hi {
			out = append(out, c)
		}
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].depth < out[b].depth })
	// Keep one chain: one call per depth, each inside the one before.
	chain := out[:0]
	for _, c := range out {
		if c.depth == len(chain)+1 {
			chain = append(chain, c)
		}
	}
	return chain
}
