package probes

import (
	"errors"
	"fmt"
	"os"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/obs-toolkit/obs/probes/usdt"
)

// Every program here is built instruction by instruction at run time with
// cilium/ebpf's asm package: no compiler is needed on the host. Each program
// is small, loop-free and touches only bounded maps.

// Limits of the in-kernel state.
const (
	maxProbes    = 4096  // probe slots in the count/latency arrays
	maxInflight  = 65536 // entries awaiting their return (LRU: the oldest go first)
	histBuckets  = 64    // power-of-two buckets
	histWords    = 68    // buckets, count, sum, max, spare
	maxCaptures  = 4     // bounded copies per trace event
	maxStackKeys = 16384 // distinct stacks kept
)

func ptr(name string) int16 {
	o, ok := usdt.PtRegsOffset(name)
	if !ok {
		panic("unknown register " + name)
	}
	return int16(o)
}

// storeImm64 emits *(u64 *)(dst + off) = imm (sign-extended 32-bit), which
// asm.StoreImm does not build for double words.
func storeImm64(dst asm.Register, off int16, imm int64) asm.Instruction {
	return asm.Instruction{OpCode: asm.StoreImmOp(asm.DWord), Dst: dst, Offset: off, Constant: imm}
}

// Map access sequences the programs share. Keys and values live on the
// BPF stack at fp+off; r1-r5 are clobbered, the result is in r0.

// mapLookup emits r0 = bpf_map_lookup_elem(m, fp+keyOff), jumping to miss
// when there is no entry.
func mapLookup(m *ebpf.Map, keyOff int32, miss string) asm.Instructions {
	return asm.Instructions{
		asm.LoadMapPtr(asm.R1, m.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, keyOff),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, miss),
	}
}

// mapUpdate emits bpf_map_update_elem(m, fp+keyOff, fp+valOff, flags).
func mapUpdate(m *ebpf.Map, keyOff, valOff, flags int32) asm.Instructions {
	return asm.Instructions{
		asm.LoadMapPtr(asm.R1, m.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, keyOff),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, valOff),
		asm.Mov.Imm(asm.R4, flags),
		asm.FnMapUpdateElem.Call(),
	}
}

// mapDelete emits bpf_map_delete_elem(m, fp+keyOff).
func mapDelete(m *ebpf.Map, keyOff int32) asm.Instructions {
	return asm.Instructions{
		asm.LoadMapPtr(asm.R1, m.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, keyOff),
		asm.FnMapDeleteElem.Call(),
	}
}

// incr emits *(u64 *)(r0 + off) += 1 (not atomic: the maps it is used on
// are per CPU, or a lost update costs one count); r1 is clobbered.
func incr(off int16) asm.Instructions {
	return asm.Instructions{
		asm.LoadMem(asm.R1, asm.R0, off, asm.DWord),
		asm.Add.Imm(asm.R1, 1),
		asm.StoreMem(asm.R0, off, asm.R1, asm.DWord),
	}
}

// recordDuration adds a duration to the statistics r0 points at: the sum
// at sumOff, the maximum at sumOff+8, and one to power-of-two bucket
// log2bucket (a register holding floor(log2 ns)) of the histogram at
// histOff. r0, r1 and log2bucket are clobbered; it defines label "nomax".
func recordDuration(ns, log2bucket asm.Register, sumOff, histOff int16) asm.Instructions {
	return asm.Instructions{
		asm.LoadMem(asm.R1, asm.R0, sumOff, asm.DWord),
		asm.Add.Reg(asm.R1, ns),
		asm.StoreMem(asm.R0, sumOff, asm.R1, asm.DWord),
		asm.LoadMem(asm.R1, asm.R0, sumOff+8, asm.DWord),
		asm.JGE.Reg(asm.R1, ns, "nomax"),
		asm.StoreMem(asm.R0, sumOff+8, ns, asm.DWord),
		asm.And.Imm(log2bucket, histBuckets-1).WithSymbol("nomax"),
		asm.LSh.Imm(log2bucket, 3),
		asm.Add.Reg(asm.R0, log2bucket),
		asm.LoadMem(asm.R1, asm.R0, histOff, asm.DWord),
		asm.Add.Imm(asm.R1, 1),
		asm.StoreMem(asm.R0, histOff, asm.R1, asm.DWord),
	}
}

// bumpAt adds one to the u64 value of m under the key at fp+keyOff and
// returns 0; out labels the return, taken also when there is no entry.
func bumpAt(m *ebpf.Map, keyOff int32, out string) asm.Instructions {
	return concat(mapLookup(m, keyOff, out), incr(0), returnZero(out))
}

// returnZero emits r0 = 0 (labelled sym) and exit.
func returnZero(sym string) asm.Instructions {
	return asm.Instructions{
		asm.Mov.Imm(asm.R0, 0).WithSymbol(sym),
		asm.Return(),
	}
}

// concat joins instruction sequences into one program.
func concat(parts ...asm.Instructions) asm.Instructions {
	var out asm.Instructions
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func license() string { return "GPL" }

// newProgram loads a program. multi selects the uprobe_multi attach type
// (one link for many sites); such a program cannot be attached by a single
// perf-event uprobe.
func newProgram(multi bool, name string, typ ebpf.ProgramType, insns asm.Instructions) (*ebpf.Program, error) {
	spec := &ebpf.ProgramSpec{Name: name, Type: typ, Instructions: insns, License: license()}
	if multi {
		spec.AttachType = ebpf.AttachTraceUprobeMulti
	}
	p, err := ebpf.NewProgramWithOptions(spec, ebpf.ProgramOptions{LogSizeStart: 1 << 16})
	if err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) && os.Getenv("OBS_BPF_DEBUG") != "" {
			fmt.Fprintf(os.Stderr, "%+v\n%v\n", ve, insns)
		}
		return nil, fmt.Errorf("load BPF program %s: %w", name, explainLoad(err))
	}
	return p, nil
}

func explainLoad(err error) error {
	if errors.Is(err, os.ErrPermission) {
		return fmt.Errorf("%w (needs root or CAP_BPF+CAP_PERFMON; see 'obs doctor')", err)
	}
	return err
}

func newMap(name string, typ ebpf.MapType, key, value, entries uint32) (*ebpf.Map, error) {
	m, err := ebpf.NewMap(&ebpf.MapSpec{Name: name, Type: typ, KeySize: key, ValueSize: value, MaxEntries: entries})
	if err != nil {
		return nil, fmt.Errorf("create BPF map %s: %w", name, explainLoad(err))
	}
	return m, nil
}

// countProgram adds one to the per-CPU slot named by the attach cookie.
func countProgram(counts *ebpf.Map, multi bool) (*ebpf.Program, error) {
	insns := concat(
		asm.Instructions{
			asm.FnGetAttachCookie.Call(), // r1 = ctx already
			asm.StoreMem(asm.RFP, -4, asm.R0, asm.Word),
		},
		bumpAt(counts, -4, "out"),
	)
	return newProgram(multi, "obs_count", ebpf.Kprobe, insns)
}

// frameKey emits code that leaves a 16-byte key at fp-16 identifying the
// current call frame. For Go: (g, g.stack.hi - SP), which survives the
// runtime moving the stack when it grows, and tells recursive calls apart.
// For C: (pid_tgid, SP + adj) where adj is 8 at entry (the return address is
// still pushed) and 0 at a return probe. r6 must hold ctx; r1-r5 clobbered.
func frameKey(mode keyMode, spAdj int32) asm.Instructions {
	if mode == keyThread {
		return asm.Instructions{
			asm.FnGetCurrentPidTgid.Call(),
			asm.StoreMem(asm.RFP, -16, asm.R0, asm.DWord),
			storeImm64(asm.RFP, -8, 0),
		}
	}
	if mode == keyGo {
		return asm.Instructions{
			asm.LoadMem(asm.R3, asm.R6, ptr("r14"), asm.DWord),
			asm.StoreMem(asm.RFP, -16, asm.R3, asm.DWord),
			storeImm64(asm.RFP, -8, 0),
			asm.Add.Imm(asm.R3, 8), // &g.stack.hi
			asm.Mov.Reg(asm.R1, asm.RFP),
			asm.Add.Imm(asm.R1, -8),
			asm.Mov.Imm(asm.R2, 8),
			asm.FnProbeReadUser.Call(),
			asm.LoadMem(asm.R1, asm.RFP, -8, asm.DWord),
			asm.LoadMem(asm.R2, asm.R6, ptr("rsp"), asm.DWord),
			asm.Sub.Reg(asm.R1, asm.R2),
			asm.StoreMem(asm.RFP, -8, asm.R1, asm.DWord),
		}
	}
	return asm.Instructions{
		asm.FnGetCurrentPidTgid.Call(),
		asm.StoreMem(asm.RFP, -16, asm.R0, asm.DWord),
		asm.LoadMem(asm.R1, asm.R6, ptr("rsp"), asm.DWord),
		asm.Add.Imm(asm.R1, spAdj),
		asm.StoreMem(asm.RFP, -8, asm.R1, asm.DWord),
	}
}

// keyMode says how a latency program pairs a start with its end.
type keyMode int

const (
	keyC      keyMode = iota // (thread, SP): C entry and uretprobe
	keyGo                    // (g, g.stack.hi - SP): Go entry and RET sites
	keyThread                // thread only: USDT start/done pairs
)

// latencyEntryProgram records the entry time under the frame key.
func latencyEntryProgram(starts *ebpf.Map, mode keyMode, multi bool) (*ebpf.Program, error) {
	insns := asm.Instructions{asm.Mov.Reg(asm.R6, asm.R1)}
	insns = append(insns, frameKey(mode, 8)...)
	insns = append(insns,
		asm.FnKtimeGetNs.Call(),
		asm.StoreMem(asm.RFP, -24, asm.R0, asm.DWord),
	)
	insns = append(insns, mapUpdate(starts, -16, -24, 0)...) // BPF_ANY
	insns = append(insns,
		asm.Mov.Imm(asm.R0, 0),
		asm.Return(),
	)
	return newProgram(multi, "obs_lat_entry", ebpf.Kprobe, insns)
}

// latencyReturnProgram finds the frame's entry time, deletes it, and adds
// the elapsed time to the histogram of the probe named by the cookie.
func latencyReturnProgram(starts, hist *ebpf.Map, mode keyMode, multi bool) (*ebpf.Program, error) {
	insns := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.FnGetAttachCookie.Call(),
		asm.Mov.Reg(asm.R8, asm.R0),
	}
	insns = concat(insns,
		frameKey(mode, 0),
		mapLookup(starts, -16, "out"),
		asm.Instructions{asm.LoadMem(asm.R7, asm.R0, 0, asm.DWord)},
		mapDelete(starts, -16),
		asm.Instructions{
			asm.FnKtimeGetNs.Call(),
			asm.Sub.Reg(asm.R0, asm.R7),
			asm.Mov.Reg(asm.R7, asm.R0), // r7 = elapsed ns
		},
		log2(asm.R9, asm.R7, asm.R1),
		asm.Instructions{asm.StoreMem(asm.RFP, -20, asm.R8, asm.Word)},
		mapLookup(hist, -20, "out"),
		// count, sum, max, bucket
		incr(histBuckets*8),
		recordDuration(asm.R7, asm.R9, histBuckets*8+8, 0),
		returnZero("out"),
	)
	return newProgram(multi, "obs_lat_ret", ebpf.Kprobe, insns)
}

var labelSeq int

func label(s string) string {
	labelSeq++
	return fmt.Sprintf("%s_%d", s, labelSeq)
}

// log2 sets dst = floor(log2(src)) (0 for src 0 or 1), by halving search;
// tmp is clobbered, src is kept.
func log2(dst, src, tmp asm.Register) asm.Instructions {
	insns := asm.Instructions{asm.Mov.Imm(dst, 0)}
	v := asm.R5
	insns = append(insns, asm.Mov.Reg(v, src))
	for _, sh := range []int32{32, 16, 8, 4, 2, 1} {
		skip := label("lg")
		insns = append(insns,
			asm.Mov.Reg(tmp, v),
			asm.RSh.Imm(tmp, sh),
			asm.JEq.Imm(tmp, 0, skip),
			asm.Mov.Reg(v, tmp),
			asm.Add.Imm(dst, sh),
			asm.Mov.Reg(tmp, tmp).WithSymbol(skip),
		)
	}
	return insns
}

// Trace events, as written into the ring buffer.
const (
	evTime    = 0
	evPidTgid = 8
	evCookie  = 16
	evG       = 24
	evGoid    = 32
	evWords   = 40 // 16 words: arguments by plan (9 registers, 7 stack words)
	nWords    = 16
	evCapLen  = evWords + nWords*8 // 4 x u32 copied lengths
	evData    = evCapLen + maxCaptures*4
)

// eventSize is the fixed event size for a capture size.
func eventSize(capSize int) int { return evData + maxCaptures*capSize }

// wordSrc is where one of an event's nine words comes from.
type wordSrc struct {
	kind   int   // 0 unused, 1 register, 2 memory at register+disp
	regOff int16 // pt_regs offset
	disp   int32
	size   int32 // bytes to read for memory
}

const (
	srcNone = iota
	srcReg
	srcMem
)

// capture is a bounded copy of user memory into the event.
type capture struct {
	ptrWord  int   // index of the word holding the pointer
	lenWord  int   // index of the word holding the element count (-1: C string)
	elemSize int32 // bytes per element
}

// tracePlan is what one trace program reads.
type tracePlan struct {
	words    [nWords]wordSrc
	captures []capture
	goidOff  int64 // offset of goid in runtime.g, -1 when not Go or unknown
	isGo     bool
	capSize  int
}

// traceProgram writes one event per hit into the ring buffer; when the
// buffer is full it counts a lost event instead.
func traceProgram(rb, lost *ebpf.Map, plan tracePlan, multi bool) (*ebpf.Program, error) {
	size := int32(eventSize(plan.capSize))
	insns := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.FnGetAttachCookie.Call(),
		asm.Mov.Reg(asm.R8, asm.R0),
		asm.LoadMapPtr(asm.R1, rb.FD()),
		asm.Mov.Imm(asm.R2, size),
		asm.Mov.Imm(asm.R3, 0),
		asm.FnRingbufReserve.Call(),
		asm.JEq.Imm(asm.R0, 0, "lost"),
		asm.Mov.Reg(asm.R7, asm.R0),
		asm.StoreMem(asm.R7, evCookie, asm.R8, asm.DWord),
		asm.FnKtimeGetNs.Call(),
		asm.StoreMem(asm.R7, evTime, asm.R0, asm.DWord),
		asm.FnGetCurrentPidTgid.Call(),
		asm.StoreMem(asm.R7, evPidTgid, asm.R0, asm.DWord),
		storeImm64(asm.R7, evGoid, 0),
	}
	if plan.isGo {
		insns = append(insns,
			asm.LoadMem(asm.R3, asm.R6, ptr("r14"), asm.DWord),
			asm.StoreMem(asm.R7, evG, asm.R3, asm.DWord),
		)
		if plan.goidOff > 0 {
			insns = append(insns,
				asm.Add.Imm(asm.R3, int32(plan.goidOff)),
				asm.Mov.Reg(asm.R1, asm.R7),
				asm.Add.Imm(asm.R1, evGoid),
				asm.Mov.Imm(asm.R2, 8),
				asm.FnProbeReadUser.Call(),
			)
		}
	} else {
		insns = append(insns, storeImm64(asm.R7, evG, 0))
	}
	for i, w := range plan.words {
		off := int16(evWords + 8*i)
		switch w.kind {
		case srcReg:
			insns = append(insns,
				asm.LoadMem(asm.R1, asm.R6, w.regOff, asm.DWord),
				asm.StoreMem(asm.R7, off, asm.R1, asm.DWord))
		case srcMem:
			insns = append(insns,
				storeImm64(asm.R7, off, 0),
				asm.LoadMem(asm.R3, asm.R6, w.regOff, asm.DWord),
				asm.Add.Imm(asm.R3, w.disp),
				asm.Mov.Reg(asm.R1, asm.R7),
				asm.Add.Imm(asm.R1, int32(off)),
				asm.Mov.Imm(asm.R2, w.size),
				asm.FnProbeReadUser.Call())
		default:
			insns = append(insns, storeImm64(asm.R7, off, 0))
		}
	}
	for j := 0; j < maxCaptures; j++ {
		lenOff := int16(evCapLen + 4*j)
		if j >= len(plan.captures) {
			insns = append(insns, asm.StoreImm(asm.R7, lenOff, 0, asm.Word))
			continue
		}
		c := plan.captures[j]
		dataOff := int32(evData + j*plan.capSize)
		if c.lenWord < 0 {
			// C string: bpf_probe_read_user_str returns the copied length.
			insns = append(insns,
				asm.Mov.Reg(asm.R1, asm.R7),
				asm.Add.Imm(asm.R1, dataOff),
				asm.Mov.Imm(asm.R2, int32(plan.capSize)),
				asm.LoadMem(asm.R3, asm.R7, int16(evWords+8*c.ptrWord), asm.DWord),
				asm.FnProbeReadUserStr.Call(),
				asm.StoreMem(asm.R7, lenOff, asm.R0, asm.Word))
			continue
		}
		clamp := label("clamp")
		insns = append(insns,
			asm.LoadMem(asm.R2, asm.R7, int16(evWords+8*c.lenWord), asm.DWord),
			asm.Mul.Imm(asm.R2, c.elemSize),
			asm.JLE.Imm(asm.R2, int32(plan.capSize), clamp),
			asm.Mov.Imm(asm.R2, int32(plan.capSize)),
			asm.StoreMem(asm.R7, lenOff, asm.R2, asm.Word).WithSymbol(clamp),
			asm.Mov.Reg(asm.R1, asm.R7),
			asm.Add.Imm(asm.R1, dataOff),
			asm.LoadMem(asm.R3, asm.R7, int16(evWords+8*c.ptrWord), asm.DWord),
			asm.FnProbeReadUser.Call())
	}
	insns = append(insns,
		asm.Mov.Reg(asm.R1, asm.R7),
		asm.Mov.Imm(asm.R2, 0),
		asm.FnRingbufSubmit.Call(),
		asm.Mov.Imm(asm.R0, 0),
		asm.Return(),
	)
	insns = append(insns, bumpCounter(lost, 0, "lost")...)
	return newProgram(multi, "obs_trace", ebpf.Kprobe, insns)
}

// bumpCounter increments per-CPU array slot idx; the first instruction
// carries sym.
func bumpCounter(m *ebpf.Map, idx int32, sym string) asm.Instructions {
	return concat(
		asm.Instructions{asm.StoreImm(asm.RFP, -4, int64(idx), asm.Word).WithSymbol(sym)},
		bumpAt(m, -4, sym+"_out"),
	)
}

// stackKey is the key of the stacks map: probe, process, stack id, and
// for entry sites the return address at SP (the caller, which a
// frame-pointer walk misses before the callee has pushed its frame).
type stackKey struct {
	Probe   uint32
	Tgid    uint32
	StackID int32
	_       uint32
	Ret     uint64
}

// entryCookie marks a site where [SP] holds the return address.
const entryCookie = 1 << 30

// stacksProgram counts (probe, tgid, user stack id, caller) in a bounded
// hash; a stack that could not be taken or a full map is counted in errs.
func stacksProgram(stackMap, counts, errs *ebpf.Map, multi bool) (*ebpf.Program, error) {
	insns := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.FnGetAttachCookie.Call(),
		asm.Mov.Reg(asm.R7, asm.R0),
		asm.Mov.Reg(asm.R1, asm.R7),
		asm.And.Imm(asm.R1, entryCookie-1),
		asm.StoreMem(asm.RFP, -24, asm.R1, asm.Word),
		asm.FnGetCurrentPidTgid.Call(),
		asm.RSh.Imm(asm.R0, 32),
		asm.StoreMem(asm.RFP, -20, asm.R0, asm.Word),
		asm.StoreImm(asm.RFP, -12, 0, asm.Word),
		storeImm64(asm.RFP, -8, 0),
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.LoadMapPtr(asm.R2, stackMap.FD()),
		asm.Mov.Imm(asm.R3, 1<<8), // BPF_F_USER_STACK
		asm.FnGetStackid.Call(),
		asm.JSLT.Imm(asm.R0, 0, "err"),
		asm.StoreMem(asm.RFP, -16, asm.R0, asm.Word),
		asm.Mov.Reg(asm.R1, asm.R7),
		asm.And.Imm(asm.R1, entryCookie),
		asm.JEq.Imm(asm.R1, 0, "lookup"),
		asm.Mov.Reg(asm.R1, asm.RFP),
		asm.Add.Imm(asm.R1, -8),
		asm.Mov.Imm(asm.R2, 8),
		asm.LoadMem(asm.R3, asm.R6, ptr("rsp"), asm.DWord),
		asm.FnProbeReadUser.Call(),
		asm.LoadMapPtr(asm.R1, counts.FD()).WithSymbol("lookup"),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -24),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "new"),
		asm.Mov.Imm(asm.R1, 1),
		asm.StoreXAdd(asm.R0, asm.R1, asm.DWord),
		asm.Mov.Imm(asm.R0, 0),
		asm.Return(),
		storeImm64(asm.RFP, -32, 1).WithSymbol("new"),
	}
	insns = append(insns, mapUpdate(counts, -24, -32, 1)...) // BPF_NOEXIST
	insns = append(insns,
		asm.JEq.Imm(asm.R0, 0, "done"),
		asm.Ja.Label("err"),
		asm.Mov.Imm(asm.R0, 0).WithSymbol("done"),
		asm.Return(),
	)
	insns = append(insns, bumpCounter(errs, 0, "err")...)
	return newProgram(multi, "obs_stacks", ebpf.Kprobe, insns)
}

// Syscall statistics per syscall number, per CPU: count, errors, total ns,
// max ns, then a power-of-two histogram.
const (
	maxSyscalls = 512
	scWords     = 4 + histBuckets
)

// syscallPrograms builds the raw_syscalls sys_enter and sys_exit programs.
// Only threads of tgid are timed (every process when tgid is 0).
func syscallPrograms(starts, stats *ebpf.Map, tgid uint32) (enter, exit *ebpf.Program, err error) {
	filter := func() asm.Instructions {
		if tgid == 0 {
			return nil
		}
		return asm.Instructions{
			asm.Mov.Reg(asm.R1, asm.R7),
			asm.RSh.Imm(asm.R1, 32),
			asm.JNE.Imm(asm.R1, int32(tgid), "out"),
		}
	}
	// sys_enter(struct pt_regs *regs, long id): starts[pid_tgid] = {ts, id}
	ein := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.FnGetCurrentPidTgid.Call(),
		asm.Mov.Reg(asm.R7, asm.R0),
	}
	ein = append(ein, filter()...)
	ein = append(ein,
		asm.StoreMem(asm.RFP, -8, asm.R7, asm.DWord),
		asm.LoadMem(asm.R1, asm.R6, 8, asm.DWord),
		asm.StoreMem(asm.RFP, -16, asm.R1, asm.DWord),
		asm.FnKtimeGetNs.Call(),
		asm.StoreMem(asm.RFP, -24, asm.R0, asm.DWord),
	)
	ein = append(ein, mapUpdate(starts, -8, -24, 0)...)
	ein = append(ein,
		asm.Mov.Imm(asm.R0, 0).WithSymbol("out"),
		asm.Return(),
	)
	enter, err = newProgram(false, "obs_sys_enter", ebpf.RawTracepoint, ein)
	if err != nil {
		return nil, nil, err
	}
	// sys_exit(struct pt_regs *regs, long ret)
	xin := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.FnGetCurrentPidTgid.Call(),
		asm.Mov.Reg(asm.R7, asm.R0),
	}
	xin = append(xin, filter()...)
	// The sum's first instruction carries "ok", where error returns rejoin.
	sum := recordDuration(asm.R8, asm.R9, 16, 32)
	sum[0] = sum[0].WithSymbol("ok")
	xin = concat(xin,
		asm.Instructions{asm.StoreMem(asm.RFP, -8, asm.R7, asm.DWord)},
		mapLookup(starts, -8, "out"),
		asm.Instructions{
			asm.LoadMem(asm.R8, asm.R0, 0, asm.DWord), // start ts
			asm.LoadMem(asm.R1, asm.R0, 8, asm.DWord), // syscall id
			asm.StoreMem(asm.RFP, -12, asm.R1, asm.Word),
		},
		mapDelete(starts, -8),
		asm.Instructions{
			asm.LoadMem(asm.R1, asm.RFP, -12, asm.Word),
			asm.JGE.Imm(asm.R1, maxSyscalls, "out"),
			asm.FnKtimeGetNs.Call(),
			asm.Sub.Reg(asm.R0, asm.R8),
			asm.Mov.Reg(asm.R8, asm.R0), // r8 = elapsed
		},
		log2(asm.R9, asm.R8, asm.R1),
		mapLookup(stats, -12, "out"),
		incr(0),
		asm.Instructions{
			asm.LoadMem(asm.R1, asm.R6, 8, asm.DWord), // ret
			asm.JSGE.Imm(asm.R1, 0, "ok"),
			asm.JSLT.Imm(asm.R1, -4095, "ok"),
		},
		incr(8),
		sum,
		returnZero("out"),
	)
	exit, err = newProgram(false, "obs_sys_exit", ebpf.RawTracepoint, xin)
	if err != nil {
		enter.Close()
		return nil, nil, err
	}
	return enter, exit, nil
}

// syscallCountProgram is a raw_syscalls sys_enter program that adds one to
// counts[slots[id]-1] for the syscalls being counted (slots holds probe
// index + 1, 0 for syscalls not counted), for threads of tgid only.
func syscallCountProgram(slots, counts *ebpf.Map, tgid uint32) (*ebpf.Program, error) {
	insns := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.FnGetCurrentPidTgid.Call(),
		asm.RSh.Imm(asm.R0, 32),
		asm.JNE.Imm(asm.R0, int32(tgid), "out"),
		asm.LoadMem(asm.R1, asm.R6, 8, asm.DWord),
		asm.JGE.Imm(asm.R1, maxSyscalls, "out"),
		asm.StoreMem(asm.RFP, -4, asm.R1, asm.Word),
	}
	insns = concat(insns,
		mapLookup(slots, -4, "out"),
		asm.Instructions{
			asm.LoadMem(asm.R1, asm.R0, 0, asm.Word),
			asm.JEq.Imm(asm.R1, 0, "out"),
			asm.Add.Imm(asm.R1, -1),
			asm.StoreMem(asm.RFP, -8, asm.R1, asm.Word),
		},
		bumpAt(counts, -8, "out"),
	)
	return newProgram(false, "obs_sys_count", ebpf.RawTracepoint, insns)
}
