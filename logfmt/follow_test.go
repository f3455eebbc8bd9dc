package logfmt

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func followRec(n int) string {
	return fmt.Sprintf(`{"v":0,"level":30,"name":"f","hostname":"h","pid":1,"time":"2024-01-01T00:00:0%d.000Z","msg":"rec %d"}`, n, n) + "\n"
}

func appendFile(t *testing.T, path, s string) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(s)
	f.Close()
}

func waitFor(t *testing.T, out *syncBuf, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %q; have:\n%s", want, out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestFollowRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	appendFile(t, path, followRec(1)+followRec(2))
	out := &syncBuf{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	p := &Processor{Opts: &Options{Mode: ModeSimple}}
	go func() { done <- p.Follow(ctx, out, path, 10*time.Millisecond) }()
	waitFor(t, out, "INFO - rec 2\n")

	// A line written in two parts is shown once complete.
	r3 := followRec(3)
	appendFile(t, path, r3[:20])
	time.Sleep(50 * time.Millisecond)
	if strings.Contains(out.String(), "rec 3") {
		t.Fatal("partial line shown")
	}
	appendFile(t, path, r3[20:])
	waitFor(t, out, "INFO - rec 3\n")

	// Rotation: the old file gets a last record after the rename, then
	// a new file appears at the path.
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path+".1", followRec(4))
	appendFile(t, path, followRec(5))
	waitFor(t, out, "INFO - rec 5\n")

	// Truncation starts over, even to the same size.
	time.Sleep(100 * time.Millisecond)
	if err := os.WriteFile(path, []byte(followRec(6)), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, out, "INFO - rec 6\n")
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	want := "INFO - rec 1\nINFO - rec 2\nINFO - rec 3\nINFO - rec 4\nINFO - rec 5\nINFO - rec 6\n"
	if got := out.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// Two followers sharing one writer (as obs logs -f a b does) each write
// whole lines.
func TestFollowTwoFiles(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
	appendFile(t, a, followRec(1))
	appendFile(t, b, followRec(2))
	out := &syncBuf{}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Processor{Opts: &Options{Mode: ModeSimple}}
	done := make(chan error, 2)
	for _, path := range []string{a, b} {
		go func(path string) { done <- p.Follow(ctx, out, path, 10*time.Millisecond) }(path)
	}
	for i := 3; i <= 8; i++ {
		if i%2 == 1 {
			appendFile(t, a, followRec(i))
		} else {
			appendFile(t, b, followRec(i))
		}
	}
	for i := 1; i <= 8; i++ {
		waitFor(t, out, fmt.Sprintf("INFO - rec %d\n", i))
	}
	cancel()
	for i := 0; i < 2; i++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if n := strings.Count(out.String(), "\n"); n != 8 {
		t.Errorf("%d lines, want 8:\n%s", n, out.String())
	}
}
