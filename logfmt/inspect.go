package logfmt

import (
	"bytes"
	"math"
	"unicode/utf8"
)

// The "inspect" mode is node's util.inspect(rec, false, Infinity, true)
// (node 20) for the values JSON can hold: colours on, identifier keys bare
// and others quoted, strings in node's quotes and escapes (split after
// newlines when long, cut after 10,000 characters), an object or array on
// one line when it fits in 80 columns and holds fewer than three nested
// levels, arrays of more than six entries grouped into aligned columns,
// arrays cut after 100 entries.

type inspectCtx struct {
	lvl      int // indentationLvl
	curDepth int
	maxDepth int // deeper objects print as [Object]/[Array]; -1: no limit
	noColor  bool
}

func (r *renderer) inspectMembers(b []byte, ms []member, depth int) []byte {
	c := &inspectCtx{maxDepth: -1}
	return r.inspectObject(b, c, ms, depth)
}

// appendInspect writes util.inspect of a value without colours and with
// depth 0, as util.format's %s does for plain objects and arrays.
func (r *renderer) appendInspect(b, raw []byte, depth int, color bool) []byte {
	c := &inspectCtx{maxDepth: 0, noColor: !color}
	return r.inspectValue(b, c, raw, depth, color)
}

func (r *renderer) inspectObject(b []byte, c *inspectCtx, ms []member, depth int) []byte {
	live := 0
	for _, m := range ms {
		if !m.del {
			live++
		}
	}
	if live == 0 {
		return append(b, '{', '}')
	}
	c.curDepth = depth
	var out [][]byte
	for _, m := range ms {
		if m.del {
			continue
		}
		var e []byte
		if string(m.key) == "__proto__" {
			e = append(e, "['__proto__']"...)
		} else if isIdent(m.key) {
			e = append(e, m.key...)
		} else {
			e = inspStyle(e, inspQuote(nil, wtfDisplay(m.key, &r.ar)), "\x1b[32m", "\x1b[39m", !c.noColor)
		}
		e = append(e, ':', ' ')
		c.lvl += 2
		e = r.inspectValue(e, c, m.val, depth+1, !c.noColor)
		c.lvl -= 2
		out = append(out, e)
	}
	if len(out) == 0 {
		return append(b, '{', '}')
	}
	return reduceToSingle(b, c, out, '{', '}', depth)
}

func reduceToSingle(b []byte, c *inspectCtx, out [][]byte, open, close byte, depth int) []byte {
	if c.curDepth-depth < 3 {
		start := len(out) + c.lvl + 1 + 10
		total := len(out) + start
		fits := total+len(out) <= 80
		if fits {
			for _, e := range out {
				total += utf16Len(stripColors(e))
				if total > 80 {
					fits = false
					break
				}
			}
		}
		if fits {
			joined := bytes.Join(out, []byte(", "))
			if bytes.IndexByte(joined, '\n') < 0 {
				b = append(b, open, ' ')
				b = append(b, joined...)
				return append(b, ' ', close)
			}
		}
	}
	return multiLine(b, c, out, open, close)
}

// multiLine is reduceToSingleString's fallback: one entry per line.
func multiLine(b []byte, c *inspectCtx, out [][]byte, open, close byte) []byte {
	ind := make([]byte, 0, c.lvl+1)
	ind = append(ind, '\n')
	for i := 0; i < c.lvl; i++ {
		ind = append(ind, ' ')
	}
	b = append(b, open)
	b = append(b, ind...)
	b = append(b, ' ', ' ')
	for i, e := range out {
		if i > 0 {
			b = append(b, ',')
			b = append(b, ind...)
			b = append(b, ' ', ' ')
		}
		b = append(b, e...)
	}
	b = append(b, ind...)
	return append(b, close)
}

func (r *renderer) inspectValue(b []byte, c *inspectCtx, raw []byte, depth int, color bool) []byte {
	if k := kindOf(raw); (k == '{' || k == '[') && c.maxDepth >= 0 && depth > c.maxDepth && len(raw) > 2 {
		name := "[Object]"
		if k == '[' {
			name = "[Array]"
		}
		return inspStyle(b, []byte(name), "\x1b[36m", "\x1b[39m", color)
	}
	switch kindOf(raw) {
	case '{':
		ms := objectMembers(raw, r.getMembers(), &r.ar)
		b = r.inspectObject(b, c, ms, depth)
		r.putMembers(ms)
		return b
	case '[':
		elems := arrayElems(raw, nil)
		if len(elems) == 0 {
			return append(b, '[', ']')
		}
		c.curDepth = depth
		var out [][]byte
		shown := elems
		if len(shown) > 100 {
			shown = shown[:100]
		}
		allNum := true
		for _, e := range shown {
			c.lvl += 2
			out = append(out, r.inspectValue(nil, c, e, depth+1, color))
			c.lvl -= 2
			if kindOf(e) != '0' {
				allNum = false
			}
		}
		more := len(elems) - len(shown)
		if more > 0 {
			m := "... " + itoa10(more) + " more item"
			if more > 1 {
				m += "s"
			}
			out = append(out, []byte(m))
		}
		entries := len(out)
		if entries > 6 {
			out = groupArray(c, out, more > 0, allNum)
		}
		if len(out) != entries {
			return multiLine(b, c, out, '[', ']')
		}
		return reduceToSingle(b, c, out, '[', ']', depth)
	case '"':
		s := r.ar.commit(decodeJSONString(r.ar.alloc(len(raw)), raw, true))
		n := utf16Len(s)
		var trailer string
		if n > 10000 {
			s = cutUTF16(s, 10000)
			trailer = "... " + itoa10(n-10000) + " more character"
			if n-10000 > 1 {
				trailer += "s"
			}
			n = 10000
		}
		if n > 16 && n > 80-c.lvl-4 {
			lines := splitAfterNewline(s)
			if len(lines) > 1 {
				for i, l := range lines {
					if i > 0 {
						b = append(b, " +\n"...)
						for k := 0; k < c.lvl+2; k++ {
							b = append(b, ' ')
						}
					}
					b = inspStyle(b, inspQuote(nil, l), "\x1b[32m", "\x1b[39m", color)
				}
				return append(b, trailer...)
			}
		}
		b = inspStyle(b, inspQuote(nil, s), "\x1b[32m", "\x1b[39m", color)
		return append(b, trailer...)
	case '0':
		f := numberValue(raw)
		var nb []byte
		if f == 0 && math.Signbit(f) {
			nb = []byte("-0")
		} else {
			nb = appendJSNumber(nil, f)
		}
		return inspStyle(b, nb, "\x1b[33m", "\x1b[39m", color)
	case 't', 'f':
		return inspStyle(b, raw, "\x1b[33m", "\x1b[39m", color)
	case 'n':
		return inspStyle(b, raw, "\x1b[1m", "\x1b[22m", color)
	}
	return append(b, raw...)
}

func splitAfterNewline(s []byte) [][]byte {
	var out [][]byte
	for len(s) > 0 {
		i := bytes.IndexByte(s, '\n')
		if i < 0 || i == len(s)-1 {
			out = append(out, s)
			break
		}
		out = append(out, s[:i+1])
		s = s[i+1:]
	}
	return out
}

func inspStyle(b, s []byte, on, off string, color bool) []byte {
	if !color {
		return append(b, s...)
	}
	b = append(b, on...)
	b = append(b, s...)
	return append(b, off...)
}

func isIdent(k []byte) bool {
	if len(k) == 0 {
		return false
	}
	for i, c := range k {
		if c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (i > 0 && c >= '0' && c <= '9') {
			continue
		}
		return false
	}
	return true
}

func stripColors(s []byte) []byte {
	if bytes.IndexByte(s, 0x1b) < 0 {
		return s
	}
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == 0x1b && i+1 < len(s) && s[i+1] == '[' {
			j := i + 2
			for j < len(s) && s[j] != 'm' {
				j++
			}
			i = j
			continue
		}
		out = append(out, s[i])
	}
	return out
}

// inspQuote is node's strEscape: single quotes unless the string holds one
// (then double quotes, or backticks), with \n, \t, \xNN escapes.
func inspQuote(b, s []byte) []byte {
	q := byte('\'')
	if bytes.IndexByte(s, '\'') >= 0 {
		if bytes.IndexByte(s, '"') < 0 {
			q = '"'
		} else if bytes.IndexByte(s, '`') < 0 && !bytes.Contains(s, []byte("${")) {
			q = '`'
		}
	}
	b = append(b, q)
	for i := 0; i < len(s); {
		if s[i] == 0xed && i+2 < len(s) && s[i+1] >= 0xa0 {
			u := int(s[i]&0x0f)<<12 | int(s[i+1]&0x3f)<<6 | int(s[i+2]&0x3f)
			b = append(b, '\\', 'u', hexDigits[u>>12], hexDigits[u>>8&15], hexDigits[u>>4&15], hexDigits[u&15])
			i += 3
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		switch {
		case r == rune(q) && q == '\'':
			b = append(b, '\\', '\'')
		case r == '\\':
			b = append(b, '\\', '\\')
		case r == '\b':
			b = append(b, '\\', 'b')
		case r == '\t':
			b = append(b, '\\', 't')
		case r == '\n':
			b = append(b, '\\', 'n')
		case r == '\f':
			b = append(b, '\\', 'f')
		case r == '\r':
			b = append(b, '\\', 'r')
		case r < 0x20 || (r >= 0x7f && r < 0xa0):
			const hx = "0123456789ABCDEF"
			b = append(b, '\\', 'x', hx[r>>4], hx[r&15])
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, q)
}

func itoa10(n int) string { return string(appendInt(nil, n)) }

// groupArray is node's groupArrayElements: entries of an array longer than
// six laid out in aligned columns (numbers right-aligned).
func groupArray(c *inspectCtx, out [][]byte, hasMore, allNum bool) [][]byte {
	total, maxLen := 0, 0
	n := len(out)
	if hasMore {
		n--
	}
	dataLen := make([]int, n)
	for i := 0; i < n; i++ {
		l := utf16Len(stripColors(out[i]))
		dataLen[i] = l
		total += l + 2
		if l > maxLen {
			maxLen = l
		}
	}
	actualMax := maxLen + 2
	if !(actualMax*3+c.lvl < 80 && (float64(total)/float64(actualMax) > 5 || maxLen <= 6)) {
		return out
	}
	averageBias := math.Sqrt(float64(actualMax) - float64(total)/float64(len(out)))
	biasedMax := math.Max(float64(actualMax)-3-averageBias, 1)
	cols := int(math.Min(math.Min(
		math.Round(math.Sqrt(2.5*biasedMax*float64(n))/biasedMax),
		math.Floor(float64(80-c.lvl)/float64(actualMax))),
		math.Min(3*4, 15)))
	if cols <= 1 {
		return out
	}
	var maxLine []int
	for i := 0; i < cols; i++ {
		w := 0
		for j := i; j < len(out); j += cols {
			if j < n && dataLen[j] > w {
				w = dataLen[j]
			}
		}
		maxLine = append(maxLine, w+2)
	}
	pad := func(b []byte, s []byte, width int, start bool) []byte {
		if start {
			for k := utf16Len(s); k < width; k++ {
				b = append(b, ' ')
			}
			return append(b, s...)
		}
		b = append(b, s...)
		for k := utf16Len(s); k < width; k++ {
			b = append(b, ' ')
		}
		return b
	}
	var rows [][]byte
	for i := 0; i < n; i += cols {
		max := i + cols
		if max > n {
			max = n
		}
		var row []byte
		j := i
		for ; j < max-1; j++ {
			extra := len(out[j]) - len(stripColors(out[j]))
			cell := append(append([]byte(nil), out[j]...), ',', ' ')
			row = pad(row, cell, maxLine[j-i]+extra, allNum)
		}
		if allNum {
			extra := len(out[j]) - len(stripColors(out[j]))
			row = pad(row, out[j], maxLine[j-i]+extra-2, true)
		} else {
			row = append(row, out[j]...)
		}
		rows = append(rows, row)
	}
	if hasMore {
		rows = append(rows, out[n])
	}
	return rows
}

// cutUTF16 returns the prefix of s holding n UTF-16 code units.
func cutUTF16(s []byte, n int) []byte {
	u := 0
	for i := 0; i < len(s); {
		_, size := utf8.DecodeRune(s[i:])
		w := 1
		if size == 4 {
			w = 2
		}
		if u+w > n {
			return s[:i]
		}
		u += w
		i += size
	}
	return s
}
