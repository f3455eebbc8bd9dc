package tracing

import (
	"sort"
	"strconv"
)

// V1Span is a span in Zipkin's v1 model: core annotations (cs, sr, ss, cr,
// ms, mr) say which side recorded what, binary annotations carry tags and
// addresses. Both v1 formats decode to it and convert to v2 spans.
type V1Span struct {
	TraceID           TraceID
	Name              string
	ID                ID
	ParentID          ID
	Timestamp         int64
	Duration          int64
	Debug             bool
	Annotations       []V1Annotation
	BinaryAnnotations []V1BinaryAnnotation
}

// V1Annotation is a timestamped event with the endpoint that logged it.
type V1Annotation struct {
	Timestamp int64
	Value     string
	Endpoint  *Endpoint
}

// V1BinaryAnnotation is a tag (String set) or an address annotation
// (ca, sa, ma with Bool true).
type V1BinaryAnnotation struct {
	Key      string
	String   string
	Bool     bool
	IsBool   bool
	Endpoint *Endpoint
}

// ConvertV1 turns v1 spans into v2 spans as Zipkin's collector does: a v1
// span holding both client and server annotations becomes a client span
// and a shared server span; address annotations become remote endpoints;
// "lc" marks a local span. The result is normalised.
func ConvertV1(in []V1Span) ([]Span, error) {
	var out []Span
	for i := range in {
		spans, err := convertV1(&in[i])
		if err != nil {
			return nil, err
		}
		out = append(out, spans...)
	}
	return out, nil
}

func sameEndpoint(a, b *Endpoint) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.ServiceName == b.ServiceName && a.IPv4 == b.IPv4 && a.IPv6 == b.IPv6 && a.Port == b.Port
}

func convertV1(v *V1Span) ([]Span, error) {
	if v.TraceID.IsZero() {
		return nil, invalidf("v1 span has no traceId")
	}
	if v.ID == 0 {
		return nil, invalidf("v1 span %s has no id", v.TraceID)
	}
	var cs, cr, sr, ss, ms, mr, ws, wr *V1Annotation
	for i := range v.Annotations {
		a := &v.Annotations[i]
		switch a.Value {
		case "ws":
			ws = a
		case "wr":
			wr = a
		case "cs":
			cs = a
		case "cr":
			cr = a
		case "sr":
			sr = a
		case "ss":
			ss = a
		case "ms":
			ms = a
		case "mr":
			mr = a
		}
	}
	base := Span{TraceID: v.TraceID, ID: v.ID, ParentID: v.ParentID, Name: v.Name, Debug: v.Debug}
	var spans []Span
	ep := func(as ...*V1Annotation) *Endpoint {
		for _, a := range as {
			if a != nil && a.Endpoint != nil {
				c := *a.Endpoint
				return &c
			}
		}
		return nil
	}
	client, server := -1, -1
	if cs != nil || cr != nil {
		s := base
		s.Kind = KindClient
		s.LocalEndpoint = ep(cs, cr)
		if cs != nil && cr != nil {
			s.Timestamp, s.Duration = cs.Timestamp, cr.Timestamp-cs.Timestamp
		} else if cs != nil {
			s.Timestamp = cs.Timestamp
		}
		spans = append(spans, s)
		client = len(spans) - 1
	}
	if sr != nil || ss != nil {
		s := base
		s.Kind = KindServer
		s.LocalEndpoint = ep(sr, ss)
		if sr != nil && ss != nil {
			s.Timestamp, s.Duration = sr.Timestamp, ss.Timestamp-sr.Timestamp
		} else if sr != nil {
			s.Timestamp = sr.Timestamp
		}
		if client >= 0 || v.Timestamp == 0 {
			s.Shared = true
		}
		spans = append(spans, s)
		server = len(spans) - 1
	}
	if ms != nil {
		s := base
		s.Kind = KindProducer
		s.LocalEndpoint = ep(ms)
		s.Timestamp = ms.Timestamp
		if ws != nil {
			s.Duration = ws.Timestamp - ms.Timestamp
		}
		spans = append(spans, s)
	}
	if mr != nil {
		s := base
		s.Kind = KindConsumer
		s.LocalEndpoint = ep(wr, mr)
		s.Timestamp = mr.Timestamp
		if wr != nil {
			s.Timestamp, s.Duration = wr.Timestamp, mr.Timestamp-wr.Timestamp
		}
		spans = append(spans, s)
	}
	if len(spans) == 0 {
		s := base
		for _, b := range v.BinaryAnnotations {
			if b.Key == "lc" && b.Endpoint != nil {
				c := *b.Endpoint
				s.LocalEndpoint = &c
				break
			}
		}
		if s.LocalEndpoint == nil {
			for _, a := range v.Annotations {
				if a.Endpoint != nil {
					c := *a.Endpoint
					s.LocalEndpoint = &c
					break
				}
			}
		}
		if s.LocalEndpoint == nil {
			for _, b := range v.BinaryAnnotations {
				if b.Endpoint != nil && !b.IsBool {
					c := *b.Endpoint
					s.LocalEndpoint = &c
					break
				}
			}
		}
		spans = append(spans, s)
	}
	// The v1 span's own timestamp and duration belong to the first
	// (non-shared) span.
	first := &spans[0]
	if v.Timestamp != 0 {
		first.Timestamp = v.Timestamp
	}
	if v.Duration != 0 {
		first.Duration = v.Duration
	}
	// Which span an endpoint's data goes to.
	owner := func(e *Endpoint) *Span {
		for i := range spans {
			if sameEndpoint(spans[i].LocalEndpoint, e) {
				return &spans[i]
			}
		}
		if e != nil {
			for i := range spans {
				if spans[i].LocalEndpoint != nil && spans[i].LocalEndpoint.ServiceName == e.ServiceName {
					return &spans[i]
				}
			}
		}
		return &spans[0]
	}
	for _, a := range v.Annotations {
		switch a.Value {
		case "cs", "cr", "sr", "ss", "ms", "mr":
			continue
		case "ws":
			if ms != nil {
				continue
			}
		case "wr":
			if mr != nil {
				continue
			}
		}
		s := owner(a.Endpoint)
		s.Annotations = append(s.Annotations, Annotation{Timestamp: a.Timestamp, Value: a.Value})
	}
	for _, b := range v.BinaryAnnotations {
		if b.IsBool {
			if !b.Bool || b.Endpoint == nil {
				continue
			}
			e := *b.Endpoint
			switch b.Key {
			case "sa":
				if client >= 0 {
					spans[client].RemoteEndpoint = &e
				} else if server < 0 && spans[0].Kind == KindUnspecified {
					spans[0].Kind = KindClient
					spans[0].RemoteEndpoint = &e
				}
			case "ca":
				if server >= 0 {
					spans[server].RemoteEndpoint = &e
				} else if client < 0 && spans[0].Kind == KindUnspecified {
					spans[0].Kind = KindServer
					spans[0].RemoteEndpoint = &e
				}
			case "ma":
				for i := range spans {
					if spans[i].Kind == KindProducer || spans[i].Kind == KindConsumer {
						spans[i].RemoteEndpoint = &e
					}
				}
			}
			continue
		}
		if b.Key == "lc" && b.String == "" {
			continue
		}
		s := owner(b.Endpoint)
		if s.Tags == nil {
			s.Tags = map[string]string{}
		}
		s.Tags[b.Key] = b.String
	}
	for i := range spans {
		if err := Normalize(&spans[i]); err != nil {
			return nil, err
		}
	}
	return spans, nil
}

// ToV1 converts a v2 span to the v1 model as Zipkin's v1 writers do: the
// kind becomes core annotations at the span's start and end, the remote
// endpoint an address annotation, tags binary annotations, all on the local
// endpoint. A span without kind or annotations gets an "lc" annotation.
func ToV1(s *Span) V1Span {
	v := V1Span{TraceID: s.TraceID, Name: s.Name, ID: s.ID, ParentID: s.ParentID, Debug: s.Debug}
	if !s.Shared {
		v.Timestamp, v.Duration = s.Timestamp, s.Duration
	}
	local := s.LocalEndpoint
	var begin, end, addr string
	switch s.Kind {
	case KindClient:
		begin, end, addr = "cs", "cr", "sa"
	case KindServer:
		begin, end, addr = "sr", "ss", "ca"
	case KindProducer:
		begin, end, addr = "ms", "ws", "ma"
	case KindConsumer:
		begin, end, addr = "wr", "mr", "ma"
	}
	if begin != "" && s.Timestamp != 0 {
		if s.Kind == KindConsumer && s.Duration == 0 {
			begin = "mr"
		}
		v.Annotations = append(v.Annotations, V1Annotation{Timestamp: s.Timestamp, Value: begin, Endpoint: local})
		if s.Duration != 0 {
			v.Annotations = append(v.Annotations, V1Annotation{Timestamp: s.Timestamp + s.Duration, Value: end, Endpoint: local})
		}
	}
	for _, a := range s.Annotations {
		v.Annotations = append(v.Annotations, V1Annotation{Timestamp: a.Timestamp, Value: a.Value, Endpoint: local})
	}
	sort.SliceStable(v.Annotations, func(i, j int) bool { return v.Annotations[i].Timestamp < v.Annotations[j].Timestamp })
	for _, k := range s.SortedTagKeys() {
		v.BinaryAnnotations = append(v.BinaryAnnotations, V1BinaryAnnotation{Key: k, String: s.Tags[k], Endpoint: local})
	}
	if len(v.Annotations) == 0 && s.Kind == KindUnspecified && local != nil {
		if _, ok := s.Tags["lc"]; !ok {
			v.BinaryAnnotations = append(v.BinaryAnnotations, V1BinaryAnnotation{Key: "lc", String: "", Endpoint: local})
		}
	}
	if addr != "" && !s.RemoteEndpoint.IsEmpty() {
		v.BinaryAnnotations = append(v.BinaryAnnotations, V1BinaryAnnotation{Key: addr, Bool: true, IsBool: true, Endpoint: s.RemoteEndpoint})
	}
	return v
}

// DecodeJSONV1 reads a Zipkin v1 JSON list of spans and converts them to v2.
func DecodeJSONV1(b []byte) ([]Span, error) {
	r := &jsonReader{b: b}
	if r.peek() != '[' {
		return nil, invalidf("json v1 body must be a list of spans")
	}
	var v1 []V1Span
	err := r.array(func() error {
		var s V1Span
		if err := decodeV1SpanJSON(r, &s); err != nil {
			return err
		}
		v1 = append(v1, s)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := r.end(); err != nil {
		return nil, err
	}
	return ConvertV1(v1)
}

func decodeV1SpanJSON(r *jsonReader, s *V1Span) error {
	if r.peek() != '{' {
		return r.errf("span must be an object")
	}
	var traceHigh string
	var traceID string
	err := r.object(func(k string) error {
		if r.null() {
			return nil
		}
		var err error
		var v string
		switch k {
		case "traceId":
			traceID, err = r.str()
		case "traceIdHigh":
			traceHigh, err = r.str()
		case "id":
			if v, err = r.str(); err == nil {
				s.ID, err = ParseID(v, "id")
			}
		case "parentId":
			if v, err = r.str(); err == nil {
				s.ParentID, err = parseParentID(v)
			}
		case "name":
			s.Name, err = r.str()
		case "timestamp":
			s.Timestamp, err = r.int64()
		case "duration":
			s.Duration, err = r.int64()
		case "debug":
			s.Debug, err = r.boolean()
		case "annotations":
			err = r.array(func() error {
				var a V1Annotation
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
					case "endpoint":
						a.Endpoint, err = decodeEndpointJSON(r)
					default:
						err = r.skip()
					}
					return err
				})
				if err == nil {
					if a.Value == "" {
						return invalidf("v1 annotation has no value")
					}
					s.Annotations = append(s.Annotations, a)
				}
				return err
			})
		case "binaryAnnotations":
			err = r.array(func() error {
				var b V1BinaryAnnotation
				err := r.object(func(k string) error {
					if r.null() {
						return nil
					}
					var err error
					switch k {
					case "key":
						b.Key, err = r.str()
					case "value":
						switch r.peek() {
						case 't', 'f':
							b.IsBool = true
							b.Bool, err = r.boolean()
						case '"':
							b.String, err = r.str()
						default:
							b.String, err = r.scalarString()
						}
					case "endpoint":
						b.Endpoint, err = decodeEndpointJSON(r)
					default:
						err = r.skip()
					}
					return err
				})
				if err == nil {
					if b.Key == "" {
						return invalidf("v1 binary annotation has no key")
					}
					s.BinaryAnnotations = append(s.BinaryAnnotations, b)
				}
				return err
			})
		default:
			err = r.skip()
		}
		return err
	})
	if err != nil {
		return err
	}
	if traceID == "" {
		return invalidf("v1 span has no traceId")
	}
	t, err := ParseTraceID(traceHigh + traceID)
	if err != nil {
		return err
	}
	s.TraceID = t
	if s.ID == 0 {
		return invalidf("v1 span %s has no id", t)
	}
	return nil
}

// EncodeJSONV1 writes spans in Zipkin's v1 JSON format.
func EncodeJSONV1(spans []Span) []byte {
	dst := []byte{'['}
	for i := range spans {
		if i > 0 {
			dst = append(dst, ',')
		}
		v := ToV1(&spans[i])
		dst = append(dst, `{"traceId":"`...)
		dst = append(dst, v.TraceID.String()...)
		dst = append(dst, '"')
		if v.ParentID != 0 {
			dst = append(dst, `,"parentId":"`...)
			dst = append(dst, v.ParentID.String()...)
			dst = append(dst, '"')
		}
		dst = append(dst, `,"id":"`...)
		dst = append(dst, v.ID.String()...)
		dst = append(dst, `","name":`...)
		dst = appendJSONString(dst, v.Name)
		dst = appendTimingJSON(dst, v.Timestamp, v.Duration)
		if len(v.Annotations) > 0 {
			dst = append(dst, `,"annotations":[`...)
			for j, a := range v.Annotations {
				if j > 0 {
					dst = append(dst, ',')
				}
				dst = appendAnnotationJSON(dst, a.Timestamp, a.Value)
				if !a.Endpoint.IsEmpty() {
					dst = append(dst, `,"endpoint":`...)
					dst = appendEndpointJSON(dst, a.Endpoint)
				}
				dst = append(dst, '}')
			}
			dst = append(dst, ']')
		}
		if len(v.BinaryAnnotations) > 0 {
			dst = append(dst, `,"binaryAnnotations":[`...)
			for j, b := range v.BinaryAnnotations {
				if j > 0 {
					dst = append(dst, ',')
				}
				dst = append(dst, `{"key":`...)
				dst = appendJSONString(dst, b.Key)
				dst = append(dst, `,"value":`...)
				if b.IsBool {
					dst = strconv.AppendBool(dst, b.Bool)
				} else {
					dst = appendJSONString(dst, b.String)
				}
				if !b.Endpoint.IsEmpty() {
					dst = append(dst, `,"endpoint":`...)
					dst = appendEndpointJSON(dst, b.Endpoint)
				}
				dst = append(dst, '}')
			}
			dst = append(dst, ']')
		}
		if v.Debug {
			dst = append(dst, `,"debug":true`...)
		}
		dst = append(dst, '}')
	}
	return append(dst, ']')
}
