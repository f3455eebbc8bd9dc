// Package tracing holds obs's Zipkin span model and its codecs: JSON v2 as
// Zipkin returns it, proto3 (application/x-protobuf), v1 JSON and v1 thrift,
// together with Zipkin's validation and normalisation rules. The store, the
// /api/v2 server, the client and the terminal views live in sub-packages.
package tracing

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
)

// TraceID is a 64- or 128-bit trace id. High is zero for a 64-bit id.
type TraceID struct{ High, Low uint64 }

// IsZero reports whether the id is unset.
func (t TraceID) IsZero() bool { return t.High == 0 && t.Low == 0 }

// String is the id in lower hex: 16 digits for 64-bit ids, 32 for 128-bit.
func (t TraceID) String() string {
	if t.High == 0 {
		return hex16(t.Low)
	}
	return hex16(t.High) + hex16(t.Low)
}

// ID is a span id; zero means absent (parent ids only).
type ID uint64

// String is the id as 16 lower-hex digits.
func (i ID) String() string { return hex16(uint64(i)) }

const hexDigits = "0123456789abcdef"

func hex16(v uint64) string {
	var b [16]byte
	for i := 15; i >= 0; i-- {
		b[i] = hexDigits[v&0xf]
		v >>= 4
	}
	return string(b[:])
}

func appendHex16(dst []byte, v uint64) []byte {
	var b [16]byte
	for i := 15; i >= 0; i-- {
		b[i] = hexDigits[v&0xf]
		v >>= 4
	}
	return append(dst, b[:]...)
}

// Kind is the span's role in an RPC or messaging exchange.
type Kind uint8

// Span kinds, numbered as in zipkin.proto.
const (
	KindUnspecified Kind = iota
	KindClient
	KindServer
	KindProducer
	KindConsumer
)

var kindNames = [...]string{"", "CLIENT", "SERVER", "PRODUCER", "CONSUMER"}

// String is the Zipkin name of the kind ("" when unspecified).
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return ""
}

// ParseKind reads a Zipkin kind name (case-insensitive).
func ParseKind(s string) (Kind, error) {
	for i, n := range kindNames {
		if i > 0 && strings.EqualFold(n, s) {
			return Kind(i), nil
		}
	}
	return 0, invalidf("unknown span kind %q", clip(s))
}

// Endpoint is a network endpoint of a span: the service that recorded it
// (local) or its peer (remote).
type Endpoint struct {
	ServiceName string
	IPv4        netip.Addr // invalid when absent
	IPv6        netip.Addr // invalid when absent
	Port        int        // 0 when absent
}

// IsEmpty reports whether no field is set.
func (e *Endpoint) IsEmpty() bool {
	return e == nil || (e.ServiceName == "" && !e.IPv4.IsValid() && !e.IPv6.IsValid() && e.Port == 0)
}

// Annotation is a timestamped event within a span.
type Annotation struct {
	Timestamp int64 // epoch microseconds
	Value     string
}

// Span is one Zipkin v2 span. Times are epoch microseconds; zero means
// absent.
type Span struct {
	TraceID        TraceID
	ParentID       ID
	ID             ID
	Kind           Kind
	Name           string
	Timestamp      int64
	Duration       int64
	LocalEndpoint  *Endpoint
	RemoteEndpoint *Endpoint
	Annotations    []Annotation
	Tags           map[string]string
	Debug          bool
	Shared         bool
}

// LocalServiceName is the local endpoint's service name, or "".
func (s *Span) LocalServiceName() string {
	if s.LocalEndpoint == nil {
		return ""
	}
	return s.LocalEndpoint.ServiceName
}

// RemoteServiceName is the remote endpoint's service name, or "".
func (s *Span) RemoteServiceName() string {
	if s.RemoteEndpoint == nil {
		return ""
	}
	return s.RemoteEndpoint.ServiceName
}

// IsError reports whether the span carries Zipkin's "error" tag.
func (s *Span) IsError() bool {
	_, ok := s.Tags["error"]
	return ok
}

// ErrInvalid marks a span or body that breaks Zipkin's rules; the message
// says which rule.
var ErrInvalid = errors.New("invalid span")

func invalidf(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
}

// ParseTraceID reads a trace id by Zipkin's rules: 1 to 32 hex digits
// (either case), left-padded to 16 or 32; a 128-bit id whose high half is
// zero becomes a 64-bit id; an all-zero id is an error.
func ParseTraceID(s string) (TraceID, error) {
	n := len(s)
	if n == 0 {
		return TraceID{}, invalidf("traceId is empty")
	}
	if n > 32 {
		return TraceID{}, invalidf("traceId %q is longer than 32 hex digits", clip(s))
	}
	var t TraceID
	if n > 16 {
		h, err := parseHex(s[:n-16], "traceId", s)
		if err != nil {
			return t, err
		}
		t.High = h
		s = s[n-16:]
	}
	l, err := parseHex(s, "traceId", s)
	if err != nil {
		return t, err
	}
	t.Low = l
	if t.IsZero() {
		return t, invalidf("traceId is all zeros")
	}
	return t, nil
}

// The byte forms parse ids straight from the JSON input without making a
// string first; the string is made only for an error message.
func parseTraceIDBytes(b []byte) (TraceID, error) {
	if len(b) > 0 && len(b) <= 32 && isLowerHex(b) {
		var t TraceID
		if n := len(b); n > 16 {
			t.High = hexValue(b[:n-16])
			t.Low = hexValue(b[n-16:])
		} else {
			t.Low = hexValue(b)
		}
		if !t.IsZero() {
			return t, nil
		}
	}
	return ParseTraceID(string(b))
}

func parseIDBytes(b []byte, field string) (ID, error) {
	if len(b) > 0 && len(b) <= 16 && isLowerHex(b) {
		if v := hexValue(b); v != 0 {
			return ID(v), nil
		}
	}
	return ParseID(string(b), field)
}

func parseParentIDBytes(b []byte) (ID, error) {
	if len(b) <= 16 && isLowerHex(b) {
		return ID(hexValue(b)), nil
	}
	return parseParentID(string(b))
}

func parseKindBytes(b []byte) (Kind, error) {
	for i, n := range kindNames {
		if i > 0 && string(b) == n {
			return Kind(i), nil
		}
	}
	return ParseKind(string(b))
}

func isLowerHex(b []byte) bool {
	for _, c := range b {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func hexValue(b []byte) uint64 {
	var v uint64
	for _, c := range b {
		if c <= '9' {
			v = v<<4 | uint64(c-'0')
		} else {
			v = v<<4 | uint64(c-'a'+10)
		}
	}
	return v
}

// ParseID reads a span id (field names it in errors): 1 to 16 hex digits,
// not all zeros.
func ParseID(s, field string) (ID, error) {
	if s == "" {
		return 0, invalidf("%s is empty", field)
	}
	if len(s) > 16 {
		return 0, invalidf("%s %q is longer than 16 hex digits", field, clip(s))
	}
	v, err := parseHex(s, field, s)
	if err != nil {
		return 0, err
	}
	if v == 0 {
		return 0, invalidf("%s is all zeros", field)
	}
	return ID(v), nil
}

// parseParentID is ParseID except that an all-zero parent means none.
func parseParentID(s string) (ID, error) {
	if s == "" {
		return 0, nil
	}
	if len(s) > 16 {
		return 0, invalidf("parentId %q is longer than 16 hex digits", clip(s))
	}
	v, err := parseHex(s, "parentId", s)
	return ID(v), err
}

func parseHex(s, field, whole string) (uint64, error) {
	var v uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, invalidf("%s %q is not hex", field, clip(whole))
		}
		v = v<<4 | uint64(d)
	}
	return v, nil
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// lower returns s lower-cased, without allocating when it already is.
func lower(s string) string {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c >= 'A' && c <= 'Z') || c >= 0x80 {
			return strings.ToLower(s)
		}
	}
	return s
}

// Normalize applies Zipkin's rules to a decoded span in place and reports the
// first rule it breaks: ids present, parentId equal to id dropped, names
// lower-cased, negative times clamped to absent, empty endpoints dropped,
// IPv4-mapped IPv6 addresses moved to ipv4, annotations sorted and
// de-duplicated.
func Normalize(s *Span) error {
	if s.TraceID.IsZero() {
		return invalidf("traceId is missing")
	}
	if s.ID == 0 {
		return invalidf("id is missing")
	}
	if s.ParentID == s.ID {
		s.ParentID = 0
	}
	s.Name = lower(s.Name)
	if s.Timestamp < 0 {
		s.Timestamp = 0
	}
	if s.Duration < 0 {
		s.Duration = 0
	}
	s.LocalEndpoint = normEndpoint(s.LocalEndpoint)
	s.RemoteEndpoint = normEndpoint(s.RemoteEndpoint)
	for _, a := range s.Annotations {
		if a.Timestamp <= 0 {
			return invalidf("annotation %q has no timestamp", clip(a.Value))
		}
	}
	if len(s.Annotations) > 1 {
		a := s.Annotations
		sorted := true
		for i := 1; i < len(a); i++ {
			if a[i].Timestamp < a[i-1].Timestamp || (a[i].Timestamp == a[i-1].Timestamp && a[i].Value <= a[i-1].Value) {
				sorted = false
				break
			}
		}
		if !sorted {
			sort.SliceStable(a, func(i, j int) bool {
				if a[i].Timestamp != a[j].Timestamp {
					return a[i].Timestamp < a[j].Timestamp
				}
				return a[i].Value < a[j].Value
			})
			out := a[:1]
			for _, x := range a[1:] {
				if x != out[len(out)-1] {
					out = append(out, x)
				}
			}
			s.Annotations = out
		}
	}
	if len(s.Tags) == 0 {
		s.Tags = nil
	}
	return nil
}

func normEndpoint(e *Endpoint) *Endpoint {
	if e == nil {
		return nil
	}
	e.ServiceName = lower(e.ServiceName)
	if e.IPv6.IsValid() {
		if e.IPv6.Is4In6() {
			if !e.IPv4.IsValid() {
				e.IPv4 = e.IPv6.Unmap()
			}
			e.IPv6 = netip.Addr{}
		} else if e.IPv6.Is4() {
			e.IPv4, e.IPv6 = e.IPv6, netip.Addr{}
		}
	}
	if e.IPv4.IsValid() && !e.IPv4.Is4() {
		e.IPv4 = netip.Addr{}
	}
	if e.Port < 0 || e.Port > 0xffff {
		e.Port = 0
	}
	if e.IsEmpty() {
		return nil
	}
	return e
}

// parseIP reads an address as Zipkin does: an unparseable one is dropped.
func parseIP(s string) netip.Addr {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}
	}
	return a
}

// SortedTagKeys returns the span's tag keys in order, as Zipkin prints them.
func (s *Span) SortedTagKeys() []string {
	keys := make([]string, 0, len(s.Tags))
	for k := range s.Tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func itoa(v int64) string   { return strconv.FormatInt(v, 10) }
func ftoa(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
