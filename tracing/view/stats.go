package view

import (
	"sort"

	"github.com/obs-toolkit/obs/tracing"
)

// Stat is the latency of one service and span name over many traces.
type Stat struct {
	Service string `json:"service"`
	Name    string `json:"name"`
	Count   int    `json:"count"`
	Errors  int    `json:"errors"`
	P50     int64  `json:"p50"`
	P90     int64  `json:"p90"`
	P99     int64  `json:"p99"`
	Max     int64  `json:"max"`
	Total   int64  `json:"total"`
}

// Top groups every span with a duration by service and name and returns
// their percentiles (microseconds, nearest rank), largest total first.
func Top(traces [][]tracing.Span) []Stat {
	type key struct{ svc, name string }
	durs := map[key][]int64{}
	errs := map[key]int{}
	for _, t := range traces {
		for _, s := range tracing.MergeTrace(t) {
			if s.Duration <= 0 {
				continue
			}
			k := key{s.LocalServiceName(), s.Name}
			durs[k] = append(durs[k], s.Duration)
			if s.IsError() {
				errs[k]++
			}
		}
	}
	out := make([]Stat, 0, len(durs))
	for k, d := range durs {
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		var total int64
		for _, x := range d {
			total += x
		}
		out = append(out, Stat{Service: k.svc, Name: k.name, Count: len(d), Errors: errs[k],
			P50: rank(d, 50), P90: rank(d, 90), P99: rank(d, 99), Max: d[len(d)-1], Total: total})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Total != out[j].Total {
			return out[i].Total > out[j].Total
		}
		if out[i].Service != out[j].Service {
			return out[i].Service < out[j].Service
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// rank is the nearest-rank percentile of sorted values.
func rank(sorted []int64, p int) int64 {
	if len(sorted) == 0 {
		return 0
	}
	i := (p*len(sorted) + 99) / 100
	if i < 1 {
		i = 1
	}
	return sorted[i-1]
}

// DiffRow is one matched (or unmatched) span of two traces.
type DiffRow struct {
	Path  string `json:"path"` // service: name under its parents' service: name
	Depth int    `json:"depth"`
	A     int64  `json:"a"` // duration in trace A, -1 when absent
	B     int64  `json:"b"` // duration in trace B, -1 when absent
	Delta int64  `json:"delta"`
	ErrA  bool   `json:"errorA,omitempty"`
	ErrB  bool   `json:"errorB,omitempty"`
}

// Diff matches the spans of two trees by service, name and parent (the path
// from the root, with repeats numbered in time order) and lists durations
// side by side in A's tree order, then what only B has.
func Diff(a, b *Tree) []DiffRow {
	pa, pb := paths(a), paths(b)
	var rows []DiffRow
	seen := map[string]bool{}
	for _, p := range pa.order {
		na := pa.nodes[p]
		r := DiffRow{Path: p, Depth: na.Depth, A: na.Span.Duration, B: -1, ErrA: na.Span.IsError()}
		if nb, ok := pb.nodes[p]; ok {
			r.B = nb.Span.Duration
			r.ErrB = nb.Span.IsError()
			r.Delta = r.B - r.A
		}
		seen[p] = true
		rows = append(rows, r)
	}
	for _, p := range pb.order {
		if seen[p] {
			continue
		}
		nb := pb.nodes[p]
		rows = append(rows, DiffRow{Path: p, Depth: nb.Depth, A: -1, B: nb.Span.Duration, ErrB: nb.Span.IsError()})
	}
	return rows
}

type pathIndex struct {
	order []string
	nodes map[string]*Node
}

func paths(t *Tree) pathIndex {
	pi := pathIndex{nodes: map[string]*Node{}}
	var walk func(n *Node, prefix string)
	walk = func(n *Node, prefix string) {
		base := prefix + label(n)
		p := base
		for i := 2; ; i++ {
			if _, dup := pi.nodes[p]; !dup {
				break
			}
			p = base + "#" + itoa(i)
		}
		pi.nodes[p] = n
		pi.order = append(pi.order, p)
		for _, c := range n.Children {
			walk(c, p+" > ")
		}
	}
	for _, r := range t.Roots {
		walk(r, "")
	}
	return pi
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}
