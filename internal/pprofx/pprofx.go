// Package pprofx builds pprof profiles (github.com/google/pprof/profile)
// from symbolized stacks, and reads them back for people: top functions by
// flat and cumulative value, and folded stacks for flame-graph tools.
//
// A Builder deduplicates mappings, locations and functions as stacks are
// added; adding a stack costs one map lookup per frame. Mappings carry build
// ids, and locations carry every inlined frame, so `go tool pprof` shows the
// profile without re-symbolizing.
package pprofx

import (
	"encoding/binary"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/google/pprof/profile"

	"github.com/obs-toolkit/obs/internal/symtab"
)

// KernelMapping is the file name of the mapping kernel locations belong to.
const KernelMapping = "[kernel.kallsyms]"

// ValueType names one kind of sample value, e.g. {"cpu", "nanoseconds"}.
type ValueType struct{ Type, Unit string }

// Loc is one frame of a stack as the sampler saw it.
type Loc struct {
	PC      uint64          // run-time address
	Mapping *symtab.Mapping // nil for kernel or unknown addresses
	Addr    uint64          // link-time address in Mapping's file
	Frames  []symtab.Frame  // innermost first; nil when unsymbolized
	Kernel  bool            // a kernel address
}

// Builder accumulates samples into a profile.
type Builder struct {
	p        *profile.Profile
	maps     map[*symtab.Mapping]*profile.Mapping
	kernel   *profile.Mapping
	locs     map[locKey]*profile.Location
	funcs    map[funcKey]*profile.Function
	samples  map[string]*profile.Sample
	labels   map[string]*LabelSet
	keyBuf   []byte
	nvals    int
	unknownM *profile.Mapping
}

type locKey struct {
	m  *profile.Mapping
	pc uint64
}

type funcKey struct {
	name, file string
	start      int
}

// New starts a profile with the given sample value types; the period type
// and value say what one sample stands for (e.g. cpu nanoseconds, 1e9/99).
func New(types []ValueType, period ValueType, periodValue int64, start time.Time) *Builder {
	p := &profile.Profile{
		PeriodType: &profile.ValueType{Type: period.Type, Unit: period.Unit},
		Period:     periodValue,
		TimeNanos:  start.UnixNano(),
	}
	for _, t := range types {
		p.SampleType = append(p.SampleType, &profile.ValueType{Type: t.Type, Unit: t.Unit})
	}
	return &Builder{
		p:       p,
		maps:    map[*symtab.Mapping]*profile.Mapping{},
		locs:    map[locKey]*profile.Location{},
		funcs:   map[funcKey]*profile.Function{},
		samples: map[string]*profile.Sample{},
		labels:  map[string]*LabelSet{},
		nvals:   len(types),
	}
}

// Grow reserves room for n more distinct samples (saves rehashing when
// the caller knows roughly how many it will add).
func (b *Builder) Grow(n int) {
	if len(b.samples) == 0 && n > 0 {
		b.samples = make(map[string]*profile.Sample, n)
		b.p.Sample = make([]*profile.Sample, 0, n)
	}
}

// Comment adds a comment line to the profile (go tool pprof -comments).
func (b *Builder) Comment(s string) { b.p.Comments = append(b.p.Comments, s) }

func (b *Builder) mapping(l Loc) *profile.Mapping {
	if l.Kernel {
		if b.kernel == nil {
			b.kernel = b.newMapping(&profile.Mapping{File: KernelMapping, HasFunctions: true})
		}
		return b.kernel
	}
	if l.Mapping == nil {
		if b.unknownM == nil {
			b.unknownM = b.newMapping(&profile.Mapping{File: "[unknown]"})
		}
		return b.unknownM
	}
	if m, ok := b.maps[l.Mapping]; ok {
		return m
	}
	sm := l.Mapping
	m := &profile.Mapping{Start: sm.Start, Limit: sm.Limit, Offset: sm.Offset, File: sm.Path, BuildID: sm.BuildID}
	b.newMapping(m)
	b.maps[l.Mapping] = m
	return m
}

func (b *Builder) newMapping(m *profile.Mapping) *profile.Mapping {
	m.ID = uint64(len(b.p.Mapping) + 1)
	b.p.Mapping = append(b.p.Mapping, m)
	return m
}

func (b *Builder) function(f symtab.Frame) *profile.Function {
	k := funcKey{f.Function, f.File, f.StartLine}
	if fn, ok := b.funcs[k]; ok {
		return fn
	}
	fn := &profile.Function{ID: uint64(len(b.p.Function) + 1), Name: f.Function, SystemName: f.Function,
		Filename: f.File, StartLine: int64(f.StartLine)}
	b.p.Function = append(b.p.Function, fn)
	b.funcs[k] = fn
	return fn
}

// Location interns the location of one frame (by mapping and pc).
func (b *Builder) Location(l Loc) *profile.Location {
	m := b.mapping(l)
	k := locKey{m, l.PC}
	if loc, ok := b.locs[k]; ok {
		return loc
	}
	loc := &profile.Location{ID: uint64(len(b.p.Location) + 1), Mapping: m, Address: l.PC}
	frames := l.Frames
	if len(frames) == 0 {
		name := fmt.Sprintf("%#x", l.PC)
		if l.Mapping != nil && l.Mapping.Path != "" {
			name = fmt.Sprintf("%s+%#x", baseName(l.Mapping.Path), l.Addr)
		}
		frames = []symtab.Frame{{Function: name}}
	}
	if len(l.Frames) > 0 {
		m.HasFunctions = true
	}
	// pprof lists a location's lines outermost last, like symtab: innermost first.
	for _, f := range frames {
		m.HasFilenames = m.HasFilenames || f.File != ""
		m.HasLineNumbers = m.HasLineNumbers || f.Line != 0
		m.HasInlineFrames = m.HasInlineFrames || f.Inlined
		if f.Function == "" {
			f.Function = "?"
		}
		loc.Line = append(loc.Line, profile.Line{Function: b.function(f), Line: int64(f.Line)})
	}
	b.p.Location = append(b.p.Location, loc)
	b.locs[k] = loc
	return loc
}

func baseName(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

// Add adds values for one stack, leaf first. Stacks with equal locations
// and labels are merged. Callers adding many samples should intern their
// locations and label sets (Location, LabelSet) and use AddSample.
func (b *Builder) Add(stack []Loc, values []int64, labels map[string]string, numLabels map[string]int64) {
	locs := make([]*profile.Location, 0, len(stack))
	for _, l := range stack {
		locs = append(locs, b.Location(l))
	}
	b.AddSample(locs, values, b.LabelSet(labels, numLabels))
}

// LabelSet is an interned set of sample labels.
type LabelSet struct {
	id  uint64
	str map[string][]string
	num map[string][]int64
}

// LabelSet interns a set of labels; equal sets give the same *LabelSet.
func (b *Builder) LabelSet(str map[string]string, num map[string]int64) *LabelSet {
	if len(str) == 0 && len(num) == 0 {
		return nil
	}
	ks := make([]string, 0, len(str)+len(num))
	for k, v := range str {
		ks = append(ks, k+"="+v)
	}
	for k, v := range num {
		ks = append(ks, fmt.Sprintf("%s#%d", k, v))
	}
	sort.Strings(ks)
	key := strings.Join(ks, "\x00")
	if ls, ok := b.labels[key]; ok {
		return ls
	}
	ls := &LabelSet{id: uint64(len(b.labels) + 1)}
	for k, v := range str {
		if ls.str == nil {
			ls.str = map[string][]string{}
		}
		ls.str[k] = []string{v}
	}
	for k, v := range num {
		if ls.num == nil {
			ls.num = map[string][]int64{}
		}
		ls.num[k] = []int64{v}
	}
	b.labels[key] = ls
	return ls
}

// AddSample adds values for a stack of locations from Location, leaf
// first, with labels ls (nil for none). Equal stacks and labels merge.
func (b *Builder) AddSample(locs []*profile.Location, values []int64, ls *LabelSet) {
	if len(values) != b.nvals {
		panic(fmt.Sprintf("pprofx: %d values for %d sample types", len(values), b.nvals))
	}
	key := b.keyBuf[:0]
	if ls != nil {
		key = binary.AppendUvarint(key, ls.id)
	} else {
		key = append(key, 0)
	}
	for _, l := range locs {
		key = binary.AppendUvarint(key, l.ID)
	}
	b.keyBuf = key
	if s, ok := b.samples[string(key)]; ok {
		for i, v := range values {
			s.Value[i] += v
		}
		return
	}
	s := &profile.Sample{Location: append([]*profile.Location(nil), locs...), Value: append([]int64(nil), values...)}
	if ls != nil {
		s.Label, s.NumLabel = ls.str, ls.num
	}
	b.samples[string(key)] = s
	b.p.Sample = append(b.p.Sample, s)
}

// Profile finishes the profile. duration is the wall time it covers.
func (b *Builder) Profile(duration time.Duration) (*profile.Profile, error) {
	b.p.DurationNanos = duration.Nanoseconds()
	if err := b.p.CheckValid(); err != nil {
		return nil, fmt.Errorf("build profile: %w", err)
	}
	return b.p, nil
}

// TopEntry is one function's share of a profile.
type TopEntry struct {
	Function string  `json:"function"`
	Flat     int64   `json:"flat"`
	FlatPct  float64 `json:"flat_pct"`
	Cum      int64   `json:"cum"`
	CumPct   float64 `json:"cum_pct"`
}

// Top returns the n functions with the largest flat value of sample type
// index (all when n <= 0), and the profile's total. A function counts once
// per sample in Cum even when it recurses; inlined frames count as their own
// functions, as in `go tool pprof -top`.
func Top(p *profile.Profile, index, n int) (entries []TopEntry, total int64) {
	return TopWith(p, TopOptions{Index: index, N: n})
}

// TopOptions select and rank a top list.
type TopOptions struct {
	Index int  // sample type
	N     int  // entries (<= 0: all)
	ByCum bool // rank by cumulative value
	// UserOnly leaves kernel frames out, so the flat value goes to the
	// innermost user function (for off-CPU profiles: where user code
	// blocked, rather than the scheduler every stack ends in).
	UserOnly bool
}

// TopWith is Top with options.
func TopWith(p *profile.Profile, o TopOptions) (entries []TopEntry, total int64) {
	index, n, byCum := o.Index, o.N, o.ByCum
	type acc struct{ flat, cum int64 }
	by := map[string]*acc{}
	get := func(name string) *acc {
		a := by[name]
		if a == nil {
			a = &acc{}
			by[name] = a
		}
		return a
	}
	for _, s := range p.Sample {
		if index >= len(s.Value) {
			continue
		}
		v := s.Value[index]
		total += v
		seen := map[string]bool{}
		first := true
		for _, loc := range s.Location {
			if o.UserOnly && loc.Mapping != nil && loc.Mapping.File == KernelMapping {
				continue
			}
			for _, ln := range loc.Line {
				name := "?"
				if ln.Function != nil {
					name = ln.Function.Name
				}
				if first {
					get(name).flat += v
					first = false
				}
				if !seen[name] {
					seen[name] = true
					get(name).cum += v
				}
			}
		}
	}
	for name, a := range by {
		entries = append(entries, TopEntry{Function: name, Flat: a.flat, Cum: a.cum})
	}
	for i := range entries {
		if total != 0 {
			entries[i].FlatPct = 100 * float64(entries[i].Flat) / float64(total)
			entries[i].CumPct = 100 * float64(entries[i].Cum) / float64(total)
		}
	}
	sort.Slice(entries, func(i, j int) bool {
		a, b := entries[i], entries[j]
		if byCum && a.Cum != b.Cum {
			return a.Cum > b.Cum
		}
		if a.Flat != b.Flat {
			return a.Flat > b.Flat
		}
		if a.Cum != b.Cum {
			return a.Cum > b.Cum
		}
		return a.Function < b.Function
	})
	if n > 0 && len(entries) > n {
		entries = entries[:n]
	}
	return entries, total
}

// WriteFolded writes the profile as folded stacks ("root;...;leaf value"
// per line, the format of Brendan Gregg's flamegraph.pl and speedscope),
// for sample type index. Lines are sorted so the output is stable.
func WriteFolded(w io.Writer, p *profile.Profile, index int) error {
	sums := map[string]int64{}
	var names []string
	for _, s := range p.Sample {
		if index >= len(s.Value) || s.Value[index] == 0 {
			continue
		}
		names = names[:0]
		for i := len(s.Location) - 1; i >= 0; i-- {
			loc := s.Location[i]
			for j := len(loc.Line) - 1; j >= 0; j-- {
				name := "?"
				if f := loc.Line[j].Function; f != nil {
					name = f.Name
				}
				names = append(names, strings.ReplaceAll(name, ";", ":"))
			}
		}
		sums[strings.Join(names, ";")] += s.Value[index]
	}
	keys := make([]string, 0, len(sums))
	for k := range sums {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if _, err := fmt.Fprintf(w, "%s %d\n", k, sums[k]); err != nil {
			return err
		}
	}
	return nil
}
