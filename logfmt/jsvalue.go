package logfmt

import (
	"math"
	"strconv"
	"unicode/utf8"
)

// This file holds the JavaScript value semantics bunyan's output depends
// on: Number's toString, ToNumber of strings, JSON.stringify's string
// escaping, string length in UTF-16 code units, and the WHATWG UTF-8
// decoder node applies to its input.

// appendJSNumber writes f as JavaScript's Number.prototype.toString does
// (shortest round-trip digits; exponent form below 1e-6 and from 1e21).
func appendJSNumber(b []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, "NaN"...)
	case math.IsInf(f, 1):
		return append(b, "Infinity"...)
	case math.IsInf(f, -1):
		return append(b, "-Infinity"...)
	case f == 0:
		return append(b, '0')
	}
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return strconv.AppendInt(b, int64(f), 10)
	}
	var tmp [32]byte
	e := strconv.AppendFloat(tmp[:0], f, 'e', -1, 64)
	neg := false
	if e[0] == '-' {
		neg = true
		e = e[1:]
	}
	// e is d[.ddd]e±XX
	var digits [24]byte
	k := 0
	i := 0
	for ; i < len(e) && e[i] != 'e'; i++ {
		if e[i] != '.' {
			digits[k] = e[i]
			k++
		}
	}
	exp := 0
	esign := 1
	i++
	if e[i] == '-' {
		esign = -1
	}
	i++
	for ; i < len(e); i++ {
		exp = exp*10 + int(e[i]-'0')
	}
	n := esign*exp + 1
	if neg {
		b = append(b, '-')
	}
	d := digits[:k]
	switch {
	case k <= n && n <= 21:
		b = append(b, d...)
		for j := 0; j < n-k; j++ {
			b = append(b, '0')
		}
	case 0 < n && n <= 21:
		b = append(b, d[:n]...)
		b = append(b, '.')
		b = append(b, d[n:]...)
	case -6 < n && n <= 0:
		b = append(b, '0', '.')
		for j := 0; j < -n; j++ {
			b = append(b, '0')
		}
		b = append(b, d...)
	default:
		b = append(b, d[0])
		if k > 1 {
			b = append(b, '.')
			b = append(b, d[1:]...)
		}
		b = append(b, 'e')
		if n-1 >= 0 {
			b = append(b, '+')
		} else {
			b = append(b, '-')
		}
		x := n - 1
		if x < 0 {
			x = -x
		}
		b = strconv.AppendInt(b, int64(x), 10)
	}
	return b
}

// isJSWhite reports JavaScript's WhiteSpace and LineTerminator code
// points, which String.prototype.trim and Number() strip.
func isJSWhite(r rune) bool {
	switch r {
	case '\t', '\n', '\v', '\f', '\r', ' ', 0xa0, 0x1680, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000, 0xfeff:
		return true
	}
	return r >= 0x2000 && r <= 0x200a
}

// jsTrimRight is String.prototype.trimRight.
func jsTrimRight(s []byte) []byte {
	for len(s) > 0 {
		r, size := utf8.DecodeLastRune(s)
		if !isJSWhite(r) {
			break
		}
		s = s[:len(s)-size]
	}
	return s
}

func jsTrim(s []byte) []byte {
	s = jsTrimRight(s)
	for len(s) > 0 {
		r, size := utf8.DecodeRune(s)
		if !isJSWhite(r) {
			break
		}
		s = s[size:]
	}
	return s
}

// jsStringToNumber is ToNumber applied to a string: surrounding white
// space ignored, "" is 0, 0x/0o/0b integers, Infinity, and decimal
// literals; anything else NaN.
func jsStringToNumber(s []byte) float64 {
	s = jsTrim(s)
	if len(s) == 0 {
		return 0
	}
	if len(s) > 2 && s[0] == '0' {
		base := 0
		switch s[1] {
		case 'x', 'X':
			base = 16
		case 'o', 'O':
			base = 8
		case 'b', 'B':
			base = 2
		}
		if base != 0 {
			v := 0.0
			for _, c := range s[2:] {
				d := -1
				switch {
				case c >= '0' && c <= '9':
					d = int(c - '0')
				case c >= 'a' && c <= 'f':
					d = int(c-'a') + 10
				case c >= 'A' && c <= 'F':
					d = int(c-'A') + 10
				}
				if d < 0 || d >= base {
					return math.NaN()
				}
				v = v*float64(base) + float64(d)
			}
			return v
		}
	}
	t := s
	neg := false
	if t[0] == '+' || t[0] == '-' {
		neg = t[0] == '-'
		t = t[1:]
	}
	if string(t) == "Infinity" {
		if neg {
			return math.Inf(-1)
		}
		return math.Inf(1)
	}
	// StrUnsignedDecimalLiteral: digits [. digits] [e[+-]digits] | . digits [...]
	i, nd := 0, 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
		nd++
	}
	if i < len(t) && t[i] == '.' {
		i++
		for i < len(t) && t[i] >= '0' && t[i] <= '9' {
			i++
			nd++
		}
	}
	if nd == 0 {
		return math.NaN()
	}
	if i < len(t) && (t[i] == 'e' || t[i] == 'E') {
		i++
		if i < len(t) && (t[i] == '+' || t[i] == '-') {
			i++
		}
		ne := 0
		for i < len(t) && t[i] >= '0' && t[i] <= '9' {
			i++
			ne++
		}
		if ne == 0 {
			return math.NaN()
		}
	}
	if i != len(t) {
		return math.NaN()
	}
	f, err := strconv.ParseFloat(string(s), 64)
	if err != nil {
		// Out of range: ParseFloat returns ±Inf or 0 with ErrRange.
		return f
	}
	return f
}

// utf16Len is a string's JavaScript length. s may hold WTF-8 surrogates.
func utf16Len(s []byte) int {
	n := 0
	for _, c := range s {
		if c < 0x80 || c >= 0xc0 {
			n++
			if c >= 0xf0 {
				n++
			}
		}
	}
	return n
}

// repairUTF8 appends s to dst with every ill-formed sequence replaced by
// U+FFFD the way the WHATWG decoder (node's StringDecoder) does: one
// replacement per maximal subpart.
func repairUTF8(dst, s []byte) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < 0x80 {
			dst = append(dst, c)
			i++
			continue
		}
		need := 0
		lo, hi := byte(0x80), byte(0xbf)
		switch {
		case c >= 0xc2 && c <= 0xdf:
			need = 1
		case c == 0xe0:
			need, lo = 2, 0xa0
		case c >= 0xe1 && c <= 0xec, c == 0xee, c == 0xef:
			need = 2
		case c == 0xed:
			need, hi = 2, 0x9f
		case c == 0xf0:
			need, lo = 3, 0x90
		case c >= 0xf1 && c <= 0xf3:
			need = 3
		case c == 0xf4:
			need, hi = 3, 0x8f
		default:
			dst = append(dst, "\uFFFD"...)
			i++
			continue
		}
		j := i + 1
		ok := true
		for k := 0; k < need; k++ {
			if j >= len(s) || s[j] < lo || s[j] > hi {
				ok = false
				break
			}
			lo, hi = 0x80, 0xbf
			j++
		}
		if ok {
			dst = append(dst, s[i:j]...)
		} else {
			dst = append(dst, "\uFFFD"...)
		}
		i = j
	}
	return dst
}
