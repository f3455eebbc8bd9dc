package postmortem

import (
	"strings"
	"testing"
)

func TestLeaksExact(t *testing.T) {
	for _, tc := range toolchains(t) {
		t.Run(tcName(tc), func(t *testing.T) {
			c := openCore(t, tc, "leak")
			rep, err := c.Leaks(LeakOptions{MinCount: 1})
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]int{"main.leakOne": 5, "main.leakSelect": 3, "main.lockGuarded": 2, "main.waitBox": 2}
			got := map[string]int{}
			for _, s := range rep.Certain {
				got[s.Top.Func] += s.Count
				if !s.Certain || !strings.Contains(s.Why, "leaked for certain") {
					t.Errorf("%s: %+v", s.Top.Func, s)
				}
			}
			for fn, n := range want {
				if got[fn] != n {
					t.Errorf("certain leaks in %s: %d, want %d (all: %v)", fn, got[fn], n, got)
				}
			}
			if len(got) != len(want) || rep.Leaked != 12 {
				t.Errorf("leaked %d in %v, want 12 in %v", rep.Leaked, got, want)
			}
			sus := map[string]*Suspect{}
			for _, s := range rep.Suspects {
				sus[s.Top.Func] = s
			}
			if s := sus["main.waitShared"]; s == nil || s.Count != 17 || s.Certain || !strings.Contains(strings.Join(s.ReachedFrom, ","), "main.shared") {
				t.Errorf("shared-channel suspect %+v", s)
			}
			if s := sus["main.lockGlobal"]; s == nil || s.Count != 1 || !strings.Contains(strings.Join(s.ReachedFrom, ","), "memory outside the heap") {
				t.Errorf("global-mutex suspect %+v", s)
			}
			for _, s := range append(rep.Suspects, rep.Certain...) {
				if s.Top.Func == "time.Sleep" {
					t.Errorf("sleeping goroutine reported: %+v", s)
				}
			}
			if len(rep.TopTypes) == 0 || rep.TopTypes[0].Type != "main.Record" || len(rep.TopSites) == 0 || rep.TopSites[0].Site.Func != "main.makeRecords" {
				t.Errorf("top types %v sites %v", rep.TopTypes, rep.TopSites)
			}
			if rep.Mark.Conservative != 0 {
				t.Logf("objects scanned word by word: %d of %d", rep.Mark.Conservative, rep.Mark.Marked)
			}
		})
	}
}

// The fixture keeps the leaked channels' addresses as integers in a global
// array and a heap object. Scanning those word by word would make the
// channels look reachable; the pointer masks must not.
func TestLeaksPreciseMark(t *testing.T) {
	c := openCore(t, "", "leak")
	rep, err := c.Leaks(LeakOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var chans []uint64
	for _, s := range rep.Certain {
		if s.Top.Func == "main.leakOne" {
			chans = s.Objects
		}
	}
	if len(chans) != 5 {
		t.Fatalf("leakOne channels %v", chans)
	}
	addr, err := c.sym("main.leakedAddrs")
	if err != nil {
		t.Fatal(err)
	}
	held := map[uint64]bool{}
	for i := uint64(0); i < 8; i++ {
		held[c.u64(addr+8*i)] = true
	}
	for _, ch := range chans {
		if !held[ch] {
			t.Errorf("channel %#x not among the integers in main.leakedAddrs: the decoy does not test anything", ch)
		}
	}
	// A word-by-word scan of that global does reach the channels.
	h, _ := c.loadHeap()
	m := newMarker(c, h)
	defer m.release()
	m.words(addr, addr+64, m.addRoot(rootRef{kind: "global", addr: addr}))
	for _, ch := range chans {
		if ok, _ := m.reachable(ch); !ok {
			t.Errorf("conservative scan of the decoy misses %#x", ch)
		}
	}
	// And so does a word-by-word scan of holdAddr's stack, which the
	// stack maps read as an integer.
	gs, _ := c.Goroutines(GoroutineOptions{})
	var holder *Goroutine
	for _, g := range gs {
		if frameNamed(g.Frames, "main.holdAddr") != nil {
			holder = g
		}
	}
	if holder == nil {
		t.Fatal("no holdAddr goroutine")
	}
	m2 := newMarker(c, h)
	defer m2.release()
	m2.words(holder.sp, holder.stackHi, m2.addRoot(rootRef{kind: "goroutine", id: holder.ID}))
	if ok, _ := m2.reachable(c.u64(addr)); !ok {
		t.Errorf("word-by-word scan of holdAddr's stack misses the channel: the stack decoy tests nothing")
	}
	if rep.Mark.FramesByWord > 2 {
		t.Errorf("%d frames scanned word by word (want only running innermost frames)", rep.Mark.FramesByWord)
	}
}
