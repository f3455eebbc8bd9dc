package main

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/obs-toolkit/obs/internal/output"
	"github.com/obs-toolkit/obs/postmortem"
)

func init() { register(newCoreCmd) }

func newCoreCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "core",
		Short: "Post-mortem analysis of Go core dumps: crash, goroutines, leaks, heap",
		Long: `Post-mortem analysis of Linux core dumps of Go programs.

The executable is found from the core's NT_FILE note unless --exe is given.
Non-Go cores still get signal, threads and mappings from 'obs core info'.`,
	}
	c.AddCommand(newCoreInfoCmd(g), newCoreGoroutinesCmd(g), newCoreLeaksCmd(g), newCoreDumpCmd(g), newCoreHeapCmd(g),
		newCoreReportCmd(g), newCoreDiffCmd(g))
	return c
}

// openCore opens a core for a command, turning failures into one line.
func openCore(path, exe string) (*postmortem.Core, error) {
	c, err := postmortem.Open(path, postmortem.Options{Exe: exe})
	if err != nil {
		return nil, output.Failf("open core %s: %v", path, err)
	}
	return c, nil
}

func needGo(c *postmortem.Core) error {
	if c.GoErr != nil {
		return output.Failf("%s: %v", c.Path, c.GoErr)
	}
	return nil
}

// openGoCore is openCore for the commands that need the Go runtime's state:
// a core without it is closed again and reported in one line.
func openGoCore(io *output.IO, path, exe string) (*postmortem.Core, error) {
	c, err := openCore(path, exe)
	if err != nil {
		return nil, err
	}
	if err := needGo(c); err != nil {
		c.Close()
		return nil, err
	}
	// A truncated or damaged core can still be analysed, partly: say so,
	// whatever the command, with its result or its error.
	if len(c.Warnings) > 0 {
		io.DeferWarn("%s", strings.Join(c.Warnings, "; "))
	}
	return c, nil
}

// writeFile creates file and fills it with write; any failure, the close
// included, becomes one line naming the file.
func writeFile(file string, write func(f *os.File) error) error {
	f, err := os.Create(file)
	if err != nil {
		return output.Failf("%v", err)
	}
	err = write(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return output.Failf("write %s: %v", file, err)
	}
	return nil
}

// exeFlag adds --exe, the executable a core's NT_FILE note names by default.
func exeFlag(c *cobra.Command, exe *string) {
	c.Flags().StringVar(exe, "exe", "", "the executable (default: from the core's NT_FILE note)")
}

func fmtBytes(n uint64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func fmtWait(d time.Duration) string {
	if d < 0 {
		return "-"
	}
	return d.Round(time.Millisecond).String()
}

func newCoreInfoCmd(g *globals) *cobra.Command {
	var exe string
	var asJSON, mappings bool
	c := &cobra.Command{
		Use:   "info CORE",
		Short: "What crashed and why: signal, panic, crashing stack, build, threads, memory",
		Long: `Summarise a core: the signal and fault address, the panic message and value
(or fatal error), the crashing goroutine's stack with arguments, Go version and
build info, threads, uptime, memory totals and Go heap statistics.

--json fields: core, core_bytes, exe, pid, command, signal{number,name,code,addr,
has_addr,sender_pid,pc}, go_signal (the signal the runtime turned into a panic),
panic{kind,message,value,type,goroutine}, crashing_goroutine{id,status,
wait_reason,frames[{func,file,line,pc,args[{name,type,value}]}],created_by},
go_version, build{path,module,version,vcs_revision,vcs_time,vcs_modified,
settings,deps}, threads[{tid,pc,func,signal,cpu_ns}], memory{mappings,
mapped_bytes,dumped_bytes,resident_bytes,file_mappings,file_bytes},
mappings[{start,end,perms,dumped_bytes,file}],
heap{in_use_bytes,live_bytes,marked_bytes,gc_cycles,last_gc}, goroutines,
uptime_ns, clock_basis, go_error, warnings.`,
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			core, err := openCore(args[0], exe)
			if err != nil {
				return err
			}
			defer core.Close()
			in, err := core.Info()
			if err != nil {
				return output.Failf("%s: %v", args[0], err)
			}
			io := g.IO()
			if asJSON {
				return io.JSON(in)
			}
			printInfo(io, in, mappings)
			return nil
		},
	}
	exeFlag(c, &exe)
	c.Flags().BoolVar(&mappings, "mappings", false, "list the memory mappings (always shown for non-Go cores)")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func printInfo(io *output.IO, in *postmortem.Info, mappings bool) {
	io.Printf("core      %s (%s), pid %d, %s\n", in.Core, fmtBytes(uint64(in.CoreBytes)), in.PID, in.Command)
	if in.Exe != "" {
		io.Printf("exe       %s\n", in.Exe)
	}
	if s := in.Signal; s != nil {
		io.Printf("signal    %s", io.Paint(output.Red, s.Name))
		if s.HasAddr {
			io.Printf(" at address %#x", s.Addr)
		} else if s.Sender != 0 {
			io.Printf(" sent by pid %d", s.Sender)
		}
		io.Printf(" (code %d, pc %#x)\n", s.Code, s.PC)
	}
	if s := in.GoSignal; s != nil {
		how := "turned into a panic by the runtime"
		if in.Panic != nil && in.Panic.Kind == "fatal signal" {
			how = "the runtime's handler aborted the process"
		}
		io.Printf("go signal %s at address %#x, pc %#x (%s)\n", s.Name, s.Addr, s.PC, how)
	}
	if p := in.Panic; p != nil {
		io.Printf("%-9s %s\n", p.Kind, io.Paint(output.Bold, p.Message))
		if p.Value != "" {
			io.Printf("value     %s\n", p.Value)
		}
	}
	if in.GoVersion != "" {
		io.Printf("go        %s\n", in.GoVersion)
	}
	if b := in.Build; b != nil {
		io.Printf("module    %s %s", b.Module, b.Version)
		if b.Revision != "" {
			rev := b.Revision
			if len(rev) > 12 {
				rev = rev[:12]
			}
			if b.Modified {
				rev += "+dirty"
			}
			io.Printf(" (vcs %s %s)", rev, b.Time)
		}
		io.Printf(", %d deps\n", b.Deps)
		var keys []string
		for k, v := range b.Settings {
			if !strings.HasPrefix(k, "vcs") && v != "" {
				keys = append(keys, k+"="+v)
			}
		}
		if len(keys) > 0 {
			slices.Sort(keys)
			io.Printf("build     %s\n", strings.Join(keys, " "))
		}
	}
	if in.Uptime > 0 {
		io.Printf("uptime    %s (%s)\n", in.Uptime.Round(time.Millisecond), in.ClockBasis)
	}
	m := in.Memory
	io.Printf("memory    %d mappings, %s mapped, %s dumped, %s resident, %d file mappings (%s)\n",
		m.Mappings, fmtBytes(m.Mapped), fmtBytes(m.Dumped), fmtBytes(m.Resident), m.Files, fmtBytes(m.FileBytes))
	if h := in.Heap; h != nil {
		io.Printf("go heap   %s in use spans, %s live, %s marked at last GC, %d GC cycles\n",
			fmtBytes(h.InUse), fmtBytes(h.Live), fmtBytes(h.Marked), h.GCCycles)
	}
	if in.Goroutines > 0 {
		io.Printf("goroutines %d\n", in.Goroutines)
	}
	io.Printf("threads   %d\n", len(in.Threads))
	t := output.NewTable("TID", "PC", "FUNCTION", "SIGNAL", "CPU").AlignRight(4)
	for _, th := range in.Threads {
		sig := ""
		if th.Signal != 0 {
			sig = fmt.Sprint(th.Signal)
		}
		t.Row(th.TID, fmt.Sprintf("%#x", th.PC), th.Func, sig, th.CPU.Round(time.Millisecond))
	}
	t.Render(io)
	if cg := in.Crashing; cg != nil {
		io.Printf("\ncrashing goroutine %d [%s]:\n", cg.ID, cg.Status)
		printFrames(io, cg.Frames, true)
		if cg.CreatedBy != nil {
			io.Printf("created by %s\n    %s:%d\n", cg.CreatedBy.Func, cg.CreatedBy.File, cg.CreatedBy.Line)
		}
	}
	if in.GoError != "" || mappings {
		io.Printf("\n")
		t := output.NewTable("START", "END", "PERMS", "DUMPED", "FILE").AlignRight(3)
		for _, m := range in.Mappings {
			t.Row(fmt.Sprintf("%#x", m.Start), fmt.Sprintf("%#x", m.End), m.Perms, fmtBytes(m.Dumped), m.File)
		}
		t.Render(io)
	}
	if in.GoError != "" {
		io.Printf("\nno Go analysis: %s\n", in.GoError)
	}
	for _, w := range in.Warnings {
		io.Warnf("%s", w)
	}
}

func printFrames(io *output.IO, frames []postmortem.Frame, args bool) {
	for _, f := range frames {
		if args && len(f.Args) > 0 {
			var as []string
			for _, a := range f.Args {
				as = append(as, a.Name+"="+a.Value)
			}
			io.Printf("%s(%s)\n", f.Func, strings.Join(as, ", "))
		} else {
			io.Printf("%s\n", f.Func)
		}
		io.Printf("    %s:%d\n", f.File, f.Line)
	}
}

func newCoreGoroutinesCmd(g *globals) *cobra.Command {
	var exe, fn, state string
	var asJSON, all bool
	c := &cobra.Command{
		Use:   "goroutines CORE",
		Short: "Goroutines bucketed by identical stack and state, biggest first",
		Long: `List goroutines bucketed by identical stack, status, wait reason, creator and
pprof labels (like mdb's ::stacks or panicparse), biggest buckets first.
--all lists every goroutine on its own. --func keeps goroutines with a frame
whose function contains the text; --state keeps those whose status or wait
reason contains it (e.g. "chan receive", "select", "running").

Longest wait is known only for goroutines a GC saw waiting (the runtime
stamps the wait start during GC); '-' otherwise.

--json: {goroutines, buckets[{count,status,wait_reason,longest_wait_ns,
frames[{func,file,line,pc}],created_by,labels,ids,system}]}; with --all,
{goroutines[{id,addr,status,wait_reason,wait_ns,frames,created_by,parent_id,
labels,thread,system}]}.`,
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			core, err := openGoCore(g.IO(), args[0], exe)
			if err != nil {
				return err
			}
			defer core.Close()
			gs, err := core.Goroutines(postmortem.GoroutineOptions{})
			if err != nil {
				return output.Failf("%s: %v", args[0], err)
			}
			total := len(gs)
			gs = postmortem.Filter(gs, fn, state)
			io := g.IO()
			if all {
				if asJSON {
					return io.JSON(map[string]any{"goroutines": gs})
				}
				for _, gr := range gs {
					io.Printf("goroutine %d [%s", gr.ID, gr.Status)
					if gr.WaitReason != "" {
						io.Printf(", %s", gr.WaitReason)
					}
					if gr.Wait >= 0 {
						io.Printf(", %s", fmtWait(gr.Wait))
					}
					io.Printf("]:\n")
					printFrames(io, gr.Frames, false)
					if gr.CreatedBy != nil {
						io.Printf("created by %s in goroutine %d\n    %s:%d\n", gr.CreatedBy.Func, gr.ParentID, gr.CreatedBy.File, gr.CreatedBy.Line)
					}
					io.Printf("\n")
				}
				return nil
			}
			bs := postmortem.BucketGoroutines(gs)
			if asJSON {
				return io.JSON(map[string]any{"goroutines": len(gs), "buckets": bs})
			}
			io.Printf("%d goroutines in %d buckets", len(gs), len(bs))
			if len(gs) != total {
				io.Printf(" (%d of %d match the filters)", len(gs), total)
			}
			io.Printf("\n")
			labels := false
			for _, b := range bs {
				labels = labels || len(b.Labels) > 0
			}
			head := []string{"COUNT", "STATE", "LONGEST WAIT", "TOP", "CREATED BY"}
			if labels {
				head = append(head, "LABELS")
			}
			t := output.NewTable(head...).AlignRight(0)
			for _, b := range bs {
				st := b.Status
				if b.WaitReason != "" {
					st += ": " + b.WaitReason
				}
				by := ""
				if b.CreatedBy != nil {
					by = b.CreatedBy.Func
				}
				top := b.Top()
				row := []any{b.Count, st, fmtWait(b.LongestWait), fmt.Sprintf("%s %s:%d", top.Func, shortFile(top.File), top.Line), by}
				if labels {
					var ls []string
					for k, v := range b.Labels {
						ls = append(ls, k+"="+v)
					}
					slices.Sort(ls)
					row = append(row, strings.Join(ls, ","))
				}
				t.Row(row...)
			}
			t.Render(io)
			return nil
		},
	}
	exeFlag(c, &exe)
	c.Flags().StringVar(&fn, "func", "", "keep goroutines with a frame whose function contains this")
	c.Flags().StringVar(&state, "state", "", "keep goroutines whose status or wait reason contains this")
	c.Flags().BoolVar(&all, "all", false, "list every goroutine instead of buckets")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func shortFile(f string) string {
	if i := strings.LastIndex(f, "/"); i >= 0 {
		if j := strings.LastIndex(f[:i], "/"); j >= 0 {
			return f[j+1:]
		}
	}
	return f
}

func newCoreLeaksCmd(g *globals) *cobra.Command {
	var exe string
	var asJSON bool
	var opt postmortem.LeakOptions
	c := &cobra.Command{
		Use:   "leaks CORE",
		Short: "Leaked goroutines (certain) and blocked buckets worth a look (suspects)",
		Long: `Find goroutine leaks. Goroutines blocked on channels, select, mutexes or
WaitGroups whose channel or lock no global, no runnable goroutine and no
wakeable blocked goroutine can reach are leaked for certain (the reachability
mark reads heap objects by the GC's pointer masks, globals by the modules' GC
masks; stacks word by word, which can only turn a leak into a suspect, never
invent one). Wakeable buckets with --min-count goroutines or more, or waiting
--min-wait or longer, are suspects. Each comes with a paragraph saying why.

--json fields: goroutines, blocked, leaked, certain[], suspects[], expected[]
(each {certain,count,wait_reason,longest_wait_ns,top{func,file,line},
created_by,ids,objects,reached_from,why}), mark{marked_objects,
precise_objects,conservative_objects,stack_words,frames_by_map,frames_by_word,
spans,rounds}, top_types[{type,objects,bytes,source}], top_sites[{site,
inuse_objects,inuse_bytes}].`,
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			core, err := openGoCore(g.IO(), args[0], exe)
			if err != nil {
				return err
			}
			defer core.Close()
			rep, err := core.Leaks(opt)
			if err != nil {
				return output.Failf("%s: %v", args[0], err)
			}
			io := g.IO()
			if asJSON {
				return io.JSON(rep)
			}
			printLeaks(io, rep)
			return nil
		},
	}
	exeFlag(c, &exe)
	c.Flags().DurationVar(&opt.MinWait, "min-wait", time.Minute, "a wakeable bucket waiting this long is a suspect")
	c.Flags().IntVar(&opt.MinCount, "min-count", 10, "a wakeable bucket this big is a suspect")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func printLeaks(io *output.IO, rep *postmortem.LeakReport) {
	io.Printf("%d goroutines, %d blocked on channels or locks, %d leaked for certain in %d bucket(s), %d suspect bucket(s)\n",
		rep.Goroutines, rep.Blocked, rep.Leaked, len(rep.Certain), len(rep.Suspects))
	section := func(title string, ss []*postmortem.Suspect, colour string) {
		if len(ss) == 0 {
			return
		}
		io.Printf("\n%s\n", io.Paint(output.Bold, title))
		for _, s := range ss {
			io.Printf("\n%s %d x %s [%s, longest wait %s]\n", io.Paint(colour, "*"), s.Count, s.Top.Func, s.WaitReason, fmtWait(s.LongestWait))
			io.Printf("  %s\n", s.Why)
		}
	}
	section("LEAKED (certain)", rep.Certain, output.Red)
	section("SUSPECTS", rep.Suspects, output.Yellow)
	section("EXPECTED WAITS", rep.Expected, output.Dim)
	if len(rep.TopTypes) > 0 || len(rep.TopSites) > 0 {
		io.Printf("\n%s\n", io.Paint(output.Bold, "LARGEST TYPES AND ALLOCATION SITES"))
		for _, t := range rep.TopTypes {
			io.Printf("  %9s  %7d x %s\n", fmtBytes(uint64(t.Bytes)), t.Objects, t.Type)
		}
		for _, s := range rep.TopSites {
			io.Printf("  %9s  %7d objects allocated at %s %s:%d\n", fmtBytes(uint64(s.InUseBytes)), s.InUseObjects, s.Site.Func, shortFile(s.Site.File), s.Site.Line)
		}
	}
	mk := rep.Mark
	io.Printf("\nmark: %d objects reached (%d scanned by pointer mask, %d word by word), %d stack words, %d spans, %d rounds\n",
		mk.Marked, mk.Precise, mk.Conservative, mk.StackWords, mk.Spans, mk.Rounds)
}

func newCoreDumpCmd(g *globals) *cobra.Command {
	var pid int
	var file string
	var asJSON bool
	c := &cobra.Command{
		Use:   "dump -p PID -o FILE",
		Short: "Write a core of a running process without killing it",
		Long: `Write an ELF core of a running process and let it run on. All threads are
stopped with ptrace (seize and interrupt), registers and memory are copied,
and the threads resumed; the time they were stopped is reported. PROT_NONE
reservations and pages never touched are left out, so a Go process does not
give a file the size of its address space; read-only file mappings are left
to the executable, as the kernel does. Needs CAP_SYS_PTRACE or the same user
(and a ptrace_scope that allows it).

--json fields: pid, file, bytes, threads, segments, mapped_bytes, copied_bytes,
skipped_bytes, stopped_ns.`,
		Args: cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			if pid <= 0 || file == "" {
				return output.Usagef("dump needs -p PID and -o FILE")
			}
			res, err := postmortem.Dump(pid, file)
			if err != nil {
				return output.Failf("dump %d: %v", pid, err)
			}
			io := g.IO()
			if asJSON {
				return io.JSON(res)
			}
			io.Printf("wrote %s: %s, %d threads, %d segments; copied %s of %s mapped (%s skipped); process stopped for %s\n",
				res.File, fmtBytes(uint64(res.Bytes)), res.Threads, res.Segments, fmtBytes(res.Copied), fmtBytes(res.Mapped),
				fmtBytes(res.Skipped), res.Stopped.Round(time.Microsecond))
			return nil
		},
	}
	c.Flags().IntVarP(&pid, "pid", "p", 0, "process to dump")
	c.Flags().StringVarP(&file, "output", "o", "", "core file to write")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func newCoreHeapCmd(g *globals) *cobra.Command {
	var exe, pprofFile, blockFile, mutexFile string
	var asJSON bool
	var top int
	c := &cobra.Command{
		Use:   "heap CORE",
		Short: "The runtime's sampled heap profile (as pprof) and a census of live objects by type",
		Long: `Two views of the heap.

1. The sampled heap profile the runtime kept (runtime.mbuckets, as of the last
   GC, as runtime.MemProfile reports it): in-use and allocated objects and
   bytes per allocation stack, scaled for the sampling rate as runtime/pprof
   does. --pprof FILE writes it as a pprof profile 'go tool pprof' opens;
   --block FILE and --mutex FILE write the block and mutex profiles
   (contentions, delay) when the program had them on.
2. A census of allocated objects by type, from the heap spans and alloc bits:
   types from malloc headers (objects over 512 bytes) and large-object spans,
   and from typed globals and typed objects followed by their DWARF types.
   What stays untyped is shown by size class, never hidden.

--json fields: profile{rate,scaled,sites[{stack[{func,file,line,pc}],
alloc_objects,alloc_bytes,inuse_objects,inuse_bytes}]}, census{objects,bytes,
typed_objects,typed_bytes,untyped_objects,untyped_bytes,types[{type,objects,
bytes,source}],untyped[...]}, block and mutex{kind,unit,cycles_per_second,rate,
sites[{stack,count,delay}]}.`,
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			core, err := openGoCore(g.IO(), args[0], exe)
			if err != nil {
				return err
			}
			defer core.Close()
			prof, err := core.HeapProfile()
			if err != nil {
				return output.Failf("%s: heap profile: %v", args[0], err)
			}
			if pprofFile != "" {
				if err := writeFile(pprofFile, func(f *os.File) error { return prof.Pprof().Write(f) }); err != nil {
					return err
				}
			}
			block, mutex, err := core.ContentionProfiles()
			if err != nil {
				return output.Failf("%s: block and mutex profiles: %v", args[0], err)
			}
			for _, out := range []struct {
				file string
				p    *postmortem.ContentionProfile
			}{{blockFile, block}, {mutexFile, mutex}} {
				if out.file == "" {
					continue
				}
				if err := writeFile(out.file, func(f *os.File) error { return out.p.Pprof().Write(f) }); err != nil {
					return err
				}
			}
			cen, err := core.Census()
			if err != nil {
				return output.Failf("%s: census: %v", args[0], err)
			}
			io := g.IO()
			if asJSON {
				return io.JSON(map[string]any{"profile": prof, "census": cen, "block": block, "mutex": mutex})
			}
			io.Printf("sampled heap profile (rate %d, as of the last GC)\n", prof.Rate)
			t := output.NewTable("INUSE OBJ", "INUSE BYTES", "ALLOC OBJ", "ALLOC BYTES", "ALLOCATED AT").AlignRight(0, 1, 2, 3)
			for i, s := range prof.Sites {
				if i == top {
					break
				}
				f := s.Site()
				site := fmt.Sprintf("%s %s:%d", f.Func, shortFile(f.File), f.Line)
				t.Row(s.InUseObjects, fmtBytes(uint64(s.InUseBytes)), s.AllocObjects, fmtBytes(uint64(s.AllocBytes)), site)
			}
			t.Render(io)
			if pprofFile != "" {
				io.Printf("wrote %s (go tool pprof %s)\n", pprofFile, pprofFile)
			}
			for _, p := range []*postmortem.ContentionProfile{block, mutex} {
				var n, d int64
				for _, s := range p.Sites {
					n += s.Count
					d += s.Delay
				}
				io.Printf("%s profile: %d stacks, %d contentions, %d %s of delay\n", p.Kind, len(p.Sites), n, d, p.Unit)
			}
			pct := func(a, b int64) string {
				if b == 0 {
					return "0%"
				}
				return fmt.Sprintf("%.1f%%", 100*float64(a)/float64(b))
			}
			io.Printf("\ncensus: %d objects, %s; typed %s of bytes, untyped %s (%d objects)\n", cen.Objects, fmtBytes(uint64(cen.Bytes)),
				pct(cen.TypedBytes, cen.Bytes), pct(cen.UntypedBytes, cen.Bytes), cen.UntypedObjects)
			t = output.NewTable("OBJECTS", "BYTES", "TYPE", "FROM").AlignRight(0, 1)
			for i, tc := range cen.Types {
				if i == top {
					break
				}
				t.Row(tc.Objects, fmtBytes(uint64(tc.Bytes)), tc.Type, tc.Source)
			}
			for i, tc := range cen.Untyped {
				if i == 5 {
					break
				}
				t.Row(tc.Objects, fmtBytes(uint64(tc.Bytes)), "("+tc.Type+")", tc.Source)
			}
			t.Render(io)
			return nil
		},
	}
	exeFlag(c, &exe)
	c.Flags().StringVar(&pprofFile, "pprof", "", "write the heap profile to this pprof file")
	c.Flags().StringVar(&blockFile, "block", "", "write the block profile to this pprof file")
	c.Flags().StringVar(&mutexFile, "mutex", "", "write the mutex profile to this pprof file")
	c.Flags().IntVar(&top, "top", 15, "rows per table")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func newCoreReportCmd(g *globals) *cobra.Command {
	var exe, junit, markdown string
	var asJSON bool
	c := &cobra.Command{
		Use:   "report CORE...",
		Short: "CI mode: a summary per core, JUnit/Markdown output, exit 1 if any core crashed",
		Long: `Summarise each core (crash reason, biggest goroutine buckets, leaks) for CI.
Exits 1 if any core shows a crash (a fatal signal, a panic or a fatal error);
a live dump of a healthy process is not a crash. --junit writes one test case
per core (a crash is a failure); --markdown writes a section per core.
--exe applies to every core; without it each core's NT_FILE note names it.

--json fields: cores[{core,exe,crashed,reason,signal,go_version,goroutines,
top_buckets[{count,state,top}],leaked,suspects,leak_why,crashing_stack,error,
elapsed_ns}], crashed.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			var ss []*postmortem.Summary
			crashed := 0
			for _, p := range args {
				core, err := openCore(p, exe)
				if err != nil {
					// An unreadable core is reported, not fatal for the others.
					s := &postmortem.Summary{Core: p, Crashed: true, Reason: "unreadable core", Error: output.OneLine(err)}
					ss = append(ss, s)
					crashed++
					continue
				}
				s := core.Summarize()
				core.Close()
				if s.Crashed {
					crashed++
				}
				ss = append(ss, s)
			}
			for _, out := range []struct {
				file  string
				write func(w *os.File) error
			}{{junit, func(w *os.File) error { return postmortem.WriteJUnit(w, ss) }},
				{markdown, func(w *os.File) error { return postmortem.WriteMarkdown(w, ss) }}} {
				if out.file == "" {
					continue
				}
				if err := writeFile(out.file, out.write); err != nil {
					return err
				}
			}
			io := g.IO()
			if asJSON {
				if err := io.JSON(map[string]any{"cores": ss, "crashed": crashed}); err != nil {
					return err
				}
			} else {
				for _, s := range ss {
					mark := io.Paint(output.Green, "ok     ")
					if s.Crashed {
						mark = io.Paint(output.Red, "CRASHED")
					}
					io.Printf("%s %s: %s; %d goroutines, %d leaked, %d suspect buckets\n", mark, s.Core, s.Reason, s.Goroutines, s.Leaked, s.Suspects)
					for _, t := range s.Top {
						io.Printf("          %5d  %s  %s\n", t.Count, t.State, t.Top)
					}
					if s.Error != "" {
						io.Printf("          not analysed: %s\n", s.Error)
					}
				}
			}
			if crashed > 0 {
				return output.Silent(output.ExitFail)
			}
			return nil
		},
	}
	c.Flags().StringVar(&exe, "exe", "", "the executable for every core (default: from each core's NT_FILE note)")
	c.Flags().StringVar(&junit, "junit", "", "write a JUnit XML report here")
	c.Flags().StringVar(&markdown, "markdown", "", "write a Markdown report here")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func newCoreDiffCmd(g *globals) *cobra.Command {
	var exe string
	var asJSON bool
	var top int
	c := &cobra.Command{
		Use:   "diff OLD NEW",
		Short: "Growth between two cores of the same binary: goroutine buckets, types, allocation sites",
		Long: `Compare two cores of the same program: goroutine buckets (by top function,
state and line), census types (objects and bytes) and in-use allocation sites
from the heap profile, largest changes first.

--json fields: same_binary, goroutines[old,new], buckets[{key,old,new,delta}],
types[{key,old,new,delta,old_bytes,new_bytes}], sites[...], warnings.`,
		Args: cobra.ExactArgs(2),
		RunE: func(_ *cobra.Command, args []string) error {
			old, err := openCore(args[0], exe)
			if err != nil {
				return err
			}
			defer old.Close()
			cur, err := openCore(args[1], exe)
			if err != nil {
				return err
			}
			defer cur.Close()
			for _, c := range []*postmortem.Core{old, cur} {
				if err := needGo(c); err != nil {
					return err
				}
			}
			d, err := postmortem.DiffCores(old, cur)
			if err != nil {
				return output.Failf("diff: %v", err)
			}
			io := g.IO()
			if asJSON {
				return io.JSON(d)
			}
			io.Printf("goroutines %d -> %d (%+d)\n", d.Goroutines[0], d.Goroutines[1], d.Goroutines[1]-d.Goroutines[0])
			show := func(title string, ls []postmortem.DiffLine, bytes bool) {
				if len(ls) == 0 {
					io.Printf("\n%s: no change\n", title)
					return
				}
				io.Printf("\n%s\n", io.Paint(output.Bold, title))
				t := output.NewTable("OLD", "NEW", "DELTA", "BYTES DELTA", "").AlignRight(0, 1, 2, 3)
				for i, l := range ls {
					if i == top {
						break
					}
					bd := ""
					if bytes {
						bd = fmt.Sprintf("%+d", l.NewBytes-l.OldBytes)
					}
					t.Row(l.Old, l.New, fmt.Sprintf("%+d", l.Delta), bd, l.Key)
				}
				t.Render(io)
			}
			show("goroutine buckets", d.Buckets, false)
			show("types (census)", d.Types, true)
			show("allocation sites (in use)", d.Sites, true)
			for _, w := range d.Warnings {
				io.Warnf("%s", w)
			}
			return nil
		},
	}
	c.Flags().StringVar(&exe, "exe", "", "the executable of both cores (default: from their NT_FILE notes)")
	c.Flags().IntVar(&top, "top", 15, "rows per table")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}
