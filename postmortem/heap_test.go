package postmortem

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/pprof/profile"
)

func TestHeapProfile(t *testing.T) {
	for _, tc := range toolchains(t) {
		t.Run(tcName(tc), func(t *testing.T) {
			c := openCore(t, tc, "leak")
			p, err := c.HeapProfile()
			if err != nil {
				t.Fatal(err)
			}
			if p.Rate != 1 || p.Scaled {
				t.Fatalf("rate %d scaled %v, want the fixture's MemProfileRate=1", p.Rate, p.Scaled)
			}
			// The biggest in-use site is the fixture's 1000 Records of 64 bytes.
			top := p.Sites[0]
			if f := top.Site(); f.Func != "main.makeRecords" || top.InUseObjects != 1000 || top.InUseBytes != 64000 {
				t.Fatalf("top site %s: %d objects %d bytes", f, top.InUseObjects, top.InUseBytes)
			}
			var buf bytes.Buffer
			if err := p.Pprof().Write(&buf); err != nil {
				t.Fatal(err)
			}
			parsed, err := profile.Parse(bytes.NewReader(buf.Bytes()))
			if err != nil {
				t.Fatal(err)
			}
			if len(parsed.SampleType) != 4 || parsed.SampleType[3].Type != "inuse_space" || len(parsed.Sample) != len(p.Sites) {
				t.Fatalf("parsed %v, %d samples", parsed.SampleType, len(parsed.Sample))
			}
			if tc != "" {
				return
			}
			// go tool pprof reads it.
			f := t.TempDir() + "/heap.pb.gz"
			if err := writeFile(f, buf.Bytes()); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command("go", "tool", "pprof", "-top", "-sample_index=inuse_objects", f).CombinedOutput()
			if err != nil {
				t.Fatalf("go tool pprof: %v\n%s", err, out)
			}
			if !strings.Contains(string(out), "main.makeRecords") || !strings.Contains(string(out), "Type: inuse_objects") {
				t.Fatalf("pprof -top:\n%s", out)
			}
		})
	}
}

func TestCensus(t *testing.T) {
	for _, tc := range toolchains(t) {
		t.Run(tcName(tc), func(t *testing.T) {
			c := openCore(t, tc, "leak")
			cen, err := c.Census()
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]TypeCount{}
			for _, tc := range cen.Types {
				got[tc.Type] = tc
			}
			if r := got["main.Record"]; r.Objects != 1000 || r.Bytes != 64000 {
				t.Errorf("main.Record: %+v", r)
			}
			if s := got["main.Session"]; s.Objects != 50 {
				t.Errorf("main.Session (only in a map): %+v", s)
			}
			if a := got["[]*main.Record (backing array)"]; a.Objects != 1 || a.Source != "header" {
				t.Errorf("records array: %+v", a)
			}
			if cen.TypedObjects+cen.UntypedObjects != cen.Objects || cen.TypedBytes+cen.UntypedBytes != cen.Bytes {
				t.Errorf("census does not add up: %+v", cen)
			}
			var ut int64
			for _, u := range cen.Untyped {
				ut += u.Objects
			}
			if ut != cen.UntypedObjects || cen.UntypedObjects == 0 {
				t.Errorf("untyped lines %d, untyped objects %d", ut, cen.UntypedObjects)
			}
		})
	}
}

func writeFile(p string, b []byte) error { return os.WriteFile(p, b, 0o644) }

func TestContentionProfiles(t *testing.T) {
	c := openCore(t, "", "leak")
	block, mutex, err := c.ContentionProfiles()
	if err != nil {
		t.Fatal(err)
	}
	in := func(p *ContentionProfile, fn string) (n, delay int64) {
		for _, s := range p.Sites {
			for _, f := range s.Stack {
				if strings.HasPrefix(f.Func, fn) {
					n += s.Count
					delay += s.Delay
					break
				}
			}
		}
		return
	}
	// One channel receive and one mutex lock blocked in main.contend.
	if n, d := in(block, "main.contend"); n != 2 || (block.Unit == "nanoseconds" && d < 30e6) {
		t.Errorf("block profile: %d contentions %d %s in main.contend (sites %d)", n, d, block.Unit, len(block.Sites))
	}
	// The unlock that ended the wait records the mutex contention.
	if n, _ := in(mutex, "main.contend"); n != 1 {
		t.Errorf("mutex profile: %d contentions in main.contend", n)
	}
	for _, p := range []*ContentionProfile{block, mutex} {
		var buf bytes.Buffer
		if err := p.Pprof().Write(&buf); err != nil {
			t.Fatal(err)
		}
		if _, err := profile.Parse(&buf); err != nil {
			t.Fatalf("%s profile does not parse: %v", p.Kind, err)
		}
	}
}
