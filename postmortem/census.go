package postmortem

import (
	"debug/dwarf"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/go-delve/delve/pkg/dwarf/godwarf"
	"github.com/go-delve/delve/pkg/proc"
)

// TypeCount is one line of the census.
type TypeCount struct {
	Type    string `json:"type"`
	Objects int64  `json:"objects"`
	Bytes   int64  `json:"bytes"` // size-class bytes the objects occupy
	// Source says how the type was learnt: "header" (malloc header),
	// "span" (large-object span), "dwarf" (followed from a typed global or
	// typed object by its DWARF type).
	Source string `json:"source"`
}

// Census counts the allocated heap objects by type.
type Census struct {
	Objects        int64       `json:"objects"`
	Bytes          int64       `json:"bytes"`
	TypedObjects   int64       `json:"typed_objects"`
	TypedBytes     int64       `json:"typed_bytes"`
	UntypedObjects int64       `json:"untyped_objects"`
	UntypedBytes   int64       `json:"untyped_bytes"`
	Types          []TypeCount `json:"types"`
	// Untyped splits what stays untyped by size class, so the share is
	// visible rather than hidden.
	Untyped []TypeCount `json:"untyped"`
}

type typedObj struct {
	name   string
	source string
}

// typeTable records a type per heap object, in per-span arrays (a map
// of millions of objects would cost more than the heap walk itself).
// The top bit of an entry says the object's contents were followed.
type typeTable struct {
	h     *heap
	names []typedObj
	idx   map[typedObj]uint32
	arr   map[*span][]uint32
}

const walkedBit = 1 << 31

func newTypeTable(h *heap) *typeTable {
	return &typeTable{h: h, names: []typedObj{{}}, idx: map[typedObj]uint32{}, arr: map[*span][]uint32{}}
}

func (t *typeTable) slot(base uint64) *uint32 {
	_, s, i, ok := t.h.object(base)
	if !ok {
		return nil
	}
	a := t.arr[s]
	if a == nil {
		a = make([]uint32, s.nelems)
		t.arr[s] = a
	}
	return &a[i]
}

func (t *typeTable) get(base uint64) (typedObj, bool) {
	p := t.slot(base)
	if p == nil || *p&^walkedBit == 0 {
		return typedObj{}, false
	}
	return t.names[*p&^walkedBit], true
}

// set types the object if it has no type yet.
func (t *typeTable) set(base uint64, o typedObj) {
	p := t.slot(base)
	if p == nil || *p&^walkedBit != 0 {
		return
	}
	id, ok := t.idx[o]
	if !ok {
		id = uint32(len(t.names))
		t.names = append(t.names, o)
		t.idx[o] = id
	}
	*p |= id
}

// once reports whether the object's contents are still to be followed,
// and marks them followed.
func (t *typeTable) once(base uint64) bool {
	p := t.slot(base)
	if p == nil || *p&walkedBit != 0 {
		return false
	}
	*p |= walkedBit
	return true
}

// Census walks every in-use span's allocated objects. Objects above
// 512 bytes carry their type in a malloc header and large objects in
// their span (Go 1.22+); smaller ones get a type when a typed global or a
// typed object points at them (followed by DWARF types); the rest are
// counted as untyped, by size class.
func (c *Core) Census() (_ *Census, err error) {
	defer guard(&err, "census")
	h, err := c.loadHeap()
	if err != nil {
		return nil, err
	}
	types := newTypeTable(h)
	type pending struct {
		base uint64
		t    godwarf.Type
	}
	var queue []pending
	bi := c.target.BinInfo()
	dwCache := map[string]godwarf.Type{}
	findType := func(name string) godwarf.Type {
		if t, ok := dwCache[name]; ok {
			return t
		}
		t, err := bi.FindType(name)
		if err != nil {
			t = nil
		}
		dwCache[name] = t
		return t
	}
	var objects []uint64
	for _, s := range h.spans {
		for i := uint64(0); i < s.nelems; i++ {
			if !h.allocated(s, i) {
				continue
			}
			base := s.base + i*s.elemsize
			objects = append(objects, base)
			var typ uint64
			src := ""
			switch {
			case s.noscan():
			case s.sizeclass() == 0:
				typ, src = s.largeType, "span"
			case s.hasHeader():
				typ, src = c.u64(base), "header"
			}
			if typ == 0 {
				continue
			}
			name := h.typeName(typ)
			if name == "" {
				continue
			}
			data, room := base, s.elemsize
			if src == "header" {
				data, room = base+8, s.elemsize-8
			}
			tsize := c.u64(typ + uint64(h.tSize))
			n := uint64(1)
			if tsize > 0 && room/tsize > 1 {
				n = room / tsize
			}
			label := name
			if n > 1 && (src == "span" || room >= 2*tsize) {
				label = "[]" + name + " (backing array)"
			}
			types.set(base, typedObj{label, src})
			if t := findType(name); t != nil && hasPointers(t) {
				for k := uint64(0); k < n && k < 1<<20; k++ {
					queue = append(queue, pending{data + k*tsize, t})
				}
			}
		}
	}
	// Follow typed globals and typed objects.
	w := &typeWalker{c: c, h: h, types: types, findType: findType}
	for _, g := range c.typedGlobals() {
		w.walk(g.addr, g.t, 0)
		w.drain()
	}
	for _, p := range queue {
		w.walk(p.base, p.t, 0)
		w.drain()
	}
	cen := &Census{}
	byType := map[string]*TypeCount{}
	untyped := map[[2]int64]*TypeCount{}
	for _, base := range objects {
		_, s, _, _ := h.object(base)
		size := int64(s.elemsize)
		cen.Objects++
		cen.Bytes += size
		if t, ok := types.get(base); ok {
			cen.TypedObjects++
			cen.TypedBytes += size
			tc := byType[t.name]
			if tc == nil {
				tc = &TypeCount{Type: t.name, Source: t.source}
				byType[t.name] = tc
			}
			tc.Objects++
			tc.Bytes += size
			continue
		}
		cen.UntypedObjects++
		cen.UntypedBytes += size
		key := [2]int64{size, 0}
		if s.noscan() {
			key[1] = 1
		}
		u := untyped[key]
		if u == nil {
			kind := "untyped"
			if s.noscan() {
				kind = "untyped, no pointers"
			}
			u = &TypeCount{Type: kind, Source: sizeLabel(size)}
			untyped[key] = u
		}
		u.Objects++
		u.Bytes += size
	}
	for _, t := range byType {
		cen.Types = append(cen.Types, *t)
	}
	for _, u := range untyped {
		cen.Untyped = append(cen.Untyped, *u)
	}
	sortCounts(cen.Types)
	sortCounts(cen.Untyped)
	return cen, nil
}

func sizeLabel(n int64) string { return "size class " + strconv.FormatInt(n, 10) }

func sortCounts(ts []TypeCount) {
	sort.Slice(ts, func(i, j int) bool {
		if ts[i].Bytes != ts[j].Bytes {
			return ts[i].Bytes > ts[j].Bytes
		}
		return ts[i].Type < ts[j].Type
	})
}

type typedGlobal struct {
	name string
	addr uint64
	t    godwarf.Type
}

// typedGlobals lists package variables with their DWARF types and
// addresses (DW_OP_addr locations).
func (c *Core) typedGlobals() []typedGlobal {
	d, err := c.Exe.DWARF()
	if err != nil {
		return nil
	}
	cache := map[dwarf.Offset]godwarf.Type{}
	var out []typedGlobal
	r := d.Reader()
	for {
		e, err := r.Next()
		if err != nil || e == nil {
			break
		}
		if e.Tag == dwarf.TagCompileUnit {
			continue
		}
		if e.Tag != dwarf.TagVariable {
			if e.Children {
				r.SkipChildren()
			}
			continue
		}
		loc, _ := e.Val(dwarf.AttrLocation).([]byte)
		toff, ok := e.Val(dwarf.AttrType).(dwarf.Offset)
		if len(loc) != 9 || loc[0] != 0x03 || !ok { // DW_OP_addr
			continue
		}
		name, _ := e.Val(dwarf.AttrName).(string)
		if strings.HasPrefix(name, "runtime.") {
			continue // the runtime's own bookkeeping is not the program's data
		}
		t, err := godwarf.ReadType(d, 0, toff, cache)
		if err != nil {
			continue
		}
		out = append(out, typedGlobal{name, le64(loc[1:]) + c.Bias, t})
	}
	return out
}

type typeWalker struct {
	c        *Core
	h        *heap
	types    *typeTable
	findType func(string) godwarf.Type
	steps    int
	queue    []pendingWalk
	maps     int
	scope    *proc.EvalScope
}

// pendingWalk is an object whose contents are to be followed as type t.
type pendingWalk struct {
	addr uint64
	t    godwarf.Type
	n    uint64 // elements (slices' backing arrays), 1 otherwise
	size uint64
}

// drain follows queued objects until none are left (iteratively, so that
// long linked lists do not recurse).
func (w *typeWalker) drain() {
	for len(w.queue) > 0 && w.steps <= 200_000_000 {
		p := w.queue[len(w.queue)-1]
		w.queue = w.queue[:len(w.queue)-1]
		for i := uint64(0); i < p.n; i++ {
			w.walk(p.addr+i*p.size, p.t, 0)
		}
	}
}

// walk follows the value of type t at addr, typing the heap objects it
// points to (only pointers to an object's start, of a type that fits).
func (w *typeWalker) walk(addr uint64, t godwarf.Type, depth int) {
	if depth > 64 || w.steps > 200_000_000 {
		return
	}
	w.steps++
	switch t := t.(type) {
	case *godwarf.TypedefType:
		w.walk(addr, t.Type, depth)
	case *godwarf.PtrType:
		w.pointee(w.c.u64(addr), t.Type, depth)
	case *godwarf.StructType:
		for _, f := range t.Field {
			w.walk(addr+uint64(f.ByteOffset), f.Type, depth+1)
		}
	case *godwarf.ArrayType:
		stride := t.StrideBitSize / 8
		if stride == 0 {
			stride = t.Type.Size()
		}
		if stride <= 0 || !hasPointers(t.Type) {
			return
		}
		for i := int64(0); i < t.Count && i < 1<<20; i++ {
			w.walk(addr+uint64(i*stride), t.Type, depth+1)
		}
	case *godwarf.SliceType:
		p, capacity := w.c.u64(addr), w.c.u64(addr+16)
		base, room, ok := w.start(p)
		if !ok || capacity == 0 {
			return
		}
		es := t.ElemType.Size()
		if es <= 0 || uint64(es)*capacity > room {
			return
		}
		w.types.set(base, typedObj{"[]" + typeName(t.ElemType) + " (backing array)", "dwarf"})
		if hasPointers(t.ElemType) && w.types.once(base) {
			w.queue = append(w.queue, pendingWalk{p, t.ElemType, capacity, uint64(es)})
		}
	case *godwarf.StringType:
		p := w.c.u64(addr)
		if base, _, ok := w.start(p); ok {
			w.types.set(base, typedObj{"string (bytes)", "dwarf"})
		}
	case *godwarf.InterfaceType:
		tw, data := w.c.u64(addr), w.c.u64(addr+8)
		if tw == 0 || data == 0 {
			return
		}
		if t.Common().Name != "interface {}" && !strings.HasSuffix(t.Common().Name, "any") {
			tw = w.c.u64(tw + 8) // itab._type
		}
		name := w.h.typeName(tw)
		if name == "" {
			return
		}
		// Pointer-shaped dynamic types are stored directly in data.
		dt := w.findType(name)
		if pt, ok := resolveTypedef(dt).(*godwarf.PtrType); ok {
			w.pointee(data, pt.Type, depth)
		} else if dt != nil {
			w.pointee(data, dt, depth)
		}
	case *godwarf.ChanType:
		w.walk(addr, t.TypedefType.Type, depth)
	case *godwarf.MapType:
		w.mapEntries(addr, t)
	}
}

// mapEntries follows a map's keys and values: delve walks the map's
// internal layout (swiss tables on Go 1.24+) and gives each slot's
// address, which the walker then follows by the key and value types. The
// map's own tables stay untyped.
func (w *typeWalker) mapEntries(addr uint64, t *godwarf.MapType) {
	if w.c.u64(addr) == 0 || w.maps >= 10000 {
		return
	}
	if !hasPointers(t.KeyType) && !hasPointers(t.ElemType) {
		return
	}
	if base, _, ok := w.start(w.c.u64(addr)); ok {
		if !w.types.once(base) {
			return // this map was followed already
		}
	}
	w.maps++
	if w.scope == nil {
		sc, err := proc.ThreadScope(w.c.target, w.c.target.CurrentThread())
		if err != nil {
			return
		}
		w.scope = sc
	}
	v, err := w.scope.EvalExpression(fmt.Sprintf("*(*%s)(%#x)", typeName(t), addr), mapLoad)
	if err != nil || v.Unreadable != nil {
		return
	}
	for i := 0; i+1 < len(v.Children); i += 2 {
		k, e := &v.Children[i], &v.Children[i+1]
		if k.Addr != 0 && hasPointers(t.KeyType) {
			w.walk(k.Addr, t.KeyType, 1)
		}
		if e.Addr != 0 && hasPointers(t.ElemType) {
			w.walk(e.Addr, t.ElemType, 1)
		}
	}
}

var mapLoad = proc.LoadConfig{MaxArrayValues: 1 << 16, MaxStructFields: 0, MaxStringLen: 0}

func (w *typeWalker) pointee(p uint64, t godwarf.Type, depth int) {
	if p == 0 || t == nil {
		return
	}
	base, room, ok := w.start(p)
	if !ok {
		return
	}
	size := t.Size()
	if size <= 0 || uint64(size) > room {
		return
	}
	w.types.set(base, typedObj{typeName(t), "dwarf"})
	if hasPointers(t) && w.types.once(base) {
		w.queue = append(w.queue, pendingWalk{p, t, 1, 0})
	}
}

// start resolves p to the object it starts (just after a malloc header
// when there is one) and the bytes of room the object has from p.
func (w *typeWalker) start(p uint64) (base, room uint64, ok bool) {
	base, s, _, ok := w.h.object(p)
	if !ok {
		return 0, 0, false
	}
	data, room := base, s.elemsize
	if s.hasHeader() {
		data, room = base+8, s.elemsize-8
	}
	if p != data {
		return 0, 0, false
	}
	return base, room, true
}

func typeName(t godwarf.Type) string {
	if n := t.Common().Name; n != "" {
		return n
	}
	return t.String()
}

// hasPointers reports whether values of t can hold pointers worth
// following (a cheap structural check).
func hasPointers(t godwarf.Type) bool {
	switch t := t.(type) {
	case *godwarf.TypedefType:
		return hasPointers(t.Type)
	case *godwarf.IntType, *godwarf.UintType, *godwarf.FloatType, *godwarf.BoolType, *godwarf.ComplexType, *godwarf.CharType, *godwarf.UcharType:
		return false
	case *godwarf.ArrayType:
		return hasPointers(t.Type)
	case *godwarf.StructType:
		for _, f := range t.Field {
			if hasPointers(f.Type) {
				return true
			}
		}
		return false
	}
	return true
}
