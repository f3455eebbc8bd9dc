package postmortem

import (
	"fmt"
	"strings"
	"time"
)

// LeakOptions tune what counts as a suspect.
type LeakOptions struct {
	// MinWait: a bucket of reachable blocked goroutines is a suspect when
	// its longest known wait is at least this (default 1 minute)...
	MinWait time.Duration
	// ...or when it has at least MinCount goroutines (default 10).
	MinCount int
}

// Suspect is a bucket of blocked goroutines with the reason obs gives.
type Suspect struct {
	Certain     bool          `json:"certain"`
	Count       int           `json:"count"`
	WaitReason  string        `json:"wait_reason"`
	LongestWait time.Duration `json:"longest_wait_ns"`
	Top         Frame         `json:"top"`
	CreatedBy   *Frame        `json:"created_by,omitempty"`
	IDs         []int64       `json:"ids"`
	// Objects are the channels or semaphores the goroutines wait on.
	Objects []uint64 `json:"objects"`
	// ReachedFrom says, for reachable objects, where the mark came from.
	ReachedFrom []string `json:"reached_from,omitempty"`
	Why         string   `json:"why"`
	Bucket      *Bucket  `json:"-"`
}

// MarkStats describes the reachability pass.
type MarkStats struct {
	Marked       int    `json:"marked_objects"`
	Precise      int    `json:"precise_objects"`      // scanned by pointer mask
	Conservative int    `json:"conservative_objects"` // scanned word by word (layout unknown)
	StackWords   uint64 `json:"stack_words"`          // stack words scanned word by word
	FramesByMap  int    `json:"frames_by_map"`        // frames scanned by their stack maps
	FramesByWord int    `json:"frames_by_word"`       // frames scanned word by word
	Spans        int    `json:"spans"`
	Rounds       int    `json:"rounds"`
}

// LeakReport is what `obs core leaks` prints.
type LeakReport struct {
	Goroutines int        `json:"goroutines"`
	Blocked    int        `json:"blocked"`  // waiting on a channel, select or lock
	Leaked     int        `json:"leaked"`   // goroutines in certain leaks
	Certain    []*Suspect `json:"certain"`  // nothing can ever wake them
	Suspects   []*Suspect `json:"suspects"` // blocked long or in large numbers, but wakeable
	Expected   []*Suspect `json:"expected"` // waits that are normal (main parked forever, runtime)
	Mark       MarkStats  `json:"mark"`
	// The largest types (census) and in-use allocation sites (sampled
	// profile), for memory leaks; empty when unavailable.
	TopTypes []TypeCount `json:"top_types"`
	TopSites []SiteLine  `json:"top_sites"`
}

// SiteLine is an allocation site with its in-use figures.
type SiteLine struct {
	Site         Frame `json:"site"`
	InUseObjects int64 `json:"inuse_objects"`
	InUseBytes   int64 `json:"inuse_bytes"`
}

type waitKind int

const (
	waitOther waitKind = iota
	waitChan
	waitForever
	waitSema
	waitCond
)

func classify(reason string) waitKind {
	switch reason {
	case "chan receive", "chan send", "select":
		return waitChan
	case "chan receive (nil chan)", "chan send (nil chan)", "select (no cases)":
		return waitForever
	case "sync.Mutex.Lock", "sync.RWMutex.Lock", "sync.RWMutex.RLock", "sync.WaitGroup.Wait", "semacquire":
		return waitSema
	case "sync.Cond.Wait":
		return waitCond
	}
	return waitOther
}

type blocked struct {
	g       *Goroutine
	kind    waitKind
	objs    []uint64 // channels (hchan) or semaphore addresses
	awake   bool     // some object is reachable: it can be woken
	reached []int32
}

// Leaks finds goroutines that can never run again and buckets of blocked
// goroutines worth a look.
//
// A goroutine blocked on channels is leaked for certain when none of its
// channels can be reached from a global, from a goroutine that can run,
// or from a blocked goroutine that could itself be woken (iterated to a
// fixed point). The mark reads heap objects by the GC's pointer masks;
// stacks are scanned word by word, which can only make more reachable:
// an integer on a stack that equals a channel's address turns a leak into
// a suspect, never the other way round.
func (c *Core) Leaks(opt LeakOptions) (_ *LeakReport, err error) {
	defer guard(&err, "leaks")
	if opt.MinWait == 0 {
		opt.MinWait = time.Minute
	}
	if opt.MinCount == 0 {
		opt.MinCount = 10
	}
	gs, err := c.Goroutines(GoroutineOptions{})
	if err != nil {
		return nil, err
	}
	h, err := c.loadHeap()
	if err != nil {
		return nil, err
	}
	l := c.rt
	sc, sw := l.mustOff("runtime.sudog.c"), l.mustOff("runtime.sudog.waitlink")
	if sc < 0 || sw < 0 {
		return nil, fmt.Errorf("runtime.sudog layout not in DWARF")
	}
	m := newMarker(c, h)
	defer m.release()
	for _, g := range gs {
		m.skip[g.Addr] = true
	}
	semas, err := c.semaWaiters(m)
	if err != nil {
		return nil, err
	}
	var bl []*blocked
	byG := map[*Goroutine]*blocked{}
	for _, g := range gs {
		k := classify(g.WaitReason)
		if g.status != 4 || k == waitOther || g.System {
			continue
		}
		b := &blocked{g: g, kind: k}
		switch k {
		case waitChan:
			for sd, n := g.waiting, 0; sd != 0 && n < 4096; sd, n = c.u64(sd+uint64(sw)), n+1 {
				m.skip[sd] = true
				if ch := c.u64(sd + uint64(sc)); ch != 0 {
					b.objs = append(b.objs, ch)
				}
			}
			if len(b.objs) == 0 {
				continue // between states; leave it runnable
			}
		case waitSema:
			a, ok := semas[g.Addr]
			if !ok {
				continue
			}
			b.objs = []uint64{a}
		}
		bl = append(bl, b)
		byG[g] = b
	}
	// Roots: globals, threads, specials, and every goroutine that is not
	// blocked on a primitive.
	if err := m.globals(); err != nil {
		return nil, err
	}
	m.threads()
	m.specials()
	for _, g := range gs {
		if byG[g] == nil {
			m.goroutine(g)
		}
	}
	m.drain()
	rounds := 1
	for changed := true; changed; rounds++ {
		changed = false
		for _, b := range bl {
			if b.awake || b.kind == waitForever || b.kind == waitCond {
				continue
			}
			for _, o := range b.objs {
				if ok, r := m.reachable(o); ok {
					b.awake = true
					b.reached = append(b.reached, r)
				}
			}
			if b.awake {
				changed = true
				m.goroutine(b.g)
			}
		}
	}
	rep := &LeakReport{Goroutines: len(gs), Blocked: len(bl)}
	rep.Mark = MarkStats{Marked: m.count, Precise: m.precise, Conservative: m.conservative,
		StackWords: m.stackWords, FramesByMap: m.framesPrecise, FramesByWord: m.framesConservative,
		Spans: len(h.spans), Rounds: rounds}
	// Bucket each class of blocked goroutine.
	var certainGs, wakeGs, foreverMain, waitingMain []*Goroutine
	info := map[int64]*blocked{}
	for _, b := range bl {
		info[b.g.ID] = b
		switch {
		case b.kind == waitForever && b.g.ID == 1:
			foreverMain = append(foreverMain, b.g)
		case b.kind == waitForever, (b.kind == waitChan || b.kind == waitSema) && !b.awake:
			certainGs = append(certainGs, b.g)
		case b.g.ID == 1:
			waitingMain = append(waitingMain, b.g)
		default:
			wakeGs = append(wakeGs, b.g)
		}
	}
	for _, bk := range BucketGoroutines(certainGs) {
		s := c.suspect(bk, info, m, true)
		rep.Certain = append(rep.Certain, s)
		rep.Leaked += bk.Count
	}
	for _, bk := range BucketGoroutines(wakeGs) {
		if bk.Count < opt.MinCount && bk.LongestWait < opt.MinWait {
			continue
		}
		rep.Suspects = append(rep.Suspects, c.suspect(bk, info, m, false))
	}
	for _, bk := range BucketGoroutines(foreverMain) {
		s := c.suspect(bk, info, m, false)
		s.Why = "The main goroutine is parked forever (select {} or a nil channel): the program serves from other goroutines; this is normal."
		rep.Expected = append(rep.Expected, s)
	}
	for _, bk := range BucketGoroutines(waitingMain) {
		s := c.suspect(bk, info, m, false)
		s.Why = fmt.Sprintf("The main goroutine is blocked (%s) on a channel or lock that is still reachable (from %s): "+
			"a service waiting for a shutdown signal or for its workers looks like this; this is normal.", s.WaitReason,
			strings.Join(s.ReachedFrom, ", "))
		rep.Expected = append(rep.Expected, s)
	}
	if cen, err := c.Census(); err == nil {
		rep.TopTypes = cen.Types[:min(5, len(cen.Types))]
	}
	if p, err := c.HeapProfile(); err == nil {
		for _, s := range p.Sites[:min(5, len(p.Sites))] {
			rep.TopSites = append(rep.TopSites, SiteLine{s.Site(), s.InUseObjects, s.InUseBytes})
		}
	}
	return rep, nil
}

func (c *Core) suspect(bk *Bucket, info map[int64]*blocked, m *marker, certain bool) *Suspect {
	s := &Suspect{Certain: certain, Count: bk.Count, WaitReason: bk.WaitReason, LongestWait: bk.LongestWait,
		Top: bk.Top(), CreatedBy: bk.CreatedBy, IDs: bk.IDs, Bucket: bk}
	seen := map[string]bool{}
	kind := waitOther
	for _, g := range bk.Goroutines {
		b := info[g.ID]
		kind = b.kind
		s.Objects = append(s.Objects, b.objs...)
		for _, r := range b.reached {
			d := m.describe(r)
			if !seen[d] {
				seen[d] = true
				s.ReachedFrom = append(s.ReachedFrom, d)
			}
		}
	}
	who := fmt.Sprintf("%d goroutine", s.Count)
	if s.Count != 1 {
		who += "s"
	}
	where := fmt.Sprintf("%s (%s:%d)", s.Top.Func, shortPath(s.Top.File), s.Top.Line)
	if s.CreatedBy != nil {
		where += ", started by " + s.CreatedBy.Func
	}
	wait := ""
	if s.LongestWait >= 0 {
		wait = fmt.Sprintf(" for up to %s", s.LongestWait.Round(time.Millisecond))
	}
	what := "channel"
	if kind == waitSema {
		what = "lock or WaitGroup"
	}
	switch {
	case certain && kind == waitForever:
		s.Why = fmt.Sprintf("%s in %s wait on %s: a nil channel or an empty select can never proceed, so they are leaked for certain.",
			who, where, s.WaitReason)
	case certain:
		s.Why = fmt.Sprintf("%s in %s have been blocked on %s%s. The %s they wait on (%s) cannot be reached from any global, "+
			"from any goroutine that can run, nor from any blocked goroutine that could be woken: nothing can ever send, "+
			"receive, close or unlock it, so they are leaked for certain.", who, where, s.WaitReason, wait, what, addrList(s.Objects))
	case kind == waitCond:
		s.Why = fmt.Sprintf("%s in %s wait on a sync.Cond%s. obs does not follow condition variables, so this stays a suspect.", who, where, wait)
	default:
		from := strings.Join(s.ReachedFrom, ", ")
		if from == "" {
			from = "a live root"
		}
		s.Why = fmt.Sprintf("%s in %s have been blocked on %s%s. Their %s is still reachable (from %s), so another goroutine "+
			"could still wake them: a suspect, not a certain leak. Check that something will send, close or unlock it.",
			who, where, s.WaitReason, wait, what, from)
	}
	return s
}

func addrList(a []uint64) string {
	var parts []string
	for i, x := range a {
		if i == 4 {
			parts = append(parts, fmt.Sprintf("and %d more", len(a)-4))
			break
		}
		parts = append(parts, fmt.Sprintf("%#x", x))
	}
	return strings.Join(parts, ", ")
}

func shortPath(f string) string {
	if i := strings.LastIndex(f, "/"); i >= 0 {
		if j := strings.LastIndex(f[:i], "/"); j >= 0 {
			return f[j+1:]
		}
	}
	return f
}

// semaWaiters walks runtime.semtable and returns, for each goroutine
// parked in semacquire, the semaphore address it waits on. The sudogs
// seen are added to the marker's skip set.
func (c *Core) semaWaiters(m *marker) (map[uint64]uint64, error) {
	out := map[uint64]uint64{}
	tab, err := c.sym("runtime.semtable")
	if err != nil {
		return out, nil // no semaphores in this program
	}
	l := c.rt
	treap := l.mustOff("runtime.semaRoot.treap")
	prev, next, wl := l.mustOff("runtime.sudog.prev"), l.mustOff("runtime.sudog.next"), l.mustOff("runtime.sudog.waitlink")
	elem, gOff := l.mustOff("runtime.sudog.elem"), l.mustOff("runtime.sudog.g")
	if treap < 0 || prev < 0 || next < 0 || wl < 0 || elem < 0 || gOff < 0 {
		return nil, fmt.Errorf("semaphore table layout not in DWARF")
	}
	// elem is unsafe.Pointer before Go 1.26, maybeTraceablePtr{vp, vu}
	// (vu the truth) after.
	elemWord := uint64(elem)
	if l.mustOff("runtime.maybeTraceablePtr.vu") >= 0 {
		elemWord += uint64(l.mustOff("runtime.maybeTraceablePtr.vu"))
	}
	size := c.symSize["runtime.semtable"]
	const n = 251
	if size == 0 || size%n != 0 {
		return nil, fmt.Errorf("runtime.semtable has size %d, not %d entries", size, n)
	}
	stride := size / n
	visited := map[uint64]bool{}
	var walk func(sd uint64, depth int)
	walk = func(sd uint64, depth int) {
		if sd == 0 || visited[sd] || depth > 64 {
			return
		}
		visited[sd] = true
		addr := c.u64(sd + elemWord)
		for w, k := sd, 0; w != 0 && k < 1<<16; w, k = c.u64(w+uint64(wl)), k+1 {
			m.skip[w] = true
			if g := c.u64(w + uint64(gOff)); g != 0 {
				out[g] = addr
			}
		}
		walk(c.u64(sd+uint64(prev)), depth+1)
		walk(c.u64(sd+uint64(next)), depth+1)
	}
	for i := uint64(0); i < n; i++ {
		walk(c.u64(tab+i*stride+uint64(treap)), 0)
	}
	return out, nil
}
