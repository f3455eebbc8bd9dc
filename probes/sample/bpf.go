// Package sample profiles a running process with eBPF: CPU samples from a
// perf event on every CPU, and off-CPU time from the sched_switch raw
// tracepoint. Stacks (user and kernel) are collected by the kernel into a
// stack-trace map and counted in a bounded hash map keyed by process,
// thread and stack ids, so nothing crosses to user space per sample.
//
// Every sample also records the word at the user stack pointer. A Go leaf
// function that sets up no frame leaves its return address there, and a
// frame-pointer walk skips that caller (golang/go#73753); Profile uses the
// word to put the caller back when .gopclntab says the sampled pc has an SP
// delta of 0.
package sample

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
)

// Bounds of the kernel maps. A stack map entry is MaxDepth*8 bytes.
const (
	MaxDepth     = 127   // the kernel's default perf_event_max_stack
	StackEntries = 16384 // about 16 MiB of kernel memory while attached
	CountEntries = 65536
	startEntries = 16384
)

// key is the counts map key (keep in sync with the BPF programs).
//
//	0 tgid u32 | 4 tid u32 | 8 ustack s32 | 12 kstack s32 | 16 spword u64 | 24 state u32 | 28 pad
//	32 labels u64 (the goroutine's pprof label set pointer, 0 for none)
type key struct {
	Tgid, Tid      uint32
	UStack, KStack int32
	SPWord         uint64
	State, _       uint32
	Labels         uint64
}

const keySize = 40

// Stack frame of both programs (offsets from fp):
//
//	-8 scratch | -56 key (40 bytes) | -16 off-CPU start time (key+time is
//	the start value) | -72 counts value (16) | -80 task field scratch |
//	-88..-56 label record scratch (32, reused before the counts value is
//	written) | -104 label list header (16) | -368 label set value (264)
const (
	keyOff     = -56
	tmpOff     = -80
	labRecOff  = -88
	labHdrOff  = -104
	labValOff  = -368
	maxLabels  = 4
	labelBytes = 32
	labValSize = 8 + maxLabels*2*labelBytes
	labelSets  = 4096
)

// GoLabels locates a Go process's goroutine labels for the BPF program:
// the current g is at fsbase+TLS, its label set pointer at g+LabelsOff.
type GoLabels struct {
	TLS       int32 // offset of the g pointer from the thread pointer (fsbase), -8 on amd64
	LabelsOff int32 // offsetof(runtime.g, labels)
}

// startSize is the off-CPU start value: a key and the switch-out time.
const startSize = keySize + 8

// counter slots in the stats array map.
const (
	ctrSamples   = iota // samples of the target
	ctrLost             // samples not counted: counts map full
	ctrUStackErr        // user stack not collected (no frames or collision)
	ctrKStackErr        // kernel stack not collected
	ctrStartLost        // off-CPU: switch-out not recorded, start map full
	ctrLabelLost        // label set not copied: label map full
	nCounters
)

const (
	bpfFUserStack = 1 << 8
	bpfNoExist    = 1
	eexist        = 17
	ptRegsSP      = 152 // offsetof(struct pt_regs, sp) on x86-64
)

type maps struct {
	stacks, counts, stats, starts, labels *ebpf.Map
}

func newMaps(offcpu, labels bool) (*maps, error) {
	m := &maps{}
	var err error
	if labels {
		if m.labels, err = ebpf.NewMap(&ebpf.MapSpec{Name: "obs_labels", Type: ebpf.Hash, KeySize: 8,
			ValueSize: labValSize, MaxEntries: labelSets}); err != nil {
			return nil, fmt.Errorf("create label map: %w", err)
		}
	}
	m.stacks, err = ebpf.NewMap(&ebpf.MapSpec{Name: "obs_stacks", Type: ebpf.StackTrace, KeySize: 4,
		ValueSize: MaxDepth * 8, MaxEntries: StackEntries})
	if err != nil {
		return nil, fmt.Errorf("create stack map: %w", err)
	}
	vsize := uint32(8)
	if offcpu {
		vsize = 16
	}
	if m.counts, err = ebpf.NewMap(&ebpf.MapSpec{Name: "obs_counts", Type: ebpf.Hash, KeySize: keySize,
		ValueSize: vsize, MaxEntries: CountEntries}); err != nil {
		m.close()
		return nil, fmt.Errorf("create counts map: %w", err)
	}
	if m.stats, err = ebpf.NewMap(&ebpf.MapSpec{Name: "obs_stats", Type: ebpf.Array, KeySize: 4,
		ValueSize: 8, MaxEntries: nCounters}); err != nil {
		m.close()
		return nil, fmt.Errorf("create stats map: %w", err)
	}
	if offcpu {
		if m.starts, err = ebpf.NewMap(&ebpf.MapSpec{Name: "obs_starts", Type: ebpf.Hash, KeySize: 4,
			ValueSize: startSize, MaxEntries: startEntries}); err != nil {
			m.close()
			return nil, fmt.Errorf("create start map: %w", err)
		}
	}
	return m, nil
}

func (m *maps) close() {
	for _, x := range []*ebpf.Map{m.stacks, m.counts, m.stats, m.starts, m.labels} {
		if x != nil {
			x.Close()
		}
	}
}

// st64 emits *(u64 *)(fp+off) = v for a small v (cilium/ebpf has no
// 64-bit store-immediate).
func st64(off int16, v int32) asm.Instruction {
	return asm.Instruction{OpCode: asm.StoreImmOp(asm.Word).SetSize(asm.DWord), Dst: asm.R10, Offset: off, Constant: int64(v)}
}

// bump emits stats[slot] += 1, using fp-4 as scratch. Clobbers r0-r5.
func bump(stats *ebpf.Map, slot int32, label string) asm.Instructions {
	return asm.Instructions{
		asm.StoreImm(asm.R10, -4, int64(slot), asm.Word),
		asm.LoadMapPtr(asm.R1, stats.FD()),
		asm.Mov.Reg(asm.R2, asm.R10),
		asm.Add.Imm(asm.R2, -4),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, label),
		asm.Mov.Imm(asm.R1, 1),
		asm.StoreXAdd(asm.R0, asm.R1, asm.DWord),
		asm.Mov.Imm(asm.R0, 0).WithSymbol(label),
	}
}

// stackIDs emits the two bpf_get_stackid calls for the current task with
// ctx in r6, storing the ids into the key at fp+keyOff and counting failures.
func stackIDs(m *maps, keyOff int16, tag string) asm.Instructions {
	var out asm.Instructions
	for i, flags := range []int32{bpfFUserStack, 0} {
		slot, off := int32(ctrUStackErr), keyOff+8
		if i == 1 {
			slot, off = ctrKStackErr, keyOff+12
		}
		skip := fmt.Sprintf("%s_stack%d_ok", tag, i)
		out = append(out,
			asm.Mov.Reg(asm.R1, asm.R6),
			asm.LoadMapPtr(asm.R2, m.stacks.FD()),
			asm.Mov.Imm(asm.R3, flags),
			asm.FnGetStackid.Call(),
			asm.StoreMem(asm.R10, off, asm.R0, asm.Word),
			asm.JSGE.Imm(asm.R0, 0, skip),
		)
		out = append(out, bump(m.stats, slot, skip+"_b")...)
		out = append(out, asm.Mov.Imm(asm.R0, 0).WithSymbol(skip))
	}
	return out
}

// spWord emits: key.spword = *(u64 *)task_pt_regs(current)->sp, read from
// user memory (0 when unreadable). The user registers are the ones saved at
// kernel entry, so this is right for samples in kernel mode too.
func spWord(keyOff int16, tag string) asm.Instructions {
	done := tag + "_spword_done"
	return asm.Instructions{
		asm.FnGetCurrentTaskBtf.Call(),
		asm.Mov.Reg(asm.R1, asm.R0),
		asm.FnTaskPtRegs.Call(),
		asm.Mov.Reg(asm.R3, asm.R0),
		asm.Add.Imm(asm.R3, ptRegsSP),
		asm.Mov.Reg(asm.R1, asm.R10),
		asm.Add.Imm(asm.R1, -8),
		asm.Mov.Imm(asm.R2, 8),
		asm.FnProbeReadKernel.Call(),
		asm.JNE.Imm(asm.R0, 0, done),
		asm.LoadMem(asm.R3, asm.R10, -8, asm.DWord),
		asm.Mov.Reg(asm.R1, asm.R10),
		asm.Add.Imm(asm.R1, int32(keyOff+16)),
		asm.Mov.Imm(asm.R2, 8),
		asm.FnProbeReadUser.Call(),
		asm.Mov.Imm(asm.R0, 0).WithSymbol(done),
	}
}

// threadFSBase is offsetof(struct task_struct, thread.fsbase), from BTF.
func threadFSBase() (uint32, error) {
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		return 0, fmt.Errorf("kernel BTF: %w", err)
	}
	var ts *btf.Struct
	if err := spec.TypeByName("task_struct", &ts); err != nil {
		return 0, fmt.Errorf("kernel BTF task_struct: %w", err)
	}
	for _, mb := range ts.Members {
		if mb.Name != "thread" {
			continue
		}
		th, ok := btf.UnderlyingType(mb.Type).(*btf.Struct)
		if !ok {
			break
		}
		for _, f := range th.Members {
			if f.Name == "fsbase" {
				return mb.Offset.Bytes() + f.Offset.Bytes(), nil
			}
		}
	}
	return 0, errors.New("kernel BTF: no task_struct.thread.fsbase")
}

// labelInsns emits, for a Go target, key.labels = current g's label set
// pointer and, the first time a set is seen, a copy of up to maxLabels of
// its key/value pairs (each cut to labelBytes) into the labels map. The g
// is found at fsbase+TLS as the Go runtime keeps it on amd64.
func labelInsns(m *maps, gl *GoLabels, tag string) (asm.Instructions, error) {
	if gl == nil || m.labels == nil {
		return nil, nil
	}
	fsOff, err := threadFSBase()
	if err != nil {
		return nil, err
	}
	done := tag + "_lab_done"
	// readUser emits probe_read_user(fp+dst, size, r3 already set); jumps
	// to done on failure.
	readUser := func(dst int16, size int32) asm.Instructions {
		return asm.Instructions{
			asm.Mov.Reg(asm.R1, asm.R10),
			asm.Add.Imm(asm.R1, int32(dst)),
			asm.Mov.Imm(asm.R2, size),
			asm.FnProbeReadUser.Call(),
			asm.JNE.Imm(asm.R0, 0, done),
		}
	}
	out := asm.Instructions{
		asm.FnGetCurrentTask.Call(),
		asm.Mov.Reg(asm.R3, asm.R0),
		asm.Add.Imm(asm.R3, int32(fsOff)),
		asm.Mov.Reg(asm.R1, asm.R10),
		asm.Add.Imm(asm.R1, -8),
		asm.Mov.Imm(asm.R2, 8),
		asm.FnProbeReadKernel.Call(),
		asm.JNE.Imm(asm.R0, 0, done),
		asm.LoadMem(asm.R3, asm.R10, -8, asm.DWord), // fsbase
		asm.Add.Imm(asm.R3, gl.TLS),
	}
	out = append(out, readUser(-8, 8)...) // g
	out = append(out,
		asm.LoadMem(asm.R3, asm.R10, -8, asm.DWord),
		asm.JEq.Imm(asm.R3, 0, done),
		asm.Add.Imm(asm.R3, gl.LabelsOff),
	)
	out = append(out, readUser(keyOff+32, 8)...) // g.labels
	out = append(out,
		asm.LoadMem(asm.R3, asm.R10, keyOff+32, asm.DWord),
		asm.JEq.Imm(asm.R3, 0, done),
		asm.LoadMapPtr(asm.R1, m.labels.FD()),
		asm.Mov.Reg(asm.R2, asm.R10),
		asm.Add.Imm(asm.R2, keyOff+32),
		asm.FnMapLookupElem.Call(),
		asm.JNE.Imm(asm.R0, 0, done), // already copied
		asm.LoadMem(asm.R3, asm.R10, keyOff+32, asm.DWord),
	)
	out = append(out, readUser(labHdrOff, 16)...) // list.ptr, list.len
	for off := int16(0); off < labValSize; off += 8 {
		out = append(out, st64(labValOff+off, 0))
	}
	out = append(out,
		asm.LoadMem(asm.R9, asm.R10, labHdrOff+8, asm.DWord), // len
		asm.JLE.Imm(asm.R9, maxLabels, tag+"_lab_n"),
		asm.Mov.Imm(asm.R9, maxLabels),
		asm.StoreMem(asm.R10, labValOff, asm.R9, asm.DWord).WithSymbol(tag+"_lab_n"),
	)
	store := tag + "_lab_store"
	for i := 0; i < maxLabels; i++ {
		out = append(out,
			asm.JLE.Imm(asm.R9, int32(i), store),
			asm.LoadMem(asm.R3, asm.R10, labHdrOff, asm.DWord),
			asm.Add.Imm(asm.R3, int32(32*i)),
		)
		out = append(out, readUser(labRecOff, 32)...) // {key.ptr, key.len, value.ptr, value.len}
		for j := 0; j < 2; j++ {
			lbl := fmt.Sprintf("%s_lab_%d_%d", tag, i, j)
			out = append(out,
				asm.LoadMem(asm.R2, asm.R10, labRecOff+int16(16*j)+8, asm.DWord),
				asm.JLE.Imm(asm.R2, labelBytes, lbl),
				asm.Mov.Imm(asm.R2, labelBytes),
				asm.LoadMem(asm.R3, asm.R10, labRecOff+int16(16*j), asm.DWord).WithSymbol(lbl),
				asm.Mov.Reg(asm.R1, asm.R10),
				asm.Add.Imm(asm.R1, int32(labValOff+8+int16(2*labelBytes*i)+int16(labelBytes*j))),
				asm.FnProbeReadUser.Call(),
			)
		}
	}
	out = append(out,
		asm.LoadMapPtr(asm.R1, m.labels.FD()).WithSymbol(store),
		asm.Mov.Reg(asm.R2, asm.R10),
		asm.Add.Imm(asm.R2, keyOff+32),
		asm.Mov.Reg(asm.R3, asm.R10),
		asm.Add.Imm(asm.R3, labValOff),
		asm.Mov.Imm(asm.R4, bpfNoExist),
		asm.FnMapUpdateElem.Call(),
		asm.JEq.Imm(asm.R0, 0, done),
		asm.JEq.Imm(asm.R0, -eexist, done),
	)
	out = append(out, bump(m.stats, ctrLabelLost, tag+"_lab_lost")...)
	out = append(out, asm.Mov.Imm(asm.R0, 0).WithSymbol(done))
	return out, nil
}

// addCount emits counts[key at fp+keyOff] += value, where value is a u64
// (cpu: 1) or {ns in r9, 1} (off-CPU). It uses fp+keyOff-16 for the new value.
func addCount(m *maps, keyOff int16, offcpu bool, tag string) asm.Instructions {
	found, insert, done := tag+"_found", tag+"_insert", tag+"_done"
	valOff := keyOff - 16
	var add asm.Instructions
	if offcpu {
		add = asm.Instructions{
			asm.StoreXAdd(asm.R0, asm.R9, asm.DWord).WithSymbol(found),
			asm.Mov.Imm(asm.R1, 1),
			asm.StoreXAdd(asm.R0, asm.R1, asm.DWord),
		}
		add[2].Offset = 8
	} else {
		add = asm.Instructions{
			asm.Mov.Imm(asm.R1, 1).WithSymbol(found),
			asm.StoreXAdd(asm.R0, asm.R1, asm.DWord),
		}
	}
	out := asm.Instructions{
		asm.LoadMapPtr(asm.R1, m.counts.FD()),
		asm.Mov.Reg(asm.R2, asm.R10),
		asm.Add.Imm(asm.R2, int32(keyOff)),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, insert),
	}
	out = append(out, add...)
	out = append(out, asm.Ja.Label(done))
	// insert: value = {1} or {ns, 1}
	if offcpu {
		out = append(out,
			asm.StoreMem(asm.R10, valOff, asm.R9, asm.DWord).WithSymbol(insert),
			st64(valOff+8, 1),
		)
	} else {
		out = append(out, st64(valOff, 1).WithSymbol(insert))
	}
	out = append(out,
		asm.LoadMapPtr(asm.R1, m.counts.FD()),
		asm.Mov.Reg(asm.R2, asm.R10),
		asm.Add.Imm(asm.R2, int32(keyOff)),
		asm.Mov.Reg(asm.R3, asm.R10),
		asm.Add.Imm(asm.R3, int32(valOff)),
		asm.Mov.Imm(asm.R4, bpfNoExist),
		asm.FnMapUpdateElem.Call(),
		asm.JEq.Imm(asm.R0, 0, done),
		// Another CPU inserted the same key first: add to it.
		asm.JNE.Imm(asm.R0, -eexist, tag+"_lost"),
		asm.LoadMapPtr(asm.R1, m.counts.FD()),
		asm.Mov.Reg(asm.R2, asm.R10),
		asm.Add.Imm(asm.R2, int32(keyOff)),
		asm.FnMapLookupElem.Call(),
		asm.JNE.Imm(asm.R0, 0, found),
		asm.Mov.Imm(asm.R0, 0).WithSymbol(tag+"_lost"),
	)
	out = append(out, bump(m.stats, ctrLost, tag+"_lostb")...)
	out = append(out, asm.Mov.Imm(asm.R0, 0).WithSymbol(done))
	return out
}

// cpuProgram: perf_event program counting (tgid, tid, stacks, sp word) for
// samples whose current task belongs to tgid.
func cpuProgram(m *maps, tgid uint32, gl *GoLabels) (*ebpf.Program, error) {
	lab, err := labelInsns(m, gl, "cpu")
	if err != nil {
		return nil, err
	}
	insns := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.FnGetCurrentPidTgid.Call(),
		asm.Mov.Reg(asm.R7, asm.R0),
		asm.RSh.Imm(asm.R0, 32),
		asm.JNE.Imm(asm.R0, int32(tgid), "exit"),
		st64(keyOff+16, 0),
		st64(keyOff+24, 0),
		st64(keyOff+32, 0),
		asm.StoreMem(asm.R10, keyOff, asm.R0, asm.Word),
		asm.StoreMem(asm.R10, keyOff+4, asm.R7, asm.Word),
	}
	insns = append(insns, bump(m.stats, ctrSamples, "samples")...)
	insns = append(insns, stackIDs(m, keyOff, "cpu")...)
	insns = append(insns, spWord(keyOff, "cpu")...)
	insns = append(insns, lab...)
	insns = append(insns, addCount(m, keyOff, false, "cpu")...)
	insns = append(insns,
		asm.Mov.Imm(asm.R0, 0).WithSymbol("exit"),
		asm.Return(),
	)
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: "obs_cpu", Type: ebpf.PerfEvent, License: "GPL", Instructions: insns})
	if err != nil {
		return nil, fmt.Errorf("load cpu sampling program: %w", err)
	}
	return p, nil
}

// taskOffsets returns offsetof(struct task_struct, pid) and tgid from BTF.
func taskOffsets() (pid, tgid uint32, err error) {
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		return 0, 0, fmt.Errorf("kernel BTF: %w", err)
	}
	var ts *btf.Struct
	if err := spec.TypeByName("task_struct", &ts); err != nil {
		return 0, 0, fmt.Errorf("kernel BTF task_struct: %w", err)
	}
	found := 0
	for _, mb := range ts.Members {
		switch mb.Name {
		case "pid":
			pid = mb.Offset.Bytes()
			found++
		case "tgid":
			tgid = mb.Offset.Bytes()
			found++
		}
	}
	if found != 2 {
		return 0, 0, errors.New("kernel BTF: task_struct has no pid/tgid")
	}
	return pid, tgid, nil
}

// offcpuProgram: raw tracepoint sched_switch(preempt, prev, next,
// prev_state). When a thread of tgid is switched out, its stacks and the
// time are stored by tid; when it is switched back in, the time it was off
// is added to the counts of those stacks.
func offcpuProgram(m *maps, tgid uint32, gl *GoLabels) (*ebpf.Program, error) {
	pidOff, tgidOff, err := taskOffsets()
	if err != nil {
		return nil, err
	}
	lab, err := labelInsns(m, gl, "out")
	if err != nil {
		return nil, err
	}
	const tmp = tmpOff
	readTask := func(reg asm.Register, off uint32) asm.Instructions {
		// *(u32*)(fp+tmp) = task->field
		return asm.Instructions{
			asm.Mov.Reg(asm.R1, asm.R10),
			asm.Add.Imm(asm.R1, tmp),
			asm.Mov.Imm(asm.R2, 4),
			asm.Mov.Reg(asm.R3, reg),
			asm.Add.Imm(asm.R3, int32(off)),
			asm.FnProbeReadKernel.Call(),
			asm.StoreImm(asm.R10, tmp+4, 0, asm.Word),
		}
	}
	insns := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.LoadMem(asm.R7, asm.R6, 8, asm.DWord),  // prev
		asm.LoadMem(asm.R8, asm.R6, 16, asm.DWord), // next
		st64(tmp, 0),
	}
	// Switch-out of a target thread: remember when and where.
	insns = append(insns, readTask(asm.R7, tgidOff)...)
	insns = append(insns,
		asm.LoadMem(asm.R0, asm.R10, tmp, asm.Word),
		asm.JNE.Imm(asm.R0, int32(tgid), "in"),
		st64(keyOff+16, 0),
		st64(keyOff+24, 0),
		st64(keyOff+32, 0),
		asm.StoreMem(asm.R10, keyOff, asm.R0, asm.Word),
	)
	insns = append(insns, readTask(asm.R7, pidOff)...)
	insns = append(insns,
		asm.LoadMem(asm.R0, asm.R10, tmp, asm.Word),
		asm.StoreMem(asm.R10, keyOff+4, asm.R0, asm.Word),
		// state: 1 when the thread blocked (not preempted and prev_state
		// != 0), 0 when it was preempted and stayed runnable.
		asm.LoadMem(asm.R0, asm.R6, 0, asm.DWord),
		asm.And.Imm(asm.R0, 0xff),
		asm.JNE.Imm(asm.R0, 0, "runnable"),
		asm.LoadMem(asm.R0, asm.R6, 24, asm.DWord),
		asm.Mov.Reg32(asm.R0, asm.R0), // prev_state is an unsigned int
		asm.JEq.Imm(asm.R0, 0, "runnable"),
		asm.StoreImm(asm.R10, keyOff+24, 1, asm.Word),
		asm.Mov.Imm(asm.R0, 0).WithSymbol("runnable"),
	)
	insns = append(insns, stackIDs(m, keyOff, "out")...)
	insns = append(insns, spWord(keyOff, "out")...)
	insns = append(insns, lab...)
	insns = append(insns,
		asm.FnKtimeGetNs.Call(),
		asm.StoreMem(asm.R10, keyOff+keySize, asm.R0, asm.DWord),
		asm.LoadMapPtr(asm.R1, m.starts.FD()),
		asm.Mov.Reg(asm.R2, asm.R10),
		asm.Add.Imm(asm.R2, keyOff+4), // tid
		asm.Mov.Reg(asm.R3, asm.R10),
		asm.Add.Imm(asm.R3, keyOff),
		asm.Mov.Imm(asm.R4, 0),
		asm.FnMapUpdateElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "in"),
	)
	insns = append(insns, bump(m.stats, ctrStartLost, "startlost")...)
	// Switch-in of a target thread: charge the time it was off.
	in := readTask(asm.R8, tgidOff)
	in[0] = in[0].WithSymbol("in")
	insns = append(insns, in...)
	insns = append(insns,
		asm.LoadMem(asm.R0, asm.R10, tmp, asm.Word),
		asm.JNE.Imm(asm.R0, int32(tgid), "exit"),
	)
	insns = append(insns, readTask(asm.R8, pidOff)...)
	insns = append(insns,
		asm.LoadMapPtr(asm.R1, m.starts.FD()),
		asm.Mov.Reg(asm.R2, asm.R10),
		asm.Add.Imm(asm.R2, tmp),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "exit"),
	)
	for i := int16(0); i < startSize; i += 8 {
		insns = append(insns,
			asm.LoadMem(asm.R1, asm.R0, i, asm.DWord),
			asm.StoreMem(asm.R10, keyOff+i, asm.R1, asm.DWord),
		)
	}
	insns = append(insns,
		asm.LoadMapPtr(asm.R1, m.starts.FD()),
		asm.Mov.Reg(asm.R2, asm.R10),
		asm.Add.Imm(asm.R2, tmp),
		asm.FnMapDeleteElem.Call(),
		asm.FnKtimeGetNs.Call(),
		asm.LoadMem(asm.R1, asm.R10, keyOff+keySize, asm.DWord),
		asm.Mov.Reg(asm.R9, asm.R0),
		asm.Sub.Reg(asm.R9, asm.R1),
	)
	insns = append(insns, bump(m.stats, ctrSamples, "samples")...)
	insns = append(insns, addCount(m, keyOff, true, "off")...)
	insns = append(insns,
		asm.Mov.Imm(asm.R0, 0).WithSymbol("exit"),
		asm.Return(),
	)
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: "obs_offcpu", Type: ebpf.RawTracepoint, License: "GPL", Instructions: insns})
	if err != nil {
		return nil, fmt.Errorf("load off-CPU program: %w", err)
	}
	return p, nil
}
