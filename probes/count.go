package probes

import (
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// Counter counts calls per probe in the kernel: one per-CPU array slot per
// probe, incremented by a four-instruction program. Reading costs one map
// lookup per probe; a hit costs the uprobe trap plus ~100 ns of BPF.
type Counter struct {
	Probes []Probe
	Sites  []AttachedSite
	counts *ebpf.Map
	sess   session
	base   []uint64
}

// AttachedSite records one attached instruction, for people to see what
// a probe costs.
type AttachedSite struct {
	Probe  int
	Offset uint64 // file offset
	Inst   string
	Cost   string
	Kind   string
}

// Count attaches a counting probe at every probe's entry site (each USDT
// site for USDT probes).
func Count(t *Target, probes []Probe) (*Counter, error) {
	if len(probes) == 0 {
		return nil, usagef("nothing to count")
	}
	c := &Counter{Probes: probes, base: make([]uint64, len(probes))}
	var err error
	if c.counts, err = newMap("obs_counts", ebpf.PerCPUArray, 4, 8, uint32(len(probes))); err != nil {
		return nil, err
	}
	c.sess.add(c.counts)
	prog, err := countProgram(c.counts, multiMode())
	if err != nil {
		c.sess.Close()
		return nil, err
	}
	c.sess.add(prog)
	var at attacher
	var sysSlots map[int]int
	for i, p := range probes {
		if p.Kind == KindSyscall {
			if sysSlots == nil {
				sysSlots = map[int]int{}
			}
			sysSlots[p.Nr] = i + 1
			c.Sites = append(c.Sites, AttachedSite{Probe: i, Inst: "raw_syscalls:sys_enter", Cost: "tracepoint", Kind: "syscall"})
			continue
		}
		sites, err := entryUprobes(t, p, uint64(i))
		if err != nil {
			c.sess.Close()
			return nil, err
		}
		for _, s := range sites {
			at.add(s.u, prog)
			c.Sites = append(c.Sites, AttachedSite{Probe: i, Offset: s.u.Offset, Inst: s.inst, Cost: s.cost, Kind: "entry"})
		}
	}
	if err := at.attach(&c.sess); err != nil {
		c.sess.Close()
		return nil, err
	}
	if sysSlots != nil {
		if err := c.countSyscalls(t, sysSlots); err != nil {
			c.sess.Close()
			return nil, err
		}
	}
	return c, nil
}

type plannedSite struct {
	u    Uprobe
	inst string
	cost string
}

// entryUprobes gives the uprobes for a probe's entry: the chosen entry
// instruction of a function, or every site of a USDT probe (with its
// semaphore).
func entryUprobes(t *Target, p Probe, cookie uint64) ([]plannedSite, error) {
	switch p.Kind {
	case KindSyscall:
		return nil, usagef("%s: syscall probes work with count (or obs probe syscalls)", p.Name)
	case KindUSDT:
		if len(p.Done) > 0 {
			return nil, usagef("%s: USDT pairs are for latency", p.Name)
		}
		var out []plannedSite
		for _, u := range p.USDT {
			out = append(out, plannedSite{
				u:    Uprobe{Path: p.Path, Offset: u.Offset, RefCtr: u.SemOff, PID: t.PID, Cookie: cookie},
				inst: "nop", cost: "emulated",
			})
		}
		return out, nil
	default:
		return []plannedSite{{
			u:    Uprobe{Path: p.Path, Offset: p.Func.Offset + p.Entry.Off, PID: t.PID, Cookie: cookie},
			inst: p.Entry.Inst, cost: string(p.Entry.Cost),
		}}, nil
	}
}

// Read returns the count of each probe since attach (or the last Reset).
func (c *Counter) Read() ([]uint64, error) {
	out := make([]uint64, len(c.Probes))
	for i := range c.Probes {
		v, err := perCPUSum(c.counts, uint32(i))
		if err != nil {
			return nil, fmt.Errorf("read counts: %w", err)
		}
		out[i] = v - c.base[i]
	}
	return out, nil
}

// Reset makes the next Read count from now.
func (c *Counter) Reset() error {
	for i := range c.Probes {
		v, err := perCPUSum(c.counts, uint32(i))
		if err != nil {
			return err
		}
		c.base[i] = v
	}
	return nil
}

// Total is the number of hits over all probes since attach.
func (c *Counter) Total() uint64 {
	var s uint64
	for i := range c.Probes {
		v, _ := perCPUSum(c.counts, uint32(i))
		s += v
	}
	return s
}

// Close detaches every probe.
func (c *Counter) Close() error { return c.sess.Close() }

func (c *Counter) countSyscalls(t *Target, slots map[int]int) error {
	m, err := newMap("obs_sys_slots", ebpf.Array, 4, 4, maxSyscalls)
	if err != nil {
		return err
	}
	c.sess.add(m)
	for nr, slot := range slots {
		if err := m.Put(uint32(nr), uint32(slot)); err != nil {
			return fmt.Errorf("fill syscall slots: %w", err)
		}
	}
	prog, err := syscallCountProgram(m, c.counts, uint32(t.PID))
	if err != nil {
		return err
	}
	c.sess.add(prog)
	l, err := link.AttachRawTracepoint(link.RawTracepointOptions{Name: "sys_enter", Program: prog})
	if err != nil {
		return fmt.Errorf("attach raw tracepoint sys_enter: %w", err)
	}
	c.sess.addLink(l)
	return nil
}
