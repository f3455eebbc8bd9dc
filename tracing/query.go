package tracing

import (
	"sort"
	"strings"
)

// Query is a /api/v2/traces request. Durations are microseconds, EndTs and
// Lookback milliseconds, as in Zipkin's API; zero means "not given".
type Query struct {
	ServiceName       string
	RemoteServiceName string
	SpanName          string
	AnnotationQuery   map[string]string // key -> value; "" matches any value or an annotation
	MinDuration       int64
	MaxDuration       int64
	EndTs             int64
	Lookback          int64
	Limit             int
}

// ParseAnnotationQuery reads Zipkin's annotationQuery syntax: terms joined by
// " and ", each either a key (an annotation value or a tag key) or key=value
// (a tag).
func ParseAnnotationQuery(s string) map[string]string {
	m := map[string]string{}
	for _, term := range strings.Split(s, " and ") {
		term = strings.TrimSpace(term)
		if term == "" {
			continue
		}
		if i := strings.IndexByte(term, '='); i >= 0 {
			k := strings.TrimSpace(term[:i])
			if k == "" {
				continue
			}
			m[k] = strings.TrimSpace(term[i+1:])
			continue
		}
		m[term] = ""
	}
	return m
}

// FormatAnnotationQuery writes the map back in Zipkin's syntax, keys sorted.
func FormatAnnotationQuery(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(" and ")
		}
		b.WriteString(k)
		if v := m[k]; v != "" {
			b.WriteString("=" + v)
		}
	}
	return b.String()
}

// TraceTimestamp is the time Zipkin files a trace under: the root span's
// timestamp, else the earliest one (microseconds; 0 when none has one).
func TraceTimestamp(spans []Span) int64 {
	var ts int64
	for i := range spans {
		s := &spans[i]
		if s.Timestamp == 0 {
			continue
		}
		if s.ParentID == 0 {
			return s.Timestamp
		}
		if ts == 0 || s.Timestamp < ts {
			ts = s.Timestamp
		}
	}
	return ts
}

// Test reports whether a trace matches the query the way Zipkin's storage
// does: the trace's time inside the window, and each condition met by some
// span of the named service (different conditions may be met by different
// spans).
func (q *Query) Test(spans []Span) bool {
	ts := TraceTimestamp(spans)
	if q.EndTs > 0 {
		if ts == 0 || ts > q.EndTs*1000 || (q.Lookback > 0 && ts < (q.EndTs-q.Lookback)*1000) {
			return false
		}
	}
	found := q.ServiceName == ""
	name := q.SpanName
	remote := q.RemoteServiceName
	remaining := len(q.AnnotationQuery)
	var matched map[string]bool
	if remaining > 0 {
		matched = make(map[string]bool, remaining)
	}
	durOK := q.MinDuration == 0 && q.MaxDuration == 0
	for i := range spans {
		s := &spans[i]
		if q.ServiceName != "" && s.LocalServiceName() != q.ServiceName {
			continue
		}
		found = true
		if name != "" && s.Name == name {
			name = ""
		}
		if remote != "" && s.RemoteServiceName() == remote {
			remote = ""
		}
		if remaining > 0 {
			for _, a := range s.Annotations {
				if v, ok := q.AnnotationQuery[a.Value]; ok && v == "" && !matched[a.Value] {
					matched[a.Value] = true
					remaining--
				}
			}
			for k, tv := range s.Tags {
				if v, ok := q.AnnotationQuery[k]; ok && !matched[k] && (v == "" || v == tv) {
					matched[k] = true
					remaining--
				}
			}
		}
		if !durOK {
			d := s.Duration
			durOK = d >= q.MinDuration && (q.MaxDuration == 0 || d <= q.MaxDuration)
		}
	}
	return found && name == "" && remote == "" && remaining == 0 && durOK
}

// MergeTrace combines fragments of the same span reported separately (a
// late annotation, a span finished in two reports) into one, as Zipkin does
// when it reads a trace: fragments share id, shared flag and local service.
// A client span and the shared server span with the same id stay two spans.
// The result is sorted: roots first, then by timestamp.
func MergeTrace(spans []Span) []Span {
	type key struct {
		id      ID
		shared  bool
		service string
	}
	idx := make(map[key]int, len(spans))
	out := make([]Span, 0, len(spans))
	for _, s := range spans {
		k := key{s.ID, s.Shared, s.LocalServiceName()}
		i, ok := idx[k]
		if !ok {
			idx[k] = len(out)
			out = append(out, s)
			continue
		}
		m := &out[i]
		if m.Kind != KindUnspecified && s.Kind != KindUnspecified && m.Kind != s.Kind {
			// A different role with the same id: keep apart.
			out = append(out, s)
			continue
		}
		mergeInto(m, &s)
	}
	// A trace holding the 128-bit and the 64-bit form of one id uses the
	// 128-bit one throughout.
	var high uint64
	for i := range out {
		if out[i].TraceID.High != 0 {
			high = out[i].TraceID.High
			break
		}
	}
	if high != 0 {
		for i := range out {
			if out[i].TraceID.High == 0 {
				out[i].TraceID.High = high
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := &out[i], &out[j]
		if (a.ParentID == 0) != (b.ParentID == 0) {
			return a.ParentID == 0
		}
		if a.Timestamp != b.Timestamp {
			if a.Timestamp == 0 || b.Timestamp == 0 {
				return b.Timestamp == 0
			}
			return a.Timestamp < b.Timestamp
		}
		if a.ID != b.ID {
			return a.ID < b.ID
		}
		return !a.Shared && b.Shared
	})
	return out
}

func mergeInto(m, s *Span) {
	if m.ParentID == 0 {
		m.ParentID = s.ParentID
	}
	if m.Kind == KindUnspecified {
		m.Kind = s.Kind
	}
	if m.Name == "" || m.Name == "unknown" {
		m.Name = s.Name
	}
	if m.Timestamp == 0 || (s.Timestamp != 0 && s.Timestamp < m.Timestamp) {
		m.Timestamp = s.Timestamp
	}
	if s.Duration > m.Duration {
		m.Duration = s.Duration
	}
	if m.LocalEndpoint.IsEmpty() {
		m.LocalEndpoint = s.LocalEndpoint
	}
	if m.RemoteEndpoint.IsEmpty() {
		m.RemoteEndpoint = s.RemoteEndpoint
	}
	if len(s.Annotations) > 0 {
		m.Annotations = append(append([]Annotation(nil), m.Annotations...), s.Annotations...)
		_ = Normalize(m)
	}
	if len(s.Tags) > 0 {
		t := make(map[string]string, len(m.Tags)+len(s.Tags))
		for k, v := range m.Tags {
			t[k] = v
		}
		for k, v := range s.Tags {
			t[k] = v
		}
		m.Tags = t
	}
	m.Debug = m.Debug || s.Debug
}

// DependencyLink is one edge of the service graph, as /api/v2/dependencies
// returns it.
type DependencyLink struct {
	Parent     string `json:"parent"`
	Child      string `json:"child"`
	CallCount  int64  `json:"callCount"`
	ErrorCount int64  `json:"errorCount,omitempty"`
}

// Linker accumulates dependency links over traces, as Zipkin's
// DependencyLinker: a server or consumer span links its caller (remote
// service, else the nearest ancestor's service) to itself; a client or
// producer span with no instrumented server below links to its remote
// service (an uninstrumented peer such as a database). An error on either
// side counts against the link.
type Linker struct {
	links map[[2]string]*DependencyLink
}

// NewLinker returns an empty linker.
func NewLinker() *Linker { return &Linker{links: map[[2]string]*DependencyLink{}} }

func (l *Linker) add(parent, child string, isErr bool) {
	if parent == "" || child == "" {
		return
	}
	k := [2]string{parent, child}
	d := l.links[k]
	if d == nil {
		d = &DependencyLink{Parent: parent, Child: child}
		l.links[k] = d
	}
	d.CallCount++
	if isErr {
		d.ErrorCount++
	}
}

// Add links one trace (merged or not).
func (l *Linker) Add(trace []Span) {
	spans := MergeTrace(trace)
	byID := map[ID][]int{}
	for i := range spans {
		byID[spans[i].ID] = append(byID[spans[i].ID], i)
	}
	// client looks up the client span with the given id, if any.
	client := func(id ID) *Span {
		for _, i := range byID[id] {
			if k := spans[i].Kind; k == KindClient || k == KindProducer {
				return &spans[i]
			}
		}
		return nil
	}
	served := map[ID]bool{} // client span ids that have an instrumented server
	for i := range spans {
		s := &spans[i]
		if s.Kind != KindServer && s.Kind != KindConsumer {
			continue
		}
		child := s.LocalServiceName()
		parent := s.RemoteServiceName()
		isErr := s.IsError()
		// The calling side: the client half with the same id (a shared
		// span), else a client parent.
		c := client(s.ID)
		if c == nil && s.ParentID != 0 {
			c = client(s.ParentID)
		}
		if c != nil {
			if parent == "" {
				parent = c.LocalServiceName()
			}
			// The client's call is this link unless the server names
			// another caller (a consumer names its broker, which the
			// producer's own link reaches).
			if parent == c.LocalServiceName() {
				served[c.ID] = true
				isErr = isErr || c.IsError()
			}
		}
		if parent == "" {
			// The nearest ancestor that names a service.
			seen := map[ID]bool{}
			for p := s.ParentID; p != 0 && !seen[p]; {
				seen[p] = true
				is := byID[p]
				if len(is) == 0 {
					break
				}
				a := &spans[is[0]]
				if n := a.LocalServiceName(); n != "" {
					parent = n
					break
				}
				p = a.ParentID
			}
		}
		l.add(parent, child, isErr)
	}
	for i := range spans {
		s := &spans[i]
		if (s.Kind == KindClient || s.Kind == KindProducer) && !served[s.ID] {
			l.add(s.LocalServiceName(), s.RemoteServiceName(), s.IsError())
		}
	}
}

// Links returns the accumulated links sorted by parent then child.
func (l *Linker) Links() []DependencyLink {
	out := make([]DependencyLink, 0, len(l.links))
	for _, d := range l.links {
		out = append(out, *d)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Parent != out[j].Parent {
			return out[i].Parent < out[j].Parent
		}
		return out[i].Child < out[j].Child
	})
	return out
}
