package logfmt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"testing/slogtest"
	"time"
)

func TestHandlerSlogtest(t *testing.T) {
	var buf bytes.Buffer
	h := NewHandler(&buf, &HandlerOptions{Level: slog.LevelDebug, Name: "t"})
	results := func() []map[string]any {
		var ms []map[string]any
		for _, line := range bytes.Split(buf.Bytes(), []byte("\n")) {
			if len(line) == 0 {
				continue
			}
			var m map[string]any
			if err := json.Unmarshal(line, &m); err != nil {
				t.Fatalf("line %q: %v", line, err)
			}
			ms = append(ms, m)
		}
		return ms
	}
	if err := slogtest.TestHandler(h, results); err != nil {
		t.Fatal(err)
	}
}

func fixedTime() time.Time { return time.Date(2024, 3, 1, 12, 30, 45, 678_900_000, time.UTC) }

func record(level slog.Level, msg string, attrs ...slog.Attr) slog.Record {
	r := slog.NewRecord(fixedTime(), level, msg, 0)
	r.AddAttrs(attrs...)
	return r
}

func TestHandlerFields(t *testing.T) {
	var buf bytes.Buffer
	h := NewHandler(&buf, &HandlerOptions{Name: "svc", Hostname: "h1", PID: 42, Level: LevelTrace})
	h2 := h.WithAttrs([]slog.Attr{slog.String("component", "db")}).WithGroup("g").WithAttrs([]slog.Attr{slog.Int("a", 1)})
	h2.Handle(context.Background(), record(slog.LevelWarn, "hello", slog.Bool("b", true), slog.Group("sub", slog.Float64("f", 1.5))))
	h.WithGroup("empty").Handle(context.Background(), record(LevelFatal, "bye"))
	h.Handle(context.Background(), record(LevelTrace, "t", slog.Duration("d", time.Second), slog.Any("nil", nil), slog.Float64("nan", math.NaN())))
	want := `{"name":"svc","hostname":"h1","pid":42,"level":40,"component":"db","g":{"a":1,"b":true,"sub":{"f":1.5}},"msg":"hello","time":"2024-03-01T12:30:45.678Z","v":0}
{"name":"svc","hostname":"h1","pid":42,"level":60,"msg":"bye","time":"2024-03-01T12:30:45.678Z","v":0}
{"name":"svc","hostname":"h1","pid":42,"level":10,"d":1000000000,"nil":null,"nan":null,"msg":"t","time":"2024-03-01T12:30:45.678Z","v":0}
`
	if buf.String() != want {
		t.Errorf("got\n%s\nwant\n%s", buf.String(), want)
	}
}

func TestBunyanLevel(t *testing.T) {
	for l, want := range map[slog.Level]int{LevelTrace: 10, slog.LevelDebug: 20, slog.LevelInfo: 30, slog.LevelWarn: 40, slog.LevelError: 50, LevelFatal: 60, 2: 35} {
		if got := BunyanLevel(l); got != want {
			t.Errorf("BunyanLevel(%v) = %d, want %d", l, got, want)
		}
	}
}

func TestHandlerLevelVar(t *testing.T) {
	var lv slog.LevelVar
	lv.Set(slog.LevelWarn)
	var buf bytes.Buffer
	log := slog.New(NewHandler(&buf, &HandlerOptions{Level: &lv}))
	log.Info("dropped")
	lv.Set(slog.LevelDebug)
	log.Debug("kept")
	if n := strings.Count(buf.String(), "\n"); n != 1 || !strings.Contains(buf.String(), `"msg":"kept"`) {
		t.Errorf("LevelVar not followed: %q", buf.String())
	}
}

type codeErr struct{ code int }

func (e *codeErr) Error() string { return fmt.Sprintf("code %d", e.code) }

func TestHandlerErr(t *testing.T) {
	var buf bytes.Buffer
	h := NewHandler(&buf, &HandlerOptions{Name: "svc", Hostname: "h", PID: 1})
	inner := &codeErr{7}
	err := fmt.Errorf("open config: %w", inner)
	h.Handle(context.Background(), record(slog.LevelError, "failed", Err(err), slog.Any("other", errors.New("plain"))))
	var m struct {
		Err struct {
			Message, Name, Stack string
		}
		Other string
	}
	if e := json.Unmarshal(buf.Bytes(), &m); e != nil {
		t.Fatal(e)
	}
	if m.Err.Message != "open config: code 7" || m.Err.Name != "*fmt.wrapError" || m.Other != "plain" {
		t.Errorf("err: %+v", m)
	}
	if m.Err.Stack != "*fmt.wrapError: open config: code 7\nCaused by: *logfmt.codeErr: code 7" {
		t.Errorf("stack: %q", m.Err.Stack)
	}
	buf.Reset()
	joined := errors.Join(fs.ErrNotExist, inner)
	h.Handle(context.Background(), record(slog.LevelError, "j", Err(joined)))
	if !strings.Contains(buf.String(), `Caused by: *errors.errorString: file does not exist\nCaused by: *logfmt.codeErr: code 7`) {
		t.Errorf("joined: %s", buf.String())
	}
}

func TestHandlerAddSource(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(NewHandler(&buf, &HandlerOptions{AddSource: true}))
	log.Info("here")
	var m struct {
		Src struct {
			File, Func string
			Line       int
		}
	}
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	if filepath.Base(m.Src.File) != "handler_test.go" || m.Src.Line == 0 || !strings.HasSuffix(m.Src.Func, "TestHandlerAddSource") {
		t.Errorf("src: %+v", m.Src)
	}
}

func TestHandlerReqRes(t *testing.T) {
	var buf bytes.Buffer
	h := NewHandler(&buf, &HandlerOptions{Name: "web", Hostname: "h", PID: 9})
	req := httptest.NewRequest("GET", "http://example.com/a?b=1", nil)
	req.Header.Set("Accept", "text/plain")
	req.Header.Add("X-Multi", "1")
	req.Header.Add("X-Multi", "2")
	req.RemoteAddr = "10.1.2.3:4567"
	hdr := http.Header{"Content-Type": {"text/plain"}}
	h.Handle(context.Background(), record(slog.LevelInfo, "handled", Req(req), Res(200, hdr)))
	want := `{"name":"web","hostname":"h","pid":9,"level":30,"req":{"method":"GET","url":"/a?b=1","headers":{"accept":"text/plain","host":"example.com","x-multi":"1, 2"},"remoteAddress":"10.1.2.3","remotePort":4567},"res":{"statusCode":200,"headers":{"content-type":"text/plain"}},"msg":"handled","time":"2024-03-01T12:30:45.678Z","v":0}
`
	if buf.String() != want {
		t.Errorf("got\n%s\nwant\n%s", buf.String(), want)
	}
}

// TestHandlerRoundTrip: what the handler writes, obs logs and bunyan
// render the same, byte for byte.
func TestHandlerRoundTrip(t *testing.T) {
	bin := bunyanPath(t)
	loc := goldenLoc(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "h.log")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(NewHandler(f, &HandlerOptions{Name: "rt", Level: LevelTrace, AddSource: true}))
	req := httptest.NewRequest("POST", "http://svc/orders", nil)
	req.RemoteAddr = "127.0.0.1:5000"
	log.Info("started", "port", 8080, "tls", false)
	log.With("component", "store", "req_id", "abc-1").Warn("slow query", "ms", 1234.5, "sql", "select * from t where a = 1")
	log.Error("request failed", Err(fmt.Errorf("write: %w", io.ErrShortWrite)), Req(req), Res(503, http.Header{"Retry-After": {"5"}}))
	log.Log(context.Background(), LevelTrace, "trace\nmultiline", "nested", map[string]any{"a": []int{1, 2}})
	log.Log(context.Background(), LevelFatal, "fatal", slog.Group("g", "x", "y z", "e", ""))
	log.Log(context.Background(), 2, "between levels", "ünï", "çødé")
	f.Close()
	for _, mode := range []struct {
		args []string
		mod  func(*Options)
	}{
		{nil, func(*Options) {}},
		{[]string{"-o", "short"}, func(o *Options) { o.Mode = ModeShort }},
		{[]string{"-j"}, func(o *Options) { o.Mode = ModeJSON }},
		{[]string{"--color"}, func(o *Options) { o.Color = true }},
	} {
		want, code := runBunyan(t, bin, append(mode.args, path)...)
		if code != 0 {
			t.Fatalf("bunyan exit %d", code)
		}
		opts := &Options{JSONIndent: 2, Loc: loc}
		mode.mod(opts)
		got := render(t, opts, path)
		if !bytes.Equal(got, want) {
			t.Errorf("%v: differs\n%s", mode.args, firstDiff(got, want))
		}
		if mode.args == nil && bytes.Count(want, []byte("LVL35")) != 1 {
			t.Errorf("expected one LVL35 record:\n%s", want)
		}
	}
}

func TestHandlerZeroAlloc(t *testing.T) {
	h := NewHandler(io.Discard, &HandlerOptions{Name: "bench", Hostname: "h", PID: 1})
	log := slog.New(h.WithAttrs([]slog.Attr{slog.String("component", "c")}))
	n := testing.AllocsPerRun(200, func() {
		log.Info("request done", "status", 200, "path", "/x", "ms", 1.25, "ok", true)
	})
	if n > 0 {
		t.Errorf("%v allocations per record, want 0", n)
	}
}

func BenchmarkHandler(b *testing.B) {
	h := NewHandler(io.Discard, &HandlerOptions{Name: "bench", Hostname: "h", PID: 1})
	log := slog.New(h.WithAttrs([]slog.Attr{slog.String("component", "c")}))
	b.ReportAllocs()
	for b.Loop() {
		log.Info("request done", "status", 200, "path", "/x", "ms", 1.25, "ok", true)
	}
}

func BenchmarkSlogJSONHandler(b *testing.B) {
	log := slog.New(slog.NewJSONHandler(io.Discard, nil).WithAttrs([]slog.Attr{slog.String("component", "c")}))
	b.ReportAllocs()
	for b.Loop() {
		log.Info("request done", "status", 200, "path", "/x", "ms", 1.25, "ok", true)
	}
}

// BenchmarkHandlerSnoopOff is the cost of a record below the level while
// nobody snoops: the level check and one atomic load and branch.
func BenchmarkHandlerSnoopOff(b *testing.B) {
	log := slog.New(NewHandler(io.Discard, &HandlerOptions{Name: "bench", Hostname: "h", PID: 1}))
	b.ReportAllocs()
	for b.Loop() {
		log.Debug("filtered", "i", 1)
	}
}

// BenchmarkSlogJSONHandlerFiltered is the same with slog's JSONHandler.
func BenchmarkSlogJSONHandlerFiltered(b *testing.B) {
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	b.ReportAllocs()
	for b.Loop() {
		log.Debug("filtered", "i", 1)
	}
}

func TestSnoopFlagRoutesRecords(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(NewHandler(&buf, &HandlerOptions{Name: "s", Hostname: "h", PID: 1}))
	before := atomic.LoadUint64(&snoopCalls)
	atomic.AddUint32(&snoopOn, 1)
	log.Debug("below level")
	log.Info("at level")
	atomic.AddUint32(&snoopOn, ^uint32(0))
	log.Debug("not snooped")
	if got := atomic.LoadUint64(&snoopCalls) - before; got != 2 {
		t.Errorf("probe point called %d times, want 2", got)
	}
	if s := buf.String(); strings.Contains(s, "below level") || !strings.Contains(s, "at level") || strings.Contains(s, "not snooped") {
		t.Errorf("written: %q", s)
	}
}
