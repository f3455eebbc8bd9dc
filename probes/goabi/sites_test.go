package goabi

import "testing"

// A Go-shaped function: stack check, frame push, body, a RET, the
// morestack block, and a tail jump out.
var goFunc = []byte{
	0x49, 0x3b, 0x66, 0x10, // CMPQ SP, 0x10(R14)
	0x76, 0x0b, // JBE morestack
	0x55,             // PUSHQ BP
	0x48, 0x89, 0xe5, // MOVQ SP, BP
	0x48, 0x83, 0xc0, 0x01, // ADDQ $1, AX
	0x5d,                         // POPQ BP
	0xc3,                         // RET
	0xe8, 0x00, 0x00, 0x00, 0x00, // CALL (morestack)
	0xeb, 0xe9, // JMP start (inside)
	0xe9, 0x00, 0x10, 0x00, 0x00, // JMP far away (tail call)
}

func TestEntrySiteGo(t *testing.T) {
	s, err := EntrySite(goFunc, 0x1000, true)
	if err != nil {
		t.Fatal(err)
	}
	if s.Off != 6 || s.Cost != Emulated {
		t.Fatalf("entry site = %+v, want the PUSHQ BP at 6, emulated", s)
	}
	c, err := EntrySite(goFunc, 0x1000, false)
	if err != nil || c.Off != 0 || c.Cost != SingleStepped {
		t.Fatalf("C entry site = %+v %v, want offset 0 single-stepped", c, err)
	}
	// A prologue that writes an argument register before the push is not
	// skipped.
	odd := append([]byte{0x48, 0x89, 0xc3}, goFunc...) // MOVQ AX, BX first
	if s, _ := EntrySite(odd, 0x1000, true); s.Off != 0 {
		t.Fatalf("entry site after a register write = %+v, want 0", s)
	}
}

func TestReturnSites(t *testing.T) {
	sites, indirect := ReturnSites(goFunc, 0x1000)
	if indirect != 0 || len(sites) != 2 {
		t.Fatalf("sites = %+v, indirect %d", sites, indirect)
	}
	if sites[0].Off != 15 || sites[0].Kind != Return || sites[1].Off != 23 || sites[1].Kind != TailJump {
		t.Fatalf("sites = %+v", sites)
	}
}

// FuzzDecodeSites runs the site finders over arbitrary machine code: they
// must not panic and every site must lie inside the code.
func FuzzDecodeSites(f *testing.F) {
	f.Add(goFunc)
	f.Add([]byte{0xc3, 0xcc, 0xcc})
	f.Fuzz(func(t *testing.T, code []byte) {
		if s, err := EntrySite(code, 0x400000, true); err == nil && s.Off >= uint64(len(code)) {
			t.Fatalf("entry site %d outside %d bytes", s.Off, len(code))
		}
		sites, _ := ReturnSites(code, 0x400000)
		for _, s := range sites {
			if s.Off >= uint64(len(code)) {
				t.Fatalf("site %d outside %d bytes", s.Off, len(code))
			}
		}
	})
}
