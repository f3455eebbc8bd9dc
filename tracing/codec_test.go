package tracing

import (
	"bytes"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func sampleSpans() []Span {
	fe := &Endpoint{ServiceName: "frontend", IPv4: netip.MustParseAddr("172.17.0.13"), Port: 8080}
	be := &Endpoint{ServiceName: "backend", IPv4: netip.MustParseAddr("172.17.0.9"), IPv6: netip.MustParseAddr("2001:db8::c001"), Port: 9000}
	tid := TraceID{High: 0x5af7183fb1d4cf5f, Low: 0x86f7da1c2b7b3c4d}
	return []Span{
		{TraceID: tid, ID: 0x352bff9a74ca9ad2, Kind: KindServer, Name: "get /api", Timestamp: 1556604172355737, Duration: 1431,
			LocalEndpoint: fe, Tags: map[string]string{"http.method": "GET", "http.path": "/api"}},
		{TraceID: tid, ParentID: 0x352bff9a74ca9ad2, ID: 0x6b221d5bc9e6496c, Kind: KindClient, Name: "get", Timestamp: 1556604172355800, Duration: 1000,
			LocalEndpoint: fe, RemoteEndpoint: &Endpoint{ServiceName: "backend", IPv4: netip.MustParseAddr("172.17.0.9"), Port: 9000},
			Annotations: []Annotation{{Timestamp: 1556604172355900, Value: "wire \"send\"\n"}},
			Tags:        map[string]string{"error": "", "unicode": "héllo \u2028 ☃"}, Debug: true},
		{TraceID: tid, ParentID: 0x352bff9a74ca9ad2, ID: 0x6b221d5bc9e6496c, Kind: KindServer, Name: "get", Timestamp: 1556604172355850, Duration: 800,
			LocalEndpoint: be, Shared: true},
		{TraceID: TraceID{Low: 1}, ID: 2, Name: "local work", Timestamp: 10, Duration: 5, LocalEndpoint: &Endpoint{ServiceName: "batch"}},
		{TraceID: TraceID{Low: 7}, ID: 8, Kind: KindProducer, Name: "send", Timestamp: 20, Duration: 3, LocalEndpoint: &Endpoint{ServiceName: "q"},
			RemoteEndpoint: &Endpoint{ServiceName: "kafka"}},
		{TraceID: TraceID{Low: 7}, ParentID: 8, ID: 9, Kind: KindConsumer, Name: "recv", Timestamp: 40, Duration: 2, LocalEndpoint: &Endpoint{ServiceName: "w"},
			RemoteEndpoint: &Endpoint{ServiceName: "kafka"}},
	}
}

func normalized(t *testing.T, in []Span) []Span {
	t.Helper()
	out := make([]Span, len(in))
	copy(out, in)
	for i := range out {
		if err := Normalize(&out[i]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func TestJSONV2RoundTrip(t *testing.T) {
	want := normalized(t, sampleSpans())
	b := EncodeJSONV2(want)
	got, err := DecodeJSONV2(b)
	if err != nil {
		t.Fatalf("decode: %v\n%s", err, b)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip differs:\n got %+v\nwant %+v", got, want)
	}
	if b2 := EncodeJSONV2(got); !bytes.Equal(b, b2) {
		t.Fatalf("re-encoding differs:\n%s\n%s", b, b2)
	}
}

func TestJSONV2ExactOutput(t *testing.T) {
	// Field order, omitted fields and escaping as Zipkin's API writes them.
	in := `[{"shared":true,"tags":{"b":"2","a":"1"},"name":"GET","id":"0000000000000002","traceId":"00000000000000000000000000000001",
	  "kind":"SERVER","timestamp":5,"duration":0,"debug":false,"parentId":"0000000000000002",
	  "localEndpoint":{"port":80,"ipv4":"::ffff:10.0.0.1","serviceName":"Web"},"remoteEndpoint":{},
	  "annotations":[{"value":"b","timestamp":7},{"value":"a","timestamp":7},{"value":"a","timestamp":7}]}]`
	got, err := DecodeJSONV2([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"traceId":"0000000000000001","id":"0000000000000002","kind":"SERVER","name":"get","timestamp":5,` +
		`"localEndpoint":{"serviceName":"web","ipv4":"10.0.0.1","port":80},` +
		`"annotations":[{"timestamp":7,"value":"a"},{"timestamp":7,"value":"b"}],"tags":{"a":"1","b":"2"},"shared":true}]`
	if s := string(EncodeJSONV2(got)); s != want {
		t.Fatalf("got  %s\nwant %s", s, want)
	}
	esc := string(appendJSONString(nil, "a\"\\\x01\t<>/\u2028"))
	if esc != `"a\"\\\u0001\t<>/\u2028"` {
		t.Fatalf("escape: %s", esc)
	}
}

func TestNormalizeRules(t *testing.T) {
	cases := []struct {
		in      string
		trace   string
		id      string
		parent  string
		ts, dur int64
	}{
		{`{"traceId":"48485A3953BB6124","id":"1"}`, "48485a3953bb6124", "0000000000000001", "", 0, 0},
		{`{"traceId":"abc","id":"abc","parentId":"abc"}`, "0000000000000abc", "0000000000000abc", "", 0, 0},
		{`{"traceId":"0000000000000000463ac35c9f6413ad","id":"1","parentId":"0000000000000000"}`, "463ac35c9f6413ad", "0000000000000001", "", 0, 0},
		{`{"traceId":"1463ac35c9f6413ad","id":"1","timestamp":-5,"duration":-1}`, "00000000000000001463ac35c9f6413ad"[1:], "0000000000000001", "", 0, 0},
		{`{"traceId":"1","id":"2","parentId":"3","timestamp":1.5e3}`, "0000000000000001", "0000000000000002", "0000000000000003", 1500, 0},
	}
	for _, c := range cases {
		s, err := DecodeJSONV2Span([]byte(c.in))
		if err != nil {
			t.Fatalf("%s: %v", c.in, err)
		}
		parent := ""
		if s.ParentID != 0 {
			parent = s.ParentID.String()
		}
		if s.TraceID.String() != c.trace || s.ID.String() != c.id || parent != c.parent || s.Timestamp != c.ts || s.Duration != c.dur {
			t.Errorf("%s: got trace %s id %s parent %q ts %d dur %d", c.in, s.TraceID, s.ID, parent, s.Timestamp, s.Duration)
		}
	}
	bad := map[string]string{
		`[{"id":"1"}]`:                 "no traceId",
		`[{"traceId":"1"}]`:            "no id",
		`[{"traceId":"0","id":"1"}]`:   "all zeros",
		`[{"traceId":"1","id":"0"}]`:   "all zeros",
		`[{"traceId":"xyz","id":"1"}]`: "not hex",
		`[{"traceId":"123456789012345678901234567890123","id":"1"}]`: "longer than 32",
		`[{"traceId":"1","id":"12345678901234567"}]`:                 "longer than 16",
		`[{"traceId":"1","id":"1","kind":"SIDEWAYS"}]`:               "unknown span kind",
		`{"traceId":"1","id":"1"}`:                                   "must be a list",
		`[{"traceId":"1","id":"1"}`:                                  "in array",
		`[{"traceId":"1","id":"1","localEndpoint":{"port":70000}}]`:  "out of range",
		`[{"traceId":"1","id":"1","annotations":[{"value":"x"}]}]`:   "no timestamp",
		`[] x`: "trailing data",
	}
	for in, want := range bad {
		_, err := DecodeJSONV2([]byte(in))
		if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: got %v, want one line containing %q", in, err, want)
		}
	}
}

func TestProto3RoundTrip(t *testing.T) {
	want := normalized(t, sampleSpans())
	got, err := DecodeProto3(EncodeProto3(want))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip differs:\n got %+v\nwant %+v", got, want)
	}
	// 8-byte trace ids are valid proto3.
	b := EncodeProto3([]Span{{TraceID: TraceID{Low: 0xabc}, ID: 1}})
	if b[3] != 8 {
		t.Fatalf("64-bit trace id not written as 8 bytes: % x", b)
	}
	for _, bad := range [][]byte{
		{0x0a, 0x05, 0x0a, 0x03, 1, 2, 3},                // 3-byte trace id
		{0x0a, 0x20},                                     // truncated
		{0x0a, 0x02, 0x0a},                               // truncated inner
		{0x0a, 0x0a, 0x0a, 0x08, 0, 0, 0, 0, 0, 0, 0, 1}, // no id
	} {
		if _, err := DecodeProto3(bad); err == nil || !errors.Is(err, ErrInvalid) {
			t.Errorf("% x: got %v", bad, err)
		}
	}
}

// v1 formats cannot carry everything v2 can (a shared server span loses its
// v1 timestamp field, for one), so the round trip compares what v1 keeps.
func TestV1RoundTrips(t *testing.T) {
	want := normalized(t, sampleSpans())
	for name, codec := range map[string]struct {
		enc func([]Span) []byte
		dec func([]byte) ([]Span, error)
	}{
		"json":   {EncodeJSONV1, DecodeJSONV1},
		"thrift": {EncodeThrift, DecodeThrift},
	} {
		got, err := codec.dec(codec.enc(want))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s round trip differs:\n got %s\nwant %s", name, EncodeJSONV2(got), EncodeJSONV2(want))
		}
	}
}

func TestV1SharedSpanSplits(t *testing.T) {
	in := `[{"traceId":"1","id":"2","name":"get","timestamp":100,"duration":50,
	  "annotations":[{"timestamp":100,"value":"cs","endpoint":{"serviceName":"fe"}},
	    {"timestamp":110,"value":"sr","endpoint":{"serviceName":"be"}},
	    {"timestamp":120,"value":"ss","endpoint":{"serviceName":"be"}},
	    {"timestamp":150,"value":"cr","endpoint":{"serviceName":"fe"}}],
	  "binaryAnnotations":[{"key":"http.path","value":"/x","endpoint":{"serviceName":"be"}},
	    {"key":"sa","value":true,"endpoint":{"serviceName":"db"}}]}]`
	got, err := DecodeJSONV1([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"traceId":"0000000000000001","id":"0000000000000002","kind":"CLIENT","name":"get","timestamp":100,"duration":50,` +
		`"localEndpoint":{"serviceName":"fe"},"remoteEndpoint":{"serviceName":"db"}},` +
		`{"traceId":"0000000000000001","id":"0000000000000002","kind":"SERVER","name":"get","timestamp":110,"duration":10,` +
		`"localEndpoint":{"serviceName":"be"},"tags":{"http.path":"/x"},"shared":true}]`
	if s := string(EncodeJSONV2(got)); s != want {
		t.Fatalf("got  %s\nwant %s", s, want)
	}
}

func TestThriftRejects(t *testing.T) {
	for _, bad := range [][]byte{
		{}, {tStruct, 0, 0, 0, 5}, {tI64, 0, 0, 0, 1}, {tStruct, 0x7f, 0xff, 0xff, 0xff},
	} {
		if _, err := DecodeThrift(bad); err == nil || !errors.Is(err, ErrInvalid) {
			t.Errorf("% x: got %v", bad, err)
		}
	}
}

func fuzzSeeds(f *testing.F, enc func([]Span) []byte) {
	f.Add(enc(sampleSpans()))
	f.Add(enc(sampleSpans()[:1]))
	f.Add([]byte{})
}

// checkDecoded re-encodes what a decoder accepted: anything accepted must
// survive its own JSON v2 round trip.
func checkDecoded(t *testing.T, spans []Span) {
	b := EncodeJSONV2(spans)
	again, err := DecodeJSONV2(b)
	if err != nil {
		t.Fatalf("re-decode of accepted spans failed: %v\n%s", err, b)
	}
	if !bytes.Equal(EncodeJSONV2(again), b) {
		t.Fatalf("unstable encoding:\n%s\n%s", b, EncodeJSONV2(again))
	}
}

func FuzzJSONV2(f *testing.F) {
	fuzzSeeds(f, EncodeJSONV2)
	f.Add([]byte(`[{"traceId":"1","id":"1","tags":{"a":1,"b":true},"annotations":[{"timestamp":1,"value":"\ud83d\ude00"}]}]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		spans, err := DecodeJSONV2(b)
		if err == nil {
			checkDecoded(t, spans)
		}
	})
}

func FuzzProto3(f *testing.F) {
	fuzzSeeds(f, EncodeProto3)
	f.Fuzz(func(t *testing.T, b []byte) {
		spans, err := DecodeProto3(b)
		if err == nil {
			checkDecoded(t, spans)
			if again, err := DecodeProto3(EncodeProto3(spans)); err != nil || !reflect.DeepEqual(again, spans) {
				t.Fatalf("proto3 re-encode: %v", err)
			}
		}
	})
}

func FuzzJSONV1(f *testing.F) {
	fuzzSeeds(f, EncodeJSONV1)
	f.Fuzz(func(t *testing.T, b []byte) {
		spans, err := DecodeJSONV1(b)
		if err == nil {
			checkDecoded(t, spans)
		}
	})
}

func FuzzThrift(f *testing.F) {
	fuzzSeeds(f, EncodeThrift)
	f.Fuzz(func(t *testing.T, b []byte) {
		spans, err := DecodeThrift(b)
		if err == nil {
			checkDecoded(t, spans)
		}
	})
}

func benchBatch() []Span {
	var out []Span
	for t := 0; t < 10; t++ {
		for j := 0; j < 10; j++ {
			s := Span{TraceID: TraceID{High: uint64(t+1) << 40, Low: uint64(t + 7)}, ID: ID(j + 1), Kind: KindClient, Name: "get /api/v1/item",
				Timestamp: 1764628000000000 + int64(j), Duration: 1234, LocalEndpoint: &Endpoint{ServiceName: "frontend", Port: 8080},
				RemoteEndpoint: &Endpoint{ServiceName: "backend"},
				Tags:           map[string]string{"http.method": "GET", "http.path": "/api/v1/item/3", "http.status_code": "200", "component": "net/http"}}
			if j > 0 {
				s.ParentID = 1
			}
			out = append(out, s)
		}
	}
	return out
}

// BenchmarkDecodeJSONV2 decodes a 100-span batch; b.N counts batches.
func BenchmarkDecodeJSONV2(b *testing.B) {
	body := EncodeJSONV2(benchBatch())
	b.SetBytes(int64(len(body)))
	for i := 0; i < b.N; i++ {
		if _, err := DecodeJSONV2(body); err != nil {
			b.Fatal(err)
		}
	}
}
