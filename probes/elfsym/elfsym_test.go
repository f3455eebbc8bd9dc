package elfsym

import (
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func TestGlob(t *testing.T) {
	for _, tc := range []struct {
		pat, name string
		want      bool
	}{
		{"main.*", "main.work", true},
		{"net/http.(*conn).serve", "net/http.(*conn).serve", true},
		{"net/http.(*conn).*", "net/http.(*conn).serve", true},
		{"net/*.serve", "net/http.(*conn).serve", true},
		{"main.?ork", "main.work", true},
		{"main.w*", "runtime.main", false},
	} {
		got, err := Glob(tc.pat, tc.name)
		if err != nil || got != tc.want {
			t.Errorf("Glob(%q, %q) = %v, %v", tc.pat, tc.name, got, err)
		}
	}
	if IsGlob("net/http.(*conn).serve") || !IsGlob("main.*") {
		t.Error("IsGlob misjudges")
	}
}

// TestStrippedGo checks that a Go binary built with -s -w still resolves
// through .gopclntab to the same file offsets as the unstripped one.
func TestStrippedGo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds two binaries")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	os.WriteFile(src, []byte("package main\n\n//go:noinline\nfunc target(x int) int { return x*3 + 1 }\n\nfunc main() { println(target(2)) }\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module fix\n\ngo 1.22\n"), 0o644)
	build := func(out string, flags ...string) *Binary {
		args := append([]string{"build", "-o", out}, flags...)
		cmd := exec.Command("go", append(args, ".")...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, b)
		}
		b, err := Open(out)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	full := build(filepath.Join(dir, "full"))
	stripped := build(filepath.Join(dir, "stripped"), "-ldflags=-s -w")
	f1, ok1 := full.Lookup("main.target")
	f2, ok2 := stripped.Lookup("main.target")
	if !ok1 || !ok2 {
		t.Fatalf("main.target found: full %v stripped %v", ok1, ok2)
	}
	if f2.Source != FromPclntab || !stripped.IsGo {
		t.Errorf("stripped binary resolved from %s", f2.Source)
	}
	if f1.Offset != f2.Offset || f2.Size < f1.Size || f1.Offset == 0 {
		t.Errorf("full %+v vs stripped %+v", f1, f2)
	}
	if at, ok := stripped.At(f2.Addr + 3); !ok || at.Name != "main.target" {
		t.Errorf("At(%#x) = %+v", f2.Addr+3, at)
	}
	// PIE: offsets still map back to addresses.
	pie := build(filepath.Join(dir, "pie"), "-buildmode=pie")
	f3, ok := pie.Lookup("main.target")
	if !ok || !pie.PIE {
		t.Fatalf("pie: %+v %v", f3, pie.PIE)
	}
	if a, ok := pie.AddrOfOffset(f3.Offset); !ok || a != f3.Addr {
		t.Errorf("AddrOfOffset(%#x) = %#x, want %#x", f3.Offset, a, f3.Addr)
	}
}

func TestLibc(t *testing.T) {
	const libc = "/lib/x86_64-linux-gnu/libc.so.6"
	if _, err := os.Stat(libc); err != nil {
		t.Skip("no libc.so.6 at " + libc)
	}
	b, err := Open(libc)
	if err != nil {
		t.Fatal(err)
	}
	f, ok := b.Lookup("malloc")
	if !ok || f.Offset == 0 || !b.PIE {
		t.Fatalf("malloc in libc: %+v %v", f, ok)
	}
}

// FuzzLoad feeds ELF images to the symbol reader; it must never panic.
func FuzzLoad(f *testing.F) {
	if b, err := os.ReadFile("/usr/bin/true"); err == nil && len(b) < 1<<20 {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ef, err := elf.NewFile(bytes.NewReader(data))
		if err != nil {
			return
		}
		b, err := load(ef)
		if err != nil {
			return
		}
		for _, fn := range b.Funcs {
			if a, ok := b.AddrOfOffset(fn.Offset); ok && a != fn.Addr {
				// Overlapping segments may map an offset twice; not a bug.
				_ = a
			}
		}
	})
}
