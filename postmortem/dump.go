package postmortem

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/obs-toolkit/obs/postmortem/elfcore"
)

// DumpResult describes a live dump.
type DumpResult struct {
	PID      int           `json:"pid"`
	File     string        `json:"file"`
	Bytes    int64         `json:"bytes"`
	Threads  int           `json:"threads"`
	Segments int           `json:"segments"`
	Mapped   uint64        `json:"mapped_bytes"`  // address space of the process
	Copied   uint64        `json:"copied_bytes"`  // memory written to the core
	Skipped  uint64        `json:"skipped_bytes"` // never-touched or unreadable
	Stopped  time.Duration `json:"stopped_ns"`    // how long the threads were stopped
}

type mapping struct {
	start, end uint64
	perms      string
	offset     uint64
	inode      uint64
	path       string
}

func readMaps(pid int) ([]mapping, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseMaps(f)
}

// parseMaps parses the /proc/PID/maps format; malformed lines are skipped.
func parseMaps(r io.Reader) ([]mapping, error) {
	var out []mapping
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		// start-end perms offset dev inode path
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		se := strings.SplitN(fields[0], "-", 2)
		if len(se) != 2 {
			continue
		}
		s, err1 := strconv.ParseUint(se[0], 16, 64)
		e, err2 := strconv.ParseUint(se[1], 16, 64)
		off, err3 := strconv.ParseUint(fields[2], 16, 64)
		ino, _ := strconv.ParseUint(fields[4], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil || e <= s || len(fields[1]) < 4 {
			continue
		}
		m := mapping{start: s, end: e, perms: fields[1], offset: off, inode: ino}
		if len(fields) >= 6 {
			m.path = strings.Join(fields[5:], " ")
		}
		out = append(out, m)
	}
	return out, sc.Err()
}

// threadIDs lists /proc/PID/task.
func threadIDs(pid int) ([]int, error) {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return nil, err
	}
	var out []int
	for _, e := range ents {
		if t, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, t)
		}
	}
	sort.Ints(out)
	return out, nil
}

// Dump writes a core of the running process pid to path without killing
// it: every thread is seized and interrupted with ptrace, registers are
// read, memory is copied with process_vm_readv, and the threads are
// detached (resumed). Mappings that cannot be read (PROT_NONE
// reservations) are skipped, and so are pages the process never touched
// (per /proc/PID/pagemap), which keep their place as zero-filled
// segments without bytes in the file. Read-only file mappings (text) are
// left to the executable, as the kernel does.
func Dump(pid int, path string) (*DumpResult, error) {
	runtime.LockOSThread() // ptrace requests must come from the tracer thread
	defer runtime.UnlockOSThread()
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
		return nil, fmt.Errorf("process %d: %w", pid, unwrapPath(err))
	}
	out, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	res := &DumpResult{PID: pid, File: path}
	start := time.Now()
	stopped, err := stopAll(pid)
	defer func() {
		for _, t := range stopped {
			unix.PtraceDetach(t)
		}
	}()
	if err != nil {
		out.Close()
		os.Remove(path)
		return nil, err
	}
	img, err := liveImage(pid, stopped, res)
	if err == nil {
		res.Bytes, err = elfcore.Write(out, img)
	}
	for _, t := range stopped {
		unix.PtraceDetach(t)
	}
	stopped = nil
	res.Stopped = time.Since(start)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return nil, err
	}
	return res, nil
}

// stopAll seizes and interrupts every thread, repeating until no new
// thread appears.
func stopAll(pid int) ([]int, error) {
	var stopped []int
	done := map[int]bool{}
	for round := 0; round < 100; round++ {
		tids, err := threadIDs(pid)
		if err != nil {
			return stopped, fmt.Errorf("list threads of %d: %w", pid, err)
		}
		added := false
		for _, t := range tids {
			if done[t] {
				continue
			}
			if err := unix.PtraceSeize(t); err != nil {
				if errors.Is(err, unix.ESRCH) {
					continue // exited meanwhile
				}
				return stopped, fmt.Errorf("ptrace seize thread %d: %w (needs CAP_SYS_PTRACE or the same user; see obs doctor)", t, err)
			}
			done[t] = true
			stopped = append(stopped, t)
			if err := unix.PtraceInterrupt(t); err != nil {
				return stopped, fmt.Errorf("ptrace interrupt thread %d: %w", t, err)
			}
			var ws unix.WaitStatus
			if _, err := unix.Wait4(t, &ws, unix.WALL, nil); err != nil {
				return stopped, fmt.Errorf("wait for thread %d: %w", t, err)
			}
			added = true
		}
		if !added {
			return stopped, nil
		}
	}
	return stopped, fmt.Errorf("threads of %d keep appearing", pid)
}

func liveImage(pid int, tids []int, res *DumpResult) (*elfcore.Image, error) {
	img := &elfcore.Image{}
	// The main thread first, as the kernel writes it.
	sort.Slice(tids, func(i, j int) bool { return tids[i] == pid || (tids[j] != pid && tids[i] < tids[j]) })
	for _, t := range tids {
		var r unix.PtraceRegs
		if err := unix.PtraceGetRegs(t, &r); err != nil {
			return nil, fmt.Errorf("registers of thread %d: %w", t, err)
		}
		th := elfcore.Thread{TID: t, Regs: elfcore.Regs{r.R15, r.R14, r.R13, r.R12, r.Rbp, r.Rbx, r.R11, r.R10,
			r.R9, r.R8, r.Rax, r.Rcx, r.Rdx, r.Rsi, r.Rdi, r.Orig_rax, r.Rip, r.Cs, r.Eflags, r.Rsp, r.Ss,
			r.Fs_base, r.Gs_base, r.Ds, r.Es, r.Fs, r.Gs}}
		if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/stat", pid, t)); err == nil {
			if f := statFields(st); len(f) > 14 {
				ut, _ := strconv.ParseInt(f[13], 10, 64)
				stt, _ := strconv.ParseInt(f[14], 10, 64)
				th.UTime, th.STime = ut*1e4, stt*1e4 // clock ticks of 10 ms
			}
		}
		img.Threads = append(img.Threads, th)
	}
	res.Threads = len(img.Threads)
	img.Psinfo = psinfo(pid)
	if a, err := os.ReadFile(fmt.Sprintf("/proc/%d/auxv", pid)); err == nil {
		for i := 0; i+16 <= len(a); i += 16 {
			img.Auxv = append(img.Auxv, le64(a[i:]), le64(a[i+8:]))
		}
	}
	maps, err := readMaps(pid)
	if err != nil {
		return nil, fmt.Errorf("maps of %d: %w", pid, err)
	}
	pagemap, _ := os.Open(fmt.Sprintf("/proc/%d/pagemap", pid))
	if pagemap != nil {
		defer pagemap.Close()
	}
	mem, _ := os.Open(fmt.Sprintf("/proc/%d/mem", pid))
	if mem != nil {
		defer mem.Close()
	}
	for _, m := range maps {
		res.Mapped += m.end - m.start
		if m.path != "" && m.inode != 0 {
			img.Files = append(img.Files, elfcore.FileMapping{Start: m.start, End: m.end, Offset: m.offset, Path: m.path})
		}
		flags := uint32(0)
		if m.perms[0] == 'r' {
			flags |= 4
		}
		if m.perms[1] == 'w' {
			flags |= 2
		}
		if m.perms[2] == 'x' {
			flags |= 1
		}
		size := m.end - m.start
		switch {
		case m.perms[0] != 'r' || m.path == "[vvar]" || m.path == "[vsyscall]" || strings.HasPrefix(m.path, "[vvar"):
			res.Skipped += size
			continue
		case m.inode != 0 && m.perms[1] != 'w':
			// Text and read-only data: the executable and libraries hold
			// it. Like the kernel, keep the first page of an ELF file so
			// that readers can check the executable matches.
			l := elfcore.Load{Vaddr: m.start, Memsz: size, Flags: flags}
			if m.offset == 0 && size >= 4096 {
				var magic [4]byte
				if mem != nil {
					mem.ReadAt(magic[:], int64(m.start))
				}
				if string(magic[:]) == "\x7fELF" {
					a := m.start
					l.Filesz = 4096
					l.Fill = func(w io.Writer) error { return copyMemory(w, pid, mem, a, 4096) }
					res.Copied += 4096
				}
			}
			img.Loads = append(img.Loads, l)
			res.Skipped += size - l.Filesz
			continue
		}
		for _, run := range touchedRuns(pagemap, m.start, m.end) {
			l := elfcore.Load{Vaddr: run.start, Memsz: run.end - run.start, Flags: flags}
			if run.present {
				l.Filesz = l.Memsz
				a, n := run.start, l.Memsz
				l.Fill = func(w io.Writer) error { return copyMemory(w, pid, mem, a, n) }
				res.Copied += n
			} else {
				res.Skipped += l.Memsz
			}
			img.Loads = append(img.Loads, l)
		}
	}
	if len(img.Loads) > 65000 {
		return nil, fmt.Errorf("process %d has %d memory runs, more than an ELF core can hold", pid, len(img.Loads))
	}
	res.Segments = len(img.Loads)
	return img, nil
}

type run struct {
	start, end uint64
	present    bool
}

// touchedRuns splits [start,end) into runs of pages that are present or
// swapped (touched) and runs that are not. Without a pagemap every page
// counts as touched. Gaps of a few pages are folded into the runs around
// them to keep the segment count down.
func touchedRuns(pagemap *os.File, start, end uint64) []run {
	if pagemap == nil {
		return []run{{start, end, true}}
	}
	const page = 4096
	n := (end - start) / page
	var out []run
	buf := make([]byte, 8*4096)
	for i := uint64(0); i < n; {
		k := min(n-i, uint64(len(buf)/8))
		b := buf[:8*k]
		if _, err := pagemap.ReadAt(b, int64((start/page+i)*8)); err != nil {
			return []run{{start, end, true}}
		}
		for j := uint64(0); j < k; j++ {
			e := le64(b[8*j:])
			touched := e&(1<<63) != 0 || e&(1<<62) != 0
			a := start + (i+j)*page
			if len(out) > 0 && out[len(out)-1].present == touched && out[len(out)-1].end == a {
				out[len(out)-1].end = a + page
			} else {
				out = append(out, run{a, a + page, touched})
			}
		}
		i += k
	}
	// Fold untouched gaps of up to 4 pages between touched runs.
	var merged []run
	for i := 0; i < len(out); i++ {
		r := out[i]
		if !r.present && r.end-r.start <= 4*page && len(merged) > 0 && merged[len(merged)-1].present && i+1 < len(out) {
			merged[len(merged)-1].end = out[i+1].end
			i++
			continue
		}
		if len(merged) > 0 && merged[len(merged)-1].present && r.present {
			merged[len(merged)-1].end = r.end
			continue
		}
		merged = append(merged, r)
	}
	return merged
}

// copyMemory copies n bytes at addr of pid to w with process_vm_readv,
// falling back to /proc/PID/mem; unreadable pages are written as zeros.
func copyMemory(w io.Writer, pid int, mem *os.File, addr, n uint64) error {
	buf := make([]byte, min(n, 1<<20))
	for n > 0 {
		k := min(n, uint64(len(buf)))
		b := buf[:k]
		got, err := unix.ProcessVMReadv(pid, []unix.Iovec{{Base: &b[0], Len: k}}, []unix.RemoteIovec{{Base: uintptr(addr), Len: int(k)}}, 0)
		if err != nil || uint64(got) != k {
			got = 0
			if mem != nil {
				got, _ = mem.ReadAt(b, int64(addr))
			}
			clear(b[max(got, 0):])
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
		addr += k
		n -= k
	}
	return nil
}

func le64(b []byte) uint64 {
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

// statFields splits /proc/PID/stat after the command (which may hold
// spaces), so that index 0 is the state (field 3).
func statFields(st []byte) []string {
	i := bytes.LastIndexByte(st, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(string(st[i+1:]))
}

func psinfo(pid int) elfcore.Psinfo {
	ps := elfcore.Psinfo{PID: pid}
	if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		if i, j := bytes.IndexByte(st, '('), bytes.LastIndexByte(st, ')'); i >= 0 && j > i {
			ps.Fname = string(st[i+1 : j])
		}
		if f := statFields(st); len(f) > 1 {
			ps.PPID, _ = strconv.Atoi(f[1])
		}
	}
	if cl, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil {
		ps.Args = strings.TrimRight(strings.ReplaceAll(string(cl), "\x00", " "), " ")
	}
	if st, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
		if s, ok := st.Sys().(*syscall.Stat_t); ok {
			ps.UID, ps.GID = int(s.Uid), int(s.Gid)
		}
	}
	return ps
}
