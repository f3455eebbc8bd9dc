package goabi

import (
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestParamsGo checks register assignment against a function whose
// parameters need 1, 2, 3 and 2 integer registers, a float, and a result.
func TestParamsGo(t *testing.T) {
	dir := t.TempDir()
	src := `package main

//go:noinline
func f(a int, s string, b []byte, e error, x float64, ok bool) (n int) { return a + len(s) + len(b) }

func main() { println(f(1, "x", nil, nil, 1.5, true)) }
`
	os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644)
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module fix\n\ngo 1.22\n"), 0o644)
	cmd := exec.Command("go", "build", "-o", "fix", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	ef, err := elf.Open(filepath.Join(dir, "fix"))
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	dbg, err := OpenDebug(ef)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := dbg.Params("main.f", true)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range ps {
		got = append(got, p.Name+":"+strings.Join(p.Regs, ","))
	}
	want := "a:rax s:rbx,rcx b:rdi,rsi,r8 e:r9,r10 x: ok:r11 n:rax"
	if strings.Join(got, " ") != want {
		t.Errorf("params = %s\nwant     %s", strings.Join(got, " "), want)
	}
	if ps[4].Kind != KFloat || ps[1].Kind != KString || ps[2].Kind != KSlice || ps[2].ElemSize != 1 || !ps[6].Result {
		t.Errorf("kinds: %+v", ps)
	}
	if off, ok := dbg.FieldOffset("runtime.g", "goid"); !ok || off <= 0 {
		t.Errorf("runtime.g.goid offset = %d, %v", off, ok)
	}
}

// FuzzDebug feeds ELF images to the DWARF parameter reader.
func FuzzDebug(f *testing.F) {
	if b, err := os.ReadFile("/usr/bin/true"); err == nil && len(b) < 1<<20 {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ef, err := elf.NewFile(bytes.NewReader(data))
		if err != nil {
			return
		}
		dbg, err := OpenDebug(ef)
		if err != nil {
			return
		}
		dbg.Params("main.main", true)
		dbg.FieldOffset("runtime.g", "goid")
		dbg.InlinedOnly("main.x")
	})
}
