package repl_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"

	"github.com/obs-toolkit/obs/repl"
)

// A service links the agent in, exposes a snapshot of its state and adds a
// command of its own.
func ExampleStart() {
	lv := new(slog.LevelVar)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lv}))
	a, err := repl.Start(repl.Config{Name: "checkout", LogLevel: lv, Logger: log})
	if err != nil {
		log.Warn("no repl agent", "err", err) // the service runs on without it
		return
	}
	defer a.Close()

	var mu sync.Mutex
	cache := map[string]string{"a": "1"}
	a.Expose("cache_size", func() int { mu.Lock(); defer mu.Unlock(); return len(cache) })
	a.Command("flush", "empty the cache", func(ctx context.Context, args []string, w io.Writer) error {
		mu.Lock()
		n := len(cache)
		clear(cache)
		mu.Unlock()
		fmt.Fprintf(w, "flushed %d entries\n", n)
		return nil
	})
}

// A client runs one command and tells a failed command from a broken
// connection.
func ExampleClient_Do() {
	c, err := repl.Dial("checkout") // or a pid, or a socket path
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	defer c.Close()
	err = c.Do(context.Background(), "get", []string{"cache_size"}, os.Stdout)
	var ce *repl.CommandError
	switch {
	case err == nil:
	case errors.As(err, &ce):
		fmt.Fprintln(os.Stderr, "command failed:", ce.Msg)
	default:
		fmt.Fprintln(os.Stderr, "connection lost:", err)
	}
}
