package logfmt

import (
	"math"
	"time"
)

// Times: bunyan's long format prints the raw "time" string; short format
// and --time local go through moment.js, and merging orders records by
// JavaScript's Date. Both are reproduced for ISO-8601 input (the form every
// bunyan logger writes) and numbers (milliseconds since the epoch); other
// strings are "Invalid date" here where moment would guess.

// isoTime is a parsed ISO-8601 time.
type isoTime struct {
	y, mo, d, h, mi, s int
	frac               string // fraction digits
	hasTime            bool
	tz                 int // 0 none, 1 Z, 2 offset
	off                int // seconds east
}

func digitsAt(s string, i, n int) (int, bool) {
	if i+n > len(s) {
		return 0, false
	}
	v := 0
	for k := 0; k < n; k++ {
		c := s[i+k]
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}

// parseISO reads YYYY-MM[-DD][(T| )HH[:mm[:ss[.fff]]]][Z|±HH[:]MM|±HH].
func parseISO(s string, moment bool) (isoTime, bool) {
	var t isoTime
	i := 0
	if moment {
		for i < len(s) && isWS(s[i]) {
			i++
		}
	}
	var ok bool
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg := s[i] == '-'
		t.y, ok = digitsAt(s, i+1, 6)
		if !ok {
			return t, false
		}
		if neg {
			t.y = -t.y
		}
		i += 7
	} else {
		t.y, ok = digitsAt(s, i, 4)
		if !ok {
			return t, false
		}
		i += 4
	}
	t.mo, t.d = 1, 1
	if i == len(s) && !moment {
		return t, true // V8 accepts a bare year
	}
	if i >= len(s) || s[i] != '-' {
		return t, false
	}
	if t.mo, ok = digitsAt(s, i+1, 2); !ok {
		return t, false
	}
	i += 3
	if i < len(s) && s[i] == '-' {
		if t.d, ok = digitsAt(s, i+1, 2); !ok {
			return t, false
		}
		i += 3
	}
	if i < len(s) && (s[i] == 'T' || (moment && s[i] == ' ')) {
		t.hasTime = true
		if t.h, ok = digitsAt(s, i+1, 2); !ok {
			return t, false
		}
		i += 3
		if i < len(s) && s[i] == ':' {
			if t.mi, ok = digitsAt(s, i+1, 2); !ok {
				return t, false
			}
			i += 3
			if i < len(s) && s[i] == ':' {
				if t.s, ok = digitsAt(s, i+1, 2); !ok {
					return t, false
				}
				i += 3
				if i < len(s) && (s[i] == '.' || (moment && s[i] == ',')) {
					j := i + 1
					for j < len(s) && s[j] >= '0' && s[j] <= '9' {
						j++
					}
					if j == i+1 {
						return t, false
					}
					t.frac = s[i+1 : j]
					i = j
				}
			}
		} else if !moment {
			return t, false // V8 needs HH:mm
		}
		j := i
		if moment {
			for j < len(s) && isWS(s[j]) {
				j++
			}
		}
		if j < len(s) && s[j] == 'Z' {
			t.tz = 1
			i = j + 1
		} else if i < len(s) && (s[i] == '+' || s[i] == '-') {
			sign := 1
			if s[i] == '-' {
				sign = -1
			}
			oh, ok := digitsAt(s, i+1, 2)
			if !ok {
				return t, false
			}
			i += 3
			om := 0
			if i < len(s) && s[i] == ':' {
				if om, ok = digitsAt(s, i+1, 2); !ok {
					return t, false
				}
				i += 3
			} else if moment {
				if v, ok := digitsAt(s, i, 2); ok {
					om = v
					i += 2
				}
			} else {
				return t, false
			}
			t.tz = 2
			t.off = sign * (oh*3600 + om*60)
		}
	}
	if i != len(s) {
		return t, false
	}
	if t.mo < 1 || t.mo > 12 || t.d < 1 || t.d > daysIn(t.y, t.mo) || t.mi > 59 || t.s > 59 {
		return t, false
	}
	if t.h > 24 || (t.h == 24 && (t.mi != 0 || t.s != 0 || !allZero(t.frac))) {
		return t, false
	}
	return t, true
}

func allZero(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != '0' {
			return false
		}
	}
	return true
}

func daysIn(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// momentMillis is moment's millisecond of the fraction: ("0."+f)*1000
// truncated, in floating point as JavaScript computes it.
func momentMillis(f string) int {
	if f == "" {
		return 0
	}
	v := jsStringToNumber([]byte("0." + f))
	return int(math.Floor(v * 1000))
}

func v8Millis(f string) int {
	ms := 0
	for k := 0; k < 3; k++ {
		ms *= 10
		if k < len(f) {
			ms += int(f[k] - '0')
		}
	}
	return ms
}

// epochMillis turns t into milliseconds since the epoch; a time without
// an offset is in loc (dateOnlyUTC: a date without a time is UTC, as in
// JavaScript's Date).
func (t isoTime) epochMillis(ms int, loc *time.Location, dateOnlyUTC bool) float64 {
	var zone *time.Location
	switch {
	case t.tz == 1 || (dateOnlyUTC && !t.hasTime):
		zone = time.UTC
	case t.tz == 2:
		zone = time.FixedZone("", t.off)
	default:
		zone = loc
	}
	tt := time.Date(t.y, time.Month(t.mo), t.d, t.h, t.mi, t.s, ms*1e6, zone)
	return float64(tt.UnixMilli())
}

const maxTimeValue = 8.64e15

// dateValue is new Date(v).valueOf() in milliseconds, NaN when invalid.
func dateValue(raw []byte, loc *time.Location) float64 {
	switch kindOf(raw) {
	case '0':
		f := numberValue(raw)
		if math.Abs(f) > maxTimeValue {
			return math.NaN()
		}
		return math.Trunc(f)
	case '"':
		var buf [64]byte
		s := raw[1 : len(raw)-1]
		if len(s) > len(buf) {
			return math.NaN()
		}
		t, ok := parseISO(string(append(buf[:0], s...)), false)
		if !ok {
			return math.NaN()
		}
		return t.epochMillis(v8Millis(t.frac), loc, true)
	}
	return math.NaN()
}

// momentValue is moment(v): milliseconds, ok false when invalid.
func momentValue(raw []byte, loc *time.Location) (float64, bool) {
	switch kindOf(raw) {
	case '0':
		f := numberValue(raw)
		if math.Abs(f) > maxTimeValue || math.IsNaN(f) {
			return 0, false
		}
		return math.Trunc(f), true
	case '"':
		s := raw[1 : len(raw)-1]
		if len(s) > 64 {
			return 0, false
		}
		t, ok := parseISO(string(s), true)
		if !ok {
			return 0, false
		}
		return t.epochMillis(momentMillis(t.frac), loc, false), true
	}
	return 0, false
}

// appendMomentTime writes the time as bunyan formats it through moment:
// [YYYY-MM-DDTHH:mm:ss.SSSZ] (long) or HH:mm:ss.SSS (short), with a
// literal Z in UTC and the zone offset in local time.
func (r *renderer) appendMomentTime(b, raw []byte, short bool) []byte {
	loc := r.loc()
	ms, ok := momentValue(raw, loc)
	if !ok {
		return append(b, "Invalid date"...)
	}
	t := time.UnixMilli(int64(ms))
	if r.o.Local {
		t = t.In(loc)
	} else {
		t = t.UTC()
	}
	if !short {
		b = append(b, '[')
		y := t.Year()
		if y > 9999 {
			b = append(b, '+')
		}
		b = appendPad(b, y, 4)
		b = append(b, '-')
		b = appendPad(b, int(t.Month()), 2)
		b = append(b, '-')
		b = appendPad(b, t.Day(), 2)
		b = append(b, 'T')
	}
	b = appendPad(b, t.Hour(), 2)
	b = append(b, ':')
	b = appendPad(b, t.Minute(), 2)
	b = append(b, ':')
	b = appendPad(b, t.Second(), 2)
	b = append(b, '.')
	b = appendPad(b, t.Nanosecond()/1e6, 3)
	if !r.o.Local {
		b = append(b, 'Z')
	} else if !short {
		_, off := t.Zone()
		if off < 0 {
			b = append(b, '-')
			off = -off
		} else {
			b = append(b, '+')
		}
		b = appendPad(b, off/3600, 2)
		b = append(b, ':')
		b = appendPad(b, off%3600/60, 2)
	}
	if !short {
		b = append(b, ']')
	}
	return b
}
