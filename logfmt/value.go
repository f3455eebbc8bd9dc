package logfmt

import (
	"math"
)

// Helpers giving raw JSON values the JavaScript meaning bunyan's code
// applies to them: truthiness, String(), Number(), typeof.

func kindOf(raw []byte) byte {
	if len(raw) == 0 {
		return 0
	}
	switch c := raw[0]; c {
	case '{', '[', '"', 't', 'f', 'n':
		return c
	}
	return '0' // number
}

// truthy is JavaScript's ToBoolean. A missing value (nil) is undefined.
func truthy(raw []byte) bool {
	switch kindOf(raw) {
	case 0, 'n', 'f':
		return false
	case '"':
		return len(raw) > 2
	case '0':
		f := numberValue(raw)
		return f != 0 && !math.IsNaN(f)
	}
	return true
}

// isObject is `v && typeof v === 'object'`: objects and arrays.
func isObject(raw []byte) bool {
	k := kindOf(raw)
	return k == '{' || k == '['
}

// appendJSString writes String(v). Missing is "undefined".
func (r *renderer) appendJSString(b, raw []byte) []byte {
	switch kindOf(raw) {
	case 0:
		return append(b, "undefined"...)
	case '"':
		return append(b, displayString(raw, &r.ar)...)
	case '0':
		if canonicalInt(raw) {
			return append(b, raw...)
		}
		return appendJSNumber(b, numberValue(raw))
	case '{':
		return append(b, "[object Object]"...)
	case '[':
		elems := arrayElems(raw, nil)
		for i, e := range elems {
			if i > 0 {
				b = append(b, ',')
			}
			if k := kindOf(e); k != 'n' {
				b = r.appendJSString(b, e)
			}
		}
		return b
	}
	return append(b, raw...) // true false null
}

// appendFormatS writes util.format's %s of v (objects through
// util.inspect at depth 0).
func (r *renderer) appendFormatS(b, raw []byte) []byte {
	if kindOf(raw) == '0' {
		f := numberValue(raw)
		if f == 0 && math.Signbit(f) {
			return append(b, "-0"...)
		}
	}
	if kindOf(raw) == '{' || kindOf(raw) == '[' {
		return r.appendInspect(b, raw, 0, false)
	}
	return r.appendJSString(b, raw)
}

// appendFormatD writes util.format's %d of v.
func (r *renderer) appendFormatD(b, raw []byte) []byte {
	f := r.toNumber(raw)
	if f == 0 && math.Signbit(f) {
		return append(b, "-0"...)
	}
	return appendJSNumber(b, f)
}

// toNumber is JavaScript's ToNumber (objects through their String form).
func (r *renderer) toNumber(raw []byte) float64 {
	switch kindOf(raw) {
	case 0:
		return math.NaN()
	case 'n', 'f':
		return 0
	case 't':
		return 1
	case '0':
		return numberValue(raw)
	case '"':
		return jsStringToNumber(displayString(raw, &r.ar))
	case '{':
		return math.NaN()
	}
	s := r.appendJSString(r.tmp[:0], raw)
	r.tmp = s[:0]
	return jsStringToNumber(s)
}

// propertyKey is the key a value names when used as obj[v].
func (r *renderer) propertyKey(raw []byte) []byte {
	switch kindOf(raw) {
	case '"':
		return displayString(raw, &r.ar)
	case '0':
		if canonicalInt(raw) {
			return raw
		}
	}
	var tmp [40]byte
	s := r.appendJSString(tmp[:0], raw)
	return r.ar.concat(s, nil)
}

// objectKeys appends Object.keys(v) with the values: members of objects,
// indices of arrays and strings; nothing for other values.
func (r *renderer) objectKeys(raw []byte, dst []member) []member {
	switch kindOf(raw) {
	case '{':
		return objectMembers(raw, dst, &r.ar)
	case '[':
		for i, e := range arrayElems(raw, nil) {
			dst = append(dst, member{key: r.intKey(i), val: e})
		}
	case '"':
		s := displayString(raw, &r.ar)
		i := 0
		for _, ch := range string(s) {
			var tmp [16]byte
			q := appendQuoted(tmp[:0], []byte(string(ch)))
			dst = append(dst, member{key: r.intKey(i), val: r.ar.concat(q, nil)})
			i++
			if ch >= 0x10000 {
				i++
			}
		}
	}
	return dst
}

func (r *renderer) intKey(i int) []byte {
	var tmp [12]byte
	return r.ar.concat(appendInt(tmp[:0], i), nil)
}

func appendInt(b []byte, i int) []byte {
	return appendPad(b, i, 1)
}

// canonicalInt reports a JSON integer that JavaScript prints unchanged:
// up to 15 digits, no leading zero, not -0.
func canonicalInt(raw []byte) bool {
	if len(raw) == 0 || len(raw) > 15 {
		return false
	}
	d := raw
	if d[0] == '-' {
		d = d[1:]
		if len(d) == 0 || d[0] == '0' {
			return false
		}
	}
	for _, c := range d {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(d) == 1 || d[0] != '0'
}
