package probes

import (
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/obs-toolkit/obs/internal/procfs"
	"github.com/obs-toolkit/obs/probes/elfsym"
	"github.com/obs-toolkit/obs/probes/goabi"
	"github.com/obs-toolkit/obs/probes/usdt"
)

// Target is what probes attach to: one process, or every process running
// an executable.
type Target struct {
	PID int    // 0: every process running Exe
	Exe string // the main executable, as obs can open it

	mu   sync.Mutex
	bins map[string]*binInfo
}

type binInfo struct {
	bin    *elfsym.Binary
	usdt   []usdt.Probe
	dbg    *goabi.Debug
	dbgErr error
	ferr   error
}

// ErrUsage marks errors caused by what the user asked for (a bad spec, a
// missing function), as opposed to the host refusing.
var ErrUsage = errors.New("usage")

func usagef(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrUsage, fmt.Sprintf(format, a...))
}

// ProcessTarget targets one running process.
func ProcessTarget(pid int) (*Target, error) {
	if pid <= 0 {
		return nil, usagef("bad pid %d", pid)
	}
	exe, err := procfs.Exe(pid)
	if err != nil {
		if !procfs.Alive(pid) {
			return nil, usagef("no process %d", pid)
		}
		return nil, err
	}
	return &Target{PID: pid, Exe: exe, bins: map[string]*binInfo{}}, nil
}

// ExeTarget targets every process running the executable at path.
func ExeTarget(path string) (*Target, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, usagef("executable %s: %v", path, err)
	}
	if st.IsDir() {
		return nil, usagef("%s is a directory", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	return &Target{Exe: abs, bins: map[string]*binInfo{}}, nil
}

func (t *Target) info(path string) (*binInfo, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.bins == nil {
		t.bins = map[string]*binInfo{}
	}
	if bi, ok := t.bins[path]; ok {
		return bi, bi.ferr
	}
	bi := &binInfo{}
	t.bins[path] = bi
	bi.bin, bi.ferr = elfsym.Open(path)
	if bi.ferr != nil {
		return bi, bi.ferr
	}
	bi.usdt, _ = usdt.Read(path)
	if f, err := elf.Open(path); err == nil {
		bi.dbg, bi.dbgErr = goabi.OpenDebug(f)
		f.Close()
	}
	return bi, nil
}

// Binary returns the function table of the file at path (cached).
func (t *Target) Binary(path string) (*elfsym.Binary, error) {
	bi, err := t.info(path)
	if err != nil {
		return nil, err
	}
	return bi.bin, nil
}

// Objects lists the executable and the shared objects it uses: for a
// process its executable file mappings, otherwise the executable alone.
func (t *Target) Objects() []string {
	out := []string{t.Exe}
	if t.PID == 0 {
		return out
	}
	maps, err := procfs.Maps(t.PID)
	if err != nil {
		return out
	}
	seen := map[string]bool{}
	for _, m := range maps {
		if !m.Exec() || !m.IsFile() {
			continue
		}
		p := procfs.HostPath(t.PID, strings.TrimSuffix(m.Path, " (deleted)"))
		if seen[p] || sameFile(p, t.Exe) {
			continue
		}
		seen[p] = true
		out = append(out, p)
	}
	return out
}

func sameFile(a, b string) bool {
	if a == b {
		return true
	}
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}

var libDirs = []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib", "/usr/local/lib"}

// Library finds a shared object by name ("libc.so.6", "libc", or a path):
// among the process's mappings first, then in the usual directories.
func (t *Target) Library(name string) (string, error) {
	if strings.Contains(name, "/") {
		if _, err := os.Stat(name); err != nil {
			return "", usagef("library %s: %v", name, err)
		}
		return name, nil
	}
	match := func(base string) bool {
		return base == name || strings.HasPrefix(base, name+".so") || strings.HasPrefix(base, name+"-")
	}
	for _, o := range t.Objects()[1:] {
		if match(filepath.Base(o)) {
			return o, nil
		}
	}
	for _, d := range libDirs {
		p := filepath.Join(d, name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		ents, _ := filepath.Glob(filepath.Join(d, name+".so*"))
		sort.Strings(ents)
		for _, e := range ents {
			return e, nil
		}
	}
	return "", usagef("library %s not found (not mapped by the target and not in %s)", name, strings.Join(libDirs, ", "))
}

// ProbeKind says what kind of site a probe is.
type ProbeKind string

// Kinds of probe.
const (
	KindFunc    ProbeKind = "func"
	KindUSDT    ProbeKind = "usdt"
	KindSyscall ProbeKind = "syscall"
)

// Probe is one resolved probe: a function or a USDT probe (which may have
// several sites).
type Probe struct {
	Name  string // as shown: "main.handle", "libc.so.6:malloc", "usdt:python:gc__start"
	Kind  ProbeKind
	Path  string // the file attached to
	Lib   string // base name of the shared object, "" for the executable
	IsGo  bool
	Func  elfsym.Func
	Entry goabi.Site   // the function's entry site
	USDT  []usdt.Probe // USDT sites
	Done  []usdt.Probe // USDT pairs (usdt:P:START..DONE): the DONE sites
	Nr    int          // syscall number
}

// Resolve turns a spec into probes. Spec forms: a symbol or glob
// ("main.handle", "net/http.(*conn).serve", "main.*"), "lib:LIB:SYMBOL",
// "usdt:PROVIDER:NAME" (NAME may be a glob). A spec matching nothing is an
// error; a glob matching too many functions too.
func (t *Target) Resolve(spec string) ([]Probe, error) {
	switch {
	case strings.HasPrefix(spec, "usdt:") && strings.Contains(spec, ".."):
		return t.resolvePair(spec)
	case strings.HasPrefix(spec, "usdt:"):
		return t.resolveUSDT(spec)
	case strings.HasPrefix(spec, "lib:"):
		rest := strings.TrimPrefix(spec, "lib:")
		i := strings.LastIndex(rest, ":")
		if i <= 0 || i == len(rest)-1 {
			return nil, usagef("bad spec %q: want lib:LIBRARY:SYMBOL", spec)
		}
		lib, err := t.Library(rest[:i])
		if err != nil {
			return nil, err
		}
		return t.resolveFuncs(lib, rest[i+1:], filepath.Base(lib), spec)
	case strings.HasPrefix(spec, "syscall:"):
		return t.resolveSyscalls(spec)
	case spec == "":
		return nil, usagef("empty probe spec")
	}
	return t.resolveFuncs(t.Exe, spec, "", spec)
}

func (t *Target) resolveSyscalls(spec string) ([]Probe, error) {
	pat := strings.TrimPrefix(spec, "syscall:")
	if pat == "" {
		return nil, usagef("bad spec %q: want syscall:NAME", spec)
	}
	if t.PID == 0 {
		return nil, usagef("%s: syscall probes need -p PID or -c CMD", spec)
	}
	var out []Probe
	for nr := 0; nr < maxSyscalls; nr++ {
		name, ok := syscallNames[nr]
		if !ok {
			continue
		}
		match, err := elfsym.Glob(pat, name)
		if err != nil {
			return nil, usagef("%v", err)
		}
		if match {
			out = append(out, Probe{Name: "syscall:" + name, Kind: KindSyscall, Nr: nr})
		}
	}
	if len(out) == 0 {
		return nil, usagef("%s: no such syscall", spec)
	}
	return out, nil
}

// MaxMatches bounds how many functions one glob may attach to.
const MaxMatches = 1000

func (t *Target) resolveFuncs(path, pattern, lib, spec string) ([]Probe, error) {
	bi, err := t.info(path)
	if err != nil {
		return nil, err
	}
	fns, err := bi.bin.Match(pattern)
	if err != nil {
		return nil, usagef("%v", err)
	}
	if len(fns) == 0 {
		if why := t.whyMissing(bi, pattern); why != "" {
			return nil, usagef("%s: %s", spec, why)
		}
		return nil, usagef("%s: no function matches in %s", spec, path)
	}
	if len(fns) > MaxMatches {
		return nil, usagef("%s matches %d functions (limit %d); narrow the pattern", spec, len(fns), MaxMatches)
	}
	var out []Probe
	for _, fn := range fns {
		p := Probe{Name: fn.Name, Kind: KindFunc, Path: path, Lib: lib, IsGo: bi.bin.IsGo, Func: fn}
		if lib != "" {
			p.Name = lib + ":" + fn.Name
		}
		code := bi.bin.Code(fn)
		if len(code) > 0 {
			if s, err := goabi.EntrySite(code, fn.Addr, p.IsGo); err == nil {
				p.Entry = s
			}
		} else {
			p.Entry = goabi.Site{Kind: goabi.Entry, Cost: goabi.SingleStepped, Inst: "?"}
		}
		out = append(out, p)
	}
	return out, nil
}

// whyMissing explains a function that cannot be probed although its name is
// known: inlined everywhere (DWARF has only an abstract instance).
func (t *Target) whyMissing(bi *binInfo, name string) string {
	if elfsym.IsGlob(name) {
		return ""
	}
	if bi.bin.InlinedOnly(name) || (bi.dbg != nil && bi.dbg.InlinedOnly(name)) {
		return "inlined into its callers, so it has no code of its own to probe (build with -gcflags=-l or mark it //go:noinline)"
	}
	return ""
}

// resolvePair resolves "usdt:PROVIDER:START..DONE", timed from START to
// the next DONE on the same thread (latency only).
func (t *Target) resolvePair(spec string) ([]Probe, error) {
	rest := strings.TrimPrefix(spec, "usdt:")
	prov, names, ok := strings.Cut(rest, ":")
	start, done, ok2 := strings.Cut(names, "..")
	if !ok || !ok2 || prov == "" || start == "" || done == "" || elfsym.IsGlob(names) {
		return nil, usagef("bad spec %q: want usdt:PROVIDER:START..DONE", spec)
	}
	s, err := t.resolveUSDT("usdt:" + prov + ":" + start)
	if err != nil {
		return nil, err
	}
	d, err := t.resolveUSDT("usdt:" + prov + ":" + done)
	if err != nil {
		return nil, err
	}
	if len(s) != 1 || len(d) != 1 || s[0].Path != d[0].Path {
		return nil, usagef("%s: start and done must be one probe each in one object", spec)
	}
	p := s[0]
	p.Name = spec
	p.Done = d[0].USDT
	return []Probe{p}, nil
}

func (t *Target) resolveUSDT(spec string) ([]Probe, error) {
	parts := strings.Split(strings.TrimPrefix(spec, "usdt:"), ":")
	if len(parts) != 2 || parts[0] == "" || parts[1] == "" {
		return nil, usagef("bad spec %q: want usdt:PROVIDER:NAME", spec)
	}
	prov, name := parts[0], parts[1]
	byName := map[string]*Probe{}
	var order []string
	for _, obj := range t.Objects() {
		bi, err := t.info(obj)
		if err != nil {
			continue
		}
		lib := ""
		if obj != t.Exe {
			lib = filepath.Base(obj)
		}
		for _, u := range bi.usdt {
			if ok, _ := elfsym.Glob(prov, u.Provider); !ok {
				continue
			}
			ok, err := elfsym.Glob(name, u.Name)
			if err != nil {
				return nil, usagef("%v", err)
			}
			if !ok {
				continue
			}
			key := obj + "\x00" + u.Provider + ":" + u.Name
			p, seen := byName[key]
			if !seen {
				p = &Probe{Name: "usdt:" + u.Provider + ":" + u.Name, Kind: KindUSDT, Path: obj, Lib: lib}
				byName[key] = p
				order = append(order, key)
			}
			p.USDT = append(p.USDT, u)
		}
	}
	if len(order) == 0 {
		return nil, usagef("%s: no such USDT probe in %s", spec, strings.Join(t.Objects(), ", "))
	}
	out := make([]Probe, 0, len(order))
	for _, k := range order {
		out = append(out, *byName[k])
	}
	return out, nil
}

// ResolveAll resolves every spec, keeping their order and dropping
// duplicates.
func (t *Target) ResolveAll(specs []string) ([]Probe, error) {
	var out []Probe
	seen := map[string]bool{}
	for _, s := range specs {
		ps, err := t.Resolve(s)
		if err != nil {
			return nil, err
		}
		for _, p := range ps {
			k := p.Path + "\x00" + p.Name
			if seen[k] {
				continue
			}
			seen[k] = true
			out = append(out, p)
		}
	}
	if len(out) > maxProbes {
		return nil, usagef("%d probes (limit %d)", len(out), maxProbes)
	}
	return out, nil
}

// Params returns the DWARF-described parameters of a function probe.
func (t *Target) Params(p Probe) ([]goabi.Param, error) {
	bi, err := t.info(p.Path)
	if err != nil {
		return nil, err
	}
	if bi.dbg == nil {
		if bi.dbgErr != nil {
			return nil, bi.dbgErr
		}
		return nil, goabi.ErrNoDWARF
	}
	return bi.dbg.Params(p.Func.Name, p.IsGo)
}

// goidOffset returns the offset of goid in runtime.g for a Go binary, or
// -1 when unknown.
func (t *Target) goidOffset(path string) int64 {
	bi, err := t.info(path)
	if err != nil || bi.dbg == nil {
		return -1
	}
	if off, ok := bi.dbg.FieldOffset("runtime.g", "goid"); ok {
		return off
	}
	return -1
}

// returnSites lists a Go function's RET and tail-jump sites.
func (t *Target) returnSites(p Probe) ([]goabi.Site, error) {
	bi, err := t.info(p.Path)
	if err != nil {
		return nil, err
	}
	code := bi.bin.Code(p.Func)
	if len(code) == 0 {
		return nil, fmt.Errorf("%s: machine code not found (size unknown)", p.Name)
	}
	sites, _ := goabi.ReturnSites(code, p.Func.Addr)
	if len(sites) == 0 {
		return nil, fmt.Errorf("%s: no return instruction found (a function that never returns?)", p.Name)
	}
	return sites, nil
}
