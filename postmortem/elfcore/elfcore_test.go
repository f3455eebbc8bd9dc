package elfcore

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func sampleImage() *Image {
	seg := bytes.Repeat([]byte{0xab}, 5000)
	return &Image{
		Threads: []Thread{
			{TID: 100, Signal: 11, UTime: 1500000, Regs: Regs{RegRIP: 0x401000, RegRSP: 0xc000100000}},
			{TID: 101, Regs: Regs{RegRIP: 0x402000}},
		},
		Psinfo:  Psinfo{PID: 100, PPID: 1, UID: 7, Fname: "crasher", Args: "crasher nil"},
		Siginfo: &Siginfo{Signo: 11, Code: 1, Addr: 0x10},
		Auxv:    []uint64{AtPhdr, 0x400040, AtEntry, 0x401000, 0, 0},
		Files:   []FileMapping{{Start: 0x400000, End: 0x410000, Path: "/bin/crasher"}, {Start: 0x7f0000, End: 0x7f1000, Offset: 8192, Path: "/lib/x.so"}},
		Loads: []Load{
			{Vaddr: 0x10000, Memsz: 8192, Filesz: uint64(len(seg)), Flags: 6, Fill: func(w io.Writer) error { _, err := w.Write(seg); return err }},
			{Vaddr: 0x20000, Memsz: 4096, Flags: 4},
		},
	}
}

func TestWriteParseRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	n, err := Write(&buf, sampleImage())
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(buf.Len()) {
		t.Fatalf("Write said %d bytes, buffer has %d", n, buf.Len())
	}
	c, err := Parse(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if c.NoteErr != nil {
		t.Fatal(c.NoteErr)
	}
	nt := c.Notes
	if len(nt.Threads) != 2 || nt.Threads[0].TID != 100 || nt.Threads[0].Signal != 11 || nt.Threads[0].Regs.PC() != 0x401000 || nt.Threads[0].UTime != 1500000 {
		t.Fatalf("threads: %+v", nt.Threads)
	}
	if nt.Psinfo == nil || nt.Psinfo.Fname != "crasher" || nt.Psinfo.Args != "crasher nil" || nt.Psinfo.PID != 100 || nt.Psinfo.UID != 7 {
		t.Fatalf("psinfo: %+v", nt.Psinfo)
	}
	if nt.Siginfo == nil || nt.Siginfo.Signo != 11 || nt.Siginfo.Addr != 0x10 || !nt.Siginfo.HasAddr() {
		t.Fatalf("siginfo: %+v", nt.Siginfo)
	}
	if nt.Aux(AtEntry) != 0x401000 || len(nt.Files) != 2 || nt.Files[1].Offset != 8192 || nt.Files[1].Path != "/lib/x.so" {
		t.Fatalf("auxv/files: %v %+v", nt.Auxv, nt.Files)
	}
	if got := nt.ExePath(); got != "/bin/crasher" {
		t.Fatalf("exe %q", got)
	}
	m := NewMemory(c, nil, 0)
	v, ok := m.Uint64(0x10000 + 4992)
	if !ok || v != 0xabababababababab {
		t.Fatalf("word %x %v", v, ok)
	}
	// Past the dumped bytes the segment reads as zeros; past it, unmapped.
	if v, ok := m.Uint64(0x10000 + 6000); !ok || v != 0 {
		t.Fatalf("zero tail %x %v", v, ok)
	}
	if _, err := m.ReadAt(make([]byte, 8), 0x30000); !errors.Is(err, ErrUnmapped) {
		t.Fatalf("unmapped read: %v", err)
	}
}

func TestCorruptCores(t *testing.T) {
	var buf bytes.Buffer
	if _, err := Write(&buf, sampleImage()); err != nil {
		t.Fatal(err)
	}
	full := buf.Bytes()
	cases := map[string][]byte{"empty": nil, "elf-header-only": full[:40], "headers-cut": full[:100]}
	for name, data := range cases {
		if _, err := Parse(data); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
	// Cut inside the data: parses, with the segment marked truncated.
	c, err := Parse(full[:8000])
	if err != nil {
		t.Fatal(err)
	}
	if c.Truncated() != 1 {
		t.Fatalf("truncated segments %d", c.Truncated())
	}
	// Not a core: an ELF executable header.
	exe := append([]byte(nil), full...)
	exe[16] = 2
	if _, err := Parse(exe); !errors.Is(err, ErrNotCore) || !strings.Contains(err.Error(), "executable") {
		t.Fatalf("exe: %v", err)
	}
	// A note whose descriptor length runs past the segment.
	notes := sampleImage().notes()
	bad := append([]byte(nil), notes...)
	bad[4], bad[5], bad[6] = 0xff, 0xff, 0x0f
	if _, err := ParseNotes(bad); err == nil || !strings.Contains(err.Error(), "runs past") {
		t.Fatalf("bad note: %v", err)
	}
	if _, err := ParseNotes(notes[:len(notes)-3]); err == nil {
		t.Fatal("cut notes parsed")
	}
}

func FuzzParseNotes(f *testing.F) {
	f.Add(sampleImage().notes())
	f.Add([]byte{5, 0, 0, 0, 8, 0, 0, 0, 0x45, 0x4c, 0x49, 0x46, 'C', 'O', 'R', 'E', 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0})
	var buf bytes.Buffer
	Write(&buf, sampleImage())
	f.Add(buf.Bytes()[:1024])
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := ParseNotes(data)
		if n == nil {
			t.Fatal("nil notes")
		}
		_ = err
		_ = n.ExePath()
		if c, err := Parse(data); err == nil {
			m := NewMemory(c, nil, 0)
			for _, s := range c.Segments {
				m.Uint64(s.Vaddr)
				m.Uint64(s.End() - 4)
			}
		}
	})
}
