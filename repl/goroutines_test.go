package repl

import (
	"strings"
	"testing"
)

const sampleDump = `goroutine 1 [running]:
main.main()
	/src/main.go:10 +0x1d

goroutine 7 [chan receive, 3 minutes]:
main.worker(0xc000010000, {0x1, 0x2})
	/src/work.go:20 +0x45
created by main.start in goroutine 1
	/src/main.go:5 +0x66

goroutine 9 gp=0xc000002000 m=nil [select, locked to thread]:
main.worker(0xc000010000, {0x1, 0x2})
	/src/work.go:20 +0x45
created by main.start in goroutine 1
	/src/main.go:5 +0x66

goroutine 8 [chan receive]:
main.worker(0xc000010008, {0x3, 0x4})
	/src/work.go:20 +0x45
created by main.start in goroutine 1
	/src/main.go:5 +0x66

goroutine 12 [IO wait]:
net.(*conn).Read(0xc0000a0000, {0xc0001, 0x10, 0x10})
	/go/src/net/net.go:196 +0x45
created by main.start in goroutine 1
	/src/main.go:6 +0x66
`

func TestParseGoroutines(t *testing.T) {
	gs := ParseGoroutines([]byte(sampleDump))
	if len(gs) != 5 {
		t.Fatalf("%d goroutines, want 5", len(gs))
	}
	g := gs[1]
	if g.ID != 7 || g.State != "chan receive" || g.Wait != "3 minutes" || len(g.Frames) != 1 ||
		g.Frames[0].Func != "main.worker" || g.Frames[0].Location() != "/src/work.go:20" ||
		g.CreatedBy.Func != "main.start" || g.CreatedBy.Line != 5 {
		t.Fatalf("goroutine 7: %+v", g)
	}
	if gs[2].ID != 9 || gs[2].State != "select" || !gs[2].Locked {
		t.Fatalf("goroutine 9: %+v", gs[2])
	}
	if gs[4].Frames[0].Func != "net.(*conn).Read" {
		t.Fatalf("method name: %q", gs[4].Frames[0].Func)
	}
	if !strings.HasPrefix(gs[0].Raw, "goroutine 1 [running]:") || strings.Contains(gs[0].Raw, "goroutine 7") {
		t.Fatalf("raw block of goroutine 1: %q", gs[0].Raw)
	}

	bs := BucketGoroutines(gs)
	if len(bs) != 3 {
		t.Fatalf("%d buckets, want 3: %+v", len(bs), bs)
	}
	if len(bs[0].IDs) != 3 || bs[0].IDs[0] != 7 || bs[0].IDs[2] != 9 {
		t.Fatalf("largest bucket: %+v", bs[0])
	}
	if s := bs[0].StateSummary(); s != "chan receive ×2, select ×1" {
		t.Fatalf("state summary %q", s)
	}
	if bs[1].IDs[0] != 1 || bs[2].IDs[0] != 12 {
		t.Fatalf("ties not ordered by id: %v %v", bs[1].IDs, bs[2].IDs)
	}
}

func FuzzParseGoroutines(f *testing.F) {
	f.Add([]byte(sampleDump))
	f.Add([]byte("goroutine 1 [running]:\nmain.f(\n\t:x +0x\n\ncreated by \n"))
	f.Add([]byte("goroutine x ["))
	f.Fuzz(func(t *testing.T, data []byte) {
		gs := ParseGoroutines(data)
		n := 0
		for _, b := range BucketGoroutines(gs) {
			if len(b.IDs) == 0 {
				t.Fatal("empty bucket")
			}
			n += len(b.IDs)
			_ = b.StateSummary()
		}
		if n != len(gs) {
			t.Fatalf("buckets hold %d goroutines of %d", n, len(gs))
		}
		for _, g := range gs {
			if !strings.Contains(string(data), g.Raw) {
				t.Fatalf("raw block %q is not from the input", g.Raw)
			}
		}
	})
}
