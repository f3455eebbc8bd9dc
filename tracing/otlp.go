package tracing

import (
	"encoding/binary"
	"encoding/hex"
	"math"
	"strconv"
	"strings"
)

// OTLP trace ingest (opentelemetry-proto ExportTraceServiceRequest) as
// protobuf or OTLP/JSON, converted to Zipkin spans the way OpenTelemetry's
// Zipkin exporter does: the resource's service.name is the local service,
// INTERNAL spans have no kind, peer.service (or server.address and the
// like) names the remote service of client and producer spans, attributes
// become tags, events annotations, an ERROR status the "error" tag.

type otlpSpan struct {
	traceID, spanID, parentID []byte
	name                      string
	kind                      int
	start, end                uint64
	attrs                     []otlpKV
	events                    []otlpEvent
	statusCode                int
	statusMsg                 string
}

type otlpKV struct {
	key, value string
}

type otlpEvent struct {
	time  uint64
	name  string
	attrs []otlpKV
}

type otlpScope struct {
	name, version string
}

// otlpToZipkin converts one span of a resource and scope.
func otlpToZipkin(service string, scope otlpScope, o *otlpSpan) (Span, error) {
	var s Span
	switch len(o.traceID) {
	case 16:
		s.TraceID = TraceID{High: binary.BigEndian.Uint64(o.traceID), Low: binary.BigEndian.Uint64(o.traceID[8:])}
	case 8:
		s.TraceID = TraceID{Low: binary.BigEndian.Uint64(o.traceID)}
	default:
		return s, invalidf("otlp: trace_id must be 16 bytes, got %d", len(o.traceID))
	}
	if len(o.spanID) != 8 {
		return s, invalidf("otlp: span_id must be 8 bytes, got %d", len(o.spanID))
	}
	s.ID = ID(binary.BigEndian.Uint64(o.spanID))
	switch len(o.parentID) {
	case 0:
	case 8:
		s.ParentID = ID(binary.BigEndian.Uint64(o.parentID))
	default:
		return s, invalidf("otlp: parent_span_id must be 8 bytes, got %d", len(o.parentID))
	}
	if s.TraceID.IsZero() || s.ID == 0 {
		return s, invalidf("otlp: span has a zero trace or span id")
	}
	s.Name = o.name
	switch o.kind {
	case 2:
		s.Kind = KindServer
	case 3:
		s.Kind = KindClient
	case 4:
		s.Kind = KindProducer
	case 5:
		s.Kind = KindConsumer
	}
	if o.start > 0 {
		s.Timestamp = int64(o.start / 1000)
		if o.end > o.start {
			s.Duration = int64((o.end - o.start) / 1000)
			if s.Duration == 0 {
				s.Duration = 1
			}
		}
	}
	if service == "" {
		service = "unknown_service"
	}
	s.LocalEndpoint = &Endpoint{ServiceName: service}
	tags := make(map[string]string, len(o.attrs)+3)
	var remote string
	remoteRank := 99
	for _, kv := range o.attrs {
		tags[kv.key] = kv.value
		for rank, k := range remoteServiceKeys {
			if kv.key == k && rank < remoteRank && kv.value != "" {
				remote, remoteRank = kv.value, rank
			}
		}
	}
	if remote != "" && (s.Kind == KindClient || s.Kind == KindProducer || remoteRank == 0) {
		s.RemoteEndpoint = &Endpoint{ServiceName: remote}
		if ip := parseIP(tags["net.peer.ip"]); ip.IsValid() {
			if ip.Is4() {
				s.RemoteEndpoint.IPv4 = ip
			} else {
				s.RemoteEndpoint.IPv6 = ip
			}
		}
	}
	if scope.name != "" {
		tags["otel.scope.name"] = scope.name
	}
	if scope.version != "" {
		tags["otel.scope.version"] = scope.version
	}
	switch o.statusCode {
	case 1:
		tags["otel.status_code"] = "OK"
	case 2:
		tags["otel.status_code"] = "ERROR"
		tags["error"] = o.statusMsg
	}
	if len(tags) > 0 {
		s.Tags = tags
	}
	for _, e := range o.events {
		v := e.name
		if len(e.attrs) > 0 {
			var b strings.Builder
			b.WriteString(e.name + ": {")
			for i, kv := range e.attrs {
				if i > 0 {
					b.WriteByte(',')
				}
				b.Write(appendJSONString(nil, kv.key))
				b.WriteByte(':')
				b.Write(appendJSONString(nil, kv.value))
			}
			b.WriteByte('}')
			v = b.String()
		}
		ts := int64(e.time / 1000)
		if ts <= 0 {
			ts = s.Timestamp
		}
		if ts > 0 {
			s.Annotations = append(s.Annotations, Annotation{Timestamp: ts, Value: v})
		}
	}
	return s, Normalize(&s)
}

// remoteServiceKeys name the remote service, best first (OpenTelemetry's
// Zipkin exporter rules).
var remoteServiceKeys = []string{"peer.service", "server.address", "net.peer.name", "network.peer.address",
	"net.sock.peer.addr", "peer.hostname", "peer.address", "db.name"}

// DecodeOTLPProto reads an ExportTraceServiceRequest in protobuf.
func DecodeOTLPProto(b []byte) ([]Span, error) {
	var out []Span
	err := protoFields(b, func(num, wt int, v []byte, _ uint64) error {
		if num != 1 || wt != wireBytes {
			return nil
		}
		return decodeOTLPResourceSpans(v, &out)
	})
	return out, err
}

// protoFields walks a message, giving length-delimited fields as v and
// varint or fixed fields as x.
func protoFields(b []byte, f func(num, wt int, v []byte, x uint64) error) error {
	p := &protoReader{b: b}
	for {
		num, wt, ok, err := p.field()
		if err != nil || !ok {
			return err
		}
		var v []byte
		var x uint64
		switch wt {
		case wireBytes:
			v, err = p.bytes()
		case wireVarint:
			x, err = p.varint()
		case wire64:
			x, err = p.fixed64()
		case wire32:
			if p.i+4 > len(p.b) {
				return invalidf("proto3: truncated fixed32")
			}
			x = uint64(binary.LittleEndian.Uint32(p.b[p.i:]))
			p.i += 4
		default:
			return invalidf("proto3: unsupported wire type %d", wt)
		}
		if err != nil {
			return err
		}
		if err := f(num, wt, v, x); err != nil {
			return err
		}
	}
}

func decodeOTLPResourceSpans(b []byte, out *[]Span) error {
	service := ""
	var scopes [][]byte
	err := protoFields(b, func(num, wt int, v []byte, _ uint64) error {
		switch {
		case num == 1 && wt == wireBytes: // resource
			return protoFields(v, func(num, wt int, v []byte, _ uint64) error {
				if num == 1 && wt == wireBytes {
					kv, err := decodeOTLPKV(v, 0)
					if err != nil {
						return err
					}
					if kv.key == "service.name" {
						service = kv.value
					}
				}
				return nil
			})
		case num == 2 && wt == wireBytes: // scope_spans
			scopes = append(scopes, v)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, sb := range scopes {
		var scope otlpScope
		var spans [][]byte
		err := protoFields(sb, func(num, wt int, v []byte, _ uint64) error {
			switch {
			case num == 1 && wt == wireBytes:
				return protoFields(v, func(num, wt int, v []byte, _ uint64) error {
					if wt == wireBytes && num == 1 {
						scope.name = string(v)
					} else if wt == wireBytes && num == 2 {
						scope.version = string(v)
					}
					return nil
				})
			case num == 2 && wt == wireBytes:
				spans = append(spans, v)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, spb := range spans {
			var o otlpSpan
			if err := decodeOTLPSpan(spb, &o); err != nil {
				return err
			}
			s, err := otlpToZipkin(service, scope, &o)
			if err != nil {
				return err
			}
			*out = append(*out, s)
		}
	}
	return nil
}

func decodeOTLPSpan(b []byte, o *otlpSpan) error {
	return protoFields(b, func(num, wt int, v []byte, x uint64) error {
		switch {
		case num == 1 && wt == wireBytes:
			o.traceID = v
		case num == 2 && wt == wireBytes:
			o.spanID = v
		case num == 4 && wt == wireBytes:
			o.parentID = v
		case num == 5 && wt == wireBytes:
			o.name = string(v)
		case num == 6 && wt == wireVarint:
			o.kind = int(x)
		case num == 7 && wt == wire64:
			o.start = x
		case num == 8 && wt == wire64:
			o.end = x
		case num == 9 && wt == wireBytes:
			kv, err := decodeOTLPKV(v, 0)
			if err != nil {
				return err
			}
			o.attrs = append(o.attrs, kv)
		case num == 11 && wt == wireBytes:
			var e otlpEvent
			err := protoFields(v, func(num, wt int, v []byte, x uint64) error {
				switch {
				case num == 1 && wt == wire64:
					e.time = x
				case num == 2 && wt == wireBytes:
					e.name = string(v)
				case num == 3 && wt == wireBytes:
					kv, err := decodeOTLPKV(v, 0)
					if err != nil {
						return err
					}
					e.attrs = append(e.attrs, kv)
				}
				return nil
			})
			if err != nil {
				return err
			}
			o.events = append(o.events, e)
		case num == 15 && wt == wireBytes:
			return protoFields(v, func(num, wt int, v []byte, x uint64) error {
				if num == 2 && wt == wireBytes {
					o.statusMsg = string(v)
				} else if num == 3 && wt == wireVarint {
					o.statusCode = int(x)
				}
				return nil
			})
		}
		return nil
	})
}

func decodeOTLPKV(b []byte, depth int) (otlpKV, error) {
	var kv otlpKV
	err := protoFields(b, func(num, wt int, v []byte, _ uint64) error {
		if wt != wireBytes {
			return nil
		}
		switch num {
		case 1:
			kv.key = string(v)
		case 2:
			s, err := decodeOTLPAny(v, depth+1)
			if err != nil {
				return err
			}
			kv.value = s
		}
		return nil
	})
	return kv, err
}

// decodeOTLPAny renders an AnyValue as tag text: scalars as text, arrays and
// maps as JSON.
func decodeOTLPAny(b []byte, depth int) (string, error) {
	if depth > 16 {
		return "", invalidf("otlp: attribute values nested too deeply")
	}
	var out string
	err := protoFields(b, func(num, wt int, v []byte, x uint64) error {
		switch {
		case num == 1 && wt == wireBytes:
			out = string(v)
		case num == 2 && wt == wireVarint:
			out = strconv.FormatBool(x != 0)
		case num == 3 && wt == wireVarint:
			out = strconv.FormatInt(int64(x), 10)
		case num == 4 && wt == wire64:
			out = ftoa(math.Float64frombits(x))
		case num == 7 && wt == wireBytes:
			out = hex.EncodeToString(v)
		case (num == 5 || num == 6) && wt == wireBytes:
			var parts []string
			err := protoFields(v, func(n, wt int, v []byte, _ uint64) error {
				if n != 1 || wt != wireBytes {
					return nil
				}
				if num == 5 {
					s, err := decodeOTLPAny(v, depth+1)
					parts = append(parts, string(appendJSONString(nil, s)))
					return err
				}
				kv, err := decodeOTLPKV(v, depth+1)
				parts = append(parts, string(appendJSONString(nil, kv.key))+":"+string(appendJSONString(nil, kv.value)))
				return err
			})
			if num == 5 {
				out = "[" + strings.Join(parts, ",") + "]"
			} else {
				out = "{" + strings.Join(parts, ",") + "}"
			}
			return err
		}
		return nil
	})
	return out, err
}

// DecodeOTLPJSON reads an ExportTraceServiceRequest in OTLP/JSON (ids in
// hex, 64-bit integers as strings or numbers, enums as numbers or names).
func DecodeOTLPJSON(b []byte) ([]Span, error) {
	r := &jsonReader{b: b}
	var out []Span
	err := r.object(func(k string) error {
		if k != "resourceSpans" || r.null() {
			return r.skip()
		}
		return r.array(func() error {
			service := ""
			type scoped struct {
				scope otlpScope
				spans []otlpSpan
			}
			var all []scoped
			err := r.object(func(k string) error {
				if r.null() {
					return nil
				}
				switch k {
				case "resource":
					return r.object(func(k string) error {
						if k != "attributes" || r.null() {
							return r.skip()
						}
						return r.array(func() error {
							kv, err := jsonKV(r, 0)
							if kv.key == "service.name" {
								service = kv.value
							}
							return err
						})
					})
				case "scopeSpans", "instrumentationLibrarySpans":
					return r.array(func() error {
						var sc scoped
						err := r.object(func(k string) error {
							if r.null() {
								return nil
							}
							switch k {
							case "scope", "instrumentationLibrary":
								return r.object(func(k string) error {
									var err error
									switch k {
									case "name":
										sc.scope.name, err = r.str()
									case "version":
										sc.scope.version, err = r.str()
									default:
										err = r.skip()
									}
									return err
								})
							case "spans":
								return r.array(func() error {
									var o otlpSpan
									err := jsonOTLPSpan(r, &o)
									sc.spans = append(sc.spans, o)
									return err
								})
							}
							return r.skip()
						})
						all = append(all, sc)
						return err
					})
				}
				return r.skip()
			})
			if err != nil {
				return err
			}
			for _, sc := range all {
				for i := range sc.spans {
					s, err := otlpToZipkin(service, sc.scope, &sc.spans[i])
					if err != nil {
						return err
					}
					out = append(out, s)
				}
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, r.end()
}

func jsonHexID(r *jsonReader, field string) ([]byte, error) {
	s, err := r.str()
	if err != nil || s == "" {
		return nil, err
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, invalidf("otlp: %s %q is not hex", field, clip(s))
	}
	return b, nil
}

// jsonUint reads a uint64 given as a number or a decimal string.
func jsonUint(r *jsonReader) (uint64, error) {
	var t string
	var err error
	if r.peek() == '"' {
		t, err = r.str()
	} else {
		t, err = r.numberText()
	}
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseUint(t, 10, 64)
	if err != nil {
		return 0, invalidf("otlp: bad integer %q", clip(t))
	}
	return v, nil
}

var otlpKinds = map[string]int{"SPAN_KIND_UNSPECIFIED": 0, "SPAN_KIND_INTERNAL": 1, "SPAN_KIND_SERVER": 2,
	"SPAN_KIND_CLIENT": 3, "SPAN_KIND_PRODUCER": 4, "SPAN_KIND_CONSUMER": 5,
	"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}

func jsonEnum(r *jsonReader) (int, error) {
	if r.peek() == '"' {
		s, err := r.str()
		if err != nil {
			return 0, err
		}
		v, ok := otlpKinds[s]
		if !ok {
			return 0, invalidf("otlp: unknown enum value %q", clip(s))
		}
		return v, nil
	}
	v, err := r.int64()
	return int(v), err
}

func jsonOTLPSpan(r *jsonReader, o *otlpSpan) error {
	return r.object(func(k string) error {
		if r.null() {
			return nil
		}
		var err error
		switch k {
		case "traceId":
			o.traceID, err = jsonHexID(r, "traceId")
		case "spanId":
			o.spanID, err = jsonHexID(r, "spanId")
		case "parentSpanId":
			o.parentID, err = jsonHexID(r, "parentSpanId")
		case "name":
			o.name, err = r.str()
		case "kind":
			o.kind, err = jsonEnum(r)
		case "startTimeUnixNano":
			o.start, err = jsonUint(r)
		case "endTimeUnixNano":
			o.end, err = jsonUint(r)
		case "attributes":
			o.attrs, err = jsonKVList(r, o.attrs)
		case "events":
			err = r.array(func() error {
				var e otlpEvent
				err := r.object(func(k string) error {
					if r.null() {
						return nil
					}
					var err error
					switch k {
					case "timeUnixNano":
						e.time, err = jsonUint(r)
					case "name":
						e.name, err = r.str()
					case "attributes":
						e.attrs, err = jsonKVList(r, e.attrs)
					default:
						err = r.skip()
					}
					return err
				})
				o.events = append(o.events, e)
				return err
			})
		case "status":
			err = r.object(func(k string) error {
				if r.null() {
					return nil
				}
				var err error
				switch k {
				case "code":
					o.statusCode, err = jsonEnum(r)
				case "message":
					o.statusMsg, err = r.str()
				default:
					err = r.skip()
				}
				return err
			})
		default:
			err = r.skip()
		}
		return err
	})
}

// jsonKVList appends a list of attributes to dst.
func jsonKVList(r *jsonReader, dst []otlpKV) ([]otlpKV, error) {
	err := r.array(func() error {
		kv, err := jsonKV(r, 0)
		dst = append(dst, kv)
		return err
	})
	return dst, err
}

func jsonKV(r *jsonReader, depth int) (otlpKV, error) {
	var kv otlpKV
	err := r.object(func(k string) error {
		if r.null() {
			return nil
		}
		var err error
		switch k {
		case "key":
			kv.key, err = r.str()
		case "value":
			kv.value, err = jsonAny(r, depth+1)
		default:
			err = r.skip()
		}
		return err
	})
	return kv, err
}

func jsonAny(r *jsonReader, depth int) (string, error) {
	if depth > 16 {
		return "", invalidf("otlp: attribute values nested too deeply")
	}
	var out string
	err := r.object(func(k string) error {
		if r.null() {
			return nil
		}
		var err error
		switch k {
		case "stringValue":
			out, err = r.str()
		case "boolValue":
			var b bool
			b, err = r.boolean()
			out = strconv.FormatBool(b)
		case "intValue":
			if r.peek() == '"' {
				out, err = r.str()
			} else {
				out, err = r.numberText()
			}
		case "doubleValue":
			out, err = r.scalarString()
		case "bytesValue":
			out, err = r.str()
		case "arrayValue", "kvlistValue":
			var parts []string
			err = r.object(func(k2 string) error {
				if k2 != "values" || r.null() {
					return r.skip()
				}
				return r.array(func() error {
					if k == "arrayValue" {
						s, err := jsonAny(r, depth+1)
						parts = append(parts, string(appendJSONString(nil, s)))
						return err
					}
					kv, err := jsonKV(r, depth+1)
					parts = append(parts, string(appendJSONString(nil, kv.key))+":"+string(appendJSONString(nil, kv.value)))
					return err
				})
			})
			if k == "arrayValue" {
				out = "[" + strings.Join(parts, ",") + "]"
			} else {
				out = "{" + strings.Join(parts, ",") + "}"
			}
		default:
			err = r.skip()
		}
		return err
	})
	return out, err
}
