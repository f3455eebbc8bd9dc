package triage

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/obs-toolkit/obs/postmortem"
)

// CoreData is the core section's data.
type CoreData struct {
	Dump       *postmortem.DumpResult  `json:"dump,omitempty"`
	Goroutines int                     `json:"goroutines"`
	Buckets    []postmortem.BucketLine `json:"top_buckets,omitempty"`
	Leaked     int                     `json:"leaked"`
	Certain    []*postmortem.Suspect   `json:"certain_leaks,omitempty"`
	Suspects   []*postmortem.Suspect   `json:"suspects,omitempty"`
	HeapSites  int                     `json:"heap_sites"`
	TopTypes   []postmortem.TypeCount  `json:"top_types,omitempty"`
}

// coreName is the live core's file name in the bundle; the executable is
// copied beside it so the pair can be analysed anywhere.
const (
	coreName = "core"
	exeName  = "exe"
)

func coreSection(_ context.Context, e *env, s *Section) {
	if e.opts.NoCore {
		s.Status = Skipped
		s.note("live core turned off (--no-core)")
		return
	}
	path := filepath.Join(e.dir, coreName)
	res, err := postmortem.Dump(e.pid, path)
	if err != nil {
		_ = os.Remove(path)
		s.miss("live core: %s", bpfErr(err))
		return
	}
	d := &CoreData{Dump: res}
	s.Data = d
	s.Files = append(s.Files, coreName)
	s.note("live core %s: %s written, %s of %s mapped; the process was stopped for %s",
		coreName, bytesStr(uint64(res.Bytes)), bytesStr(res.Copied), bytesStr(res.Mapped), res.Stopped.Round(time.Microsecond))
	if err := copyFile(procPath(e.pid, "exe"), filepath.Join(e.dir, exeName)); err != nil {
		s.miss("copy the executable beside the core: %v", err)
	} else {
		s.Files = append(s.Files, exeName)
	}

	exe := filepath.Join(e.dir, exeName)
	if _, err := os.Stat(exe); err != nil {
		exe = e.exe
	}
	c, err := postmortem.Open(path, postmortem.Options{Exe: exe})
	if err != nil {
		s.miss("open the live core: %v", oneLine(err))
		return
	}
	defer c.Close()

	gs, err := c.Goroutines(postmortem.GoroutineOptions{Depth: 32})
	if err != nil {
		s.miss("goroutines: %v", oneLine(err))
	} else {
		d.Goroutines = len(gs)
		bs := postmortem.BucketGoroutines(gs)
		s.note("%d goroutines in %d buckets; largest:", len(gs), len(bs))
		for i, b := range bs {
			if i == 5 {
				break
			}
			top := b.Top()
			state := b.Status
			if b.WaitReason != "" {
				state = b.WaitReason
			}
			d.Buckets = append(d.Buckets, postmortem.BucketLine{Count: b.Count, State: state, Top: top.Func})
			s.note("  %4d  %-16s %s", b.Count, state, top.Func)
		}
	}

	if lr, err := c.Leaks(postmortem.LeakOptions{}); err != nil {
		s.miss("leak search: %v", oneLine(err))
	} else {
		d.Leaked, d.Certain, d.Suspects = lr.Leaked, lr.Certain, lr.Suspects
		s.note("leaks: %d goroutines leaked for certain in %d bucket(s), %d suspect bucket(s), %d expected waits",
			lr.Leaked, len(lr.Certain), len(lr.Suspects), len(lr.Expected))
		if lr.Leaked > 0 {
			s.finding("%d goroutines leaked for certain (blocked where nothing can ever wake them)", lr.Leaked)
		}
		if n := len(lr.Suspects); n > 0 {
			s.finding("%d bucket(s) of goroutines blocked long or in large numbers (suspects)", n)
		}
		for _, l := range lr.Certain {
			s.note("  leaked: %d x %s at %s (%s)", l.Count, l.WaitReason, l.Top.Func, l.Why)
		}
		for _, l := range lr.Suspects {
			s.note("  suspect: %d x %s at %s (%s)", l.Count, l.WaitReason, l.Top.Func, l.Why)
		}
	}

	if hp, err := c.HeapProfile(); err != nil {
		s.miss("heap profile from the core: %v", oneLine(err))
	} else {
		d.HeapSites = len(hp.Sites)
		var buf bytes.Buffer
		if err := hp.Pprof().Write(&buf); err != nil {
			s.miss("encode heap profile: %v", err)
		} else {
			e.write(s, "heap.pb.gz", buf.Bytes())
		}
	}
	if cen, err := c.Census(); err != nil {
		s.miss("heap census: %v", oneLine(err))
	} else {
		s.note("heap: %d objects, %s; largest types:", cen.Objects, bytesStr(uint64(cen.Bytes)))
		for i, t := range cen.Types {
			if i == 5 {
				break
			}
			d.TopTypes = append(d.TopTypes, t)
			s.note("  %8d  %10s  %s", t.Objects, bytesStr(uint64(t.Bytes)), t.Type)
		}
	}
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: %w", from, err)
	}
	return out.Close()
}
