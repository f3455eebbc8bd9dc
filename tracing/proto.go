package tracing

import (
	"encoding/binary"
	"math"
	"net/netip"
	"sort"
)

// Proto3 wire format of zipkin.proto (ListOfSpans, Span, Endpoint,
// Annotation), written by hand: the generated code would pull in the
// protobuf runtime, and zipkin-go's decoder refuses 8-byte trace ids.

const (
	wireVarint = 0
	wire64     = 1
	wireBytes  = 2
	wire32     = 5
)

type protoReader struct {
	b []byte
	i int
}

func (p *protoReader) varint() (uint64, error) {
	var v uint64
	for shift := uint(0); shift < 64; shift += 7 {
		if p.i >= len(p.b) {
			return 0, invalidf("proto3: truncated varint")
		}
		c := p.b[p.i]
		p.i++
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return v, nil
		}
	}
	return 0, invalidf("proto3: varint too long")
}

func (p *protoReader) fixed64() (uint64, error) {
	if p.i+8 > len(p.b) {
		return 0, invalidf("proto3: truncated fixed64")
	}
	v := binary.LittleEndian.Uint64(p.b[p.i:])
	p.i += 8
	return v, nil
}

func (p *protoReader) bytes() ([]byte, error) {
	n, err := p.varint()
	if err != nil {
		return nil, err
	}
	if n > uint64(len(p.b)-p.i) {
		return nil, invalidf("proto3: field length %d past the end", n)
	}
	b := p.b[p.i : p.i+int(n)]
	p.i += int(n)
	return b, nil
}

// field reads a tag; ok is false at the end.
func (p *protoReader) field() (num int, wt int, ok bool, err error) {
	if p.i >= len(p.b) {
		return 0, 0, false, nil
	}
	t, err := p.varint()
	if err != nil {
		return 0, 0, false, err
	}
	num, wt = int(t>>3), int(t&7)
	if num <= 0 || num > math.MaxInt32 {
		return 0, 0, false, invalidf("proto3: bad field number %d", t>>3)
	}
	return num, wt, true, nil
}

func (p *protoReader) skip(wt int) error {
	var err error
	switch wt {
	case wireVarint:
		_, err = p.varint()
	case wire64:
		_, err = p.fixed64()
	case wireBytes:
		_, err = p.bytes()
	case wire32:
		if p.i+4 > len(p.b) {
			return invalidf("proto3: truncated fixed32")
		}
		p.i += 4
	default:
		return invalidf("proto3: unsupported wire type %d", wt)
	}
	return err
}

// bytesField, varintField and fixed64Field read the value of field num,
// which must have come with their wire type wt.
func (p *protoReader) bytesField(num, wt int) ([]byte, error) {
	if err := wantWire(num, wt, wireBytes); err != nil {
		return nil, err
	}
	return p.bytes()
}

func (p *protoReader) varintField(num, wt int) (uint64, error) {
	if err := wantWire(num, wt, wireVarint); err != nil {
		return 0, err
	}
	return p.varint()
}

func (p *protoReader) fixed64Field(num, wt int) (uint64, error) {
	if err := wantWire(num, wt, wire64); err != nil {
		return 0, err
	}
	return p.fixed64()
}

func wantWire(num, wt, want int) error {
	if wt != want {
		return invalidf("proto3: field %d has wire type %d, want %d", num, wt, want)
	}
	return nil
}

// DecodeProto3 reads a zipkin.proto ListOfSpans and normalises every span.
// Trace ids may be 8 or 16 bytes.
func DecodeProto3(b []byte) ([]Span, error) {
	p := &protoReader{b: b}
	var out []Span
	for {
		num, wt, ok, err := p.field()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		if num != 1 {
			if err := p.skip(wt); err != nil {
				return nil, err
			}
			continue
		}
		sb, err := p.bytesField(num, wt)
		if err != nil {
			return nil, err
		}
		var s Span
		if err := decodeSpanProto(sb, &s); err != nil {
			return nil, err
		}
		if err := Normalize(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// DecodeProto3Span reads one encoded Span message and normalises it.
func DecodeProto3Span(b []byte) (Span, error) {
	var s Span
	if err := decodeSpanProto(b, &s); err != nil {
		return s, err
	}
	return s, Normalize(&s)
}

func decodeSpanProto(b []byte, s *Span) error {
	p := &protoReader{b: b}
	for {
		num, wt, ok, err := p.field()
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		switch num {
		case 1, 2, 3, 5, 8, 9, 10, 11:
			v, err := p.bytesField(num, wt)
			if err != nil {
				return err
			}
			switch num {
			case 1:
				switch len(v) {
				case 8:
					s.TraceID = TraceID{Low: binary.BigEndian.Uint64(v)}
				case 16:
					s.TraceID = TraceID{High: binary.BigEndian.Uint64(v), Low: binary.BigEndian.Uint64(v[8:])}
				default:
					return invalidf("proto3: trace_id must be 8 or 16 bytes, got %d", len(v))
				}
				if s.TraceID.IsZero() {
					return invalidf("traceId is all zeros")
				}
			case 2:
				if len(v) == 0 {
					continue
				}
				if len(v) != 8 {
					return invalidf("proto3: parent_id must be 8 bytes, got %d", len(v))
				}
				s.ParentID = ID(binary.BigEndian.Uint64(v))
			case 3:
				if len(v) != 8 {
					return invalidf("proto3: id must be 8 bytes, got %d", len(v))
				}
				s.ID = ID(binary.BigEndian.Uint64(v))
				if s.ID == 0 {
					return invalidf("id is all zeros")
				}
			case 5:
				s.Name = string(v)
			case 8, 9:
				e, err := decodeEndpointProto(v)
				if err != nil {
					return err
				}
				if num == 8 {
					s.LocalEndpoint = e
				} else {
					s.RemoteEndpoint = e
				}
			case 10:
				a, err := decodeAnnotationProto(v)
				if err != nil {
					return err
				}
				s.Annotations = append(s.Annotations, a)
			case 11:
				k, val, err := decodeMapEntry(v)
				if err != nil {
					return err
				}
				if s.Tags == nil {
					s.Tags = make(map[string]string, 8)
				}
				s.Tags[k] = val
			}
		case 4, 7, 12, 13:
			v, err := p.varintField(num, wt)
			if err != nil {
				return err
			}
			switch num {
			case 4:
				if v > uint64(KindConsumer) {
					return invalidf("proto3: unknown span kind %d", v)
				}
				s.Kind = Kind(v)
			case 7:
				if v > math.MaxInt64 {
					return invalidf("proto3: duration out of range")
				}
				s.Duration = int64(v)
			case 12:
				s.Debug = v != 0
			case 13:
				s.Shared = v != 0
			}
		case 6:
			v, err := p.fixed64Field(num, wt)
			if err != nil {
				return err
			}
			s.Timestamp = int64(v)
		default:
			if err := p.skip(wt); err != nil {
				return err
			}
		}
	}
	if s.TraceID.IsZero() {
		return invalidf("span has no traceId")
	}
	if s.ID == 0 {
		return invalidf("span %s has no id", s.TraceID)
	}
	return nil
}

func decodeEndpointProto(b []byte) (*Endpoint, error) {
	p := &protoReader{b: b}
	e := &Endpoint{}
	for {
		num, wt, ok, err := p.field()
		if err != nil {
			return nil, err
		}
		if !ok {
			return e, nil
		}
		switch num {
		case 1, 2, 3:
			v, err := p.bytesField(num, wt)
			if err != nil {
				return nil, err
			}
			switch num {
			case 1:
				e.ServiceName = string(v)
			case 2:
				if len(v) == 4 {
					e.IPv4 = netip.AddrFrom4([4]byte(v))
				} else if len(v) != 0 {
					return nil, invalidf("proto3: ipv4 must be 4 bytes, got %d", len(v))
				}
			case 3:
				if len(v) == 16 {
					e.IPv6 = netip.AddrFrom16([16]byte(v))
				} else if len(v) != 0 {
					return nil, invalidf("proto3: ipv6 must be 16 bytes, got %d", len(v))
				}
			}
		case 4:
			v, err := p.varintField(num, wt)
			if err != nil {
				return nil, err
			}
			if v > 0xffff {
				return nil, invalidf("proto3: port %d out of range", int32(v))
			}
			e.Port = int(v)
		default:
			if err := p.skip(wt); err != nil {
				return nil, err
			}
		}
	}
}

func decodeAnnotationProto(b []byte) (Annotation, error) {
	p := &protoReader{b: b}
	var a Annotation
	for {
		num, wt, ok, err := p.field()
		if err != nil {
			return a, err
		}
		if !ok {
			break
		}
		switch num {
		case 1:
			v, err := p.fixed64Field(num, wt)
			if err != nil {
				return a, err
			}
			a.Timestamp = int64(v)
		case 2:
			v, err := p.bytesField(num, wt)
			if err != nil {
				return a, err
			}
			a.Value = string(v)
		default:
			if err := p.skip(wt); err != nil {
				return a, err
			}
		}
	}
	if a.Timestamp <= 0 {
		return a, invalidf("annotation %q has no timestamp", clip(a.Value))
	}
	return a, nil
}

func decodeMapEntry(b []byte) (string, string, error) {
	p := &protoReader{b: b}
	var k, v string
	for {
		num, wt, ok, err := p.field()
		if err != nil {
			return "", "", err
		}
		if !ok {
			return k, v, nil
		}
		if (num == 1 || num == 2) && wt == wireBytes {
			x, err := p.bytes()
			if err != nil {
				return "", "", err
			}
			if num == 1 {
				k = string(x)
			} else {
				v = string(x)
			}
			continue
		}
		if err := p.skip(wt); err != nil {
			return "", "", err
		}
	}
}

// EncodeProto3 writes spans as a zipkin.proto ListOfSpans.
func EncodeProto3(spans []Span) []byte {
	var dst []byte
	var tmp []byte
	for i := range spans {
		tmp = AppendSpanProto(tmp[:0], &spans[i])
		dst = appendTag(dst, 1, wireBytes)
		dst = binary.AppendUvarint(dst, uint64(len(tmp)))
		dst = append(dst, tmp...)
	}
	return dst
}

func appendTag(dst []byte, num, wt int) []byte {
	return binary.AppendUvarint(dst, uint64(num)<<3|uint64(wt))
}

func appendBytesField(dst []byte, num int, b []byte) []byte {
	dst = appendTag(dst, num, wireBytes)
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

func appendStringField(dst []byte, num int, s string) []byte {
	dst = appendTag(dst, num, wireBytes)
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// AppendSpanProto appends one encoded Span message (without its ListOfSpans
// framing) to dst.
func AppendSpanProto(dst []byte, s *Span) []byte {
	var id [16]byte
	if s.TraceID.High != 0 {
		binary.BigEndian.PutUint64(id[:], s.TraceID.High)
		binary.BigEndian.PutUint64(id[8:], s.TraceID.Low)
		dst = appendBytesField(dst, 1, id[:16])
	} else {
		binary.BigEndian.PutUint64(id[:], s.TraceID.Low)
		dst = appendBytesField(dst, 1, id[:8])
	}
	if s.ParentID != 0 {
		binary.BigEndian.PutUint64(id[:], uint64(s.ParentID))
		dst = appendBytesField(dst, 2, id[:8])
	}
	binary.BigEndian.PutUint64(id[:], uint64(s.ID))
	dst = appendBytesField(dst, 3, id[:8])
	if s.Kind != 0 {
		dst = appendTag(dst, 4, wireVarint)
		dst = binary.AppendUvarint(dst, uint64(s.Kind))
	}
	if s.Name != "" {
		dst = appendStringField(dst, 5, s.Name)
	}
	if s.Timestamp != 0 {
		dst = appendTag(dst, 6, wire64)
		dst = binary.LittleEndian.AppendUint64(dst, uint64(s.Timestamp))
	}
	if s.Duration != 0 {
		dst = appendTag(dst, 7, wireVarint)
		dst = binary.AppendUvarint(dst, uint64(s.Duration))
	}
	if !s.LocalEndpoint.IsEmpty() {
		dst = appendEndpointProto(dst, 8, s.LocalEndpoint)
	}
	if !s.RemoteEndpoint.IsEmpty() {
		dst = appendEndpointProto(dst, 9, s.RemoteEndpoint)
	}
	for _, a := range s.Annotations {
		n := 9 + len(a.Value) + 1 + uvarintLen(uint64(len(a.Value)))
		dst = appendTag(dst, 10, wireBytes)
		dst = binary.AppendUvarint(dst, uint64(n))
		dst = appendTag(dst, 1, wire64)
		dst = binary.LittleEndian.AppendUint64(dst, uint64(a.Timestamp))
		dst = appendStringField(dst, 2, a.Value)
	}
	if len(s.Tags) > 0 {
		keys := make([]string, 0, len(s.Tags))
		for k := range s.Tags {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			v := s.Tags[k]
			n := 2 + len(k) + uvarintLen(uint64(len(k))) + len(v) + uvarintLen(uint64(len(v)))
			dst = appendTag(dst, 11, wireBytes)
			dst = binary.AppendUvarint(dst, uint64(n))
			dst = appendStringField(dst, 1, k)
			dst = appendStringField(dst, 2, v)
		}
	}
	if s.Debug {
		dst = append(dst, 12<<3|wireVarint, 1)
	}
	if s.Shared {
		dst = append(dst, 13<<3|wireVarint, 1)
	}
	return dst
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

func appendEndpointProto(dst []byte, num int, e *Endpoint) []byte {
	var body [64]byte
	b := body[:0]
	if e.ServiceName != "" {
		b = appendStringField(b, 1, e.ServiceName)
	}
	if e.IPv4.IsValid() {
		a := e.IPv4.As4()
		b = appendBytesField(b, 2, a[:])
	}
	if e.IPv6.IsValid() {
		a := e.IPv6.As16()
		b = appendBytesField(b, 3, a[:])
	}
	if e.Port != 0 {
		b = appendTag(b, 4, wireVarint)
		b = binary.AppendUvarint(b, uint64(e.Port))
	}
	return appendBytesField(dst, num, b)
}
