package symtab

import (
	"bufio"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/obs-toolkit/obs/internal/procfs"
)

// Mapping is one executable mapping of a process, with the file behind it.
type Mapping struct {
	Start, Limit uint64 // run-time address range [Start, Limit)
	Offset       uint64 // file offset of Start
	Path         string // path as the process sees it ("[vdso]" etc. for specials)
	BuildID      string
	File         *File // nil when the file could not be opened
	Err          error // why File is nil
}

// Addr converts a run-time pc in m to the file's link-time address.
func (m *Mapping) Addr(pc uint64) (uint64, bool) {
	if m.File == nil {
		return 0, false
	}
	return m.File.FileOffsetToAddr(pc - m.Start + m.Offset)
}

// Location is the answer for one run-time pc.
type Location struct {
	PC      uint64
	Mapping *Mapping // nil when pc is in no executable mapping
	Addr    uint64   // link-time address inside Mapping.File
	Frames  []Frame  // innermost first; nil when unknown
}

// Process symbolizes run-time addresses of one process. Files are opened
// once per path and shared by every mapping of them; answers are cached per
// pc. It is safe for concurrent use.
type Process struct {
	Pid int

	mu    sync.Mutex
	maps  []*Mapping // sorted by Start
	files map[string]*File
	cache map[uint64]Location
}

// NewProcess reads /proc/PID/maps and opens the files of its executable
// mappings (through /proc/PID/root when the process lives in another mount
// namespace).
func NewProcess(pid int) (*Process, error) {
	p := &Process{Pid: pid, files: map[string]*File{}, cache: map[uint64]Location{}}
	if err := p.Refresh(); err != nil {
		return nil, err
	}
	return p, nil
}

// Refresh re-reads the maps, for libraries loaded since. Cached answers for
// addresses still mapped the same way stay valid.
func (p *Process) Refresh() error {
	maps, err := procfs.Maps(p.Pid)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []*Mapping
	for _, m := range maps {
		if !m.Exec() {
			continue
		}
		mm := &Mapping{Start: m.Start, Limit: m.End, Offset: m.Offset, Path: m.Path}
		if m.IsFile() {
			f, ok := p.files[m.Path]
			if !ok {
				var err error
				f, err = Open(procfs.HostPath(p.Pid, m.Path))
				if err != nil {
					// A deleted or replaced file is still readable through map_files.
					f, err = Open(fmt.Sprintf("%s/%d/map_files/%x-%x", procfs.Proc, p.Pid, m.Start, m.End))
				}
				if err != nil {
					mm.Err = err
				}
				p.files[m.Path] = f
			}
			if f != nil {
				mm.File, mm.BuildID = f, f.BuildID
			} else if mm.Err == nil {
				mm.Err = fmt.Errorf("cannot open %s", m.Path)
			}
		}
		out = append(out, mm)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Start < out[j].Start })
	p.maps = out
	p.cache = map[uint64]Location{}
	return nil
}

// Mappings returns the executable mappings, sorted by address.
func (p *Process) Mappings() []*Mapping {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*Mapping(nil), p.maps...)
}

// Mapping returns the executable mapping containing pc.
func (p *Process) Mapping(pc uint64) *Mapping {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.find(pc)
}

func (p *Process) find(pc uint64) *Mapping {
	i := sort.Search(len(p.maps), func(i int) bool { return p.maps[i].Limit > pc })
	if i < len(p.maps) && pc >= p.maps[i].Start {
		return p.maps[i]
	}
	return nil
}

// Lookup symbolizes a run-time pc. Return addresses should be passed as
// pc-1 by callers that want the call's line rather than the next one.
func (p *Process) Lookup(pc uint64) Location {
	p.mu.Lock()
	if l, ok := p.cache[pc]; ok {
		p.mu.Unlock()
		return l
	}
	m := p.find(pc)
	p.mu.Unlock()
	l := Location{PC: pc, Mapping: m}
	if m != nil {
		if a, ok := m.Addr(pc); ok {
			l.Addr = a
			l.Frames = m.File.Lookup(a)
		}
	}
	p.mu.Lock()
	p.cache[pc] = l
	p.mu.Unlock()
	return l
}

// SPDelta reports the Go SP delta at run-time pc (see File.SPDelta).
func (p *Process) SPDelta(pc uint64) (int, bool) {
	m := p.Mapping(pc)
	if m == nil {
		return 0, false
	}
	a, ok := m.Addr(pc)
	if !ok {
		return 0, false
	}
	return m.File.SPDelta(a)
}

// Close closes every file the process opened.
func (p *Process) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, f := range p.files {
		if f != nil {
			f.Close()
		}
	}
	p.files, p.maps, p.cache = nil, nil, nil
	return nil
}

// KernelSymbols symbolizes kernel addresses from /proc/kallsyms.
type KernelSymbols struct {
	addrs []uint64
	names []string
}

// Kernel reads /proc/kallsyms. Without privilege the kernel shows zero
// addresses; that is reported as an error.
func Kernel() (*KernelSymbols, error) {
	fd, err := os.Open("/proc/kallsyms")
	if err != nil {
		return nil, fmt.Errorf("read kernel symbols: %w", err)
	}
	defer fd.Close()
	return parseKallsyms(fd)
}

func parseKallsyms(r interface{ Read([]byte) (int, error) }) (*KernelSymbols, error) {
	k := &KernelSymbols{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<16)
	type ent struct {
		a uint64
		n string
	}
	var es []ent
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 3 {
			continue
		}
		switch f[1] {
		case "t", "T", "w", "W":
		default:
			continue
		}
		a, err := strconv.ParseUint(f[0], 16, 64)
		if err != nil || a == 0 {
			continue
		}
		es = append(es, ent{a, f[2]})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read kernel symbols: %w", err)
	}
	if len(es) == 0 {
		return nil, fmt.Errorf("read kernel symbols: no addresses visible (needs root or kernel.kptr_restrict=0)")
	}
	sort.Slice(es, func(i, j int) bool { return es[i].a < es[j].a })
	for _, e := range es {
		k.addrs = append(k.addrs, e.a)
		k.names = append(k.names, e.n)
	}
	return k, nil
}

// Lookup returns the kernel function containing addr ("" when unknown).
func (k *KernelSymbols) Lookup(addr uint64) (name string, entry uint64) {
	if k == nil {
		return "", 0
	}
	i := sort.Search(len(k.addrs), func(i int) bool { return k.addrs[i] > addr }) - 1
	if i < 0 {
		return "", 0
	}
	return k.names[i], k.addrs[i]
}
