package usdt

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"os"
	"testing"

	"github.com/obs-toolkit/obs/internal/testenv"
)

func TestParseArg(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Arg
	}{
		{"-4@%edi", Arg{Size: 4, Signed: true, Kind: ArgReg, Reg: "rdi", RegOff: 112, RegSz: 4}},
		{"8@-80(%rbx)", Arg{Size: 8, Kind: ArgMem, Reg: "rbx", RegOff: 40, RegSz: 8, Disp: -80}},
		{"-4@$1", Arg{Size: 4, Signed: true, Kind: ArgConst, Value: 1}},
		{"1@%ah", Arg{Size: 1, Kind: ArgReg, Reg: "rax", RegOff: 80, SubOff: 1, RegSz: 1}},
		{"2@(%r12)", Arg{Size: 2, Kind: ArgMem, Reg: "r12", RegOff: 24, RegSz: 8}},
		{"-8@$-0x10", Arg{Size: 8, Signed: true, Kind: ArgConst, Value: -16}},
		{"%rsi", Arg{Size: 8, Kind: ArgReg, Reg: "rsi", RegOff: 104, RegSz: 8}},
		{"-4@40+CheckpointStats(%rip)", Arg{Size: 4, Signed: true, Kind: ArgMem, Reg: "rip", RegOff: 128, RegSz: 8, Disp: 40, Sym: "CheckpointStats"}},
		{"-4@NBuffers(%rip)", Arg{Size: 4, Signed: true, Kind: ArgMem, Reg: "rip", RegOff: 128, RegSz: 8, Sym: "NBuffers"}},
	} {
		got, err := ParseArg(tc.in)
		if err != nil {
			t.Errorf("ParseArg(%q): %v", tc.in, err)
			continue
		}
		tc.want.Text = tc.in
		if got != tc.want {
			t.Errorf("ParseArg(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
	for _, bad := range []string{"", "3@%eax", "4@%xyz", "4@", "x@%eax", "8@0x10(%rip)", "8@foo(%rax)", "8@a+b(%rip)", "8@4(%rax,%rbx,2)", "4@$", "8@-80(%ebx)"} {
		if _, err := ParseArg(bad); err == nil {
			t.Errorf("ParseArg(%q) succeeded", bad)
		}
	}
}

func note(provider, name, args string, pc, base, sem uint64) []byte {
	var desc bytes.Buffer
	binary.Write(&desc, binary.LittleEndian, []uint64{pc, base, sem})
	desc.WriteString(provider + "\x00" + name + "\x00" + args + "\x00")
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, []uint32{8, uint32(desc.Len()), ntStapsdt})
	b.WriteString("stapsdt\x00")
	b.Write(desc.Bytes())
	for b.Len()%4 != 0 {
		b.WriteByte(0)
	}
	return b.Bytes()
}

func TestParseNotes(t *testing.T) {
	data := append(note("p", "a", "-4@%edi", 0x1000, 0x2000, 0x3000), note("p", "b__c", "", 0x1010, 0x2000, 0)...)
	ns, err := ParseNotes(data, binary.LittleEndian, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(ns) != 2 || ns[0].Name != "a" || ns[0].Args != "-4@%edi" || ns[0].Semaphore != 0x3000 || ns[1].Name != "b__c" || ns[1].PC != 0x1010 {
		t.Fatalf("notes = %+v", ns)
	}
	if _, err := ParseNotes(data[:len(data)-9], binary.LittleEndian, true); err == nil {
		t.Error("truncated notes parsed without error")
	}
}

func TestReadPython(t *testing.T) {
	const py = "/usr/bin/python3.11"
	if _, err := os.Stat(py); err != nil {
		testenv.SkipOrFail(t, "Debian python3.11 not installed (.ci/run installs it)")
	}
	ps, err := Read(py)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]Probe{}
	for _, p := range ps {
		names[p.Provider+":"+p.Name] = p
	}
	gc, ok := names["python:gc__start"]
	if !ok || gc.SemOff == 0 || len(gc.Args) != 1 || gc.Args[0].Kind != ArgMem || gc.ArgErr != nil {
		t.Fatalf("python:gc__start = %+v (found %d probes)", gc, len(ps))
	}
}

func FuzzParseArgs(f *testing.F) {
	for _, s := range []string{"-4@%edi 8@-80(%rbx)", "-4@$1", "8@%rax 8@(%r12) 1@%al", "8@0x10(%rsp)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		args, err := ParseArgs(s)
		if err != nil {
			return
		}
		for _, a := range args {
			if a.Size != 1 && a.Size != 2 && a.Size != 4 && a.Size != 8 {
				t.Fatalf("%q: size %d", s, a.Size)
			}
			if a.Kind != ArgConst && (a.RegOff < 0 || a.RegOff > 152) {
				t.Fatalf("%q: register offset %d", s, a.RegOff)
			}
		}
	})
}

func FuzzParseNotes(f *testing.F) {
	f.Add(note("python", "gc__start", "-4@112(%rsp)", 0x426fc1, 0x8c99c0, 0xa7ed4e))
	f.Add(append(note("a", "b", "", 1, 2, 3), 1, 2, 3))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, is64 := range []bool{true, false} {
			ns, _ := ParseNotes(data, binary.LittleEndian, is64)
			for _, n := range ns {
				if n.Provider == "" || n.Name == "" {
					t.Fatalf("note without names: %+v", n)
				}
			}
		}
	})
}

// FuzzFromELF feeds whole ELF images to the note reader.
func FuzzFromELF(f *testing.F) {
	if b, err := os.ReadFile("/usr/bin/true"); err == nil && len(b) < 1<<20 {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ef, err := elf.NewFile(bytes.NewReader(data))
		if err != nil {
			return
		}
		FromELF(ef)
	})
}

func TestReadPostgres(t *testing.T) {
	const pg = "/usr/lib/postgresql/15/bin/postgres"
	if _, err := os.Stat(pg); err != nil {
		testenv.SkipOrFail(t, "postgresql-15 not installed (.ci/run installs it)")
	}
	ps, err := Read(pg)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, p := range ps {
		names[p.Name] = true
		if p.ArgErr != nil {
			t.Errorf("%s: %q: %v", p.Name, p.ArgSpec, p.ArgErr)
		}
		if p.SemOff == 0 {
			t.Errorf("%s: no semaphore", p.Name)
		}
	}
	if len(ps) != 71 || len(names) != 57 || !names["query__start"] {
		t.Errorf("%d sites of %d probes, want 71 of 57 with query__start", len(ps), len(names))
	}
}
