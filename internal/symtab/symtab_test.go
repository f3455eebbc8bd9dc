package symtab

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/obs-toolkit/obs/internal/testenv"
)

// buildGo builds testdata/gofix with extra go build flags into dir.
func buildGo(t *testing.T, dir, name string, env []string, flags ...string) string {
	t.Helper()
	out := filepath.Join(dir, name)
	args := append([]string{"build", "-o", out}, flags...)
	args = append(args, "./testdata/gofix")
	cmd := exec.Command("go", args...)
	cmd.Env = append(os.Environ(), env...)
	for _, e := range env {
		if strings.HasPrefix(e, "GOTOOLCHAIN=") {
			// An older toolchain cannot build inside this module (go.mod
			// says 1.26): build a copy in its own module.
			src := filepath.Join(dir, name+"-src")
			os.MkdirAll(src, 0o755)
			b, err := os.ReadFile("testdata/gofix/main.go")
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(src, "main.go"), b, 0o644)
			os.WriteFile(filepath.Join(src, "go.mod"), []byte("module gofix\ngo 1.22\n"), 0o644)
			cmd.Args[len(cmd.Args)-1] = "."
			cmd.Dir = src
			if b, err := cmd.CombinedOutput(); err != nil {
				testenv.SkipOrFail(t, fmt.Sprintf("%s unavailable: %v: %s", e, err, b))
			}
			return out
		}
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %v: %v\n%s", flags, err, b)
	}
	return out
}

type fixFrame struct {
	Function string
	File     string
	Line     int
}

type fixSample struct {
	PC     uint64
	Frames []fixFrame
}

// startFixture runs bin and collects its JSON lines up to "ready".
func startFixture(t *testing.T, bin string) (*exec.Cmd, []string) {
	t.Helper()
	cmd := exec.Command(bin)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Process.Kill(); cmd.Wait() })
	var lines []string
	sc := bufio.NewScanner(stdout)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for sc.Scan() {
			if sc.Text() == "ready" {
				return
			}
			lines = append(lines, sc.Text())
		}
	}()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("fixture never became ready")
	}
	return cmd, lines
}

func TestGoBinaries(t *testing.T) {
	if testing.Short() {
		t.Skip("builds fixtures")
	}
	dir := t.TempDir()
	bins := map[string]string{
		"plain":    buildGo(t, dir, "plain", []string{"CGO_ENABLED=0"}),
		"stripped": buildGo(t, dir, "stripped", []string{"CGO_ENABLED=0"}, "-ldflags=-s -w"),
		"pie":      buildGo(t, dir, "pie", nil, "-buildmode=pie", "-ldflags=-s -w"),
		// Go 1.25 still stores textStart in the pclntab header.
		"go1.25-stripped": buildGo(t, dir, "go125", []string{"CGO_ENABLED=0", "GOTOOLCHAIN=go1.25.4"}, "-ldflags=-s -w"),
	}
	if _, err := exec.LookPath("gcc"); err == nil {
		// External linking puts C start-up code ahead of runtime.text.
		bins["cgo-external"] = buildGo(t, dir, "cgoext", []string{"CGO_ENABLED=1"}, "-ldflags=-s -w -linkmode=external")
	}
	for name, bin := range bins {
		t.Run(name, func(t *testing.T) {
			cmd, lines := startFixture(t, bin)
			p, err := NewProcess(cmd.Process.Pid)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			if m := p.Mappings(); len(m) == 0 || m[0].File == nil || !m[0].File.IsGo() {
				t.Fatalf("main mapping not read as Go: %+v", m)
			}
			var samples []fixSample
			for _, l := range lines {
				var s fixSample
				if err := json.Unmarshal([]byte(l), &s); err != nil || len(s.Frames) != 1 {
					t.Fatalf("fixture line %q: %v", l, err)
				}
				samples = append(samples, s)
			}
			// runtime.Callers gives each logical frame its own pc: an
			// inlined call's caller follows it. One physical pc must expand
			// to the runtime's frames of the following pcs.
			checked, inlined := 0, 0
			for i := 0; i < len(samples); {
				s := samples[i]
				loc := p.Lookup(s.PC)
				if len(loc.Frames) == 0 || i+len(loc.Frames) > len(samples) {
					t.Fatalf("pc %#x: got %+v", s.PC, loc.Frames)
				}
				for j, got := range loc.Frames {
					want := samples[i+j].Frames[0]
					if got.Function != want.Function || got.File != want.File || got.Line != want.Line {
						t.Errorf("pc %#x frame %d: got %s %s:%d, runtime says %s %s:%d", s.PC, j,
							got.Function, got.File, got.Line, want.Function, want.File, want.Line)
					}
					if got.Inlined != (j < len(loc.Frames)-1) {
						t.Errorf("pc %#x frame %d: inlined=%v", s.PC, j, got.Inlined)
					}
				}
				if len(loc.Frames) > 1 {
					inlined++
				}
				checked++
				i += len(loc.Frames)
			}
			if checked < 3 || inlined == 0 {
				t.Fatalf("checked %d pcs, %d with inlined frames: fixture did not exercise enough", checked, inlined)
			}
		})
	}
}

func TestSPDelta(t *testing.T) {
	if testing.Short() {
		t.Skip("builds fixtures")
	}
	bin := buildGo(t, t.TempDir(), "plain", []string{"CGO_ENABLED=0"})
	f, err := Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// main.middle has a frame: SP delta 0 at entry, positive in the body.
	entry := f.symbolAddr("main.middle")
	if entry == 0 {
		t.Fatal("no main.middle symbol")
	}
	if d, ok := f.SPDelta(entry); !ok || d != 0 {
		t.Errorf("SPDelta(entry of main.middle) = %d, %v; want 0, true", d, ok)
	}
	max := 0
	for a := entry; a < entry+64; a++ {
		if d, ok := f.SPDelta(a); ok && d > max {
			max = d
		}
	}
	if max <= 0 {
		t.Errorf("main.middle never moves SP in its first 64 bytes")
	}
	// internal/runtime/syscall.Syscall6 and runtime.memmove are assembly
	// without a frame: delta 0 all through.
	if a := f.symbolAddr("runtime.memmove"); a != 0 {
		for i := uint64(0); i < 32; i++ {
			if d, ok := f.SPDelta(a + i); !ok || d != 0 {
				t.Errorf("runtime.memmove+%d: delta %d, %v; want 0", i, d, ok)
				break
			}
		}
	}
	if _, ok := f.SPDelta(1); ok {
		t.Error("SPDelta outside text reported ok")
	}
}

func TestCBinary(t *testing.T) {
	testenv.RequireTool(t, "gcc")
	dir := t.TempDir()
	for _, v := range []struct {
		name  string
		flags []string
		lines bool
	}{
		{"dwarf-pie", []string{"-g", "-O1", "-fPIE", "-pie"}, true},
		{"nodwarf-nopie", []string{"-O1", "-no-pie"}, false},
	} {
		t.Run(v.name, func(t *testing.T) {
			bin := filepath.Join(dir, v.name)
			args := append(append([]string{}, v.flags...), "-o", bin, "testdata/cfix/main.c")
			if b, err := exec.Command("gcc", args...).CombinedOutput(); err != nil {
				t.Fatalf("gcc: %v\n%s", err, b)
			}
			cmd, lines := startFixture(t, bin)
			p, err := NewProcess(cmd.Process.Pid)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			for _, l := range lines {
				f := strings.Fields(l)
				pc, err := strconv.ParseUint(f[0], 16, 64)
				if err != nil {
					t.Fatal(err)
				}
				loc := p.Lookup(pc + 1)
				if len(loc.Frames) != 1 || loc.Frames[0].Function != f[1] {
					t.Fatalf("pc %#x: got %+v, want %s", pc+1, loc.Frames, f[1])
				}
				if v.lines && (filepath.Base(loc.Frames[0].File) != "main.c" || loc.Frames[0].Line == 0) {
					t.Errorf("pc %#x: no DWARF line: %+v", pc, loc.Frames[0])
				}
				if loc.Mapping == nil || loc.Mapping.BuildID == "" {
					t.Errorf("pc %#x: mapping without build id: %+v", pc, loc.Mapping)
				}
			}
			// libc is mapped too and has symbols.
			found := false
			for _, m := range p.Mappings() {
				if strings.Contains(m.Path, "libc") && m.File != nil {
					found = true
				}
			}
			if !found {
				t.Errorf("libc mapping not opened: %v", fmt.Sprint(p.Mappings()))
			}
		})
	}
}

func TestKallsyms(t *testing.T) {
	k, err := parseKallsyms(strings.NewReader("ffffffff81000000 T _stext\nffffffff81000100 t foo\nffffffff81000200 d data\nffffffff81000300 T bar [mod]\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		a    uint64
		want string
	}{{0xffffffff81000150, "foo"}, {0xffffffff81000250, "foo"}, {0xffffffff81000300, "bar"}, {0xffffffff80000000, ""}} {
		if got, _ := k.Lookup(c.a); got != c.want {
			t.Errorf("Lookup(%#x) = %q, want %q", c.a, got, c.want)
		}
	}
	if _, err := parseKallsyms(strings.NewReader("0000000000000000 T _stext\n")); err == nil {
		t.Error("zeroed kallsyms accepted")
	}
}

// TestCInlined compares the frames at every address of caller_c, into which
// two functions are inlined, with binutils' addr2line -f -i.
func TestCInlined(t *testing.T) {
	gcc := testenv.RequireTool(t, "gcc")
	a2l := testenv.RequireTool(t, "addr2line")
	bin := filepath.Join(t.TempDir(), "cfix")
	if b, err := exec.Command(gcc, "-g", "-O2", "-o", bin, "testdata/cfix/main.c").CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, b)
	}
	f, err := Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lo, hi uint64
	f.loadSymbols()
	for _, s := range f.syms {
		if s.name == "caller_c" {
			lo, hi = s.addr, s.addr+s.size
		}
	}
	if lo == 0 || hi <= lo {
		t.Fatal("no caller_c symbol")
	}
	args := []string{"-f", "-i", "-e", bin}
	for a := lo; a < hi; a++ {
		args = append(args, fmt.Sprintf("%#x", a))
	}
	// -a marks where each address's answer starts.
	out, err := exec.Command(a2l, append([]string{"-a"}, args...)...).Output()
	if err != nil {
		t.Fatal(err)
	}
	inlinedSeen := 0
	var want [][]Frame
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if strings.HasPrefix(l, "0x") {
			want = append(want, nil)
			continue
		}
		w := &want[len(want)-1]
		if len(*w) == 0 || (*w)[len(*w)-1].Line != 0 || (*w)[len(*w)-1].File != "" {
			*w = append(*w, Frame{Function: l})
			continue
		}
		file, line, _ := strings.Cut(l, ":")
		line, _, _ = strings.Cut(line, " ")
		n, _ := strconv.Atoi(line)
		(*w)[len(*w)-1].File, (*w)[len(*w)-1].Line = file, n
	}
	if len(want) != int(hi-lo) {
		t.Fatalf("addr2line gave %d answers for %d addresses", len(want), hi-lo)
	}
	for i, w := range want {
		a := lo + uint64(i)
		got := f.Lookup(a)
		if len(got) != len(w) {
			t.Errorf("%#x: got %d frames %+v, addr2line %+v", a, len(got), got, w)
			continue
		}
		for j := range w {
			if got[j].Function != w[j].Function || filepath.Base(got[j].File) != filepath.Base(w[j].File) || got[j].Line != w[j].Line {
				t.Errorf("%#x frame %d: got %s %s:%d, addr2line %s %s:%d", a, j, got[j].Function, got[j].File, got[j].Line,
					w[j].Function, w[j].File, w[j].Line)
			}
		}
		if len(w) > 2 {
			inlinedSeen++
		}
	}
	if inlinedSeen == 0 {
		t.Fatal("no address with two inlined frames: the fixture does not test inlining")
	}
}
