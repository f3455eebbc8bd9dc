package triage

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/obs-toolkit/obs/logfmt"
)

// Logs is the logs section's data.
type Logs struct {
	File      string         `json:"file"`
	Records   int            `json:"records"`     // JSON records among the last lines
	Other     int            `json:"other_lines"` // lines that are not JSON records
	ByLevel   map[string]int `json:"by_level"`
	LastError string         `json:"last_error,omitempty"`
	Rendered  int64          `json:"rendered"` // records logfmt recognised and rendered into log-tail.txt
}

// tailBytes bounds how much of the end of a log file is read.
const tailBytes = 4 << 20

func logsSection(_ context.Context, e *env, s *Section) {
	if e.opts.LogFile == "" {
		s.Status = Skipped
		s.note("no log file given (--log FILE)")
		return
	}
	lines, err := tailLines(e.opts.LogFile, e.opts.LogLines)
	if err != nil {
		s.miss("%v", err)
		return
	}
	l := &Logs{File: e.opts.LogFile, ByLevel: map[string]int{}}
	s.Data = l
	var keep bytes.Buffer
	for _, line := range lines {
		keep.WriteString(line)
		keep.WriteByte('\n')
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil {
			l.Other++
			continue
		}
		l.Records++
		lv := levelName(rec["level"])
		l.ByLevel[lv]++
		if lv == "error" || lv == "fatal" {
			msg, _ := rec["msg"].(string)
			switch er := rec["err"].(type) {
			case map[string]any: // bunyan's err object
				msg += fmt.Sprintf(" (err: %v)", er["message"])
			case nil:
			default:
				msg += fmt.Sprintf(" (err: %v)", er)
			}
			l.LastError = msg
		}
	}
	e.write(s, "log-tail.log", keep.Bytes())
	// The same lines as a person reads them: bunyan's long format, with
	// slog, zap, logrus and pino records recognised too.
	var rendered bytes.Buffer
	p := &logfmt.Processor{Opts: &logfmt.Options{Mode: logfmt.ModeLong, Detect: true}, Workers: 1}
	if st, _, err := p.Run(&rendered, []logfmt.Input{{Name: e.opts.LogFile, R: bytes.NewReader(keep.Bytes())}}); err != nil {
		s.miss("render the log tail: %v", err)
	} else {
		l.Rendered = st.Records
		e.write(s, "log-tail.txt", rendered.Bytes())
	}
	var parts []string
	for _, lv := range []string{"fatal", "error", "warn", "info", "debug", "trace", "other"} {
		if n := l.ByLevel[lv]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, lv))
		}
	}
	s.note("last %d lines of %s: %d records (%s), %d other lines", len(lines), e.opts.LogFile, l.Records, strings.Join(parts, ", "), l.Other)
	if n := l.ByLevel["error"] + l.ByLevel["fatal"]; n > 0 {
		s.finding("%d error record(s) in the last %d log lines; the last: %s", n, len(lines), l.LastError)
	}
}

// levelName maps a bunyan numeric level or a slog/logrus level string to
// one of fatal, error, warn, info, debug, trace, other.
func levelName(v any) string {
	switch x := v.(type) {
	case float64:
		switch {
		case x >= 60:
			return "fatal"
		case x >= 50:
			return "error"
		case x >= 40:
			return "warn"
		case x >= 30:
			return "info"
		case x >= 20:
			return "debug"
		default:
			return "trace"
		}
	case string:
		s := strings.ToLower(x)
		switch {
		case strings.HasPrefix(s, "fatal"), strings.HasPrefix(s, "crit"), strings.HasPrefix(s, "panic"):
			return "fatal"
		case strings.HasPrefix(s, "err"):
			return "error"
		case strings.HasPrefix(s, "warn"):
			return "warn"
		case strings.HasPrefix(s, "info"):
			return "info"
		case strings.HasPrefix(s, "debug"):
			return "debug"
		case strings.HasPrefix(s, "trace"):
			return "trace"
		}
	}
	return "other"
}

// tailLines returns the last n lines of the file, reading at most
// tailBytes from its end.
func tailLines(path string, n int) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat log: %w", err)
	}
	off := st.Size() - tailBytes
	if off < 0 {
		off = 0
	}
	b, err := io.ReadAll(io.NewSectionReader(f, off, st.Size()-off))
	if err != nil {
		return nil, fmt.Errorf("read log: %w", err)
	}
	if off > 0 {
		// Drop the partial first line.
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return LastLines(b, n), nil
}

// LastLines returns the last n non-empty lines of b.
func LastLines(b []byte, n int) []string {
	var out []string
	for end := len(b); end > 0 && len(out) < n; {
		start := bytes.LastIndexByte(b[:end], '\n') + 1
		if line := strings.TrimRight(string(b[start:end]), "\r"); strings.TrimSpace(line) != "" {
			out = append(out, line)
		}
		end = start - 1
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}
