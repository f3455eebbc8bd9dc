package symtab

import (
	"debug/dwarf"
	"sort"
)

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

// inlinedAt returns the calls inlined at addr, outermost first.
func (f *File) inlinedAt(addr uint64) []inlinedCall {
	f.inlOnce.Do(f.loadInlines)
	i := sort.Search(len(f.subs), func(i int) bool { return f.subs[i].lo > addr }) - 1
	if i < 0 || addr >= f.subs[i].hi {
		return nil
	}
	var out []inlinedCall
	for _, c := range f.subs[i].inl {
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

func (f *File) loadInlines() {
	defer func() { recover() }() // malformed DWARF: no inlined frames
	d, err := f.ef.DWARF()
	if err != nil {
		return
	}
	names := map[dwarf.Offset]string{}
	origin := d.Reader()
	var nameOf func(off dwarf.Offset, hops int) string
	nameOf = func(off dwarf.Offset, hops int) string {
		if n, ok := names[off]; ok {
			return n
		}
		origin.Seek(off)
		e, err := origin.Next()
		if err != nil || e == nil {
			return ""
		}
		n, _ := e.Val(dwarf.AttrName).(string)
		if n == "" && hops < 4 {
			for _, a := range []dwarf.Attr{dwarf.AttrAbstractOrigin, dwarf.AttrSpecification} {
				if o, ok := e.Val(a).(dwarf.Offset); ok {
					n = nameOf(o, hops+1)
					break
				}
			}
		}
		names[off] = n
		return n
	}
	r := d.Reader()
	for {
		cu, err := r.Next()
		if err != nil || cu == nil {
			break
		}
		if cu.Tag != dwarf.TagCompileUnit {
			r.SkipChildren()
			continue
		}
		var files []*dwarf.LineFile
		if lr, err := d.LineReader(cu); err == nil && lr != nil {
			files = lr.Files()
		}
		if !cu.Children {
			continue
		}
		// Walk the unit's tree, tracking the enclosing function and the
		// depth of inlining.
		var cur *subprogram
		type level struct {
			sub bool // this level opened a subprogram
			inl bool // this level opened an inlined call
		}
		var stack []level
		depth := 0
		for {
			e, err := r.Next()
			if err != nil || e == nil {
				return
			}
			if e.Tag == 0 { // end of a sibling list
				if len(stack) == 0 {
					break
				}
				top := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				if top.inl {
					depth--
				}
				if top.sub {
					if cur != nil && len(cur.inl) > 0 {
						f.subs = append(f.subs, *cur)
					}
					cur = nil
					depth = 0
				}
				continue
			}
			lv := level{}
			switch e.Tag {
			case dwarf.TagSubprogram:
				if cur == nil {
					if rs, err := d.Ranges(e); err == nil && len(rs) > 0 {
						lo, hi := rs[0][0], rs[0][1]
						for _, x := range rs[1:] {
							lo, hi = min(lo, x[0]), max(hi, x[1])
						}
						cur = &subprogram{lo: lo, hi: hi}
						lv.sub = true
						depth = 0
					}
				}
			case dwarf.TagInlinedSubroutine:
				if cur != nil {
					depth++
					lv.inl = true
					name := ""
					if o, ok := e.Val(dwarf.AttrAbstractOrigin).(dwarf.Offset); ok {
						name = nameOf(o, 0)
					}
					file := ""
					if i, ok := e.Val(dwarf.AttrCallFile).(int64); ok && i >= 0 && int(i) < len(files) && files[i] != nil {
						file = files[i].Name
					}
					line, _ := e.Val(dwarf.AttrCallLine).(int64)
					if rs, err := d.Ranges(e); err == nil {
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
				if cur != nil && len(cur.inl) > 0 {
					f.subs = append(f.subs, *cur)
				}
				cur = nil
			}
		}
	}
	sort.Slice(f.subs, func(i, j int) bool { return f.subs[i].lo < f.subs[j].lo })
}
