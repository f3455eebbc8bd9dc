package probes

import (
	"strings"
	"testing"
)

func TestWriteQuantize(t *testing.T) {
	var h Histogram
	h.Buckets[10] = 3 // 1024..2047 ns
	h.Buckets[12] = 1 // 4096..8191 ns
	h.Count, h.SumNs, h.MaxNs = 4, 3*1500+5000, 5000
	var b strings.Builder
	WriteQuantize(&b, "main.f", h)
	want := `main.f  count=4  p50=1.7µs  p90=5µs  p99=5µs  max=5µs
      value (ns)  ------------- Distribution ------------- count
             512 |                                         0
            1024 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@           3
            2048 |                                         0
            4096 |@@@@@@@@@@                               1
            8192 |                                         0

`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
	if q := h.Quantile(1); q != 5000 {
		t.Errorf("Quantile(1) = %d, want the max", q)
	}
	var empty strings.Builder
	WriteQuantize(&empty, "x", Histogram{})
	if !strings.Contains(empty.String(), "no completed calls") {
		t.Errorf("empty: %q", empty.String())
	}
}
