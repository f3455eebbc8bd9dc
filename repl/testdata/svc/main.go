// Command svc is a small service with an obs agent, built by the repl
// package's end-to-end tests. It prints "ready PID SOCKET" once the agent
// listens, serves until SIGTERM, then closes the agent and exits.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/obs-toolkit/obs/repl"
)

type stats struct {
	Hits   int      `json:"hits"`
	Misses int      `json:"misses"`
	Keys   []string `json:"keys"`
}

func main() {
	name := flag.String("name", "svc", "agent name")
	dir := flag.String("dir", "", "socket directory")
	workers := flag.Int("workers", 3, "goroutines parked on a channel")
	flag.Parse()

	lv := new(slog.LevelVar)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lv}))
	a, err := repl.Start(repl.Config{Name: *name, LogLevel: lv, Logger: log, Dir: *dir})
	if err != nil {
		fmt.Fprintln(os.Stderr, "svc:", err)
		os.Exit(1)
	}
	var mu sync.Mutex
	st := stats{Hits: 7, Misses: 3, Keys: []string{"a", "b"}}
	var requests atomic.Int64
	requests.Store(12)
	a.Expose("stats", func() stats { mu.Lock(); defer mu.Unlock(); return st })
	a.Expose("requests", requests.Load)
	a.Command("flush", "forget every key", func(ctx context.Context, args []string, w io.Writer) error {
		mu.Lock()
		n := len(st.Keys)
		st.Keys = nil
		mu.Unlock()
		fmt.Fprintf(w, "flushed %d keys\n", n)
		return nil
	})
	a.Command("boom", "panic on purpose", func(ctx context.Context, args []string, w io.Writer) error {
		panic("boom on purpose")
	})
	a.Command("wait", "wait until cancelled", func(ctx context.Context, args []string, w io.Writer) error {
		fmt.Fprintln(w, "waiting")
		if f, ok := w.(interface{ Flush() error }); ok {
			f.Flush()
		}
		<-ctx.Done()
		return errors.New("stopped")
	})
	block := make(chan struct{})
	for i := 0; i < *workers; i++ {
		go func() { <-block }()
	}
	fmt.Printf("ready %d %s\n", os.Getpid(), a.Socket())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	<-sig
	a.Close()
	_ = time.Now
}
