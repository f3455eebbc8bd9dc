package probes

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"

	"github.com/obs-toolkit/obs/internal/procfs"
	"github.com/obs-toolkit/obs/probes/goabi"
	"github.com/obs-toolkit/obs/probes/usdt"
)

// TraceOptions tune a trace.
type TraceOptions struct {
	Ret bool // also report returns (Go: at every RET; C: uretprobe)
	// Strings names USDT arguments ("arg0") to copy as C strings (a
	// char * such as python:audit's event name).
	Strings  []string
	StrSize  int // bytes copied per string or slice (default 64, at most 256)
	RingSize int // ring buffer bytes (default 1 MiB)
}

// Value is one decoded argument or result.
type Value struct {
	Name  string `json:"name"`
	Type  string `json:"type,omitempty"`
	Value string `json:"value"`
	// Raw is the value for filters: int, bool or string (nil when the
	// value could not be read).
	Raw any `json:"-"`
}

// Event is one probe hit.
type Event struct {
	Time  time.Time
	PID   int
	TID   int
	Goid  int64 // 0 when not Go or unknown
	Probe int   // index into Tracer.Probes
	Ret   bool
	Args  []Value
}

// Tracer streams one event per hit through a ring buffer. Arguments are
// read in the probe: registers by the ABI (Go's register ABI, System V for
// C, the note's specs for USDT), strings and slices copied with a bounded
// length. A full ring buffer drops events and counts them (Lost).
type Tracer struct {
	Probes []Probe
	Sites  []AttachedSite
	params [][]goabi.Param // per probe: arguments
	rets   [][]goabi.Param // per probe: results
	notes  []string        // per probe: why arguments are not named
	plans  map[uint32]tracePlan
	rb     *ebpf.Map
	lost   *ebpf.Map
	rd     *ringbuf.Reader
	sess   session
	opts   TraceOptions
	events atomic.Uint64
	mono   time.Duration // wall clock minus CLOCK_MONOTONIC
	t      *Target
	maps   map[int][]procfs.Mapping // per pid, for PIE type lookups (Next's goroutine only)
}

const retFlag = 1 << 31

// Trace attaches tracing probes.
func Trace(t *Target, probes []Probe, o TraceOptions) (*Tracer, error) {
	if len(probes) == 0 {
		return nil, usagef("nothing to trace")
	}
	if o.StrSize <= 0 {
		o.StrSize = 64
	}
	if o.StrSize > 256 {
		o.StrSize = 256
	}
	o.StrSize = (o.StrSize + 7) &^ 7
	if o.RingSize <= 0 {
		o.RingSize = 1 << 20
	}
	tr := &Tracer{Probes: probes, opts: o, plans: map[uint32]tracePlan{}, t: t,
		params: make([][]goabi.Param, len(probes)), rets: make([][]goabi.Param, len(probes)), notes: make([]string, len(probes))}
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	tr.mono = time.Duration(time.Now().UnixNano() - ts.Nano())
	fail := func(err error) (*Tracer, error) { tr.sess.Close(); return nil, err }
	var err error
	if tr.rb, err = newMap("obs_trace_rb", ebpf.RingBuf, 0, 0, uint32(o.RingSize)); err != nil {
		return nil, err
	}
	tr.sess.add(tr.rb)
	if tr.lost, err = newMap("obs_trace_lost", ebpf.PerCPUArray, 4, 8, 1); err != nil {
		return fail(err)
	}
	tr.sess.add(tr.lost)
	var at attacher
	attach := func(i int, u Uprobe, plan tracePlan, site AttachedSite) error {
		prog, err := traceProgram(tr.rb, tr.lost, plan, multiMode())
		if err != nil {
			return err
		}
		tr.sess.add(prog)
		tr.plans[uint32(u.Cookie)] = plan
		at.add(u, prog)
		tr.Sites = append(tr.Sites, site)
		return nil
	}
	for i, p := range probes {
		cookie := uint64(i)
		switch p.Kind {
		case KindSyscall:
			return fail(usagef("%s: syscall probes work with count (or obs probe syscalls)", p.Name))
		case KindUSDT:
			if len(p.Done) > 0 {
				return fail(usagef("%s: USDT pairs are for latency", p.Name))
			}
			for _, u := range p.USDT {
				plan := usdtPlan(u, o.StrSize, o.Strings)
				if err := attach(i, Uprobe{Path: p.Path, Offset: u.Offset, RefCtr: u.SemOff, PID: t.PID, Cookie: cookie}, plan,
					AttachedSite{Probe: i, Offset: u.Offset, Inst: "nop", Cost: "emulated", Kind: "usdt"}); err != nil {
					return fail(err)
				}
			}
			// All sites of one probe share the first site's argument shapes.
			tr.plans[uint32(cookie)] = usdtPlan(p.USDT[0], o.StrSize, o.Strings)
			continue
		}
		ps, perr := t.Params(p)
		if perr != nil {
			tr.notes[i] = perr.Error()
		}
		for _, q := range ps {
			if q.Result {
				tr.rets[i] = append(tr.rets[i], q)
			} else {
				tr.params[i] = append(tr.params[i], q)
			}
		}
		entry := funcPlan(p.IsGo, tr.params[i], o.StrSize, t.goidOffset(p.Path))
		if err := attach(i, Uprobe{Path: p.Path, Offset: p.Func.Offset + p.Entry.Off, PID: t.PID, Cookie: cookie}, entry,
			AttachedSite{Probe: i, Offset: p.Func.Offset + p.Entry.Off, Inst: p.Entry.Inst, Cost: string(p.Entry.Cost), Kind: "entry"}); err != nil {
			return fail(err)
		}
		if !o.Ret {
			continue
		}
		ret := funcPlan(p.IsGo, tr.rets[i], o.StrSize, t.goidOffset(p.Path))
		if !p.IsGo {
			ret = tracePlan{capSize: o.StrSize, goidOff: -1}
			ret.words[0] = wordSrc{kind: srcReg, regOff: ptr("rax")}
			if err := attach(i, Uprobe{Path: p.Path, Offset: p.Func.Offset, PID: t.PID, Cookie: cookie | retFlag, Ret: true}, ret,
				AttachedSite{Probe: i, Offset: p.Func.Offset, Inst: "uretprobe", Cost: "return trampoline", Kind: "ret"}); err != nil {
				return fail(err)
			}
			continue
		}
		sites, err := t.returnSites(p)
		if err != nil {
			return fail(err)
		}
		for _, s := range sites {
			if s.Kind == goabi.TailJump {
				// Results are not in registers yet at a tail jump.
				continue
			}
			off := p.Func.Offset + s.Off
			if err := attach(i, Uprobe{Path: p.Path, Offset: off, PID: t.PID, Cookie: cookie | retFlag}, ret,
				AttachedSite{Probe: i, Offset: off, Inst: s.Inst, Cost: string(s.Cost), Kind: "ret"}); err != nil {
				return fail(err)
			}
		}
	}
	if err := at.attach(&tr.sess); err != nil {
		return fail(err)
	}
	if tr.rd, err = ringbuf.NewReader(tr.rb); err != nil {
		return fail(fmt.Errorf("open ring buffer: %w", err))
	}
	tr.sess.add(tr.rd)
	return tr, nil
}

// funcPlan reads every argument register of the ABI (and the stack words
// of stack-passed Go values), and copies the contents of up to
// maxCaptures strings and slices.
func funcPlan(isGo bool, ps []goabi.Param, capSize int, goidOff int64) tracePlan {
	plan := tracePlan{isGo: isGo, capSize: capSize, goidOff: goidOff}
	names := wordNames(isGo, ps)
	for i, r := range names {
		if off, ok := stackOffset(r); ok {
			plan.words[i] = wordSrc{kind: srcMem, regOff: ptr("rsp"), disp: int32(off), size: 8}
			continue
		}
		plan.words[i] = wordSrc{kind: srcReg, regOff: ptr(r)}
	}
	for _, p := range ps {
		if len(plan.captures) == maxCaptures {
			break
		}
		ok := len(p.Regs) > 0
		for _, r := range p.Regs {
			ok = ok && regIndex(names, r) >= 0
		}
		if !ok {
			continue
		}
		switch p.Kind {
		case goabi.KString:
			plan.captures = append(plan.captures, capture{ptrWord: regIndex(names, p.Regs[0]), lenWord: regIndex(names, p.Regs[1]), elemSize: 1})
		case goabi.KSlice:
			es := p.ElemSize
			if es <= 0 {
				es = 1
			}
			plan.captures = append(plan.captures, capture{ptrWord: regIndex(names, p.Regs[0]), lenWord: regIndex(names, p.Regs[1]), elemSize: int32(es)})
		case goabi.KCString:
			plan.captures = append(plan.captures, capture{ptrWord: regIndex(names, p.Regs[0]), lenWord: -1})
		}
	}
	return plan
}

// wordNames lists what each event word holds: the ABI's registers, then
// the stack words ("stack+N") the parameters use.
func wordNames(isGo bool, ps []goabi.Param) []string {
	names := append([]string(nil), goabi.SysVRegs...)
	if isGo {
		names = append([]string(nil), goabi.IntRegs...)
	}
	for _, p := range ps {
		for _, r := range p.Regs {
			if _, ok := stackOffset(r); ok && regIndex(names, r) < 0 && len(names) < nWords {
				names = append(names, r)
			}
		}
	}
	return names
}

func stackOffset(name string) (int64, bool) {
	rest, ok := strings.CutPrefix(name, "stack+")
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseInt(rest, 10, 64)
	return v, err == nil
}

func regIndex(regs []string, r string) int {
	for i, x := range regs {
		if x == r {
			return i
		}
	}
	return -1
}

// usdtPlan reads each argument as its spec says.
func usdtPlan(u usdt.Probe, capSize int, strs []string) (plan tracePlan) {
	plan = tracePlan{capSize: capSize, goidOff: -1}
	defer func() {
		for _, name := range strs {
			var i int
			if _, err := fmt.Sscanf(name, "arg%d", &i); err != nil || i < 0 || i >= len(u.Args) || i >= nWords || len(plan.captures) == maxCaptures {
				continue
			}
			plan.captures = append(plan.captures, capture{ptrWord: i, lenWord: -1})
		}
	}()
	for i, a := range u.Args {
		if i == nWords {
			break
		}
		switch a.Kind {
		case usdt.ArgReg:
			plan.words[i] = wordSrc{kind: srcReg, regOff: int16(a.RegOff)}
		case usdt.ArgMem:
			plan.words[i] = wordSrc{kind: srcMem, regOff: int16(a.RegOff), disp: int32(a.Disp), size: int32(a.Size)}
		}
	}
	return plan
}

// Lost is the number of events dropped because the ring buffer was full.
func (tr *Tracer) Lost() uint64 {
	v, _ := perCPUSum(tr.lost, 0)
	return v
}

// Seen is the number of events read so far.
func (tr *Tracer) Seen() uint64 { return tr.events.Load() }

// Hits is events read plus events lost (for rate limits).
func (tr *Tracer) Hits() uint64 { return tr.Seen() + tr.Lost() }

// Note explains why probe i's arguments are shown as raw registers.
func (tr *Tracer) Note(i int) string { return tr.notes[i] }

// ErrClosed is returned by Next after Close.
var ErrClosed = errors.New("tracer closed")

// Next blocks for the next event.
func (tr *Tracer) Next() (Event, error) {
	for {
		rec, err := tr.rd.Read()
		if err != nil {
			if errors.Is(err, ringbuf.ErrClosed) || errors.Is(err, os.ErrClosed) {
				return Event{}, ErrClosed
			}
			return Event{}, err
		}
		ev, ok := tr.decode(rec.RawSample)
		if !ok {
			continue
		}
		tr.events.Add(1)
		return ev, nil
	}
}

func (tr *Tracer) decode(b []byte) (Event, bool) {
	le := binary.LittleEndian
	if len(b) < evData {
		return Event{}, false
	}
	cookie := uint32(le.Uint64(b[evCookie:]))
	plan, ok := tr.plans[cookie]
	idx := int(cookie &^ retFlag)
	if !ok || idx >= len(tr.Probes) {
		return Event{}, false
	}
	pt := le.Uint64(b[evPidTgid:])
	ev := Event{
		Time:  time.Unix(0, int64(le.Uint64(b[evTime:]))+int64(tr.mono)),
		PID:   int(pt >> 32),
		TID:   int(uint32(pt)),
		Goid:  int64(le.Uint64(b[evGoid:])),
		Probe: idx,
		Ret:   cookie&retFlag != 0,
	}
	var words [nWords]uint64
	for i := range words {
		words[i] = le.Uint64(b[evWords+8*i:])
	}
	caps := make([][]byte, len(plan.captures))
	for j := range plan.captures {
		n := int(le.Uint32(b[evCapLen+4*j:]))
		if n < 0 || n > plan.capSize {
			n = 0
		}
		start := evData + j*plan.capSize
		if start+n <= len(b) {
			caps[j] = b[start : start+n]
		}
	}
	p := tr.Probes[idx]
	switch {
	case p.Kind == KindUSDT:
		ev.Args = usdtValues(p.USDT[0], words, plan.captures, caps, plan.capSize)
	case ev.Ret && !p.IsGo:
		ev.Args = []Value{{Name: "ret", Value: fmt.Sprintf("%d", int64(words[0])), Raw: int(int64(words[0]))}}
	default:
		ps := tr.params[idx]
		if ev.Ret {
			ps = tr.rets[idx]
		}
		if ps == nil && tr.notes[idx] != "" {
			regs := goabi.SysVRegs
			if p.IsGo {
				regs = goabi.IntRegs[:4]
			}
			for i, r := range regs {
				ev.Args = append(ev.Args, Value{Name: r, Value: fmt.Sprintf("%#x", words[i])})
			}
			break
		}
		ev.Args = funcValues(p.IsGo, ps, words, caps, tr.opts.StrSize, func(a uint64) (string, bool) { return tr.goTypeName(p, ev.PID, a) })
	}
	return ev, true
}

func usdtValues(u usdt.Probe, words [nWords]uint64, cs []capture, caps [][]byte, capSize int) []Value {
	var out []Value
	for i, a := range u.Args {
		if i == nWords {
			break
		}
		if j := captureOf(cs, i); j >= 0 && j < len(caps) {
			v := Value{Name: fmt.Sprintf("arg%d", i), Type: "char*"}
			if words[i] == 0 {
				v.Value = "NULL"
			} else {
				str := strings.TrimRight(string(caps[j]), "\x00")
				v.Value, v.Raw = strconv.Quote(str), str
				if len(caps[j]) >= capSize {
					v.Value += "..."
				}
			}
			out = append(out, v)
			continue
		}
		v := words[i]
		switch a.Kind {
		case usdt.ArgConst:
			v = uint64(a.Value)
		case usdt.ArgReg:
			v >>= uint(a.SubOff * 8)
		}
		if a.Size < 8 {
			v &= 1<<(8*a.Size) - 1
		}
		s := strconv.FormatUint(v, 10)
		var raw any = rawUint(v)
		if a.Signed {
			shift := uint(64 - 8*a.Size)
			x := int64(v<<shift) >> shift
			s, raw = strconv.FormatInt(x, 10), int(x)
		}
		out = append(out, Value{Name: fmt.Sprintf("arg%d", i), Type: a.TypeName(), Value: s, Raw: raw})
	}
	return out
}

func captureOf(cs []capture, word int) int {
	for j, c := range cs {
		if c.ptrWord == word && c.lenWord < 0 {
			return j
		}
	}
	return -1
}

// rawUint gives an unsigned value to filters as an int when it fits.
func rawUint(v uint64) any {
	if v <= 1<<63-1 {
		return int(v)
	}
	return float64(v)
}

func funcValues(isGo bool, ps []goabi.Param, words [nWords]uint64, caps [][]byte, capSize int, typeName func(uint64) (string, bool)) []Value {
	names := wordNames(isGo, ps)
	word := func(r string) uint64 {
		if i := regIndex(names, r); i >= 0 {
			return words[i]
		}
		return 0
	}
	// One capture per string, slice and C-string parameter, in order; a
	// missing capture reads as empty.
	c := 0
	nextCap := func() []byte {
		var data []byte
		if c < len(caps) {
			data = caps[c]
		}
		c++
		return data
	}
	var out []Value
	for _, p := range ps {
		v := Value{Name: p.Name, Type: p.Type}
		if v.Name == "" {
			v.Name = "_"
		}
		switch p.Kind {
		case goabi.KFloat:
			if !p.OnStack || len(p.Regs) != 1 {
				v.Value = "?(" + p.Why() + ")"
				break
			}
			x := word(p.Regs[0])
			f := math.Float64frombits(x)
			if p.Size == 4 {
				f = float64(math.Float32frombits(uint32(x)))
			}
			v.Value, v.Raw = strconv.FormatFloat(f, 'g', -1, 64), f
		case goabi.KStack:
			v.Value = "?(" + p.Why() + ")"
		case goabi.KInt:
			x := word(p.Regs[0])
			if p.Size > 0 && p.Size < 8 {
				shift := uint(64 - 8*p.Size)
				x = uint64(int64(x<<shift) >> shift)
			}
			v.Value, v.Raw = strconv.FormatInt(int64(x), 10), int(int64(x))
		case goabi.KUint:
			x := word(p.Regs[0])
			if p.Size > 0 && p.Size < 8 {
				x &= 1<<(8*p.Size) - 1
			}
			v.Value, v.Raw = strconv.FormatUint(x, 10), rawUint(x)
		case goabi.KBool:
			b := word(p.Regs[0])&0xff != 0
			v.Value, v.Raw = strconv.FormatBool(b), b
		case goabi.KPtr:
			v.Value, v.Raw = fmt.Sprintf("%#x", word(p.Regs[0])), rawUint(word(p.Regs[0]))
		case goabi.KString:
			n := word(p.Regs[1])
			data := nextCap()
			v.Value, v.Raw = strconv.Quote(string(data)), string(data)
			if n > uint64(len(data)) {
				v.Value += fmt.Sprintf("...(%d bytes)", n)
			}
		case goabi.KSlice:
			n, cp := word(p.Regs[1]), word(p.Regs[2])
			data := nextCap()
			v.Value = sliceValue(p, data, n, cp)
		case goabi.KCString:
			data := nextCap()
			if word(p.Regs[0]) == 0 {
				v.Value = "NULL"
			} else {
				s := strings.TrimRight(string(data), "\x00")
				v.Value, v.Raw = strconv.Quote(s), s
				if len(data) >= capSize {
					v.Value += "..."
				}
			}
		case goabi.KIface:
			tw, dw := word(p.Regs[0]), word(p.Regs[1])
			switch {
			case tw == 0:
				v.Value, v.Raw = "nil", nil
			case typeName != nil:
				if n, ok := typeName(tw); ok {
					v.Value, v.Raw = fmt.Sprintf("(%s)%#x", n, dw), n
					break
				}
				fallthrough
			default:
				v.Value = fmt.Sprintf("{type:%#x data:%#x}", tw, dw)
			}
		default:
			var parts []string
			for _, r := range p.Regs {
				parts = append(parts, fmt.Sprintf("%#x", word(r)))
			}
			v.Value = "{" + strings.Join(parts, " ") + "}"
		}
		out = append(out, v)
	}
	return out
}

func sliceValue(p goabi.Param, data []byte, n, cp uint64) string {
	head := fmt.Sprintf("len=%d cap=%d", n, cp)
	if p.ElemSize == 1 && p.ElemKind == goabi.KUint {
		s := strconv.Quote(string(data))
		if n > uint64(len(data)) {
			s += "..."
		}
		return head + " " + s
	}
	if p.ElemSize <= 0 || p.ElemSize > 8 || p.ElemKind == goabi.KWords {
		return head
	}
	var el []string
	for off := 0; off+p.ElemSize <= len(data); off += p.ElemSize {
		var x uint64
		for k := p.ElemSize - 1; k >= 0; k-- {
			x = x<<8 | uint64(data[off+k])
		}
		switch p.ElemKind {
		case goabi.KInt:
			shift := uint(64 - 8*p.ElemSize)
			el = append(el, strconv.FormatInt(int64(x<<shift)>>shift, 10))
		case goabi.KBool:
			el = append(el, strconv.FormatBool(x != 0))
		default:
			el = append(el, strconv.FormatUint(x, 10))
		}
	}
	more := ""
	if uint64(len(el)) < n {
		more = " ..."
	}
	return head + " [" + strings.Join(el, " ") + more + "]"
}

// goTypeName names the Go type at a run-time address of pid, through the
// process's maps for PIE binaries.
func (tr *Tracer) goTypeName(p Probe, pid int, addr uint64) (string, bool) {
	bin, err := tr.t.Binary(p.Path)
	if err != nil {
		return "", false
	}
	if bin.PIE {
		if tr.maps == nil {
			tr.maps = map[int][]procfs.Mapping{}
		}
		maps, ok := tr.maps[pid]
		if !ok {
			maps, _ = procfs.Maps(pid)
			tr.maps[pid] = maps
		}
		m, ok := procfs.Find(maps, addr)
		if !ok || !m.IsFile() {
			return "", false
		}
		link, ok := bin.AddrOfOffset(addr - m.Start + m.Offset)
		if !ok {
			return "", false
		}
		addr = link
	}
	return bin.GoTypeName(addr)
}

// Close detaches every probe and ends Next.
func (tr *Tracer) Close() error { return tr.sess.Close() }
