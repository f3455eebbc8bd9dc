package logfmt

import (
	"bytes"
	"math"
	"strings"
	"time"
)

// Mode is an output format of the bunyan CLI.
type Mode int

// The output modes, as bunyan's -o names them.
const (
	ModeLong    Mode = iota // "long", the default
	ModeShort               // "short": time only, no pid or host
	ModeSimple              // "simple": LEVEL - msg
	ModeJSON                // "json" / "json-N": JSON.stringify with an indent
	ModeBunyan              // "bunyan" / -0: one-line JSON
	ModeInspect             // "inspect": node's util.inspect with colours
)

// Options select how lines are filtered and rendered.
type Options struct {
	Mode       Mode
	JSONIndent int  // for ModeJSON; bunyan's default is 2
	Color      bool // ANSI colours as bunyan --color
	// Local renders times in Loc (bunyan --time local); otherwise UTC.
	Local bool
	Loc   *time.Location
	// Strict drops lines that are not bunyan records.
	Strict bool
	// Level drops records below it (0: none), compared as JavaScript does.
	Level float64
	// Conds must all hold for a record to be shown.
	Conds []Condition
	// Since and Until, when set, keep records whose time is in [Since, Until).
	Since, Until time.Time
	// Detect renders pino, zap, logrus and slog JSON lines as records
	// instead of passing them through.
	Detect bool
}

// renderer turns lines into output. One per goroutine; it reuses its
// buffers so that rendering a record allocates nothing in the usual case.
type renderer struct {
	o   *Options
	ar  arena
	top []member
	ms  [][]member // scratch member lists by depth
	msd int
	tmp []byte
	// output pieces being built
	bTmp, bLvl, bName, bSrc, bMsg, bVal, bReq, bHdr, bKeys []byte
	ex                                                     []byte // extras
	nex                                                    int
	det                                                    []byte // details
	ndet                                                   int
	line                                                   []byte
	fix                                                    []byte // detected foreign record rewritten as bunyan
	// result of the last record, for merging and stats
	matchers  []func(*Record) bool
	lastTime  float64
	needTime  bool
	slots     [nSlots]int32
	lastLevel []byte
	lastName  []byte
	isRecord  bool
}

func newRenderer(o *Options) *renderer {
	return &renderer{o: o}
}

func (r *renderer) getMembers() []member {
	if r.msd == len(r.ms) {
		r.ms = append(r.ms, make([]member, 0, 16))
	}
	r.msd++
	return r.ms[r.msd-1][:0]
}

func (r *renderer) putMembers(ms []member) {
	r.msd--
	r.ms[r.msd] = ms[:0]
}

func find(ms []member, key string) int {
	for i := range ms {
		if !ms[i].del && string(ms[i].key) == key {
			return i
		}
	}
	return -1
}

func get(ms []member, key string) []byte {
	if i := find(ms, key); i >= 0 {
		return ms[i].val
	}
	return nil
}

func del(ms []member, key string) {
	if i := find(ms, key); i >= 0 {
		ms[i].del = true
	}
}

// set is rec[key] = val.
func set(ms []member, key, val []byte) []member {
	for i := range ms {
		if !ms[i].del && bytes.Equal(ms[i].key, key) {
			ms[i].val = val
			return ms
		}
	}
	return append(ms, member{key: key, val: val})
}

func isNull(v []byte) bool { return v == nil || v[0] == 'n' }

// slot names the top-level fields bunyan treats specially; renderer.slots
// holds their member index (or -1) so that rendering looks each up once.
type slot int

const (
	kV slot = iota
	kLevel
	kName
	kHostname
	kPid
	kTime
	kMsg
	kComponent
	kSrc
	kReqId
	kReq
	kClientReq
	kRes
	kClientRes
	kErr
	nSlots
)

func (r *renderer) index(ms []member) {
	for i := range r.slots {
		r.slots[i] = -1
	}
	for i := range ms {
		switch string(ms[i].key) {
		case "v":
			r.slots[kV] = int32(i)
		case "level":
			r.slots[kLevel] = int32(i)
		case "name":
			r.slots[kName] = int32(i)
		case "hostname":
			r.slots[kHostname] = int32(i)
		case "pid":
			r.slots[kPid] = int32(i)
		case "time":
			r.slots[kTime] = int32(i)
		case "msg":
			r.slots[kMsg] = int32(i)
		case "component":
			r.slots[kComponent] = int32(i)
		case "src":
			r.slots[kSrc] = int32(i)
		case "req_id":
			r.slots[kReqId] = int32(i)
		case "req":
			r.slots[kReq] = int32(i)
		case "client_req":
			r.slots[kClientReq] = int32(i)
		case "res":
			r.slots[kRes] = int32(i)
		case "client_res":
			r.slots[kClientRes] = int32(i)
		case "err":
			r.slots[kErr] = int32(i)
		}
	}
}

// sg is get for a slot.
func (r *renderer) sg(ms []member, k slot) []byte {
	if i := r.slots[k]; i >= 0 && !ms[i].del {
		return ms[i].val
	}
	return nil
}

// sd is del for a slot.
func (r *renderer) sd(ms []member, k slot) {
	if i := r.slots[k]; i >= 0 {
		ms[i].del = true
	}
}

// validRecord is bunyan's isValidRecord: the seven fields present, not null.
func (r *renderer) validRecord(ms []member) bool {
	r.index(ms)
	for k := kV; k <= kMsg; k++ {
		if isNull(r.sg(ms, k)) {
			return false
		}
	}
	return true
}

// Line renders one input line (without its line terminator) and appends
// the output to out. It reports whether the line was a bunyan record that
// passed the filters.
func (r *renderer) Line(out, line []byte) ([]byte, bool) {
	r.ar.reset()
	r.isRecord = false
	if len(line) == 0 || line[0] != '{' {
		return r.pass(out, line), false
	}
	ms, ok := parseObject(line, r.top[:0], &r.ar, true)
	r.top = ms
	if !ok {
		return r.pass(out, line), false
	}
	if !r.validRecord(ms) {
		if r.o.Detect {
			if fixed := r.detect(ms); fixed != nil {
				r.fix = fixed
				line = r.fix
				r.ar.reset()
				ms = objectMembers(line, r.top[:0], &r.ar)
				r.top = ms
			}
		}
		if !r.validRecord(ms) {
			return r.pass(out, line), false
		}
	}
	r.isRecord = true
	r.lastLevel = r.sg(ms, kLevel)
	r.lastName = r.sg(ms, kName)
	if !r.keep(ms) {
		return out, false
	}
	if r.needTime {
		r.lastTime = dateValue(r.sg(ms, kTime), r.loc())
	}
	return r.emit(out, line, ms), true
}

func (r *renderer) pass(out, line []byte) []byte {
	if r.o.Strict {
		return out
	}
	out = append(out, line...)
	return append(out, '\n')
}

// keep applies -l, -c, --since and --until.
func (r *renderer) keep(ms []member) bool {
	if r.o.Level != 0 && r.toNumber(r.sg(ms, kLevel)) < r.o.Level {
		return false
	}
	if !r.o.Since.IsZero() || !r.o.Until.IsZero() {
		t := dateValue(r.sg(ms, kTime), r.loc())
		if math.IsNaN(t) {
			return false
		}
		if !r.o.Since.IsZero() && t < float64(r.o.Since.UnixMilli()) {
			return false
		}
		if !r.o.Until.IsZero() && t >= float64(r.o.Until.UnixMilli()) {
			return false
		}
	}
	for i := range r.o.Conds {
		if !r.match(i, ms) {
			return false
		}
	}
	return true
}

func (r *renderer) loc() *time.Location {
	if r.o.Loc != nil {
		return r.o.Loc
	}
	return time.Local
}

func (r *renderer) emit(out, line []byte, ms []member) []byte {
	switch r.o.Mode {
	case ModeLong:
		return r.long(out, ms, false)
	case ModeShort:
		return r.long(out, ms, true)
	case ModeSimple:
		lv := r.propertyKey(r.sg(ms, kLevel))
		if n := levelUpper(lv); n != "" {
			out = append(out, n...)
		} else {
			out = append(out, "LVL"...)
			out = r.appendJSString(out, r.sg(ms, kLevel))
		}
		out = append(out, " - "...)
		out = r.appendFormatS(out, r.sg(ms, kMsg))
		return append(out, '\n')
	case ModeJSON:
		out = r.stringifyMembers(out, ms, r.o.JSONIndent, 0)
		return append(out, '\n')
	case ModeBunyan:
		out = r.stringifyMembers(out, ms, 0, 0)
		return append(out, '\n')
	case ModeInspect:
		out = r.inspectMembers(out, ms, 0)
		return append(out, '\n')
	}
	return out
}

// levelUpper is bunyan's upper-case name of the level key k, or "".
func levelUpper(k []byte) string {
	return strings.TrimPrefix(levelPadded(k), " ")
}

// levelPadded is levelUpper padded to five characters on the left.
func levelPadded(k []byte) string {
	switch string(k) {
	case "10":
		return "TRACE"
	case "20":
		return "DEBUG"
	case "30":
		return " INFO"
	case "40":
		return " WARN"
	case "50":
		return "ERROR"
	case "60":
		return "FATAL"
	}
	return ""
}

func levelColor(k []byte) string {
	switch string(k) {
	case "10":
		return "\x1b[37m" // white
	case "20":
		return "\x1b[33m" // yellow
	case "30":
		return "\x1b[36m" // cyan
	case "40":
		return "\x1b[35m" // magenta
	case "50":
		return "\x1b[31m" // red
	case "60":
		return "\x1b[7m" // inverse
	}
	return ""
}

func colorEnd(start string) string {
	if start == "\x1b[7m" {
		return "\x1b[27m"
	}
	if start == "\x1b[1m" {
		return "\x1b[22m"
	}
	return "\x1b[39m"
}

const (
	cGreen = "\x1b[32m"
	cCyan  = "\x1b[36m"
)

// stylize is bunyan's stylize: nothing for an empty string, colour codes
// around it when colour is on.
func (r *renderer) stylize(b []byte, s []byte, color string) []byte {
	if len(s) == 0 {
		return b
	}
	if r.o.Color && color != "" {
		b = append(b, color...)
		b = append(b, s...)
		return append(b, colorEnd(color)...)
	}
	return append(b, s...)
}

// appendIndent is bunyan's indent(): four spaces before each line, lines
// split on \r?\n.
func appendIndent(b, s []byte) []byte {
	b = append(b, "    "...)
	for {
		i := bytes.IndexByte(s, '\n')
		if i < 0 {
			return append(b, s...)
		}
		line := s[:i]
		if i > 0 && line[i-1] == '\r' {
			line = line[:i-1]
		}
		b = append(b, line...)
		b = append(b, "\n    "...)
		s = s[i+1:]
	}
}

// addDetail appends indent(s) to the details.
func (r *renderer) addDetail(s []byte) {
	if r.ndet > 0 {
		r.det = append(r.det, "\n    --\n"...)
	}
	r.ndet++
	r.det = appendIndent(r.det, s)
}

// long renders bunyan's "long" and "short" formats, following the order in
// which bunyan's emitRecord deletes and adds properties.
func (r *renderer) long(out []byte, ms []member, short bool) []byte {
	r.ex, r.nex = r.ex[:0], 0
	r.det, r.ndet = r.det[:0], 0
	r.sd(ms, kV)

	// Time.
	tv := r.sg(ms, kTime)
	if !short && !r.o.Local {
		out = append(out, '[')
		out = r.appendJSString(out, tv)
		out = append(out, ']')
	} else {
		out = r.appendMomentTime(out, tv, short)
	}
	out = append(out, ' ')
	r.sd(ms, kTime)

	// Level.
	lvRaw := r.sg(ms, kLevel)
	lk := r.propertyKey(lvRaw)
	lvl := r.bTmp[:0]
	if n := levelPadded(lk); n != "" {
		lvl = append(lvl, n...)
	} else {
		lvl = append(lvl, "LVL"...)
		lvl = r.appendJSString(lvl, lvRaw)
	}
	r.bTmp = lvl
	if r.o.Color {
		r.bLvl = r.stylize(r.bLvl[:0], lvl, levelColor(lk))
	} else {
		r.bLvl = append(r.bLvl[:0], lvl...)
	}

	// Name.
	// In the short format without a component, the name is util.format's
	// %s of the value; otherwise it is concatenated (String()).
	comp := r.sg(ms, kComponent)
	var name []byte
	if short && !truthy(comp) {
		name = r.appendFormatS(r.bName[:0], r.sg(ms, kName))
	} else {
		name = r.appendJSString(r.bName[:0], r.sg(ms, kName))
	}
	r.sd(ms, kName)
	if c := comp; truthy(c) {
		name = append(name, '/')
		name = r.appendJSString(name, c)
	}
	r.sd(ms, kComponent)
	if !short {
		name = append(name, '/')
		name = r.appendJSString(name, r.sg(ms, kPid))
	}
	r.bName = name
	r.sd(ms, kPid)
	r.sd(ms, kLevel)

	// Source.
	r.bSrc = r.bSrc[:0]
	if sv := r.sg(ms, kSrc); kindOf(sv) == '{' {
		sm := objectMembers(sv, r.getMembers(), &r.ar)
		if file := get(sm, "file"); truthy(file) {
			s := r.bTmp[:0]
			s = append(s, " ("...)
			s = r.appendFormatS(s, file)
			s = append(s, ':')
			s = r.appendFormatD(s, get(sm, "line"))
			if fn := get(sm, "func"); truthy(fn) {
				s = append(s, " in "...)
				s = r.appendFormatS(s, fn)
			}
			s = append(s, ')')
			r.bTmp = s
			r.bSrc = r.stylize(r.bSrc, s, cGreen)
		}
		r.putMembers(sm)
	}
	r.sd(ms, kSrc)

	host := r.sg(ms, kHostname)
	r.sd(ms, kHostname)

	if id := r.sg(ms, kReqId); truthy(id) {
		r.exSep()
		r.ex = append(r.ex, "req_id="...)
		r.ex = r.appendJSString(r.ex, id)
	}
	r.sd(ms, kReqId)

	// Message.
	mv := r.sg(ms, kMsg)
	var msg []byte
	if kindOf(mv) == '"' {
		msg = displayString(mv, &r.ar)
	} else {
		r.bMsg = r.appendJSString(r.bMsg[:0], mv)
		msg = r.bMsg
	}
	oneline := true
	if bytes.IndexByte(msg, '\n') >= 0 {
		oneline = false
		r.bTmp = r.stylize(r.bTmp[:0], msg, cCyan)
		r.addDetail(r.bTmp)
	}
	r.sd(ms, kMsg)

	if v := r.sg(ms, kReq); isObject(v) {
		r.sd(ms, kReq)
		ms = r.req(ms, v)
	}
	if v := r.sg(ms, kClientReq); isObject(v) {
		r.sd(ms, kClientReq)
		ms = r.clientReq(ms, v)
	}
	if v := r.sg(ms, kRes); isObject(v) {
		ms = r.res(ms, v)
		r.sd(ms, kRes)
	}
	if v := r.sg(ms, kClientRes); isObject(v) {
		ms = r.res(ms, v)
		r.sd(ms, kClientRes)
	}
	if v := r.sg(ms, kErr); kindOf(v) == '{' {
		em := objectMembers(v, r.getMembers(), &r.ar)
		if st := get(em, "stack"); truthy(st) {
			r.bTmp = r.appendJSString(r.bTmp[:0], st)
			r.addDetail(r.bTmp)
			del(em, "message")
			del(em, "name")
			del(em, "stack")
			for _, m := range em {
				if !m.del {
					ms = set(ms, r.ar.concat([]byte("err."), m.key), m.val)
				}
			}
			r.sd(ms, kErr)
		}
		r.putMembers(em)
	}
	r.top = ms

	// Leftovers.
	for i := range ms {
		m := &ms[i]
		if m.del {
			continue
		}
		key := wtfDisplay(m.key, &r.ar)
		var val []byte
		stringified := false
		if kindOf(m.val) == '"' {
			val = displayString(m.val, &r.ar)
		} else {
			r.bVal = r.stringify(r.bVal[:0], m.val, 2, 0)
			val = r.bVal
			stringified = true
		}
		if bytes.IndexByte(val, '\n') >= 0 || utf16Len(val) > 50 {
			s := append(r.bTmp[:0], key...)
			s = append(s, ": "...)
			s = append(s, val...)
			r.bTmp = s
			r.addDetail(s)
		} else if !stringified && (bytes.IndexByte(val, ' ') >= 0 || len(val) == 0) {
			r.exSep()
			r.ex = append(r.ex, key...)
			r.ex = append(r.ex, '=')
			r.ex = appendStringifiedString(r.ex, m.val, &r.ar)
		} else {
			r.exSep()
			r.ex = append(r.ex, key...)
			r.ex = append(r.ex, '=')
			r.ex = append(r.ex, val...)
		}
	}

	out = append(out, r.bLvl...)
	if short {
		out = append(out, ' ')
		out = append(out, r.bName...)
	} else {
		out = append(out, ": "...)
		out = append(out, r.bName...)
		out = append(out, " on "...)
		if truthy(host) {
			out = r.appendFormatS(out, host)
		} else {
			out = append(out, "<no-hostname>"...)
		}
		out = append(out, r.bSrc...)
	}
	out = append(out, ':')
	if oneline {
		out = append(out, ' ')
		out = r.stylize(out, msg, cCyan)
	}
	if r.nex > 0 {
		out = append(out, " ("...)
		out = append(out, r.ex...)
		out = append(out, ')')
	}
	out = append(out, '\n')
	if r.ndet > 0 {
		out = append(out, r.det...)
		out = append(out, '\n')
	}
	return out
}

func (r *renderer) exSep() {
	if r.nex > 0 {
		r.ex = append(r.ex, ", "...)
	}
	r.nex++
}

func (r *renderer) req(ms []member, v []byte) []member {
	rm := r.objectKeys(v, r.getMembers())
	s := r.appendRequestLine(r.bReq[:0], rm)
	switch h := get(rm, "headers"); {
	case !truthy(h):
	case kindOf(h) == '"':
		s = append(s, '\n')
		s = append(s, displayString(h, &r.ar)...)
	case isObject(h):
		s = append(s, '\n')
		s = r.appendHeaderLines(s, h)
	default:
		s = r.appendFormatS(s, h)
	}
	del(rm, "url")
	del(rm, "method")
	del(rm, "httpVersion")
	del(rm, "headers")
	s = r.appendReqBody(s, rm)
	if t := get(rm, "trailers"); truthy(t) {
		tm := r.objectKeys(t, r.getMembers())
		keys := r.bKeys[:0]
		for i, m := range tm {
			if i > 0 {
				keys = append(keys, ',')
			}
			keys = append(keys, m.key...)
		}
		r.bKeys = keys
		if jsStringToNumber(keys) > 0 {
			s = append(s, '\n')
			s = r.appendMemberLines(s, tm)
		}
		r.putMembers(tm)
	}
	del(rm, "trailers")
	r.bReq = s
	r.addDetail(s)
	ms = r.addPrefixed(ms, rm, "req.")
	r.putMembers(rm)
	return ms
}

// appendRequestLine writes "METHOD url HTTP/version" of a request, the
// version 1.1 unless it has a truthy httpVersion.
func (r *renderer) appendRequestLine(s []byte, rm []member) []byte {
	s = r.appendFormatS(s, get(rm, "method"))
	s = append(s, ' ')
	s = r.appendFormatS(s, get(rm, "url"))
	s = append(s, " HTTP/"...)
	if hv := get(rm, "httpVersion"); truthy(hv) {
		return r.appendFormatS(s, hv)
	}
	return append(s, "1.1"...)
}

func (r *renderer) appendHeaderLines(s, h []byte) []byte {
	hm := r.objectKeys(h, r.getMembers())
	s = r.appendMemberLines(s, hm)
	r.putMembers(hm)
	return s
}

// appendMemberLines writes one "key: value" line a member, as bunyan
// writes headers and trailers.
func (r *renderer) appendMemberLines(s []byte, ms []member) []byte {
	for i, m := range ms {
		if i > 0 {
			s = append(s, '\n')
		}
		s = append(s, wtfDisplay(m.key, &r.ar)...)
		s = append(s, ": "...)
		s = r.appendJSString(s, m.val)
	}
	return s
}

// appendReqBody writes a request's body after a blank line, when it is
// truthy: an object as JSON.stringify(body, null, 2), anything else as
// a string would be; and takes it out of rm.
func (r *renderer) appendReqBody(s []byte, rm []member) []byte {
	b := get(rm, "body")
	if !truthy(b) {
		return s
	}
	s = append(s, "\n\n"...)
	if isObject(b) {
		s = r.stringify(s, b, 2, 0)
	} else {
		s = r.appendJSString(s, b)
	}
	del(rm, "body")
	return s
}

// addPrefixed sets each member of rm not yet taken out as prefix+key in ms.
func (r *renderer) addPrefixed(ms, rm []member, prefix string) []member {
	for _, m := range rm {
		if !m.del {
			ms = set(ms, r.ar.concat([]byte(prefix), m.key), m.val)
		}
	}
	return ms
}

func (r *renderer) clientReq(ms []member, v []byte) []member {
	rm := r.objectKeys(v, r.getMembers())
	h := get(rm, "headers")
	del(rm, "headers")
	s := r.appendRequestLine(r.bReq[:0], rm)
	if truthy(h) {
		s = append(s, '\n')
		s = r.appendHeaderLines(s, h)
	}
	del(rm, "method")
	del(rm, "url")
	del(rm, "httpVersion")
	s = r.appendReqBody(s, rm)
	ms = r.addPrefixed(ms, rm, "client_req.")
	r.bReq = s
	r.addDetail(s)
	r.putMembers(rm)
	return ms
}

// res is bunyan's _res(), for res and client_res alike.
func (r *renderer) res(ms []member, v []byte) []member {
	rm := r.objectKeys(v, r.getMembers())
	var headers []byte
	hdrType := func(x []byte) bool { return truthy(x) && (kindOf(x) == '"' || isObject(x)) }
	if x := get(rm, "header"); hdrType(x) {
		headers = x
		del(rm, "header")
	} else if x := get(rm, "headers"); hdrType(x) {
		headers = x
		del(rm, "headers")
	}
	var hs []byte
	statusLine := false
	switch {
	case headers == nil:
	case kindOf(headers) == '"':
		hs = jsTrimRight(displayString(headers, &r.ar))
		statusLine = bytes.HasPrefix(hs, []byte("HTTP/"))
	default:
		r.bHdr = r.appendHeaderLines(r.bHdr[:0], headers)
		hs = r.bHdr
	}
	s := r.bReq[:0]
	if sc := get(rm, "statusCode"); !statusLine && sc != nil {
		s = append(s, "HTTP/1.1 "...)
		s = r.appendFormatS(s, sc)
		s = append(s, ' ')
		if t, ok := statusText[string(r.propertyKey(sc))]; ok {
			s = append(s, t...)
		} else {
			s = append(s, "undefined"...)
		}
		s = append(s, '\n')
	}
	del(rm, "statusCode")
	s = append(s, hs...)
	if b := get(rm, "body"); b != nil {
		switch kindOf(b) {
		case '{', '[', 'n':
			s = append(s, "\n\n"...)
			s = r.stringify(s, b, 2, 0)
		case '"':
			if len(b) > 2 {
				s = append(s, "\n\n"...)
				s = append(s, displayString(b, &r.ar)...)
			}
		}
		del(rm, "body")
	} else {
		s = jsTrimRight(s)
	}
	if t := get(rm, "trailer"); truthy(t) {
		s = append(s, '\n')
		s = r.appendJSString(s, t)
	}
	del(rm, "trailer")
	r.bReq = s
	if len(s) > 0 {
		r.addDetail(s)
	}
	ms = r.addPrefixed(ms, rm, "res.")
	r.putMembers(rm)
	return ms
}

// stringify writes JSON.stringify(v, null, indent) of the raw value,
// nested at depth levels.
func (r *renderer) stringify(b, raw []byte, indent, depth int) []byte {
	switch kindOf(raw) {
	case '"':
		return appendStringifiedString(b, raw, &r.ar)
	case '0':
		return appendNumber(b, raw)
	case '{':
		ms := objectMembers(raw, r.getMembers(), &r.ar)
		b = r.stringifyMembers(b, ms, indent, depth)
		r.putMembers(ms)
		return b
	case '[':
		elems := arrayElems(raw, nil)
		if len(elems) == 0 {
			return append(b, '[', ']')
		}
		b = append(b, '[')
		for i, e := range elems {
			if i > 0 {
				b = append(b, ',')
			}
			b = newline(b, indent, depth+1)
			b = r.stringify(b, e, indent, depth+1)
		}
		b = newline(b, indent, depth)
		return append(b, ']')
	}
	return append(b, raw...)
}

func newline(b []byte, indent, depth int) []byte {
	if indent <= 0 {
		return b
	}
	b = append(b, '\n')
	for i := 0; i < indent*depth; i++ {
		b = append(b, ' ')
	}
	return b
}

func (r *renderer) stringifyMembers(b []byte, ms []member, indent, depth int) []byte {
	n := 0
	for _, m := range ms {
		if m.del {
			continue
		}
		if n == 0 {
			b = append(b, '{')
		} else {
			b = append(b, ',')
		}
		n++
		b = newline(b, indent, depth+1)
		b = appendQuoted(b, m.key)
		b = append(b, ':')
		if indent > 0 {
			b = append(b, ' ')
		}
		b = r.stringify(b, m.val, indent, depth+1)
	}
	if n == 0 {
		return append(b, '{', '}')
	}
	b = newline(b, indent, depth)
	return append(b, '}')
}

var statusText = map[string]string{
	"100": "Continue", "101": "Switching Protocols", "102": "Processing", "103": "Early Hints",
	"200": "OK", "201": "Created", "202": "Accepted", "203": "Non-Authoritative Information",
	"204": "No Content", "205": "Reset Content", "206": "Partial Content", "207": "Multi-Status",
	"208": "Already Reported", "226": "IM Used", "300": "Multiple Choices", "301": "Moved Permanently",
	"302": "Found", "303": "See Other", "304": "Not Modified", "305": "Use Proxy",
	"307": "Temporary Redirect", "308": "Permanent Redirect", "400": "Bad Request",
	"401": "Unauthorized", "402": "Payment Required", "403": "Forbidden", "404": "Not Found",
	"405": "Method Not Allowed", "406": "Not Acceptable", "407": "Proxy Authentication Required",
	"408": "Request Timeout", "409": "Conflict", "410": "Gone", "411": "Length Required",
	"412": "Precondition Failed", "413": "Payload Too Large", "414": "URI Too Long",
	"415": "Unsupported Media Type", "416": "Range Not Satisfiable", "417": "Expectation Failed",
	"418": "I'm a Teapot", "421": "Misdirected Request", "422": "Unprocessable Entity",
	"423": "Locked", "424": "Failed Dependency", "425": "Too Early", "426": "Upgrade Required",
	"428": "Precondition Required", "429": "Too Many Requests",
	"431": "Request Header Fields Too Large", "451": "Unavailable For Legal Reasons",
	"500": "Internal Server Error", "501": "Not Implemented", "502": "Bad Gateway",
	"503": "Service Unavailable", "504": "Gateway Timeout", "505": "HTTP Version Not Supported",
	"506": "Variant Also Negotiates", "507": "Insufficient Storage", "508": "Loop Detected",
	"509": "Bandwidth Limit Exceeded", "510": "Not Extended", "511": "Network Authentication Required",
}
