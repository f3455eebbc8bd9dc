package view

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"testing"

	"github.com/obs-toolkit/obs/tracing"
)

func loadZipkin(t *testing.T, name string) ([]byte, []tracing.Span) {
	t.Helper()
	b, err := os.ReadFile("../testdata/zipkin/" + name)
	if err != nil {
		t.Fatal(err)
	}
	spans, err := tracing.DecodeJSONV2(b)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return b, spans
}

// What Zipkin wrote comes back field for field.
func TestZipkinSamplesRoundTrip(t *testing.T) {
	for _, name := range []string{"skew.json", "yelp.json", "messaging-kafka.json"} {
		raw, spans := loadZipkin(t, name)
		var want, got any
		json.Unmarshal(raw, &want)
		if err := json.Unmarshal(tracing.EncodeJSONV2(spans), &got); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: re-encoded spans differ from Zipkin's", name)
		}
	}
}

// Zipkin Lens's skew sample: serviceb's clock is 65ms behind; its server
// span and the async work under it move into servicea's client span.
func TestZipkinSkewSample(t *testing.T) {
	_, spans := loadZipkin(t, "skew.json")
	tr := Build(spans)
	if len(tr.Roots) != 1 || tr.Roots[0].Span.Name != "get" {
		t.Fatalf("root %+v", tr.Roots)
	}
	server := find(tr, "serviceb", "post")
	async := find(tr, "serviceb", "async")
	client := find(tr, "servicea", "post")
	if server.Parent != client || async.Parent != server {
		t.Fatal("tree shape")
	}
	// (94539-93577)/2 = 481µs of network each way.
	if server.Span.Timestamp != client.Span.Timestamp+481 || server.Skew != 65922 || async.Skew != 65922 {
		t.Fatalf("server at %d (skew %d), async skew %d", server.Span.Timestamp, server.Skew, async.Skew)
	}
}

func TestZipkinSampleDependencies(t *testing.T) {
	cases := map[string]map[string]int64{
		"yelp.json": {"mobile_api>blt": 1, "mobile_api>memcache": 2, "mobile_api>spectre": 1,
			"yelp-main>memcache": 3, "yelp-main>mysql": 2, "yelp-main>mobile_api": 1},
		"messaging-kafka.json": {"servicea>kafka": 9, "kafka>servicea": 4, "kafka>serviceb": 3},
	}
	for name, want := range cases {
		_, spans := loadZipkin(t, name)
		l := tracing.NewLinker()
		l.Add(spans)
		got := map[string]int64{}
		for _, d := range l.Links() {
			got[d.Parent+">"+d.Child] = d.CallCount
		}
		for k, n := range want {
			if got[k] != n {
				t.Errorf("%s: %s = %d, want %d (all: %v)", name, k, got[k], n, fmt.Sprint(got))
			}
		}
	}
}
