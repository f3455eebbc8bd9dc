package tracing

import (
	"encoding/binary"
	"math"
	"net/netip"
)

// Zipkin v1 thrift (zipkinCore.thrift) in TBinaryProtocol: the body of POST
// /api/v1/spans with Content-Type application/x-thrift is a list<Span>.

const (
	tStop   = 0
	tBool   = 2
	tByte   = 3
	tDouble = 4
	tI16    = 6
	tI32    = 8
	tI64    = 10
	tString = 11
	tStruct = 12
	tMap    = 13
	tSet    = 14
	tList   = 15
)

// Binary annotation types in zipkinCore.thrift.
const (
	annBool   = 0
	annBytes  = 1
	annI16    = 2
	annI32    = 3
	annI64    = 4
	annDouble = 5
	annString = 6
)

type thriftReader struct {
	b     []byte
	i     int
	depth int
}

func (t *thriftReader) need(n int) error {
	if n < 0 || n > len(t.b)-t.i {
		return invalidf("thrift: truncated at byte %d", t.i)
	}
	return nil
}

func (t *thriftReader) u8() (byte, error) {
	if err := t.need(1); err != nil {
		return 0, err
	}
	t.i++
	return t.b[t.i-1], nil
}

func (t *thriftReader) i16() (int16, error) {
	if err := t.need(2); err != nil {
		return 0, err
	}
	t.i += 2
	return int16(binary.BigEndian.Uint16(t.b[t.i-2:])), nil
}

func (t *thriftReader) i32() (int32, error) {
	if err := t.need(4); err != nil {
		return 0, err
	}
	t.i += 4
	return int32(binary.BigEndian.Uint32(t.b[t.i-4:])), nil
}

func (t *thriftReader) i64() (int64, error) {
	if err := t.need(8); err != nil {
		return 0, err
	}
	t.i += 8
	return int64(binary.BigEndian.Uint64(t.b[t.i-8:])), nil
}

func (t *thriftReader) bin() ([]byte, error) {
	n, err := t.i32()
	if err != nil {
		return nil, err
	}
	if err := t.need(int(n)); err != nil {
		return nil, err
	}
	t.i += int(n)
	return t.b[t.i-int(n) : t.i], nil
}

// listHeader reads element type and size, bounding size by what is left.
func (t *thriftReader) listHeader() (byte, int, error) {
	et, err := t.u8()
	if err != nil {
		return 0, 0, err
	}
	n, err := t.i32()
	if err != nil {
		return 0, 0, err
	}
	if n < 0 || int(n) > len(t.b)-t.i {
		return 0, 0, invalidf("thrift: list size %d is impossible", n)
	}
	return et, int(n), nil
}

// structListHeader reads a list header whose elements must be structs,
// failing with msg when they are not, and returns the size.
func (t *thriftReader) structListHeader(msg string) (int, error) {
	et, n, err := t.listHeader()
	if err != nil {
		return 0, err
	}
	if et != tStruct {
		return 0, invalidf("%s", msg)
	}
	return n, nil
}

func (t *thriftReader) skip(typ byte) error {
	t.depth++
	defer func() { t.depth-- }()
	if t.depth > 32 {
		return invalidf("thrift: nested too deeply")
	}
	var err error
	switch typ {
	case tBool, tByte:
		_, err = t.u8()
	case tI16:
		_, err = t.i16()
	case tI32:
		_, err = t.i32()
	case tI64, tDouble:
		_, err = t.i64()
	case tString:
		_, err = t.bin()
	case tStruct:
		for {
			ft, err := t.u8()
			if err != nil {
				return err
			}
			if ft == tStop {
				return nil
			}
			if _, err := t.i16(); err != nil {
				return err
			}
			if err := t.skip(ft); err != nil {
				return err
			}
		}
	case tMap:
		kt, err := t.u8()
		if err != nil {
			return err
		}
		vt, err := t.u8()
		if err != nil {
			return err
		}
		n, err := t.i32()
		if err != nil {
			return err
		}
		if n < 0 || int(n) > len(t.b)-t.i {
			return invalidf("thrift: map size %d is impossible", n)
		}
		for i := 0; i < int(n); i++ {
			if err := t.skip(kt); err != nil {
				return err
			}
			if err := t.skip(vt); err != nil {
				return err
			}
		}
	case tSet, tList:
		et, n, err := t.listHeader()
		if err != nil {
			return err
		}
		for i := 0; i < n; i++ {
			if err := t.skip(et); err != nil {
				return err
			}
		}
	default:
		return invalidf("thrift: unknown type %d", typ)
	}
	return err
}

// fields iterates a struct's fields; f returns handled=false to skip one.
func (t *thriftReader) fields(f func(id int16, typ byte) (bool, error)) error {
	for {
		typ, err := t.u8()
		if err != nil {
			return err
		}
		if typ == tStop {
			return nil
		}
		id, err := t.i16()
		if err != nil {
			return err
		}
		handled, err := f(id, typ)
		if err != nil {
			return err
		}
		if !handled {
			if err := t.skip(typ); err != nil {
				return err
			}
		}
	}
}

// DecodeThrift reads a TBinaryProtocol list of v1 thrift spans and converts
// them to v2.
func DecodeThrift(b []byte) ([]Span, error) {
	t := &thriftReader{b: b}
	n, err := t.structListHeader("thrift: body must be a list of Span structs")
	if err != nil {
		return nil, err
	}
	v1 := make([]V1Span, 0, n)
	for i := 0; i < n; i++ {
		var s V1Span
		if err := decodeThriftSpan(t, &s); err != nil {
			return nil, err
		}
		v1 = append(v1, s)
	}
	if t.i != len(b) {
		return nil, invalidf("thrift: %d trailing bytes", len(b)-t.i)
	}
	return ConvertV1(v1)
}

func decodeThriftSpan(t *thriftReader, s *V1Span) error {
	var hasTrace bool
	err := t.fields(func(id int16, typ byte) (bool, error) {
		switch {
		case id == 1 && typ == tI64:
			v, err := t.i64()
			s.TraceID.Low = uint64(v)
			hasTrace = true
			return true, err
		case id == 12 && typ == tI64:
			v, err := t.i64()
			s.TraceID.High = uint64(v)
			return true, err
		case id == 3 && typ == tString:
			v, err := t.bin()
			s.Name = string(v)
			return true, err
		case id == 4 && typ == tI64:
			v, err := t.i64()
			s.ID = ID(v)
			return true, err
		case id == 5 && typ == tI64:
			v, err := t.i64()
			s.ParentID = ID(v)
			return true, err
		case id == 9 && typ == tBool:
			v, err := t.u8()
			s.Debug = v != 0
			return true, err
		case id == 10 && typ == tI64:
			v, err := t.i64()
			s.Timestamp = v
			return true, err
		case id == 11 && typ == tI64:
			v, err := t.i64()
			s.Duration = v
			return true, err
		case id == 6 && typ == tList:
			n, err := t.structListHeader("thrift: annotations must be structs")
			if err != nil {
				return true, err
			}
			for i := 0; i < n; i++ {
				var a V1Annotation
				err := t.fields(func(id int16, typ byte) (bool, error) {
					switch {
					case id == 1 && typ == tI64:
						v, err := t.i64()
						a.Timestamp = v
						return true, err
					case id == 2 && typ == tString:
						v, err := t.bin()
						a.Value = string(v)
						return true, err
					case id == 3 && typ == tStruct:
						e, err := decodeThriftEndpoint(t)
						a.Endpoint = e
						return true, err
					}
					return false, nil
				})
				if err != nil {
					return true, err
				}
				if a.Value == "" {
					return true, invalidf("v1 annotation has no value")
				}
				s.Annotations = append(s.Annotations, a)
			}
			return true, nil
		case id == 8 && typ == tList:
			n, err := t.structListHeader("thrift: binary annotations must be structs")
			if err != nil {
				return true, err
			}
			for i := 0; i < n; i++ {
				var b V1BinaryAnnotation
				var raw []byte
				atype := int32(annString)
				err := t.fields(func(id int16, typ byte) (bool, error) {
					switch {
					case id == 1 && typ == tString:
						v, err := t.bin()
						b.Key = string(v)
						return true, err
					case id == 2 && typ == tString:
						v, err := t.bin()
						raw = v
						return true, err
					case id == 3 && typ == tI32:
						v, err := t.i32()
						atype = v
						return true, err
					case id == 4 && typ == tStruct:
						e, err := decodeThriftEndpoint(t)
						b.Endpoint = e
						return true, err
					}
					return false, nil
				})
				if err != nil {
					return true, err
				}
				if b.Key == "" {
					return true, invalidf("v1 binary annotation has no key")
				}
				if ok := thriftAnnotationValue(&b, atype, raw); ok {
					s.BinaryAnnotations = append(s.BinaryAnnotations, b)
				}
			}
			return true, nil
		}
		return false, nil
	})
	if err != nil {
		return err
	}
	if !hasTrace || s.TraceID.IsZero() {
		return invalidf("v1 span has no traceId")
	}
	if s.ID == 0 {
		return invalidf("v1 span %s has no id", s.TraceID)
	}
	return nil
}

// thriftAnnotationValue fills the value of a binary annotation; numbers are
// kept as decimal text, bytes are dropped (as Zipkin does).
func thriftAnnotationValue(b *V1BinaryAnnotation, typ int32, raw []byte) bool {
	switch typ {
	case annBool:
		b.IsBool = true
		b.Bool = len(raw) == 1 && raw[0] == 1
	case annString:
		b.String = string(raw)
	case annI16:
		if len(raw) != 2 {
			return false
		}
		b.String = itoa(int64(int16(binary.BigEndian.Uint16(raw))))
	case annI32:
		if len(raw) != 4 {
			return false
		}
		b.String = itoa(int64(int32(binary.BigEndian.Uint32(raw))))
	case annI64:
		if len(raw) != 8 {
			return false
		}
		b.String = itoa(int64(binary.BigEndian.Uint64(raw)))
	case annDouble:
		if len(raw) != 8 {
			return false
		}
		b.String = ftoa(math.Float64frombits(binary.BigEndian.Uint64(raw)))
	default:
		return false
	}
	return true
}

func decodeThriftEndpoint(t *thriftReader) (*Endpoint, error) {
	e := &Endpoint{}
	err := t.fields(func(id int16, typ byte) (bool, error) {
		switch {
		case id == 1 && typ == tI32:
			v, err := t.i32()
			if v != 0 {
				var a [4]byte
				binary.BigEndian.PutUint32(a[:], uint32(v))
				e.IPv4 = netip.AddrFrom4(a)
			}
			return true, err
		case id == 2 && typ == tI16:
			v, err := t.i16()
			e.Port = int(uint16(v))
			return true, err
		case id == 3 && typ == tString:
			v, err := t.bin()
			e.ServiceName = string(v)
			return true, err
		case id == 4 && typ == tString:
			v, err := t.bin()
			if len(v) == 16 {
				e.IPv6 = netip.AddrFrom16([16]byte(v))
			}
			return true, err
		}
		return false, nil
	})
	return e, err
}

type thriftWriter struct{ b []byte }

func (w *thriftWriter) field(typ byte, id int16) {
	w.b = append(w.b, typ)
	w.b = binary.BigEndian.AppendUint16(w.b, uint16(id))
}
func (w *thriftWriter) i64(id int16, v int64) {
	w.field(tI64, id)
	w.b = binary.BigEndian.AppendUint64(w.b, uint64(v))
}
func (w *thriftWriter) str(id int16, s string) {
	w.field(tString, id)
	w.b = binary.BigEndian.AppendUint32(w.b, uint32(len(s)))
	w.b = append(w.b, s...)
}
func (w *thriftWriter) list(id int16, et byte, n int) {
	w.field(tList, id)
	w.b = append(w.b, et)
	w.b = binary.BigEndian.AppendUint32(w.b, uint32(n))
}
func (w *thriftWriter) stop() { w.b = append(w.b, tStop) }

func (w *thriftWriter) endpoint(id int16, e *Endpoint) {
	w.field(tStruct, id)
	var ip uint32
	if e.IPv4.IsValid() {
		a := e.IPv4.As4()
		ip = binary.BigEndian.Uint32(a[:])
	}
	w.field(tI32, 1)
	w.b = binary.BigEndian.AppendUint32(w.b, ip)
	w.field(tI16, 2)
	w.b = binary.BigEndian.AppendUint16(w.b, uint16(e.Port))
	w.str(3, e.ServiceName)
	if e.IPv6.IsValid() {
		a := e.IPv6.As16()
		w.str(4, string(a[:]))
	}
	w.stop()
}

// EncodeThrift writes spans as a TBinaryProtocol list of v1 thrift spans.
func EncodeThrift(spans []Span) []byte {
	w := &thriftWriter{}
	w.b = append(w.b, tStruct)
	w.b = binary.BigEndian.AppendUint32(w.b, uint32(len(spans)))
	for i := range spans {
		v := ToV1(&spans[i])
		w.i64(1, int64(v.TraceID.Low))
		w.str(3, v.Name)
		w.i64(4, int64(v.ID))
		if v.ParentID != 0 {
			w.i64(5, int64(v.ParentID))
		}
		w.list(6, tStruct, len(v.Annotations))
		for _, a := range v.Annotations {
			w.i64(1, a.Timestamp)
			w.str(2, a.Value)
			if !a.Endpoint.IsEmpty() {
				w.endpoint(3, a.Endpoint)
			}
			w.stop()
		}
		w.list(8, tStruct, len(v.BinaryAnnotations))
		for _, b := range v.BinaryAnnotations {
			w.str(1, b.Key)
			if b.IsBool {
				val := "\x00"
				if b.Bool {
					val = "\x01"
				}
				w.str(2, val)
				w.field(tI32, 3)
				w.b = binary.BigEndian.AppendUint32(w.b, annBool)
			} else {
				w.str(2, b.String)
				w.field(tI32, 3)
				w.b = binary.BigEndian.AppendUint32(w.b, annString)
			}
			if !b.Endpoint.IsEmpty() {
				w.endpoint(4, b.Endpoint)
			}
			w.stop()
		}
		if v.Debug {
			w.field(tBool, 9)
			w.b = append(w.b, 1)
		}
		if v.Timestamp != 0 {
			w.i64(10, v.Timestamp)
		}
		if v.Duration != 0 {
			w.i64(11, v.Duration)
		}
		if v.TraceID.High != 0 {
			w.i64(12, int64(v.TraceID.High))
		}
		w.stop()
	}
	return w.b
}
