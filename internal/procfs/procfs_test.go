package procfs

import (
	"os"
	"testing"
)

func TestParseMaps(t *testing.T) {
	in := []byte(`55d0c0a00000-55d0c0a21000 r--p 00000000 fd:01 1234   /usr/bin/my prog
55d0c0a21000-55d0c0b00000 r-xp 00021000 fd:01 1234   /usr/bin/my prog
7ffd1000-7ffd2000 rw-p 00000000 00:00 0                          [stack]
7f0000000000-7f0000001000 rw-p 00000000 00:00 0
`)
	m, err := ParseMaps(in)
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 4 {
		t.Fatalf("got %d mappings", len(m))
	}
	if m[1].Path != "/usr/bin/my prog" || !m[1].Exec() || m[1].Offset != 0x21000 || !m[1].IsFile() {
		t.Fatalf("bad mapping %+v", m[1])
	}
	if m[2].Path != "[stack]" || m[2].IsFile() || m[3].Path != "" {
		t.Fatalf("bad special mappings %+v %+v", m[2], m[3])
	}
	if got, ok := Find(m, 0x55d0c0a21010); !ok || got.Offset != 0x21000 {
		t.Fatalf("Find: %+v %v", got, ok)
	}
	if _, err := ParseMaps([]byte("zz-1 r-xp 0 0 0\n")); err == nil {
		t.Fatal("want error for bad range")
	}
}

func TestSelf(t *testing.T) {
	pid := os.Getpid()
	maps, err := Maps(pid)
	if err != nil || len(maps) == 0 {
		t.Fatalf("Maps(self): %v %d", err, len(maps))
	}
	exe, err := Exe(pid)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := os.Executable()
	if exe != want {
		t.Fatalf("Exe = %q, want %q", exe, want)
	}
	th, err := Threads(pid)
	if err != nil || len(th) == 0 {
		t.Fatalf("Threads: %v %v", th, err)
	}
	if !Alive(pid) || Comm(pid) == "" {
		t.Fatal("self not alive or no comm")
	}
}

func FuzzParseMaps(f *testing.F) {
	f.Add([]byte("55d0c0a00000-55d0c0a21000 r--p 00000000 fd:01 1234 /bin/x\n"))
	f.Add([]byte("0-1 rw-p 0 00:00 0\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ms, err := ParseMaps(b)
		if err != nil {
			return
		}
		for _, m := range ms {
			if m.End < m.Start {
				t.Fatalf("accepted inverted range %+v", m)
			}
		}
	})
}
