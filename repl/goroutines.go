package repl

import (
	"bytes"
	"sort"
	"strconv"
	"strings"
)

// Goroutine is one goroutine of a runtime.Stack(all) dump.
type Goroutine struct {
	ID        int64
	State     string // "running", "chan receive", ...
	Wait      string // "2 minutes" when the runtime says how long, else ""
	Locked    bool   // "locked to thread"
	Frames    []StackFrame
	CreatedBy StackFrame // zero for the main goroutine
	Raw       string     // the goroutine's block of the dump
}

// StackFrame is one function of a stack, its arguments dropped.
type StackFrame struct {
	Func string
	File string
	Line int
}

// Location is "file:line", or "" when unknown.
func (f StackFrame) Location() string {
	if f.File == "" {
		return ""
	}
	return f.File + ":" + strconv.Itoa(f.Line)
}

// ParseGoroutines reads the text runtime.Stack(buf, true) writes (the same
// as a SIGQUIT dump's goroutine part). Unrecognised lines are skipped; it
// never fails.
func ParseGoroutines(dump []byte) []Goroutine {
	var out []Goroutine
	for _, block := range bytes.Split(dump, []byte("\n\n")) {
		block = bytes.Trim(block, "\n")
		lines := strings.Split(string(block), "\n")
		if len(lines) == 0 {
			continue
		}
		g, ok := parseGoroutineHeader(lines[0])
		if !ok {
			continue
		}
		g.Raw = string(block)
		rest := lines[1:]
		for i := 0; i < len(rest); i++ {
			l := rest[i]
			if strings.HasPrefix(l, "\t") || l == "" {
				continue
			}
			f := StackFrame{}
			created := false
			if s, ok := strings.CutPrefix(l, "created by "); ok {
				created = true
				if j := strings.Index(s, " in goroutine "); j >= 0 {
					s = s[:j]
				}
				f.Func = s
			} else {
				f.Func = funcName(l)
			}
			if i+1 < len(rest) && strings.HasPrefix(rest[i+1], "\t") {
				f.File, f.Line = fileLine(strings.TrimPrefix(rest[i+1], "\t"))
				i++
			}
			if created {
				g.CreatedBy = f
			} else {
				g.Frames = append(g.Frames, f)
			}
		}
		out = append(out, g)
	}
	return out
}

// parseGoroutineHeader reads "goroutine 18 [chan receive, 2 minutes, locked to thread]:".
func parseGoroutineHeader(l string) (Goroutine, bool) {
	var g Goroutine
	s, ok := strings.CutPrefix(l, "goroutine ")
	if !ok {
		return g, false
	}
	sp := strings.IndexByte(s, ' ')
	if sp <= 0 {
		return g, false
	}
	id, err := strconv.ParseInt(s[:sp], 10, 64)
	if err != nil {
		return g, false
	}
	g.ID = id
	s = s[sp+1:]
	// With GOTRACEBACK=system the runtime adds "gp=0x... m=..." first.
	start := strings.IndexByte(s, '[')
	end := strings.LastIndex(s, "]")
	if start < 0 || end < start {
		return g, false
	}
	parts := strings.Split(s[start+1:end], ", ")
	g.State = parts[0]
	for _, p := range parts[1:] {
		switch {
		case p == "locked to thread":
			g.Locked = true
		case strings.HasSuffix(p, "minutes") || strings.HasSuffix(p, "minute"):
			g.Wait = p
		}
	}
	return g, true
}

// funcName drops the argument list: "main.f(0x1, ...)" -> "main.f". A
// method on a pointer receiver keeps its parentheses: "pkg.(*T).m(...)".
func funcName(l string) string {
	if strings.HasSuffix(l, ")") {
		depth := 0
		for i := len(l) - 1; i >= 0; i-- {
			switch l[i] {
			case ')':
				depth++
			case '(':
				depth--
				if depth == 0 {
					return l[:i]
				}
			}
		}
	}
	return l
}

// fileLine reads "/path/file.go:12 +0x1d".
func fileLine(s string) (string, int) {
	if i := strings.LastIndex(s, " +0x"); i >= 0 {
		s = s[:i]
	}
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return s, 0
	}
	n, err := strconv.Atoi(s[i+1:])
	if err != nil {
		return s, 0
	}
	return s[:i], n
}

// Bucket is a set of goroutines with identical stacks (same functions at
// the same lines, created at the same place).
type Bucket struct {
	Frames    []StackFrame
	CreatedBy StackFrame
	IDs       []int64
	States    map[string]int
}

// StateSummary is "chan receive" or "chan receive ×3, select ×2".
func (b Bucket) StateSummary() string {
	if len(b.States) == 1 {
		for s := range b.States {
			return s
		}
	}
	keys := make([]string, 0, len(b.States))
	for s := range b.States {
		keys = append(keys, s)
	}
	sort.Slice(keys, func(i, j int) bool {
		if b.States[keys[i]] != b.States[keys[j]] {
			return b.States[keys[i]] > b.States[keys[j]]
		}
		return keys[i] < keys[j]
	})
	for i, k := range keys {
		keys[i] = k + " ×" + strconv.Itoa(b.States[k])
	}
	return strings.Join(keys, ", ")
}

// BucketGoroutines groups goroutines by identical stack, largest bucket
// first (ties by lowest goroutine id).
func BucketGoroutines(gs []Goroutine) []Bucket {
	idx := map[string]int{}
	var out []Bucket
	for _, g := range gs {
		var k strings.Builder
		for _, f := range g.Frames {
			k.WriteString(f.Func)
			k.WriteByte('@')
			k.WriteString(f.Location())
			k.WriteByte('\n')
		}
		k.WriteString("created by ")
		k.WriteString(g.CreatedBy.Func)
		k.WriteByte('@')
		k.WriteString(g.CreatedBy.Location())
		key := k.String()
		i, ok := idx[key]
		if !ok {
			i = len(out)
			idx[key] = i
			out = append(out, Bucket{Frames: g.Frames, CreatedBy: g.CreatedBy, States: map[string]int{}})
		}
		out[i].IDs = append(out[i].IDs, g.ID)
		out[i].States[g.State]++
	}
	for i := range out {
		sort.Slice(out[i].IDs, func(a, b int) bool { return out[i].IDs[a] < out[i].IDs[b] })
	}
	sort.SliceStable(out, func(i, j int) bool {
		if len(out[i].IDs) != len(out[j].IDs) {
			return len(out[i].IDs) > len(out[j].IDs)
		}
		return out[i].IDs[0] < out[j].IDs[0]
	})
	return out
}
