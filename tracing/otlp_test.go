package tracing

import (
	"encoding/binary"
	"math"
	"testing"
)

// pb builds protobuf test messages by hand.
type pb []byte

func (p pb) bytes(num int, v []byte) pb { return appendBytesField([]byte(p), num, v) }
func (p pb) str(num int, s string) pb   { return p.bytes(num, []byte(s)) }
func (p pb) msg(num int, m pb) pb       { return p.bytes(num, m) }
func (p pb) varint(num int, v uint64) pb {
	return binary.AppendUvarint(appendTag([]byte(p), num, wireVarint), v)
}
func (p pb) fixed64(num int, v uint64) pb {
	return binary.LittleEndian.AppendUint64(appendTag([]byte(p), num, wire64), v)
}

func kvStr(k, v string) pb { return pb{}.str(1, k).msg(2, pb{}.str(1, v)) }

func otlpSample() []byte {
	tid := []byte{0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6, 0x0c}
	root := pb{}.bytes(1, tid).bytes(2, []byte{0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74}).str(5, "GET /Checkout").varint(6, 2).
		fixed64(7, 1544712660000000000).fixed64(8, 1544712661000000000).
		msg(9, kvStr("http.method", "GET")).
		msg(9, pb{}.str(1, "http.status_code").msg(2, pb{}.varint(3, 500))).
		msg(9, pb{}.str(1, "retry").msg(2, pb{}.varint(2, 1))).
		msg(9, pb{}.str(1, "ratio").msg(2, pb{}.fixed64(4, math.Float64bits(0.25)))).
		msg(9, pb{}.str(1, "tags").msg(2, pb{}.msg(5, pb{}.msg(1, pb{}.str(1, "a")).msg(1, pb{}.str(1, "b"))))).
		msg(11, pb{}.fixed64(1, 1544712660500000000).str(2, "cache miss").msg(3, kvStr("key", "k1"))).
		msg(15, pb{}.str(2, "boom").varint(3, 2))
	child := pb{}.bytes(1, tid).bytes(2, []byte{0, 0, 0, 0, 0, 0, 0, 2}).bytes(4, []byte{0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74}).
		str(5, "query").varint(6, 3).fixed64(7, 1544712660100000000).fixed64(8, 1544712660300000000).
		msg(9, kvStr("peer.service", "postgres")).msg(9, kvStr("db.system", "postgresql"))
	internal := pb{}.bytes(1, tid).bytes(2, []byte{0, 0, 0, 0, 0, 0, 0, 3}).bytes(4, []byte{0, 0, 0, 0, 0, 0, 0, 2}).
		str(5, "encode").varint(6, 1).fixed64(7, 1544712660200000000).fixed64(8, 1544712660200000400).msg(15, pb{}.varint(3, 1))
	rs := pb{}.msg(1, pb{}.msg(1, kvStr("service.name", "Checkout")).msg(1, kvStr("host.name", "h1"))).
		msg(2, pb{}.msg(1, pb{}.str(1, "io.obs.http").str(2, "1.2")).msg(2, root).msg(2, child).msg(2, internal))
	return pb{}.msg(1, rs)
}

const otlpSampleJSON = `{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"Checkout"}},{"key":"host.name","value":{"stringValue":"h1"}}]},
 "scopeSpans":[{"scope":{"name":"io.obs.http","version":"1.2"},"spans":[
  {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"GET /Checkout","kind":"SPAN_KIND_SERVER",
   "startTimeUnixNano":"1544712660000000000","endTimeUnixNano":1544712661000000000,
   "attributes":[{"key":"http.method","value":{"stringValue":"GET"}},{"key":"http.status_code","value":{"intValue":"500"}},
     {"key":"retry","value":{"boolValue":true}},{"key":"ratio","value":{"doubleValue":0.25}},
     {"key":"tags","value":{"arrayValue":{"values":[{"stringValue":"a"},{"stringValue":"b"}]}}}],
   "events":[{"timeUnixNano":"1544712660500000000","name":"cache miss","attributes":[{"key":"key","value":{"stringValue":"k1"}}]}],
   "status":{"code":"STATUS_CODE_ERROR","message":"boom"}},
  {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"0000000000000002","parentSpanId":"eee19b7ec3c1b174","name":"query","kind":3,
   "startTimeUnixNano":"1544712660100000000","endTimeUnixNano":"1544712660300000000",
   "attributes":[{"key":"peer.service","value":{"stringValue":"postgres"}},{"key":"db.system","value":{"stringValue":"postgresql"}}]},
  {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"0000000000000003","parentSpanId":"0000000000000002","name":"encode","kind":1,
   "startTimeUnixNano":"1544712660200000000","endTimeUnixNano":"1544712660200000400","status":{"code":1}}]}]}]}`

const otlpWant = `[{"traceId":"5b8efff798038103d269b633813fc60c","id":"eee19b7ec3c1b174","kind":"SERVER","name":"get /checkout","timestamp":1544712660000000,"duration":1000000,` +
	`"localEndpoint":{"serviceName":"checkout"},"annotations":[{"timestamp":1544712660500000,"value":"cache miss: {\"key\":\"k1\"}"}],` +
	`"tags":{"error":"boom","http.method":"GET","http.status_code":"500","otel.scope.name":"io.obs.http","otel.scope.version":"1.2","otel.status_code":"ERROR","ratio":"0.25","retry":"true","tags":"[\"a\",\"b\"]"}},` +
	`{"traceId":"5b8efff798038103d269b633813fc60c","parentId":"eee19b7ec3c1b174","id":"0000000000000002","kind":"CLIENT","name":"query","timestamp":1544712660100000,"duration":200000,` +
	`"localEndpoint":{"serviceName":"checkout"},"remoteEndpoint":{"serviceName":"postgres"},"tags":{"db.system":"postgresql","otel.scope.name":"io.obs.http","otel.scope.version":"1.2","peer.service":"postgres"}},` +
	`{"traceId":"5b8efff798038103d269b633813fc60c","parentId":"0000000000000002","id":"0000000000000003","name":"encode","timestamp":1544712660200000,"duration":1,` +
	`"localEndpoint":{"serviceName":"checkout"},"tags":{"otel.scope.name":"io.obs.http","otel.scope.version":"1.2","otel.status_code":"OK"}}]`

func TestOTLP(t *testing.T) {
	for name, dec := range map[string]func() ([]Span, error){
		"proto": func() ([]Span, error) { return DecodeOTLPProto(otlpSample()) },
		"json":  func() ([]Span, error) { return DecodeOTLPJSON([]byte(otlpSampleJSON)) },
	} {
		spans, err := dec()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := string(EncodeJSONV2(spans)); got != otlpWant {
			t.Errorf("%s:\n got %s\nwant %s", name, got, otlpWant)
		}
	}
	for _, bad := range []string{`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz","spanId":"01"}]}]}]}`,
		`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0102","spanId":"0000000000000001"}]}]}]}`,
		`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"0000000000000001","kind":"SPAN_KIND_X"}]}]}]}`} {
		if _, err := DecodeOTLPJSON([]byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

func FuzzOTLPProto(f *testing.F) {
	f.Add(otlpSample())
	f.Fuzz(func(t *testing.T, b []byte) {
		if spans, err := DecodeOTLPProto(b); err == nil {
			checkDecoded(t, spans)
		}
	})
}

func FuzzOTLPJSON(f *testing.F) {
	f.Add([]byte(otlpSampleJSON))
	f.Fuzz(func(t *testing.T, b []byte) {
		if spans, err := DecodeOTLPJSON(b); err == nil {
			checkDecoded(t, spans)
		}
	})
}
