package pprofx

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/pprof/profile"

	"github.com/obs-toolkit/obs/internal/symtab"
)

func sample(t *testing.T) *profile.Profile {
	t.Helper()
	m := &symtab.Mapping{Start: 0x400000, Limit: 0x500000, Path: "/bin/app", BuildID: "abc123"}
	leaf := Loc{PC: 0x401010, Mapping: m, Addr: 0x401010, Frames: []symtab.Frame{
		{Function: "main.add", File: "a.go", Line: 3, Inlined: true},
		{Function: "main.leaf", File: "a.go", Line: 10, StartLine: 9},
	}}
	a := Loc{PC: 0x402000, Mapping: m, Frames: []symtab.Frame{{Function: "main.a", File: "a.go", Line: 20}}}
	bb := Loc{PC: 0x403000, Mapping: m, Frames: []symtab.Frame{{Function: "main.b", File: "a.go", Line: 30}}}
	mainL := Loc{PC: 0x404000, Mapping: m, Frames: []symtab.Frame{{Function: "main.main", File: "a.go", Line: 40}}}
	k := Loc{PC: 0xffffffff81000000, Kernel: true, Frames: []symtab.Frame{{Function: "do_syscall_64"}}}
	unk := Loc{PC: 0x7000}
	b := New([]ValueType{{"samples", "count"}, {"cpu", "nanoseconds"}}, ValueType{"cpu", "nanoseconds"}, 10101010, time.Unix(1, 0))
	b.Comment("test")
	b.Add([]Loc{leaf, a, mainL}, []int64{3, 30}, map[string]string{"thread": "1"}, nil)
	b.Add([]Loc{leaf, a, mainL}, []int64{3, 30}, map[string]string{"thread": "1"}, nil) // merged
	b.Add([]Loc{leaf, bb, mainL}, []int64{2, 20}, nil, map[string]int64{"tid": 7})
	b.Add([]Loc{k, unk, mainL}, []int64{4, 40}, nil, nil)
	p, err := b.Profile(time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRoundTrip(t *testing.T) {
	p := sample(t)
	var buf bytes.Buffer
	if err := p.Write(&buf); err != nil {
		t.Fatal(err)
	}
	q, err := profile.Parse(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(q.Sample) != 3 || len(q.Mapping) != 3 {
		t.Fatalf("samples %d mappings %d, want 3 and 3", len(q.Sample), len(q.Mapping))
	}
	if q.Mapping[0].BuildID != "abc123" || !q.Mapping[0].HasFunctions {
		t.Errorf("mapping %+v", q.Mapping[0])
	}
	top, total := Top(q, 0, 0)
	if total != 12 {
		t.Fatalf("total %d", total)
	}
	want := map[string][2]int64{"main.add": {8, 8}, "main.leaf": {0, 8}, "main.a": {0, 6}, "main.b": {0, 2},
		"main.main": {0, 12}, "do_syscall_64": {4, 4}, "0x7000": {0, 4}}
	for _, e := range top {
		w, ok := want[e.Function]
		if !ok || e.Flat != w[0] || e.Cum != w[1] {
			t.Errorf("%s: flat %d cum %d, want %v", e.Function, e.Flat, e.Cum, w)
		}
		delete(want, e.Function)
	}
	if len(want) != 0 {
		t.Errorf("missing %v", want)
	}
	// Without kernel frames the kernel sample's flat goes to its first user
	// location; ranked by cum, main.main (in every sample) comes first.
	ut, _ := TopWith(q, TopOptions{Index: 0, ByCum: true, UserOnly: true})
	if ut[0].Function != "main.main" || ut[0].Cum != 12 {
		t.Errorf("by cum: first %+v", ut[0])
	}
	for _, e := range ut {
		if e.Function == "do_syscall_64" {
			t.Errorf("UserOnly kept a kernel frame: %+v", e)
		}
		if e.Function == "0x7000" && e.Flat != 4 {
			t.Errorf("UserOnly flat of 0x7000 = %d, want 4", e.Flat)
		}
	}
	var f bytes.Buffer
	if err := WriteFolded(&f, q, 0); err != nil {
		t.Fatal(err)
	}
	wantF := "main.main;0x7000;do_syscall_64 4\nmain.main;main.a;main.leaf;main.add 6\nmain.main;main.b;main.leaf;main.add 2\n"
	if f.String() != wantF {
		t.Errorf("folded:\n%s\nwant:\n%s", f.String(), wantF)
	}
}

// TestGoToolPprof checks that go tool pprof reads the file without
// re-symbolizing it.
func TestGoToolPprof(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go tool pprof")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go not on PATH")
	}
	path := filepath.Join(t.TempDir(), "p.pb.gz")
	fd, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := sample(t).Write(fd); err != nil {
		t.Fatal(err)
	}
	fd.Close()
	out, err := exec.Command(goBin, "tool", "pprof", "-top", "-sample_index=samples", path).CombinedOutput()
	if err != nil {
		t.Fatalf("go tool pprof: %v\n%s", err, out)
	}
	for _, w := range []string{"main.add", "do_syscall_64", "main.main"} {
		if !strings.Contains(string(out), w) {
			t.Errorf("pprof -top lacks %s:\n%s", w, out)
		}
	}
}

func TestWeb(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.pb.gz")
	fd, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := sample(t).Write(fd); err != nil {
		t.Fatal(err)
	}
	fd.Close()
	ctx, cancel := context.WithCancel(context.Background())
	urls := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- Web(ctx, path, "127.0.0.1:0", func(u string) { urls <- u }, io.Discard) }()
	var url string
	select {
	case url = <-urls:
	case err := <-done:
		t.Fatalf("web ended early: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("web never listened")
	}
	for _, u := range []string{url, strings.Replace(url, "/ui/flamegraph", "/ui/top", 1)} {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), "main.leaf") {
			t.Errorf("GET %s: %d, main.leaf in body: %v", u, resp.StatusCode, strings.Contains(string(body), "main.leaf"))
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("web did not stop")
	}
}
