package probes

import (
	"fmt"
	"math"

	"github.com/cilium/ebpf"
)

// Latency times calls from entry to return in the kernel and keeps a
// power-of-two histogram per probe. Go functions are timed from their
// emulated entry site to a uprobe on every RET and tail jump, matched by
// (goroutine, depth below the stack top), which stays true while the runtime
// copies a growing stack; C functions use an entry uprobe and a uretprobe.
// In-flight calls live in a bounded LRU map.
type Latency struct {
	Probes []Probe
	Sites  []AttachedSite
	starts *ebpf.Map
	hist   *ebpf.Map
	sess   session
	base   []Histogram
}

// Histogram is a latency distribution: Buckets[i] counts durations in
// [2^i, 2^(i+1)) ns (bucket 0 also holds 0 and 1).
type Histogram struct {
	Buckets [histBuckets]uint64
	Count   uint64
	SumNs   uint64
	MaxNs   uint64
}

// Quantile estimates the q-quantile (0..1) in ns by linear interpolation
// inside the power-of-two bucket it falls in, never above the maximum.
func (h Histogram) Quantile(q float64) uint64 {
	if h.Count == 0 {
		return 0
	}
	rank := q * float64(h.Count)
	var seen float64
	for i, c := range h.Buckets {
		if c == 0 {
			continue
		}
		if seen+float64(c) >= rank {
			lo := math.Ldexp(1, i)
			if i == 0 {
				lo = 0
			}
			hi := math.Ldexp(1, i+1)
			v := lo + (hi-lo)*((rank-seen)/float64(c))
			if v > float64(h.MaxNs) {
				v = float64(h.MaxNs)
			}
			return uint64(v)
		}
		seen += float64(c)
	}
	return h.MaxNs
}

// MeasureLatency attaches entry and return probes for each function probe.
func MeasureLatency(t *Target, probes []Probe) (*Latency, error) {
	if len(probes) == 0 {
		return nil, usagef("nothing to time")
	}
	l := &Latency{Probes: probes, base: make([]Histogram, len(probes))}
	fail := func(err error) (*Latency, error) { l.sess.Close(); return nil, err }
	var err error
	if l.starts, err = newMap("obs_lat_starts", ebpf.LRUHash, 16, 8, maxInflight); err != nil {
		return nil, err
	}
	l.sess.add(l.starts)
	if l.hist, err = newMap("obs_lat_hist", ebpf.PerCPUArray, 4, histWords*8, uint32(len(probes))); err != nil {
		return fail(err)
	}
	l.sess.add(l.hist)
	progs := map[keyMode][2]*ebpf.Program{}
	get := func(mode keyMode) ([2]*ebpf.Program, error) {
		if p, ok := progs[mode]; ok {
			return p, nil
		}
		e, err := latencyEntryProgram(l.starts, mode, multiMode())
		if err != nil {
			return [2]*ebpf.Program{}, err
		}
		l.sess.add(e)
		r, err := latencyReturnProgram(l.starts, l.hist, mode, multiMode())
		if err != nil {
			return [2]*ebpf.Program{}, err
		}
		l.sess.add(r)
		progs[mode] = [2]*ebpf.Program{e, r}
		return progs[mode], nil
	}
	var at attacher
	for i, p := range probes {
		if p.Kind == KindUSDT && len(p.Done) > 0 {
			pp, err := get(keyThread)
			if err != nil {
				return fail(err)
			}
			for _, u := range p.USDT {
				at.add(Uprobe{Path: p.Path, Offset: u.Offset, RefCtr: u.SemOff, PID: t.PID, Cookie: uint64(i)}, pp[0])
				l.Sites = append(l.Sites, AttachedSite{Probe: i, Offset: u.Offset, Inst: "nop", Cost: "emulated", Kind: "start"})
			}
			for _, u := range p.Done {
				at.add(Uprobe{Path: p.Path, Offset: u.Offset, RefCtr: u.SemOff, PID: t.PID, Cookie: uint64(i)}, pp[1])
				l.Sites = append(l.Sites, AttachedSite{Probe: i, Offset: u.Offset, Inst: "nop", Cost: "emulated", Kind: "done"})
			}
			continue
		}
		if p.Kind != KindFunc {
			return fail(usagef("%s: latency takes functions or USDT pairs (usdt:P:START..DONE)", p.Name))
		}
		mode := keyC
		if p.IsGo {
			mode = keyGo
		}
		pp, err := get(mode)
		if err != nil {
			return fail(err)
		}
		entry := Uprobe{Path: p.Path, Offset: p.Func.Offset + p.Entry.Off, PID: t.PID, Cookie: uint64(i)}
		if !p.IsGo {
			// C: time from the first instruction to a uretprobe.
			entry.Offset = p.Func.Offset
		}
		at.add(entry, pp[0])
		l.Sites = append(l.Sites, AttachedSite{Probe: i, Offset: entry.Offset, Inst: p.Entry.Inst, Cost: string(p.Entry.Cost), Kind: "entry"})
		if !p.IsGo {
			at.add(Uprobe{Path: p.Path, Offset: p.Func.Offset, PID: t.PID, Cookie: uint64(i), Ret: true}, pp[1])
			l.Sites = append(l.Sites, AttachedSite{Probe: i, Offset: p.Func.Offset, Inst: "uretprobe", Cost: "return trampoline", Kind: "ret"})
			continue
		}
		rets, err := t.returnSites(p)
		if err != nil {
			return fail(err)
		}
		for _, s := range rets {
			off := p.Func.Offset + s.Off
			at.add(Uprobe{Path: p.Path, Offset: off, PID: t.PID, Cookie: uint64(i)}, pp[1])
			l.Sites = append(l.Sites, AttachedSite{Probe: i, Offset: off, Inst: s.Inst, Cost: string(s.Cost), Kind: string(s.Kind)})
		}
	}
	if err := at.attach(&l.sess); err != nil {
		return fail(err)
	}
	return l, nil
}

func (l *Latency) raw(i int) (Histogram, error) {
	var vals [][histWords]uint64
	var h Histogram
	if err := l.hist.Lookup(uint32(i), &vals); err != nil {
		return h, fmt.Errorf("read histogram: %w", err)
	}
	for _, v := range vals {
		for b := 0; b < histBuckets; b++ {
			h.Buckets[b] += v[b]
		}
		h.Count += v[histBuckets]
		h.SumNs += v[histBuckets+1]
		if v[histBuckets+2] > h.MaxNs {
			h.MaxNs = v[histBuckets+2]
		}
	}
	return h, nil
}

// Read returns each probe's histogram since attach or the last Reset. After
// a Reset the maximum is the maximum since attach (kept per CPU in the
// kernel), bounded by the largest non-empty bucket.
func (l *Latency) Read() ([]Histogram, error) {
	out := make([]Histogram, len(l.Probes))
	for i := range l.Probes {
		h, err := l.raw(i)
		if err != nil {
			return nil, err
		}
		b := l.base[i]
		for k := range h.Buckets {
			h.Buckets[k] -= b.Buckets[k]
		}
		h.Count -= b.Count
		h.SumNs -= b.SumNs
		if b.Count > 0 {
			top := -1
			for k := histBuckets - 1; k >= 0; k-- {
				if h.Buckets[k] > 0 {
					top = k
					break
				}
			}
			if top < 0 {
				h.MaxNs = 0
			} else if lim := uint64(math.Ldexp(1, top+1)); h.MaxNs > lim {
				h.MaxNs = lim
			}
		}
		out[i] = h
	}
	return out, nil
}

// Reset makes the next Read start from now.
func (l *Latency) Reset() error {
	for i := range l.Probes {
		h, err := l.raw(i)
		if err != nil {
			return err
		}
		l.base[i] = h
	}
	return nil
}

// Total is the number of completed calls timed since attach.
func (l *Latency) Total() uint64 {
	var s uint64
	for i := range l.Probes {
		h, _ := l.raw(i)
		s += h.Count
	}
	return s
}

// Close detaches every probe.
func (l *Latency) Close() error { return l.sess.Close() }
