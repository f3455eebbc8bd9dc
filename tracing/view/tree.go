// Package view turns traces into what a person reads: a span tree with
// clock skew corrected as Zipkin Lens does, self time and the critical path,
// a waterfall scaled to the terminal, per-span-name latency tables and a
// diff of two traces. Everything here is pure: no I/O but the io.Writer
// given.
package view

import (
	"sort"

	"github.com/obs-toolkit/obs/tracing"
)

// Node is one span in the tree.
type Node struct {
	Span     tracing.Span
	Children []*Node
	Parent   *Node
	Depth    int
	Self     int64 // microseconds not covered by children
	Critical bool  // on the critical path
	Skew     int64 // microseconds added to correct clock skew
}

// End is the span's end time (start when it has no duration).
func (n *Node) End() int64 { return n.Span.Timestamp + n.Span.Duration }

// Tree is a trace as a forest of spans (more than one root when parents
// are missing).
type Tree struct {
	Roots []*Node
	Nodes []*Node // depth-first order
	Start int64
	End   int64
}

// Build makes the tree: a shared server span sits under the client span
// with its id, other spans under their parent (the server half when the
// parent id names both halves). Clock skew is then corrected, and self
// time and the critical path computed.
func Build(spans []tracing.Span) *Tree {
	spans = tracing.MergeTrace(spans)
	nodes := make([]*Node, len(spans))
	byID := map[tracing.ID][]*Node{}
	for i := range spans {
		nodes[i] = &Node{Span: spans[i]}
		byID[spans[i].ID] = append(byID[spans[i].ID], nodes[i])
	}
	// pick the node children of id attach to: prefer the server side.
	pick := func(id tracing.ID, not *Node) *Node {
		var best *Node
		for _, n := range byID[id] {
			if n == not {
				continue
			}
			if best == nil || (n.Span.Kind == tracing.KindServer && best.Span.Kind != tracing.KindServer) || (n.Span.Shared && !best.Span.Shared) {
				best = n
			}
		}
		return best
	}
	t := &Tree{}
	for _, n := range nodes {
		var p *Node
		if n.Span.Shared || n.Span.Kind == tracing.KindServer {
			for _, c := range byID[n.Span.ID] {
				if c != n && c.Span.Kind == tracing.KindClient {
					p = c
					break
				}
			}
		}
		if p == nil && n.Span.ParentID != 0 {
			p = pick(n.Span.ParentID, n)
		}
		if p != nil && !ancestor(n, p) {
			n.Parent = p
			p.Children = append(p.Children, n)
		} else {
			t.Roots = append(t.Roots, n)
		}
	}
	sortNodes(t.Roots)
	var walk func(n *Node, d int)
	walk = func(n *Node, d int) {
		n.Depth = d
		sortNodes(n.Children)
		t.Nodes = append(t.Nodes, n)
		for _, c := range n.Children {
			walk(c, d+1)
		}
	}
	for _, r := range t.Roots {
		walk(r, 0)
	}
	for _, r := range t.Roots {
		correctSkew(r)
	}
	for _, n := range t.Nodes {
		if n.Span.Timestamp == 0 {
			continue
		}
		if t.Start == 0 || n.Span.Timestamp < t.Start {
			t.Start = n.Span.Timestamp
		}
		if n.End() > t.End {
			t.End = n.End()
		}
	}
	for _, n := range t.Nodes {
		n.Self = selfTime(n)
	}
	for _, r := range t.Roots {
		markCritical(r)
	}
	return t
}

// ancestor reports whether n is p or above p (a cycle in bad data).
func ancestor(n, p *Node) bool {
	for x := p; x != nil; x = x.Parent {
		if x == n {
			return true
		}
	}
	return false
}

func sortNodes(ns []*Node) {
	sort.SliceStable(ns, func(i, j int) bool {
		a, b := ns[i].Span.Timestamp, ns[j].Span.Timestamp
		if a != b {
			return a < b
		}
		return ns[i].Span.ID < ns[j].Span.ID
	})
}

// correctSkew shifts a server span and its same-service descendants when
// the server's clock puts it outside the client span that called it: the
// server is centred in the client's interval (half the client's extra time
// on each side, the network latency), as Zipkin Lens does.
func correctSkew(n *Node) {
	for _, c := range n.Children {
		if p := n.Span; p.Kind == tracing.KindClient && c.Span.Kind == tracing.KindServer &&
			p.Timestamp != 0 && c.Span.Timestamp != 0 && p.LocalServiceName() != c.Span.LocalServiceName() {
			var skew int64
			if c.Span.Duration <= p.Duration && p.Duration > 0 {
				if c.Span.Timestamp < p.Timestamp || c.End() > n.End() {
					latency := (p.Duration - c.Span.Duration) / 2
					skew = p.Timestamp + latency - c.Span.Timestamp
				}
			} else if c.Span.Timestamp < p.Timestamp {
				skew = p.Timestamp - c.Span.Timestamp
			}
			if skew != 0 {
				shift(c, c.Span.LocalServiceName(), skew)
			}
		}
		correctSkew(c)
	}
}

func shift(n *Node, service string, skew int64) {
	if n.Span.LocalServiceName() != service {
		return
	}
	if n.Span.Timestamp != 0 {
		n.Span.Timestamp += skew
	}
	n.Skew += skew
	if len(n.Span.Annotations) > 0 {
		a := make([]tracing.Annotation, len(n.Span.Annotations))
		for i, x := range n.Span.Annotations {
			a[i] = tracing.Annotation{Timestamp: x.Timestamp + skew, Value: x.Value}
		}
		n.Span.Annotations = a
	}
	for _, c := range n.Children {
		shift(c, service, skew)
	}
}

// selfTime is the span's duration not covered by any child's interval.
func selfTime(n *Node) int64 {
	d := n.Span.Duration
	if d <= 0 {
		return 0
	}
	start, end := n.Span.Timestamp, n.End()
	type iv struct{ a, b int64 }
	var ivs []iv
	for _, c := range n.Children {
		a, b := c.Span.Timestamp, c.End()
		if a == 0 || b <= a {
			continue
		}
		if a < start {
			a = start
		}
		if b > end {
			b = end
		}
		if b > a {
			ivs = append(ivs, iv{a, b})
		}
	}
	sort.Slice(ivs, func(i, j int) bool { return ivs[i].a < ivs[j].a })
	var covered, curA, curB int64
	for i, x := range ivs {
		if i == 0 || x.a > curB {
			covered += curB - curA
			curA, curB = x.a, x.b
		} else if x.b > curB {
			curB = x.b
		}
	}
	covered += curB - curA
	if s := d - covered; s > 0 {
		return s
	}
	return 0
}

// markCritical marks the critical path below n: walking back from n's end,
// the child that finished last before the current point is on the path,
// then the children that finished before that child started, and so on.
func markCritical(n *Node) {
	n.Critical = true
	kids := append([]*Node(nil), n.Children...)
	sort.SliceStable(kids, func(i, j int) bool { return kids[i].End() > kids[j].End() })
	cur := n.End()
	if n.Span.Duration == 0 {
		cur = 1<<62 - 1
	}
	for _, c := range kids {
		if c.Span.Timestamp == 0 {
			continue
		}
		if c.End() <= cur || cur == 1<<62-1 {
			markCritical(c)
			cur = c.Span.Timestamp
		}
	}
}
