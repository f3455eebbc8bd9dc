package logfmt

// Conditions (bunyan's -c) are compiled elsewhere (package jscond, which
// brings an expression engine) so that programs using only the Handler do
// not link it. A Condition sees the record through Record.

// Condition decides whether a record is shown.
type Condition interface {
	// NewMatcher returns a match function for one goroutine's use.
	NewMatcher() func(*Record) bool
	String() string
}

// Null is how Record presents a JSON null (nil means absent: undefined).
var Null = NullValue{}

// NullValue is the type of Null.
type NullValue struct{}

// Record is a record being filtered. Values are decoded on demand:
// strings, float64, bool, Null, []any and map[string]any.
type Record struct {
	r  *renderer
	ms []member
}

// Field returns the top-level field name, decoded, or nil, false.
func (rec *Record) Field(name string) (any, bool) {
	v := get(rec.ms, name)
	if v == nil {
		return nil, false
	}
	return rec.r.toGo(v), true
}

// All returns every top-level field, decoded.
func (rec *Record) All() map[string]any {
	out := make(map[string]any, len(rec.ms))
	for _, m := range rec.ms {
		if !m.del {
			out[string(wtfDisplay(m.key, &rec.r.ar))] = rec.r.toGo(m.val)
		}
	}
	return out
}

// toGo converts a raw JSON value for a condition.
func (r *renderer) toGo(raw []byte) any {
	switch kindOf(raw) {
	case '"':
		return string(displayString(raw, &r.ar))
	case '0':
		return numberValue(raw)
	case 't':
		return true
	case 'f':
		return false
	case 'n':
		return Null
	case '[':
		elems := arrayElems(raw, nil)
		out := make([]any, len(elems))
		for i, e := range elems {
			out[i] = r.toGo(e)
		}
		return out
	case '{':
		ms := objectMembers(raw, r.getMembers(), &r.ar)
		out := make(map[string]any, len(ms))
		for _, m := range ms {
			out[string(wtfDisplay(m.key, &r.ar))] = r.toGo(m.val)
		}
		r.putMembers(ms)
		return out
	}
	return nil
}

// match runs the i-th condition with this renderer's matcher.
func (r *renderer) match(i int, ms []member) bool {
	for len(r.matchers) <= i {
		r.matchers = append(r.matchers, r.o.Conds[len(r.matchers)].NewMatcher())
	}
	rec := Record{r: r, ms: ms}
	return r.matchers[i](&rec)
}

// Exported helpers for condition packages: JavaScript's semantics.

// JSNumberString is Number.prototype.toString.
func JSNumberString(f float64) string { return string(appendJSNumber(nil, f)) }

// JSStringToNumber is ToNumber of a string.
func JSStringToNumber(s string) float64 { return jsStringToNumber([]byte(s)) }

// JSTrim is String.prototype.trim.
func JSTrim(s string) string { return string(jsTrim([]byte(s))) }

// UTF16Len is a string's JavaScript length.
func UTF16Len(s string) int { return utf16Len([]byte(s)) }

// IsArrayIndex reports a canonical array index key.
func IsArrayIndex(k string) bool { return isArrayIndex([]byte(k)) }
