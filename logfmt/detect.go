package logfmt

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// Foreign JSON loggers, recognised with Options.Detect and rewritten as
// bunyan records before rendering:
//
//	pino     {"level":30,"time":1700000000000,"pid":1,"hostname":"h","msg":"m"}
//	zap      {"level":"info","ts":1700000000.123,"logger":"n","caller":"f.go:12","msg":"m"}
//	logrus   {"level":"info","msg":"m","time":"2023-11-14T22:13:20+01:00"}
//	slog     {"time":"2023-11-14T22:13:20.123+01:00","level":"INFO","msg":"m","source":{...}}
//
// Level names map to bunyan's numbers (warning, panic and dpanic
// included; slog's "INFO+2" is 35); times in seconds, milliseconds or any
// ISO-8601 offset become bunyan's UTC form; logger/caller/source become
// name and src. A record missing msg, level or a time is left alone.

func detectLevel(raw []byte) (float64, bool) {
	switch kindOf(raw) {
	case '0':
		return numberValue(raw), true
	case '"':
	default:
		return 0, false
	}
	s := strings.ToLower(string(raw[1 : len(raw)-1]))
	off := 0.0
	if i := strings.IndexAny(s, "+-"); i > 0 {
		n, err := strconv.Atoi(s[i:])
		if err != nil {
			return 0, false
		}
		off = float64(n) * 10 / 4
		s = s[:i]
	}
	var base float64
	switch s {
	case "trace":
		base = 10
	case "debug":
		base = 20
	case "info":
		base = 30
	case "warn", "warning":
		base = 40
	case "error", "err":
		base = 50
	case "fatal", "panic", "dpanic", "critical":
		base = 60
	default:
		return 0, false
	}
	return base + off, true
}

func detectTime(raw []byte) (time.Time, bool) {
	switch kindOf(raw) {
	case '0':
		f := numberValue(raw)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return time.Time{}, false
		}
		if math.Abs(f) < 1e11 { // seconds (zap's ts)
			return time.UnixMilli(int64(math.Round(f * 1000))), true
		}
		return time.UnixMilli(int64(f)), true
	case '"':
		s := string(raw[1 : len(raw)-1])
		t, ok := parseISO(s, true)
		if !ok || !t.hasTime {
			return time.Time{}, false
		}
		return time.UnixMilli(int64(t.epochMillis(momentMillis(t.frac), time.Local, false))), true
	}
	return time.Time{}, false
}

// detect rewrites a non-bunyan record from a known logger, or returns nil.
func (r *renderer) detect(ms []member) []byte {
	msg := get(ms, "msg")
	msgKey := "msg"
	if msg == nil {
		msg, msgKey = get(ms, "message"), "message"
	}
	if kindOf(msg) != '"' {
		return nil
	}
	lv, ok := detectLevel(get(ms, "level"))
	if !ok {
		return nil
	}
	var t time.Time
	timeKey := ""
	for _, k := range []string{"time", "ts", "timestamp"} {
		if v := get(ms, k); v != nil {
			if t, ok = detectTime(v); ok {
				timeKey = k
				break
			}
		}
	}
	if timeKey == "" {
		return nil
	}
	b := r.fix[:0]
	b = append(b, `{"name":`...)
	nameKey := ""
	for _, k := range []string{"name", "logger"} {
		if v := get(ms, k); kindOf(v) == '"' {
			b = append(b, v...)
			nameKey = k
			break
		}
	}
	if nameKey == "" {
		b = append(b, `"-"`...)
	}
	b = append(b, `,"hostname":`...)
	if v := get(ms, "hostname"); kindOf(v) == '"' {
		b = append(b, v...)
	} else {
		b = append(b, `""`...)
	}
	b = append(b, `,"pid":`...)
	if v := get(ms, "pid"); kindOf(v) == '0' {
		b = append(b, v...)
	} else {
		b = append(b, '0')
	}
	b = append(b, `,"level":`...)
	b = appendJSNumber(b, lv)
	skip := map[string]bool{"v": true, "level": true, msgKey: true, timeKey: true, "hostname": true, "pid": true}
	if nameKey != "" {
		skip[nameKey] = true
	}
	var src []byte
	if v := get(ms, "source"); kindOf(v) == '{' {
		sm := objectMembers(v, r.getMembers(), &r.ar)
		src = append(src, `{"file":`...)
		src = append(src, orNull(get(sm, "file"))...)
		src = append(src, `,"line":`...)
		src = append(src, orNull(get(sm, "line"))...)
		if fn := get(sm, "function"); fn != nil {
			src = append(src, `,"func":`...)
			src = append(src, fn...)
		}
		src = append(src, '}')
		r.putMembers(sm)
		skip["source"] = true
	} else if v := get(ms, "caller"); kindOf(v) == '"' {
		c := string(displayString(v, &r.ar))
		if i := strings.LastIndexByte(c, ':'); i > 0 {
			if n, err := strconv.Atoi(c[i+1:]); err == nil {
				src = appendJSONString(append(src, `{"file":`...), c[:i])
				src = strconv.AppendInt(append(src, `,"line":`...), int64(n), 10)
				src = append(src, '}')
				skip["caller"] = true
			}
		}
	}
	for _, m := range ms {
		if m.del || skip[string(m.key)] {
			continue
		}
		b = append(b, ',')
		b = appendQuoted(b, m.key)
		b = append(b, ':')
		b = append(b, m.val...)
	}
	b = append(b, `,"msg":`...)
	b = append(b, msg...)
	b = append(b, `,"time":"`...)
	b = appendISOTime(b, t)
	b = append(b, '"')
	if src != nil {
		b = append(b, `,"src":`...)
		b = append(b, src...)
	}
	b = append(b, `,"v":0}`...)
	return b
}

func orNull(v []byte) []byte {
	if v == nil {
		return []byte("null")
	}
	return v
}
