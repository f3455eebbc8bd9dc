package tracing

import (
	"strconv"
)

// DecodeJSONV2 reads a Zipkin v2 JSON list of spans (the body of POST
// /api/v2/spans) and normalises every span. The error names the first
// offending span and rule in one line.
func DecodeJSONV2(b []byte) ([]Span, error) {
	r := &jsonReader{b: b}
	if r.peek() != '[' {
		return nil, invalidf("json v2 body must be a list of spans")
	}
	out, err := decodeSpanListJSON(r)
	if err != nil {
		return nil, err
	}
	if err := r.end(); err != nil {
		return nil, err
	}
	return out, nil
}

// decodeSpanListJSON reads a list of span objects, normalising each.
func decodeSpanListJSON(r *jsonReader) ([]Span, error) {
	var out []Span
	err := r.array(func() error {
		var s Span
		if err := decodeSpanJSON(r, &s); err != nil {
			return err
		}
		if err := Normalize(&s); err != nil {
			return err
		}
		out = append(out, s)
		return nil
	})
	return out, err
}

// DecodeJSONV2Span reads one span object.
func DecodeJSONV2Span(b []byte) (Span, error) {
	r := &jsonReader{b: b}
	var s Span
	if err := decodeSpanJSON(r, &s); err != nil {
		return s, err
	}
	if err := r.end(); err != nil {
		return s, err
	}
	return s, Normalize(&s)
}

// DecodeJSONV2Traces reads a list of traces, each a list of spans (what
// /api/v2/traces returns).
func DecodeJSONV2Traces(b []byte) ([][]Span, error) {
	r := &jsonReader{b: b}
	var out [][]Span
	err := r.array(func() error {
		t, err := decodeSpanListJSON(r)
		out = append(out, t)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, r.end()
}

func decodeSpanJSON(r *jsonReader, s *Span) error {
	if r.peek() != '{' {
		return r.errf("span must be an object")
	}
	var hasTrace, hasID bool
	err := r.object(func(k string) error {
		if r.null() {
			return nil
		}
		var err error
		switch k {
		case "traceId":
			var v []byte
			if v, err = r.strBytes(); err == nil {
				s.TraceID, err = parseTraceIDBytes(v)
				hasTrace = true
			}
		case "parentId":
			var v []byte
			if v, err = r.strBytes(); err == nil {
				s.ParentID, err = parseParentIDBytes(v)
			}
		case "id":
			var v []byte
			if v, err = r.strBytes(); err == nil {
				s.ID, err = parseIDBytes(v, "id")
				hasID = true
			}
		case "kind":
			var v []byte
			if v, err = r.strBytes(); err == nil {
				s.Kind, err = parseKindBytes(v)
			}
		case "name":
			s.Name, err = r.istr()
		case "timestamp":
			s.Timestamp, err = r.int64()
		case "duration":
			s.Duration, err = r.int64()
		case "localEndpoint":
			s.LocalEndpoint, err = decodeEndpointJSON(r)
		case "remoteEndpoint":
			s.RemoteEndpoint, err = decodeEndpointJSON(r)
		case "annotations":
			err = r.array(func() error {
				if r.null() {
					return nil
				}
				var a Annotation
				var hasValue bool
				err := r.object(func(k string) error {
					if r.null() {
						return nil
					}
					var err error
					switch k {
					case "timestamp":
						a.Timestamp, err = r.int64()
					case "value":
						a.Value, err = r.str()
						hasValue = true
					default:
						err = r.skip()
					}
					return err
				})
				if err != nil {
					return err
				}
				if !hasValue {
					return invalidf("annotation has no value")
				}
				if a.Timestamp <= 0 {
					return invalidf("annotation %q has no timestamp", clip(a.Value))
				}
				s.Annotations = append(s.Annotations, a)
				return nil
			})
		case "tags":
			err = r.object(func(k string) error {
				if r.null() {
					return nil
				}
				var v string
				var err error
				if r.peek() == '"' {
					v, err = r.istr()
				} else {
					v, err = r.scalarString()
				}
				if err != nil {
					return err
				}
				if s.Tags == nil {
					s.Tags = make(map[string]string, 8)
				}
				s.Tags[k] = v
				return nil
			})
		case "debug":
			s.Debug, err = r.boolean()
		case "shared":
			s.Shared, err = r.boolean()
		default:
			err = r.skip()
		}
		return err
	})
	if err != nil {
		return err
	}
	if !hasTrace {
		return invalidf("span has no traceId")
	}
	if !hasID {
		return invalidf("span %s has no id", s.TraceID)
	}
	return nil
}

func decodeEndpointJSON(r *jsonReader) (*Endpoint, error) {
	e := &Endpoint{}
	err := r.object(func(k string) error {
		if r.null() {
			return nil
		}
		var err error
		switch k {
		case "serviceName":
			e.ServiceName, err = r.istr()
		case "ipv4":
			var v string
			if v, err = r.str(); err == nil {
				if a := parseIP(v); a.Is4() || a.Is4In6() {
					e.IPv4 = a.Unmap()
				}
			}
		case "ipv6":
			var v string
			if v, err = r.str(); err == nil {
				e.IPv6 = parseIP(v)
			}
		case "port":
			var p int64
			if p, err = r.int64(); err == nil {
				if p < 0 || p > 0xffff {
					return invalidf("port %d is out of range", p)
				}
				e.Port = int(p)
			}
		default:
			err = r.skip()
		}
		return err
	})
	return e, err
}

// EncodeJSONV2 writes spans as a JSON list exactly as Zipkin's API returns
// them: fields in Zipkin's order, absent fields omitted, tags sorted.
func EncodeJSONV2(spans []Span) []byte {
	return AppendJSONV2(make([]byte, 0, 256*len(spans)+2), spans)
}

// AppendJSONV2 appends the JSON list of spans to dst.
func AppendJSONV2(dst []byte, spans []Span) []byte {
	dst = append(dst, '[')
	for i := range spans {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendSpanJSON(dst, &spans[i])
	}
	return append(dst, ']')
}

// AppendSpanJSON appends one span object to dst.
func AppendSpanJSON(dst []byte, s *Span) []byte {
	dst = append(dst, `{"traceId":"`...)
	if s.TraceID.High != 0 {
		dst = appendHex16(dst, s.TraceID.High)
	}
	dst = appendHex16(dst, s.TraceID.Low)
	dst = append(dst, '"')
	if s.ParentID != 0 {
		dst = append(dst, `,"parentId":"`...)
		dst = appendHex16(dst, uint64(s.ParentID))
		dst = append(dst, '"')
	}
	dst = append(dst, `,"id":"`...)
	dst = appendHex16(dst, uint64(s.ID))
	dst = append(dst, '"')
	if s.Kind != KindUnspecified {
		dst = append(dst, `,"kind":"`...)
		dst = append(dst, s.Kind.String()...)
		dst = append(dst, '"')
	}
	if s.Name != "" {
		dst = append(dst, `,"name":`...)
		dst = appendJSONString(dst, s.Name)
	}
	dst = appendTimingJSON(dst, s.Timestamp, s.Duration)
	if !s.LocalEndpoint.IsEmpty() {
		dst = append(dst, `,"localEndpoint":`...)
		dst = appendEndpointJSON(dst, s.LocalEndpoint)
	}
	if !s.RemoteEndpoint.IsEmpty() {
		dst = append(dst, `,"remoteEndpoint":`...)
		dst = appendEndpointJSON(dst, s.RemoteEndpoint)
	}
	if len(s.Annotations) > 0 {
		dst = append(dst, `,"annotations":[`...)
		for i, a := range s.Annotations {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendAnnotationJSON(dst, a.Timestamp, a.Value)
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	if len(s.Tags) > 0 {
		dst = append(dst, `,"tags":{`...)
		for i, k := range s.SortedTagKeys() {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, k)
			dst = append(dst, ':')
			dst = appendJSONString(dst, s.Tags[k])
		}
		dst = append(dst, '}')
	}
	if s.Debug {
		dst = append(dst, `,"debug":true`...)
	}
	if s.Shared {
		dst = append(dst, `,"shared":true`...)
	}
	return append(dst, '}')
}

// appendTimingJSON writes the ,"timestamp" and ,"duration" members of a
// span (v1 or v2), each only when set.
func appendTimingJSON(dst []byte, timestamp, duration int64) []byte {
	if timestamp != 0 {
		dst = append(dst, `,"timestamp":`...)
		dst = strconv.AppendInt(dst, timestamp, 10)
	}
	if duration != 0 {
		dst = append(dst, `,"duration":`...)
		dst = strconv.AppendInt(dst, duration, 10)
	}
	return dst
}

// appendAnnotationJSON opens an annotation object (v1 or v2) and writes its
// timestamp and value; the caller adds any further members and the '}'.
func appendAnnotationJSON(dst []byte, timestamp int64, value string) []byte {
	dst = append(dst, `{"timestamp":`...)
	dst = strconv.AppendInt(dst, timestamp, 10)
	dst = append(dst, `,"value":`...)
	return appendJSONString(dst, value)
}

func appendEndpointJSON(dst []byte, e *Endpoint) []byte {
	dst = append(dst, '{')
	comma := false
	sep := func() {
		if comma {
			dst = append(dst, ',')
		}
		comma = true
	}
	if e.ServiceName != "" {
		sep()
		dst = append(dst, `"serviceName":`...)
		dst = appendJSONString(dst, e.ServiceName)
	}
	if e.IPv4.IsValid() {
		sep()
		dst = append(dst, `"ipv4":"`...)
		dst = e.IPv4.AppendTo(dst)
		dst = append(dst, '"')
	}
	if e.IPv6.IsValid() {
		sep()
		dst = append(dst, `"ipv6":"`...)
		dst = e.IPv6.AppendTo(dst)
		dst = append(dst, '"')
	}
	if e.Port != 0 {
		sep()
		dst = append(dst, `"port":`...)
		dst = strconv.AppendInt(dst, int64(e.Port), 10)
	}
	return append(dst, '}')
}
