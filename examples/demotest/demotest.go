// Package demotest builds and runs the example services for tests: the
// examples' own end-to-end test, and the obs commands tested against a live
// service (triage, probes, cores).
package demotest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/obs-toolkit/obs/internal/testenv"
)

// Build compiles the frontend and backend into dir and returns their paths.
// It takes a few seconds with a warm build cache.
func Build(t testing.TB, dir string) (frontend, backend string) {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("no go toolchain on PATH to build the example services: %v", err)
	}
	cmd := exec.Command(goBin, "build", "-o", dir+string(os.PathSeparator),
		"github.com/obs-toolkit/obs/examples/frontend", "github.com/obs-toolkit/obs/examples/backend")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build example services: %v\n%s", err, out)
	}
	return filepath.Join(dir, "frontend"), filepath.Join(dir, "backend")
}

// Proc is one running example service.
//
// The service runs as a child of a /bin/sh that waits for it, not as a
// child of the test: a tracer that is also the parent would have its ptrace
// stops reaped by exec.Cmd's Wait, so obs core dump and obs triage must see
// the service as an operator does, as somebody else's process.
type Proc struct {
	Cmd  *exec.Cmd // the waiting shell
	Bin  string    // the service's executable
	pid  int
	Addr string // host:port it listens on
	Log  string // its JSON log file
	URL  string // http://Addr
	out  SyncBuffer
}

// SyncBuffer is testenv.SyncBuffer, kept here for the tests that use
// demotest already.
type SyncBuffer = testenv.SyncBuffer

// Pid is the service's process id.
func (p *Proc) Pid() int { return p.pid }

// Start runs bin with args plus -addr-file and -log in dir, waits until it
// listens, and stops it with SIGTERM when the test ends.
func Start(t testing.TB, bin, dir string, args ...string) *Proc {
	t.Helper()
	name := filepath.Base(bin)
	p := &Proc{Log: filepath.Join(dir, name+".log"), Bin: bin}
	addrFile := filepath.Join(dir, name+".addr")
	_ = os.Remove(addrFile)
	args = append([]string{"-c", `"$@" & wait $!`, "sh", bin, "-addr-file", addrFile, "-log", p.Log}, args...)
	p.Cmd = exec.Command("/bin/sh", args...)
	p.Cmd.Dir = dir
	p.Cmd.Stdout = &p.out
	p.Cmd.Stderr = &p.out
	if err := p.Cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- p.Cmd.Wait() }()
	t.Cleanup(func() { p.stop(t, exited) })
	deadline := time.Now().Add(60 * time.Second)
	for {
		if b, err := os.ReadFile(addrFile); err == nil && bytes.HasSuffix(b, []byte("\n")) {
			p.Addr = strings.TrimSpace(string(b))
			break
		}
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("%s exited before listening: %v\n%s", name, err, p.out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not listen within a minute\n%s", name, p.out.String())
		}
	}
	p.URL = "http://" + p.Addr
	if p.pid = childOf(p.Cmd.Process.Pid); p.pid == 0 {
		t.Fatalf("%s listens but its pid is not found under shell %d", name, p.Cmd.Process.Pid)
	}
	return p
}

// childOf returns the pid of a child of ppid, or 0.
func childOf(ppid int) int {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// Fields after the command name: state, ppid, ...
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		if f := strings.Fields(string(b[i+1:])); len(f) > 1 && f[1] == strconv.Itoa(ppid) {
			return pid
		}
	}
	return 0
}

// stop sends SIGTERM to the service and waits for a clean exit (the
// shell exits with the service's status; SIGKILL after a minute).
func (p *Proc) stop(t testing.TB, exited chan error) {
	if p.pid != 0 {
		_ = syscall.Kill(p.pid, syscall.SIGTERM)
	} else {
		_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	}
	select {
	case err := <-exited:
		if err != nil && !t.Failed() {
			t.Errorf("%s did not exit cleanly on SIGTERM: %v\n%s", filepath.Base(p.Bin), err, p.out.String())
		}
	case <-time.After(time.Minute):
		if p.pid != 0 {
			_ = syscall.Kill(p.pid, syscall.SIGKILL)
		}
		_ = p.Cmd.Process.Kill()
		<-exited
		t.Errorf("%s ignored SIGTERM for a minute", filepath.Base(p.Bin))
	}
}

// StartPair starts a backend and a frontend calling it, in dir. zipkin is
// the span collector's base URL or "". backendArgs go to the backend.
func StartPair(t testing.TB, dir, zipkin string, backendArgs ...string) (fe, be *Proc) {
	t.Helper()
	feBin, beBin := Build(t, dir)
	return StartBuilt(t, feBin, beBin, dir, zipkin, backendArgs...)
}

// StartBuilt is StartPair with binaries Build made earlier, so that a
// package's tests can build once (in TestMain) and start many pairs.
func StartBuilt(t testing.TB, feBin, beBin, dir, zipkin string, backendArgs ...string) (fe, be *Proc) {
	t.Helper()
	var z []string
	if zipkin != "" {
		z = []string{"-zipkin", zipkin}
	}
	be = Start(t, beBin, dir, append(z, backendArgs...)...)
	fe = Start(t, feBin, dir, append(z, "-backend", be.URL)...)
	return fe, be
}

// Get fetches url and returns the status code and body.
func Get(t testing.TB, url string) (int, []byte) {
	t.Helper()
	c := &http.Client{Timeout: 30 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read body: %v", url, err)
	}
	return resp.StatusCode, b
}

// Load sends n requests to the frontend's /api/hash?n=rounds.
func Load(t testing.TB, fe *Proc, n, rounds int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if code, body := Get(t, fmt.Sprintf("%s/api/hash?n=%d", fe.URL, rounds)); code != http.StatusOK {
			t.Fatalf("request %d: %d %s", i, code, body)
		}
	}
}
