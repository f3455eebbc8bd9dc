package probes

import (
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// FormatNs prints nanoseconds as a rounded duration ("17.7ms").
func FormatNs(ns uint64) string {
	return time.Duration(ns).Round(time.Microsecond / 10).String()
}

// WriteQuantize prints a histogram the way DTrace's quantize() does: a
// summary line, then one row per power of two (the value is the bucket's
// lower bound, in ns) with a 40-character bar, and an empty row either side
// of the populated range.
func WriteQuantize(w io.Writer, name string, h Histogram) {
	fmt.Fprintf(w, "%s  count=%d  p50=%s  p90=%s  p99=%s  max=%s\n", name, h.Count,
		FormatNs(h.Quantile(0.5)), FormatNs(h.Quantile(0.9)), FormatNs(h.Quantile(0.99)), FormatNs(h.MaxNs))
	lo, hi := -1, -1
	var total uint64
	for i, n := range h.Buckets {
		if n > 0 {
			if lo < 0 {
				lo = i
			}
			hi = i
			total += n
		}
	}
	if total == 0 {
		fmt.Fprintf(w, "  (no completed calls)\n\n")
		return
	}
	if lo > 0 {
		lo--
	}
	if hi < len(h.Buckets)-1 {
		hi++
	}
	fmt.Fprintf(w, "%16s  %s %s\n", "value (ns)", "------------- Distribution -------------", "count")
	for i := lo; i <= hi; i++ {
		v := uint64(1) << i
		if i == 0 {
			v = 0
		}
		n := h.Buckets[i]
		bar := int(math.Round(40 * float64(n) / float64(total)))
		fmt.Fprintf(w, "%16d |%-40s %d\n", v, strings.Repeat("@", bar), n)
	}
	fmt.Fprintf(w, "\n")
}
