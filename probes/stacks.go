package probes

import (
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/cilium/ebpf"

	"github.com/obs-toolkit/obs/internal/procfs"
)

// Stacks counts user stacks at probe hits in the kernel (bpf_get_stackid
// over frame pointers, which Go keeps) and symbolizes them in obs through
// /proc/PID/maps and the binaries' symbol tables. Distinct stacks are
// bounded (maxStackKeys); stacks that did not fit are counted in Dropped.
type Stacks struct {
	Probes []Probe
	Sites  []AttachedSite
	t      *Target
	ids    *ebpf.Map
	counts *ebpf.Map
	errs   *ebpf.Map
	sess   session
	mu     sync.Mutex
	maps   map[int][]procfs.Mapping
	stop   chan struct{}
	once   sync.Once
}

// Frame is one symbolized frame.
type Frame struct {
	Addr   uint64 `json:"addr"`
	Func   string `json:"func"`
	Offset uint64 `json:"offset"` // bytes into Func
	Object string `json:"object,omitempty"`
}

// String is "func+0xoff".
func (f Frame) String() string {
	if f.Func == "" {
		return fmt.Sprintf("%#x", f.Addr)
	}
	return f.Func
}

// Stack is one distinct stack and how often it was seen.
type Stack struct {
	Probe  int
	PID    int
	Count  uint64
	Frames []Frame // leaf first
}

// CollectStacks attaches stack-counting probes at each probe's entry site.
func CollectStacks(t *Target, probes []Probe) (*Stacks, error) {
	if len(probes) == 0 {
		return nil, usagef("nothing to probe")
	}
	s := &Stacks{Probes: probes, t: t, maps: map[int][]procfs.Mapping{}, stop: make(chan struct{})}
	fail := func(err error) (*Stacks, error) { s.sess.Close(); return nil, err }
	var err error
	if s.ids, err = newMap("obs_stack_ids", ebpf.StackTrace, 4, 127*8, 4096); err != nil {
		return nil, err
	}
	s.sess.add(s.ids)
	if s.counts, err = newMap("obs_stack_counts", ebpf.Hash, 24, 8, maxStackKeys); err != nil {
		return fail(err)
	}
	s.sess.add(s.counts)
	if s.errs, err = newMap("obs_stack_errs", ebpf.PerCPUArray, 4, 8, 1); err != nil {
		return fail(err)
	}
	s.sess.add(s.errs)
	prog, err := stacksProgram(s.ids, s.counts, s.errs, multiMode())
	if err != nil {
		return fail(err)
	}
	s.sess.add(prog)
	var at attacher
	for i, p := range probes {
		sites, err := entryUprobes(t, p, uint64(i))
		if err != nil {
			return fail(err)
		}
		for _, ps := range sites {
			if p.Kind == KindFunc {
				ps.u.Cookie |= entryCookie
			}
			at.add(ps.u, prog)
			s.Sites = append(s.Sites, AttachedSite{Probe: i, Offset: ps.u.Offset, Inst: ps.inst, Cost: ps.cost, Kind: "entry"})
		}
	}
	if err := at.attach(&s.sess); err != nil {
		return fail(err)
	}
	if t.PID != 0 {
		// Keep the target's maps fresh so stacks can be symbolized after it
		// exits.
		s.refresh(t.PID)
		go func() {
			tk := time.NewTicker(500 * time.Millisecond)
			defer tk.Stop()
			for {
				select {
				case <-s.stop:
					return
				case <-tk.C:
					s.refresh(t.PID)
				}
			}
		}()
	}
	return s, nil
}

func (s *Stacks) refresh(pid int) {
	if m, err := procfs.Maps(pid); err == nil {
		s.mu.Lock()
		s.maps[pid] = m
		s.mu.Unlock()
	}
}

// Dropped counts hits whose stack could not be taken or kept.
func (s *Stacks) Dropped() uint64 {
	v, _ := perCPUSum(s.errs, 0)
	return v
}

// Total is the number of hits whose stack was counted.
func (s *Stacks) Total() uint64 {
	var k stackKey
	var v uint64
	var n uint64
	it := s.counts.Iterate()
	for it.Next(&k, &v) {
		n += v
	}
	return n + s.Dropped()
}

// Read returns every stack seen, most frequent first.
func (s *Stacks) Read() ([]Stack, error) {
	var k stackKey
	var v uint64
	var out []Stack
	it := s.counts.Iterate()
	for it.Next(&k, &v) {
		var ips [127]uint64
		st := Stack{Probe: int(k.Probe), PID: int(k.Tgid), Count: v}
		if err := s.ids.Lookup(uint32(k.StackID), &ips); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return nil, fmt.Errorf("read stack %d: %w", k.StackID, err)
		} else if err != nil {
			continue
		}
		var pcs []uint64
		for _, ip := range ips {
			if ip == 0 {
				break
			}
			pcs = append(pcs, ip)
		}
		if k.Ret != 0 && len(pcs) > 0 && (len(pcs) < 2 || pcs[1] != k.Ret) {
			pcs = append([]uint64{pcs[0], k.Ret}, pcs[1:]...)
		}
		for i, ip := range pcs {
			st.Frames = append(st.Frames, s.symbolize(st.PID, ip, i > 0))
		}
		out = append(out, st)
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read stacks: %w", err)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return len(out[i].Frames) < len(out[j].Frames)
	})
	return out, nil
}

// symbolize names a user address of pid. Return addresses (not the leaf)
// are looked up one byte back so a call at a function's end names it.
func (s *Stacks) symbolize(pid int, ip uint64, isReturn bool) Frame {
	f := Frame{Addr: ip}
	look := ip
	if isReturn {
		look--
	}
	s.mu.Lock()
	maps, ok := s.maps[pid]
	s.mu.Unlock()
	if !ok {
		s.refresh(pid)
		s.mu.Lock()
		maps, ok = s.maps[pid]
		s.mu.Unlock()
	}
	path, fileOff := s.t.Exe, uint64(0)
	haveOff := false
	if ok {
		if m, found := procfs.Find(maps, look); found && m.IsFile() {
			path = procfs.HostPath(pid, m.Path)
			fileOff = look - m.Start + m.Offset
			haveOff = true
		}
	}
	bin, err := s.t.Binary(path)
	if err != nil {
		return f
	}
	addr := look
	if haveOff {
		a, ok := bin.AddrOfOffset(fileOff)
		if !ok {
			return f
		}
		addr = a
	} else if bin.PIE {
		return f
	}
	fn, ok := bin.At(addr)
	if !ok {
		return f
	}
	f.Func, f.Offset = fn.Name, addr-fn.Addr
	if path != s.t.Exe {
		f.Object = path
	}
	return f
}

// Reset forgets the stacks counted so far.
func (s *Stacks) Reset() error {
	var k stackKey
	var v uint64
	var keys []stackKey
	it := s.counts.Iterate()
	for it.Next(&k, &v) {
		keys = append(keys, k)
	}
	for _, k := range keys {
		s.counts.Delete(k)
	}
	return it.Err()
}

// Close detaches every probe.
func (s *Stacks) Close() error {
	s.once.Do(func() { close(s.stop) })
	return s.sess.Close()
}
