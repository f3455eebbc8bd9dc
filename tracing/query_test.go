package tracing

import (
	"reflect"
	"strings"
	"testing"
)

func TestAnnotationQuery(t *testing.T) {
	got := ParseAnnotationQuery(" error and http.path=/x  and  http.method = GET and =v ")
	want := map[string]string{"error": "", "http.path": "/x", "http.method": "GET"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v", got)
	}
	if s := FormatAnnotationQuery(want); s != "error and http.method=GET and http.path=/x" {
		t.Fatalf("format %q", s)
	}
}

func TestQueryTestSemantics(t *testing.T) {
	tr := []Span{
		{TraceID: TraceID{Low: 1}, ID: 1, Name: "get", Timestamp: 5_000_000, Duration: 100, LocalEndpoint: &Endpoint{ServiceName: "a"}, Tags: map[string]string{"k": "v"}},
		{TraceID: TraceID{Low: 1}, ParentID: 1, ID: 2, Name: "db", Timestamp: 5_000_010, Duration: 50, LocalEndpoint: &Endpoint{ServiceName: "b"},
			RemoteEndpoint: &Endpoint{ServiceName: "pg"}, Annotations: []Annotation{{Timestamp: 5_000_020, Value: "retry"}}},
	}
	for _, c := range []struct {
		q    Query
		want bool
	}{
		{Query{}, true},
		{Query{ServiceName: "a", SpanName: "get"}, true},
		{Query{ServiceName: "a", SpanName: "db"}, false},
		{Query{ServiceName: "b", RemoteServiceName: "pg", AnnotationQuery: map[string]string{"retry": ""}}, true},
		{Query{ServiceName: "a", AnnotationQuery: map[string]string{"retry": ""}}, false},
		{Query{AnnotationQuery: map[string]string{"retry": "", "k": "v"}}, true},
		{Query{AnnotationQuery: map[string]string{"k": "w"}}, false},
		{Query{MinDuration: 60}, true},
		{Query{ServiceName: "b", MinDuration: 60}, false},
		{Query{MinDuration: 60, MaxDuration: 90}, false},
		{Query{EndTs: 5000, Lookback: 1}, true},
		{Query{EndTs: 4000, Lookback: 1000}, false},
		{Query{ServiceName: "nope"}, false},
	} {
		if got := c.q.Test(tr); got != c.want {
			t.Errorf("%+v: %v, want %v", c.q, got, c.want)
		}
	}
}

func FuzzAnnotationQuery(f *testing.F) {
	f.Add("error and http.path=/x")
	f.Add("a=b=c and  and =")
	f.Fuzz(func(t *testing.T, s string) {
		for k, v := range ParseAnnotationQuery(s) {
			if k == "" || strings.TrimSpace(k) != k || strings.Contains(k, "=") || strings.TrimSpace(v) != v {
				t.Fatalf("%q: bad term %q=%q", s, k, v)
			}
		}
	})
}
