package logfmt

import (
	"bytes"
	"encoding/binary"
	"math"
	"strconv"
	"unicode/utf8"
)

// The scanner never decodes a record into a map. A line is validated once
// (strict JSON, as JSON.parse), then objects are read as ordered member
// lists whose values are slices of the line. JavaScript's own property
// order is applied where bunyan's output shows it: integer-like keys first
// in numeric order, then the others in first-insertion order, a repeated
// key keeping its first position and its last value.

// MaxDepth is the deepest nesting a line may have to be read as JSON;
// deeper lines are treated as text (passed through).
const MaxDepth = 2000

func isWS(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipWS(b []byte, i int) int {
	for i < len(b) && b[i] <= ' ' && isWS(b[i]) {
		i++
	}
	return i
}

// validJSON reports whether b is exactly one JSON value with optional
// surrounding white space, as JSON.parse accepts.
func validJSON(b []byte) bool {
	i := skipWS(b, 0)
	j := skipValue(b, i, 0)
	if j < 0 {
		return false
	}
	return skipWS(b, j) == len(b)
}

// skipValue returns the index after the JSON value starting at b[i], or -1.
func skipValue(b []byte, i, depth int) int {
	if i >= len(b) {
		return -1
	}
	switch c := b[i]; {
	case c == '{':
		if depth >= MaxDepth {
			return -1
		}
		i = skipWS(b, i+1)
		if i < len(b) && b[i] == '}' {
			return i + 1
		}
		for {
			if i >= len(b) || b[i] != '"' {
				return -1
			}
			i = skipString(b, i)
			if i < 0 {
				return -1
			}
			i = skipWS(b, i)
			if i >= len(b) || b[i] != ':' {
				return -1
			}
			i = skipValue(b, skipWS(b, i+1), depth+1)
			if i < 0 {
				return -1
			}
			i = skipWS(b, i)
			if i >= len(b) {
				return -1
			}
			if b[i] == '}' {
				return i + 1
			}
			if b[i] != ',' {
				return -1
			}
			i = skipWS(b, i+1)
		}
	case c == '[':
		if depth >= MaxDepth {
			return -1
		}
		i = skipWS(b, i+1)
		if i < len(b) && b[i] == ']' {
			return i + 1
		}
		for {
			i = skipValue(b, i, depth+1)
			if i < 0 {
				return -1
			}
			i = skipWS(b, i)
			if i >= len(b) {
				return -1
			}
			if b[i] == ']' {
				return i + 1
			}
			if b[i] != ',' {
				return -1
			}
			i = skipWS(b, i+1)
		}
	case c == '"':
		return skipString(b, i)
	case c == 't':
		if bytes.HasPrefix(b[i:], []byte("true")) {
			return i + 4
		}
	case c == 'f':
		if bytes.HasPrefix(b[i:], []byte("false")) {
			return i + 5
		}
	case c == 'n':
		if bytes.HasPrefix(b[i:], []byte("null")) {
			return i + 4
		}
	case c == '-' || (c >= '0' && c <= '9'):
		return skipNumber(b, i)
	}
	return -1
}

// hasLess etc. are the SWAR tests for 8 bytes at a time.
const (
	lo7  = 0x0101010101010101
	hi7  = 0x8080808080808080
	quot = 0x2222222222222222
	bsl  = 0x5c5c5c5c5c5c5c5c
	ctl  = 0x2020202020202020
)

// special reports whether any byte of w is '"', '\\' or below 0x20.
func special(w uint64) bool {
	q := w ^ quot
	s := w ^ bsl
	return ((q-lo7)&^q|(s-lo7)&^s|(w-ctl)&^w)&hi7 != 0
}

// skipStringEsc is skipString that also reports whether the string holds
// an escape.
func skipStringEsc(b []byte, i int) (int, bool) {
	j := i + 1
	for j+8 <= len(b) && !special(binary.LittleEndian.Uint64(b[j:])) {
		j += 8
	}
	for j < len(b) {
		c := b[j]
		if c == '"' {
			return j + 1, false
		}
		if c == '\\' || c < 0x20 {
			break
		}
		j++
	}
	e := skipString(b, i)
	return e, e >= 0
}

func skipString(b []byte, i int) int {
	i++
	for i+8 <= len(b) && !special(binary.LittleEndian.Uint64(b[i:])) {
		i += 8
	}
	for i < len(b) {
		c := b[i]
		switch {
		case c == '"':
			return i + 1
		case c == '\\':
			i++
			if i >= len(b) {
				return -1
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				if i+4 >= len(b) {
					return -1
				}
				for k := 1; k <= 4; k++ {
					if unhex(b[i+k]) < 0 {
						return -1
					}
				}
				i += 5
			default:
				return -1
			}
		case c < 0x20:
			return -1
		default:
			i++
		}
	}
	return -1
}

func skipNumber(b []byte, i int) int {
	if b[i] == '-' {
		i++
	}
	if i >= len(b) {
		return -1
	}
	if b[i] == '0' {
		i++
	} else if b[i] >= '1' && b[i] <= '9' {
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	} else {
		return -1
	}
	if i < len(b) && b[i] == '.' {
		i++
		s := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == s {
			return -1
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		s := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == s {
			return -1
		}
	}
	return i
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// member is one property of an object: its decoded key (WTF-8) and the
// raw JSON of its value.
type member struct {
	key []byte
	val []byte
	del bool
}

// arena hands out byte slices for decoded keys and strings; a slice stays
// valid after later allocations.
type arena struct{ buf []byte }

func (a *arena) reset() { a.buf = a.buf[:0] }

// alloc returns a zero-length slice with room for n bytes.
func (a *arena) alloc(n int) []byte {
	if cap(a.buf)-len(a.buf) < n {
		c := 2 * cap(a.buf)
		if c < n+4096 {
			c = n + 4096
		}
		a.buf = make([]byte, 0, c)
	}
	s := a.buf[len(a.buf):len(a.buf)]
	return s[:0:n]
}

// commit records that s, filled from the last alloc with no other arena
// call in between, is used. If s outgrew its room it lives elsewhere.
func (a *arena) commit(s []byte) []byte {
	if len(s) > 0 && cap(a.buf)-len(a.buf) >= len(s) && &a.buf[:len(a.buf)+1][len(a.buf)] == &s[0] {
		a.buf = a.buf[:len(a.buf)+len(s)]
	}
	return s
}

func (a *arena) concat(x, y []byte) []byte {
	s := a.alloc(len(x) + len(y))
	s = append(s, x...)
	s = append(s, y...)
	return a.commit(s)
}

// objectMembers appends the members of the valid JSON object raw to dst in
// JavaScript property order.
func objectMembers(raw []byte, dst []member, ar *arena) []member {
	dst, _ = parseObject(raw, dst, ar, false)
	return dst
}

// parseObject is objectMembers; with check it also validates raw (one
// object and white space, as JSON.parse accepts) and reports whether it is.
func parseObject(raw []byte, dst []member, ar *arena, check bool) ([]member, bool) {
	base := len(dst)
	i := skipWS(raw, 1)
	if i < len(raw) && raw[i] == '}' {
		return dst, !check || skipWS(raw, i+1) == len(raw)
	}
	intKeys := false
	var bloom uint64
	closed := false
	for i < len(raw) {
		ks := i
		if check && (i >= len(raw) || raw[i] != '"') {
			return dst, false
		}
		ke, esc := skipStringEsc(raw, i)
		if ke < 0 {
			return dst, false
		}
		key := raw[ks+1 : ke-1]
		if esc {
			s := ar.alloc(len(key))
			s = decodeJSONString(s, raw[ks:ke], true)
			key = ar.commit(s)
		}
		i = skipWS(raw, ke)
		if check && (i >= len(raw) || raw[i] != ':') {
			return dst, false
		}
		i = skipWS(raw, i+1) // ':'
		vs := i
		if i < len(raw) && raw[i] == '"' {
			i = skipString(raw, i)
		} else {
			i = skipValue(raw, i, 1)
		}
		if i < 0 {
			return dst, false
		}
		val := raw[vs:i]
		if !intKeys && len(key) > 0 && key[0] <= '9' && isArrayIndex(key) {
			intKeys = true
		}
		dup := false
		var bit uint64
		if len(key) > 0 {
			bit = 1 << ((uint(len(key))*7 + uint(key[0]) + uint(key[len(key)-1])*3) & 63)
		} else {
			bit = 1
		}
		if bloom&bit != 0 {
			for j := base; j < len(dst); j++ {
				if string(dst[j].key) == string(key) {
					dst[j].val = val
					dup = true
					break
				}
			}
		}
		bloom |= bit
		if !dup {
			dst = append(dst, member{key: key, val: val})
		}
		i = skipWS(raw, i)
		if i >= len(raw) {
			return dst, false
		}
		if raw[i] == '}' {
			i++
			closed = true
			break
		}
		if check && raw[i] != ',' {
			return dst, false
		}
		i = skipWS(raw, i+1) // ','
	}
	if intKeys {
		sortIntKeys(dst[base:])
	}
	return dst, !check || (closed && skipWS(raw, i) == len(raw))
}

// arrayElems appends the raw elements of the valid JSON array raw to dst.
func arrayElems(raw []byte, dst [][]byte) [][]byte {
	i := skipWS(raw, 1)
	if i < len(raw) && raw[i] == ']' {
		return dst
	}
	for i < len(raw) {
		vs := i
		i = skipValue(raw, i, 0)
		dst = append(dst, raw[vs:i])
		i = skipWS(raw, i)
		if i >= len(raw) || raw[i] == ']' {
			break
		}
		i = skipWS(raw, i+1)
	}
	return dst
}

// isArrayIndex reports a canonical array index ("0", "17"; below 2^32-1),
// the keys JavaScript orders first.
func isArrayIndex(k []byte) bool {
	if len(k) == 0 || len(k) > 10 {
		return false
	}
	if k[0] == '0' {
		return len(k) == 1
	}
	var v uint64
	for _, c := range k {
		if c < '0' || c > '9' {
			return false
		}
		v = v*10 + uint64(c-'0')
	}
	return v < 1<<32-1
}

func indexValue(k []byte) uint64 {
	var v uint64
	for _, c := range k {
		v = v*10 + uint64(c-'0')
	}
	return v
}

// sortIntKeys moves array-index keys to the front in numeric order,
// keeping the others in place order (a stable partition and sort).
func sortIntKeys(ms []member) {
	var ints, rest []member
	for _, m := range ms {
		if isArrayIndex(m.key) {
			ints = append(ints, m)
		} else {
			rest = append(rest, m)
		}
	}
	for i := 1; i < len(ints); i++ {
		for j := i; j > 0 && indexValue(ints[j].key) < indexValue(ints[j-1].key); j-- {
			ints[j], ints[j-1] = ints[j-1], ints[j]
		}
	}
	n := copy(ms, ints)
	copy(ms[n:], rest)
}

// decodeJSONString appends the decoded contents of the JSON string raw
// (quotes included). With wtf, a lone surrogate escape is kept as its
// 3-byte WTF-8 form (so JSON.stringify can re-escape it); without, it
// becomes U+FFFD as when node writes such a string out.
func decodeJSONString(dst, raw []byte, wtf bool) []byte {
	s := raw[1 : len(raw)-1]
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' {
			j := i + 1
			for j < len(s) && s[j] != '\\' {
				j++
			}
			dst = append(dst, s[i:j]...)
			i = j
			continue
		}
		i++
		switch s[i] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			u := hex4(s[i+1:])
			i += 4
			if u >= 0xd800 && u < 0xdc00 && i+6 < len(s)+0 && s[i+1] == '\\' && s[i+2] == 'u' {
				if lo := hex4(s[i+3:]); lo >= 0xdc00 && lo < 0xe000 {
					r := 0x10000 + (rune(u)-0xd800)<<10 + (rune(lo) - 0xdc00)
					dst = utf8.AppendRune(dst, r)
					i += 7
					continue
				}
			}
			if u >= 0xd800 && u < 0xe000 {
				if wtf {
					dst = append(dst, 0xe0|byte(u>>12), 0x80|byte(u>>6)&0x3f, 0x80|byte(u)&0x3f)
				} else {
					dst = append(dst, "\uFFFD"...)
				}
			} else {
				dst = utf8.AppendRune(dst, rune(u))
			}
		default: // " \ /
			dst = append(dst, s[i])
		}
		i++
	}
	return dst
}

func hex4(b []byte) int {
	return unhex(b[0])<<12 | unhex(b[1])<<8 | unhex(b[2])<<4 | unhex(b[3])
}

// appendQuoted writes s (WTF-8) as JSON.stringify writes a string.
func appendQuoted(b, s []byte) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c != 0xed {
			i++
			continue
		}
		if c == 0xed && i+2 < len(s) && s[i+1] >= 0xa0 {
			b = append(b, s[start:i]...)
			u := int(c&0x0f)<<12 | int(s[i+1]&0x3f)<<6 | int(s[i+2]&0x3f)
			b = append(b, '\\', 'u', hexDigits[u>>12], hexDigits[u>>8&15], hexDigits[u>>4&15], hexDigits[u&15])
			i += 3
			start = i
			continue
		}
		if c == 0xed {
			i++
			continue
		}
		b = append(b, s[start:i]...)
		b = appendEscapedByte(b, c)
		i++
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendEscapedByte writes the JSON escape of c, a quote, a backslash or a
// control character, as JSON.stringify writes it.
func appendEscapedByte(b []byte, c byte) []byte {
	switch c {
	case '"':
		b = append(b, '\\', '"')
	case '\\':
		b = append(b, '\\', '\\')
	case '\n':
		b = append(b, '\\', 'n')
	case '\r':
		b = append(b, '\\', 'r')
	case '\t':
		b = append(b, '\\', 't')
	case '\b':
		b = append(b, '\\', 'b')
	case '\f':
		b = append(b, '\\', 'f')
	default:
		b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&15])
	}
	return b
}

// appendStringifiedString writes the raw JSON string as JSON.stringify
// would re-write its value.
func appendStringifiedString(b, raw []byte, ar *arena) []byte {
	if bytes.IndexByte(raw, '\\') < 0 {
		return append(b, raw...)
	}
	s := ar.alloc(len(raw))
	s = decodeJSONString(s, raw, true)
	ar.commit(s)
	return appendQuoted(b, s)
}

// displayString returns the string's contents as node would print them.
func displayString(raw []byte, ar *arena) []byte {
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return inner
	}
	s := ar.alloc(len(raw))
	s = decodeJSONString(s, raw, false)
	return ar.commit(s)
}

// wtfDisplay turns WTF-8 surrogates into U+FFFD.
func wtfDisplay(s []byte, ar *arena) []byte {
	if bytes.IndexByte(s, 0xed) < 0 {
		return s
	}
	out := ar.alloc(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == 0xed && i+2 < len(s) && s[i+1] >= 0xa0 {
			out = append(out, "\uFFFD"...)
			i += 2
			continue
		}
		out = append(out, s[i])
	}
	return ar.commit(out)
}

// numberValue parses a raw JSON number as JavaScript does.
func numberValue(raw []byte) float64 {
	if len(raw) < 16 {
		neg := false
		s := raw
		if s[0] == '-' {
			neg = true
			s = s[1:]
		}
		v := 0.0
		ok := true
		for _, c := range s {
			if c < '0' || c > '9' {
				ok = false
				break
			}
			v = v*10 + float64(c-'0')
		}
		if ok {
			if neg {
				v = -v
			}
			return v
		}
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil && !math.IsInf(f, 0) {
		return f
	}
	return f
}

// appendNumber writes a raw JSON number as JSON.stringify would.
func appendNumber(b, raw []byte) []byte {
	if len(raw) < 16 {
		canonical := true
		for k, c := range raw {
			if c < '0' || c > '9' {
				if !(k == 0 && c == '-' && len(raw) > 1 && raw[1] != '0') {
					canonical = false
					break
				}
			}
		}
		if canonical {
			return append(b, raw...)
		}
	}
	f := numberValue(raw)
	if math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	return appendJSNumber(b, f)
}
