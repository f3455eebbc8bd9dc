// Command snoopfix logs a debug and an info record every 10 ms through
// logfmt.Handler at the default (info) level, for the snoop tests.
package main

import (
	"log/slog"
	"os"
	"time"

	"github.com/obs-toolkit/obs/logfmt"
)

func main() {
	log := slog.New(logfmt.NewHandler(os.Stdout, &logfmt.HandlerOptions{Name: "snoopfix"}))
	for i := 0; ; i++ {
		log.Debug("debug record", "i", i)
		log.Info("info record", "i", i)
		time.Sleep(10 * time.Millisecond)
	}
}
