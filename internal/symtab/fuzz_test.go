package symtab

import (
	"encoding/binary"
	"os"
	"strings"
	"testing"
)

func FuzzPCValue(f *testing.F) {
	f.Add([]byte{0x02, 0x04, 0x10, 0x02, 0x00}, uint64(5))
	f.Add([]byte{0x01, 0x80, 0x80, 0x01}, uint64(1<<20))
	f.Fuzz(func(t *testing.T, p []byte, target uint64) {
		v, ok := pcValue(p, 0x1000, 1, 0x1000+target%4096)
		if !ok && v != 0 {
			t.Fatalf("not ok but value %d", v)
		}
	})
}

// FuzzGoTable feeds arbitrary tables to the parser and every lookup.
func FuzzGoTable(f *testing.F) {
	hdr := make([]byte, 8+8*8)
	binary.LittleEndian.PutUint32(hdr, magic120)
	hdr[6], hdr[7] = 1, 8
	binary.LittleEndian.PutUint64(hdr[8:], 1)
	for i := 3; i <= 7; i++ {
		binary.LittleEndian.PutUint64(hdr[8+8*i:], uint64(len(hdr)))
	}
	seed := append(hdr, make([]byte, 64)...)
	f.Add(seed, uint64(0x10))
	f.Fuzz(func(t *testing.T, data []byte, pc uint64) {
		tab, err := parseGoTable(data)
		if err != nil {
			return
		}
		tab.text = 0
		tab.gofunc = 0x100
		tab.read = func(addr uint64, n int) []byte {
			if addr < uint64(len(data)) && addr+uint64(n) <= uint64(len(data)) {
				return data[addr : addr+uint64(n)]
			}
			return nil
		}
		tab.frames(pc % 4096)
		tab.spDelta(pc % 4096)
	})
}

// FuzzOpen parses arbitrary ELF images and looks an address up.
func FuzzOpen(f *testing.F) {
	if b, err := os.ReadFile("/bin/true"); err == nil && len(b) < 1<<20 {
		f.Add(b[:min(len(b), 4096)], uint64(0x1000))
	}
	f.Add([]byte("\x7fELF\x02\x01\x01"), uint64(0))
	f.Fuzz(func(t *testing.T, data []byte, addr uint64) {
		file, err := NewFromBytes("fuzz", data)
		if err != nil {
			return
		}
		file.Lookup(addr)
		file.SPDelta(addr)
		file.Close()
	})
}

func FuzzKallsyms(f *testing.F) {
	f.Add("ffffffff81000000 T _stext\nffffffff81000100 t foo [mod]\n")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := parseKallsyms(strings.NewReader(s))
		if err != nil {
			return
		}
		k.Lookup(0xffffffff81000050)
	})
}
