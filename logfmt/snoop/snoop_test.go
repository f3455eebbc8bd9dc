package snoop

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/obs-toolkit/obs/internal/testenv"
)

func buildFixture(t *testing.T, flags ...string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "snoopfix")
	args := append([]string{"build", "-o", out}, flags...)
	args = append(args, "../testdata/snoopfix")
	cmd := exec.Command("go", args...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build fixture: %v\n%s", err, b)
	}
	return out
}

func startFixture(t *testing.T, bin string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command(bin)
	cmd.Stdout = &syncWriter{w: &out}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd, &out
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func TestSnoopEveryLevel(t *testing.T) {
	testenv.RequireRoot(t)
	bin := buildFixture(t)
	cmd, out := startFixture(t, bin)
	pid := cmd.Process.Pid
	var s *Session
	var err error
	deadline := time.Now().Add(30 * time.Second)
	for {
		// The process may not have mapped its binary yet.
		if s, err = Attach(pid); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var mu sync.Mutex
	var debug, info int
	var sample []byte
	done := make(chan error, 1)
	go func() {
		done <- s.Run(ctx, func(rec []byte) {
			mu.Lock()
			defer mu.Unlock()
			if bytes.Contains(rec, []byte(`"msg":"debug record"`)) {
				debug++
				sample = append(sample[:0], rec...)
			}
			if bytes.Contains(rec, []byte(`"msg":"info record"`)) {
				info++
			}
			if debug >= 20 && info >= 20 {
				cancel()
			}
		})
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if debug < 20 || info < 20 {
		t.Fatalf("captured %d debug and %d info records", debug, info)
	}
	if !bytes.HasPrefix(sample, []byte(`{"name":"snoopfix",`)) || !bytes.HasSuffix(sample, []byte(`"v":0}`)) {
		t.Errorf("record: %q", sample)
	}
	// The flag is down again and the debug records never reached stdout.
	mem, err := os.Open(fmt.Sprintf("/proc/%d/mem", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	var b [4]byte
	if _, err := mem.ReadAt(b[:], int64(s.flag)); err != nil || binary.LittleEndian.Uint32(b[:]) != 0 {
		t.Errorf("flag after Close: %v %v", b, err)
	}
	time.Sleep(100 * time.Millisecond)
	w := cmd.Stdout.(*syncWriter)
	w.mu.Lock()
	defer w.mu.Unlock()
	if bytes.Contains(out.Bytes(), []byte("debug record")) || !bytes.Contains(out.Bytes(), []byte("info record")) {
		t.Errorf("fixture stdout: debug leaked or info missing")
	}
	if cmd.ProcessState != nil {
		t.Errorf("fixture exited")
	}
}

func TestSnoopStripped(t *testing.T) {
	testenv.RequireRoot(t)
	bin := buildFixture(t, "-ldflags=-s -w")
	cmd, _ := startFixture(t, bin)
	time.Sleep(100 * time.Millisecond)
	_, err := Attach(cmd.Process.Pid)
	if !errors.Is(err, ErrNoHandler) {
		t.Fatalf("stripped: %v", err)
	}
}
