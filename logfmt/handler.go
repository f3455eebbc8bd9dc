package logfmt

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Bunyan's extra levels, as slog levels. slog.LevelDebug, LevelInfo,
// LevelWarn and LevelError map to bunyan's debug (20), info (30), warn (40)
// and error (50).
const (
	LevelTrace slog.Level = -8 // bunyan trace, 10
	LevelFatal slog.Level = 12 // bunyan fatal, 60
)

// BunyanLevel maps a slog level to bunyan's numeric level: trace 10, debug
// 20, info 30, warn 40, error 50, fatal 60, and linearly in between (a slog
// level step of 4 is 10 bunyan units).
func BunyanLevel(l slog.Level) int {
	v := 30 + int(l)*10/4
	if v < 0 {
		v = 0
	}
	return v
}

// HandlerOptions configures a Handler. The zero value logs at info and above
// under the program's base name.
type HandlerOptions struct {
	// Level is the minimum level written; a *slog.LevelVar changes it live.
	// Nil means slog.LevelInfo.
	Level slog.Leveler
	// AddSource adds bunyan's "src" object {file, line, func}. It costs a
	// frame lookup per record.
	AddSource bool
	// Name is bunyan's "name" field; empty means the program's base name.
	Name string
	// Hostname overrides os.Hostname().
	Hostname string
	// PID overrides os.Getpid().
	PID int
}

// Handler is a slog.Handler writing one bunyan JSON record per line:
//
//	{"name":N,"hostname":H,"pid":P,"level":30,...attrs...,"msg":M,"time":T,"src":{...},"v":0}
//
// in the field order bunyan itself writes. Groups become nested objects; an
// error under the key "err" becomes bunyan's err object (message, name,
// stack with the "Caused by:" chain); Req and Res build bunyan's req and res
// objects from net/http values. A record with only scalar attributes is
// written without allocating. Handler is safe for concurrent use; each
// record is one Write call.
type Handler struct {
	w      io.Writer
	mu     *sync.Mutex
	opts   HandlerOptions
	head   []byte // {"name":...,"pid":N,"level":
	pre    []byte // pre-rendered WithAttrs attributes, groups opened
	open   int    // groups opened inside pre
	groups []string
}

// NewHandler returns a Handler writing to w. opts may be nil.
func NewHandler(w io.Writer, opts *HandlerOptions) *Handler {
	h := &Handler{w: w, mu: new(sync.Mutex)}
	if opts != nil {
		h.opts = *opts
	}
	if h.opts.Name == "" {
		h.opts.Name = progName()
	}
	if h.opts.Hostname == "" {
		h.opts.Hostname, _ = os.Hostname()
	}
	if h.opts.PID == 0 {
		h.opts.PID = os.Getpid()
	}
	b := []byte(`{"name":`)
	b = appendJSONString(b, h.opts.Name)
	b = append(b, `,"hostname":`...)
	b = appendJSONString(b, h.opts.Hostname)
	b = append(b, `,"pid":`...)
	b = strconv.AppendInt(b, int64(h.opts.PID), 10)
	b = append(b, `,"level":`...)
	h.head = b
	return h
}

func progName() string {
	if len(os.Args) == 0 {
		return "go"
	}
	p := os.Args[0]
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' {
			return p[i+1:]
		}
	}
	return p
}

// Enabled reports whether a record at level l is written.
func (h *Handler) Enabled(_ context.Context, l slog.Level) bool {
	return l >= h.minLevel() || atomic.LoadUint32(&snoopOn) != 0
}

func (h *Handler) minLevel() slog.Level {
	if h.opts.Level != nil {
		return h.opts.Level.Level()
	}
	return slog.LevelInfo
}

func (h *Handler) clone() *Handler {
	h2 := *h
	h2.pre = append([]byte(nil), h.pre...)
	h2.groups = append([]string(nil), h.groups...)
	return &h2
}

// WithAttrs returns a Handler that adds attrs to every record, inside the
// groups opened so far. The attributes are rendered once, here.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	h2 := h.clone()
	s := &encoder{buf: h2.pre}
	s.first = len(h2.pre) == 0
	// Open the groups named since the last WithAttrs, lazily: only if one
	// of attrs produces output.
	start := len(s.buf)
	first := s.first
	for _, g := range h2.groups {
		s.openObject(g)
	}
	wrote := false
	for _, a := range attrs {
		if s.attr(a, true) {
			wrote = true
		}
	}
	if !wrote {
		s.buf = s.buf[:start]
		s.first = first
		return h
	}
	h2.open += len(h2.groups)
	h2.groups = nil
	h2.pre = s.buf
	return h2
}

// WithGroup returns a Handler that nests later attributes under name.
func (h *Handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	h2 := h.clone()
	h2.groups = append(h2.groups, name)
	return h2
}

type encoder struct {
	buf   []byte
	first bool // no member written yet at the current object level
	fn    func(slog.Attr) bool
	wrote bool
	depth int
}

var encPool = sync.Pool{New: func() any {
	e := &encoder{buf: make([]byte, 0, 1024)}
	e.fn = func(a slog.Attr) bool {
		if e.attr(a, e.depth == 0) {
			e.wrote = true
		}
		return true
	}
	return e
}}

func (s *encoder) sep() {
	if !s.first {
		s.buf = append(s.buf, ',')
	}
	s.first = false
}

// openObject starts the member key holding an object, as a group does.
func (s *encoder) openObject(key string) {
	s.sep()
	s.buf = appendJSONString(s.buf, key)
	s.buf = append(s.buf, ':', '{')
	s.first = true
}

// attr writes one attribute; it reports whether anything was written.
func (s *encoder) attr(a slog.Attr, top bool) bool {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		as := v.Group()
		if len(as) == 0 {
			return false
		}
		if a.Key == "" { // inline
			any := false
			for _, ga := range as {
				if s.attr(ga, top) {
					any = true
				}
			}
			return any
		}
		mark, first := len(s.buf), s.first
		s.openObject(a.Key)
		any := false
		for _, ga := range as {
			if s.attr(ga, false) {
				any = true
			}
		}
		if !any {
			s.buf, s.first = s.buf[:mark], first
			return false
		}
		s.buf = append(s.buf, '}')
		s.first = false
		return true
	}
	if a.Key == "" {
		return false
	}
	s.sep()
	s.buf = appendJSONString(s.buf, a.Key)
	s.buf = append(s.buf, ':')
	s.value(v, top && a.Key == "err")
	return true
}

func (s *encoder) value(v slog.Value, errKey bool) {
	switch v.Kind() {
	case slog.KindString:
		s.buf = appendJSONString(s.buf, v.String())
	case slog.KindInt64:
		s.buf = strconv.AppendInt(s.buf, v.Int64(), 10)
	case slog.KindUint64:
		s.buf = strconv.AppendUint(s.buf, v.Uint64(), 10)
	case slog.KindFloat64:
		f := v.Float64()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			s.buf = append(s.buf, "null"...) // as JSON.stringify does
		} else {
			s.buf = appendJSNumber(s.buf, f)
		}
	case slog.KindBool:
		s.buf = strconv.AppendBool(s.buf, v.Bool())
	case slog.KindDuration:
		s.buf = strconv.AppendInt(s.buf, int64(v.Duration()), 10)
	case slog.KindTime:
		s.buf = append(s.buf, '"')
		s.buf = v.Time().AppendFormat(s.buf, time.RFC3339Nano)
		s.buf = append(s.buf, '"')
	case slog.KindAny:
		s.anyValue(v.Any(), errKey)
	default:
		s.buf = appendJSONString(s.buf, v.String())
	}
}

func (s *encoder) anyValue(x any, errKey bool) {
	switch t := x.(type) {
	case nil:
		s.buf = append(s.buf, "null"...)
	case error:
		if errKey {
			s.buf = appendErr(s.buf, t)
		} else {
			s.buf = appendJSONString(s.buf, t.Error())
		}
	case json.Marshaler:
		b, err := t.MarshalJSON()
		if err != nil || !json.Valid(b) {
			s.buf = appendJSONString(s.buf, fmt.Sprintf("!ERROR:%v", err))
			return
		}
		s.buf = append(s.buf, b...)
	case fmt.Stringer:
		s.buf = appendJSONString(s.buf, t.String())
	case []byte:
		s.buf = appendJSONString(s.buf, string(t))
	default:
		b, err := json.Marshal(t)
		if err != nil {
			s.buf = appendJSONString(s.buf, fmt.Sprintf("%+v", t))
			return
		}
		s.buf = append(s.buf, b...)
	}
}

// errName is bunyan's err.name for a Go error: its dynamic type.
func errName(err error) string {
	return fmt.Sprintf("%T", err)
}

// appendErr writes bunyan's err object: message, name, and a stack that is
// "name: message" followed by one "Caused by: name: message" line per
// wrapped error (errors.Unwrap, or each of errors.Join's).
func appendErr(b []byte, err error) []byte {
	b = append(b, `{"message":`...)
	b = appendJSONString(b, err.Error())
	b = append(b, `,"name":`...)
	b = appendJSONString(b, errName(err))
	stack := errName(err) + ": " + err.Error()
	seen := 0
	for e := err; e != nil && seen < 32; seen++ {
		var next error
		switch u := e.(type) {
		case interface{ Unwrap() []error }:
			for _, c := range u.Unwrap() {
				if c != nil {
					stack += "\nCaused by: " + errName(c) + ": " + c.Error()
				}
			}
		case interface{ Unwrap() error }:
			next = u.Unwrap()
			if next != nil {
				stack += "\nCaused by: " + errName(next) + ": " + next.Error()
			}
		}
		e = next
	}
	b = append(b, `,"stack":`...)
	b = appendJSONString(b, stack)
	return append(b, '}')
}

// Handle writes the record as one line.
func (h *Handler) Handle(_ context.Context, r slog.Record) error {
	s := encPool.Get().(*encoder)
	s.buf = append(s.buf[:0], h.head...)
	s.buf = strconv.AppendInt(s.buf, int64(BunyanLevel(r.Level)), 10)
	s.first = false
	if len(h.pre) > 0 {
		s.buf = append(s.buf, ',')
		s.buf = append(s.buf, h.pre...)
	}
	open := h.open
	if r.NumAttrs() > 0 {
		// Open pending groups; drop them again if no attribute is written.
		mark, first := len(s.buf), s.first
		for _, g := range h.groups {
			s.openObject(g)
		}
		s.wrote = false
		s.depth = len(h.groups) + h.open
		r.Attrs(s.fn)
		if s.wrote {
			open += len(h.groups)
		} else {
			s.buf, s.first = s.buf[:mark], first
		}
	}
	for i := 0; i < open; i++ {
		s.buf = append(s.buf, '}')
	}
	s.buf = append(s.buf, `,"msg":`...)
	s.buf = appendJSONString(s.buf, r.Message)
	if !r.Time.IsZero() {
		s.buf = append(s.buf, `,"time":"`...)
		s.buf = appendISOTime(s.buf, r.Time)
		s.buf = append(s.buf, '"')
	}
	if h.opts.AddSource && r.PC != 0 {
		fs := runtime.CallersFrames([]uintptr{r.PC})
		f, _ := fs.Next()
		s.buf = append(s.buf, `,"src":{"file":`...)
		s.buf = appendJSONString(s.buf, f.File)
		s.buf = append(s.buf, `,"line":`...)
		s.buf = strconv.AppendInt(s.buf, int64(f.Line), 10)
		if f.Function != "" {
			s.buf = append(s.buf, `,"func":`...)
			s.buf = appendJSONString(s.buf, f.Function)
		}
		s.buf = append(s.buf, '}')
	}
	s.buf = append(s.buf, `,"v":0}`...)
	s.buf = append(s.buf, '\n')
	var err error
	if atomic.LoadUint32(&snoopOn) != 0 {
		snoopRecord(&s.buf[0], len(s.buf)-1)
		if r.Level < h.minLevel() {
			// Rendered only for the snooper.
			if cap(s.buf) <= 64<<10 {
				encPool.Put(s)
			}
			return nil
		}
	}
	h.mu.Lock()
	_, err = h.w.Write(s.buf)
	h.mu.Unlock()
	if cap(s.buf) <= 64<<10 {
		encPool.Put(s)
	}
	return err
}

// appendISOTime writes t in UTC as 2006-01-02T15:04:05.000Z, bunyan's form.
func appendISOTime(b []byte, t time.Time) []byte {
	t = t.UTC()
	y, mo, d := t.Date()
	hh, mm, ss := t.Clock()
	ms := t.Nanosecond() / 1e6
	b = appendPad(b, y, 4)
	b = append(b, '-')
	b = appendPad(b, int(mo), 2)
	b = append(b, '-')
	b = appendPad(b, d, 2)
	b = append(b, 'T')
	b = appendPad(b, hh, 2)
	b = append(b, ':')
	b = appendPad(b, mm, 2)
	b = append(b, ':')
	b = appendPad(b, ss, 2)
	b = append(b, '.')
	b = appendPad(b, ms, 3)
	return append(b, 'Z')
}

func appendPad(b []byte, v, width int) []byte {
	if v < 0 {
		b = append(b, '-')
		v = -v
	}
	var tmp [20]byte
	i := len(tmp)
	for v >= 10 {
		i--
		tmp[i] = byte('0' + v%10)
		v /= 10
	}
	i--
	tmp[i] = byte('0' + v)
	for n := len(tmp) - i; n < width; n++ {
		b = append(b, '0')
	}
	return append(b, tmp[i:]...)
}

const hexDigits = "0123456789abcdef"

// appendJSONString writes s as a JSON string the way JSON.stringify does
// (only ", \ and control characters escaped); invalid UTF-8 becomes U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			b = appendEscapedByte(b, c)
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, "\uFFFD"...)
			i++
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// Req returns bunyan's "req" attribute for an incoming request: method,
// url, headers (lower-case names, values joined by ", "), remoteAddress and
// remotePort, as bunyan's req serializer records them.
func Req(r *http.Request) slog.Attr {
	attrs := []slog.Attr{
		slog.String("method", r.Method),
		slog.String("url", r.URL.RequestURI()),
	}
	if r.ProtoMajor > 0 && !(r.ProtoMajor == 1 && r.ProtoMinor == 1) {
		attrs = append(attrs, slog.String("httpVersion", fmt.Sprintf("%d.%d", r.ProtoMajor, r.ProtoMinor)))
	}
	attrs = append(attrs, headerAttr("headers", r.Header, r.Host))
	if host, port, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		attrs = append(attrs, slog.String("remoteAddress", host))
		if p, err := strconv.Atoi(port); err == nil {
			attrs = append(attrs, slog.Int("remotePort", p))
		}
	}
	return slog.Attr{Key: "req", Value: slog.GroupValue(attrs...)}
}

// Res returns bunyan's "res" attribute for a response: statusCode and the
// response headers (lower-case names).
func Res(statusCode int, header http.Header) slog.Attr {
	return slog.Attr{Key: "res", Value: slog.GroupValue(
		slog.Int("statusCode", statusCode),
		headerAttr("headers", header, ""),
	)}
}

func headerAttr(key string, h http.Header, host string) slog.Attr {
	var as []slog.Attr
	if host != "" && h.Get("Host") == "" {
		as = append(as, slog.String("host", host))
	}
	for k, vs := range h {
		v := vs[0]
		for _, x := range vs[1:] {
			v += ", " + x
		}
		as = append(as, slog.String(lowerASCII(k), v))
	}
	sortAttrs(as)
	return slog.Attr{Key: key, Value: slog.GroupValue(as...)}
}

func sortAttrs(as []slog.Attr) {
	for i := 1; i < len(as); i++ {
		for j := i; j > 0 && as[j].Key < as[j-1].Key; j-- {
			as[j], as[j-1] = as[j-1], as[j]
		}
	}
}

func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 32
		}
	}
	return string(b)
}

// Err returns the attribute err=e, which the Handler writes as bunyan's
// err object.
func Err(e error) slog.Attr { return slog.Any("err", e) }

var _ slog.Handler = (*Handler)(nil)
