package tracing

import (
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// jsonReader is a small pull parser over one JSON document, enough for the
// span formats: objects, arrays, strings, integers, booleans and null, with
// unknown values skipped. It never panics on bad input; errors carry the
// byte offset.
type jsonReader struct {
	b      []byte
	i      int
	depth  int
	intern map[string]string // short strings seen in this document
}

// strBytes reads a string value and returns its bytes: a slice of the input
// when it has no escapes (valid until the input changes), else a copy.
func (r *jsonReader) strBytes() ([]byte, error) {
	if r.peek() != '"' {
		return nil, r.errf("want a string")
	}
	start := r.i + 1
	for j := start; j < len(r.b); j++ {
		c := r.b[j]
		if c == '"' {
			r.i = j + 1
			return r.b[start:j], nil
		}
		if c == '\\' || c < 0x20 {
			break
		}
	}
	s, err := r.str()
	return []byte(s), err
}

// istr reads a string, sharing one copy of each short string within the
// document: service names, tag keys and common values repeat in every span.
func (r *jsonReader) istr() (string, error) {
	b, err := r.strBytes()
	if err != nil {
		return "", err
	}
	if len(b) > 64 {
		return string(b), nil
	}
	if r.intern == nil {
		r.intern = make(map[string]string, 64)
	}
	if s, ok := r.intern[string(b)]; ok {
		return s, nil
	}
	s := string(b)
	if len(r.intern) < 4096 {
		r.intern[s] = s
	}
	return s, nil
}

const maxJSONDepth = 64

func (r *jsonReader) errf(format string, a ...any) error {
	return invalidf("json at byte %d: %s", r.i, fmt.Sprintf(format, a...))
}

func (r *jsonReader) ws() {
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

// peek returns the next non-space byte, or 0 at the end.
func (r *jsonReader) peek() byte {
	r.ws()
	if r.i >= len(r.b) {
		return 0
	}
	return r.b[r.i]
}

func (r *jsonReader) expect(c byte) error {
	if r.peek() != c {
		if r.i >= len(r.b) {
			return r.errf("unexpected end, want %q", c)
		}
		return r.errf("want %q, got %q", c, r.b[r.i])
	}
	r.i++
	return nil
}

// null consumes a literal null if one is next.
func (r *jsonReader) null() bool {
	if r.peek() == 'n' && r.i+4 <= len(r.b) && string(r.b[r.i:r.i+4]) == "null" {
		r.i += 4
		return true
	}
	return false
}

// open consumes the opening byte of an object or array and enters it;
// empty reports that close followed at once (and has been consumed).
func (r *jsonReader) open(open, close byte) (empty bool, err error) {
	if err := r.expect(open); err != nil {
		return false, err
	}
	r.depth++
	if r.depth > maxJSONDepth {
		return false, r.errf("nested too deeply")
	}
	if r.peek() == close {
		r.i++
		r.depth--
		return true, nil
	}
	return false, nil
}

// object calls f for each member key; f must consume the value.
func (r *jsonReader) object(f func(key string) error) error {
	if empty, err := r.open('{', '}'); empty || err != nil {
		return err
	}
	for {
		k, err := r.istr()
		if err != nil {
			return err
		}
		if err := r.expect(':'); err != nil {
			return err
		}
		if err := f(k); err != nil {
			return err
		}
		switch r.peek() {
		case ',':
			r.i++
		case '}':
			r.i++
			r.depth--
			return nil
		default:
			return r.errf("want ',' or '}' in object")
		}
	}
}

// array calls f for each element; f must consume it.
func (r *jsonReader) array(f func() error) error {
	if empty, err := r.open('[', ']'); empty || err != nil {
		return err
	}
	for {
		if err := f(); err != nil {
			return err
		}
		switch r.peek() {
		case ',':
			r.i++
		case ']':
			r.i++
			r.depth--
			return nil
		default:
			return r.errf("want ',' or ']' in array")
		}
	}
}

// str reads a string value.
func (r *jsonReader) str() (string, error) {
	if r.peek() != '"' {
		return "", r.errf("want a string")
	}
	r.i++
	start := r.i
	// Fast path: no escapes.
	for r.i < len(r.b) {
		c := r.b[r.i]
		if c == '"' {
			s := string(r.b[start:r.i])
			r.i++
			return s, nil
		}
		if c == '\\' || c < 0x20 {
			break
		}
		r.i++
	}
	buf := append([]byte(nil), r.b[start:r.i]...)
	for r.i < len(r.b) {
		c := r.b[r.i]
		switch {
		case c == '"':
			r.i++
			return string(buf), nil
		case c < 0x20:
			return "", r.errf("control character in string")
		case c == '\\':
			if r.i+1 >= len(r.b) {
				return "", r.errf("unterminated escape")
			}
			e := r.b[r.i+1]
			r.i += 2
			switch e {
			case '"', '\\', '/':
				buf = append(buf, e)
			case 'b':
				buf = append(buf, '\b')
			case 'f':
				buf = append(buf, '\f')
			case 'n':
				buf = append(buf, '\n')
			case 'r':
				buf = append(buf, '\r')
			case 't':
				buf = append(buf, '\t')
			case 'u':
				ru, err := r.hex4()
				if err != nil {
					return "", err
				}
				if utf16.IsSurrogate(ru) {
					if r.i+6 <= len(r.b) && r.b[r.i] == '\\' && r.b[r.i+1] == 'u' {
						r.i += 2
						ru2, err := r.hex4()
						if err != nil {
							return "", err
						}
						ru = utf16.DecodeRune(ru, ru2)
					} else {
						ru = utf8.RuneError
					}
				}
				buf = utf8.AppendRune(buf, ru)
			default:
				return "", r.errf("bad escape \\%c", e)
			}
		default:
			buf = append(buf, c)
			r.i++
		}
	}
	return "", r.errf("unterminated string")
}

func (r *jsonReader) hex4() (rune, error) {
	if r.i+4 > len(r.b) {
		return 0, r.errf("short \\u escape")
	}
	v, err := strconv.ParseUint(string(r.b[r.i:r.i+4]), 16, 32)
	if err != nil {
		return 0, r.errf("bad \\u escape")
	}
	r.i += 4
	return rune(v), nil
}

// numberText returns the literal text of a number.
func (r *jsonReader) numberText() (string, error) {
	r.ws()
	start := r.i
	for r.i < len(r.b) {
		c := r.b[r.i]
		if (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E' {
			r.i++
			continue
		}
		break
	}
	if start == r.i {
		return "", r.errf("want a number")
	}
	return string(r.b[start:r.i]), nil
}

// int64 reads an integer (a fractional or exponent form is truncated, as
// JavaScript tracers sometimes send 1.5e15).
func (r *jsonReader) int64() (int64, error) {
	r.ws()
	// Fast path for plain integers.
	start := r.i
	neg := false
	if r.i < len(r.b) && r.b[r.i] == '-' {
		neg = true
		r.i++
	}
	var v int64
	digits := 0
	for r.i < len(r.b) && r.b[r.i] >= '0' && r.b[r.i] <= '9' && digits < 18 {
		v = v*10 + int64(r.b[r.i]-'0')
		r.i++
		digits++
	}
	if digits > 0 && (r.i >= len(r.b) || !isNumByte(r.b[r.i])) {
		if neg {
			v = -v
		}
		return v, nil
	}
	r.i = start
	t, err := r.numberText()
	if err != nil {
		return 0, err
	}
	if n, err := strconv.ParseInt(t, 10, 64); err == nil {
		return n, nil
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f > 9.2e18 || f < -9.2e18 {
		return 0, invalidf("json: bad integer %q", clip(t))
	}
	return int64(f), nil
}

func isNumByte(c byte) bool {
	return (c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-'
}

func (r *jsonReader) boolean() (bool, error) {
	r.ws()
	if r.i+4 <= len(r.b) && string(r.b[r.i:r.i+4]) == "true" {
		r.i += 4
		return true, nil
	}
	if r.i+5 <= len(r.b) && string(r.b[r.i:r.i+5]) == "false" {
		r.i += 5
		return false, nil
	}
	return false, r.errf("want true or false")
}

// scalarString reads a string, number or boolean as text (tag values).
func (r *jsonReader) scalarString() (string, error) {
	switch c := r.peek(); {
	case c == '"':
		return r.str()
	case c == 't' || c == 'f':
		b, err := r.boolean()
		return strconv.FormatBool(b), err
	case c == '-' || (c >= '0' && c <= '9'):
		return r.numberText()
	}
	return "", r.errf("want a string value")
}

// skip consumes any one value.
func (r *jsonReader) skip() error {
	switch c := r.peek(); {
	case c == '{':
		return r.object(func(string) error { return r.skip() })
	case c == '[':
		return r.array(r.skip)
	case c == '"':
		_, err := r.str()
		return err
	case c == 't' || c == 'f':
		_, err := r.boolean()
		return err
	case c == 'n':
		if r.null() {
			return nil
		}
	case c == '-' || (c >= '0' && c <= '9'):
		_, err := r.numberText()
		return err
	}
	return r.errf("unexpected input")
}

// end checks that only whitespace remains.
func (r *jsonReader) end() error {
	if r.peek() != 0 {
		return r.errf("trailing data after the document")
	}
	return nil
}

// appendJSONString writes s quoted and escaped as Zipkin's JSON writer does:
// quote, backslash and control characters escaped, U+2028/U+2029 too, and
// nothing else (no HTML escaping).
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < 0x80 {
			i++
			continue
		}
		if c < 0x80 {
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		ru, size := utf8.DecodeRuneInString(s[i:])
		if ru == '\u2028' || ru == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[ru&0xf])
			i += size
			start = i
			continue
		}
		if ru == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, "\ufffd"...)
			i++
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
