package jscond

import (
	"strings"
	"testing"

	"github.com/obs-toolkit/obs/logfmt"
)

const recHead = `{"v":0,"level":30,"name":"n","hostname":"h","pid":1,"time":"2024-01-01T00:00:00.000Z"`

func renderLine(t testing.TB, opts *logfmt.Options, line []byte) []byte {
	return logfmt.NewLineRenderer(opts).Line(nil, line)
}

func FuzzCondition(f *testing.F) {
	for _, s := range []string{"this.level >= WARN", `this.msg.indexOf("x") != -1`, `this.a === null || !this.b`,
		`this["k"].length > 2`, "return this.x + 1 > 2;", `this.s.match("^a+$")`, "/re/.test(this.msg)", "this.a.b.c"} {
		f.Add(s)
	}
	rec := []byte(`{"v":0,"level":30,"name":"n","hostname":"h","pid":1,"time":"2024-01-01T00:00:00.000Z","msg":"m","a":{"b":[1,"x",null]},"s":"aaa","k":"xyz"}`)
	f.Fuzz(func(t *testing.T, src string) {
		c, err := Compile(src)
		if err != nil {
			if strings.ContainsAny(err.Error(), "\n") {
				t.Fatalf("multi-line error: %q", err)
			}
			return
		}
		opts := &logfmt.Options{Conds: []logfmt.Condition{c}}
		renderLine(t, opts, rec)
	})
}

func TestConditionErrors(t *testing.T) {
	for _, s := range []string{"this.x >", "/re/.test(this.msg)", "this.x.foo()", "typeof this.x", "`t`"} {
		if _, err := Compile(s); err == nil {
			t.Errorf("%q compiled", s)
		}
	}
}

func TestConditions(t *testing.T) {
	line := []byte(recHead + `,"msg":"boom here","n":7,"s":"abc","o":{"k":[1,2]},"z":null,"f":false,"str5":"5"}`)
	for src, want := range map[string]bool{
		"this.n > 5":                          true,
		"this.n === 7":                        true,
		"this.n === '7'":                      false,
		"this.n == '7'":                       true,
		"this.str5 == 5":                      true,
		"this.str5 !== 5":                     true,
		"this.level >= WARN":                  false,
		"this.level == INFO":                  true,
		`this.msg.indexOf("boom") != -1`:      true,
		`this.msg.indexOf("nope") != -1`:      false,
		"this.o.k.length == 2":                true,
		"this.o.k[1] == 2":                    true,
		`this["s"].toUpperCase() == "ABC"`:    true,
		"this.z === null":                     true,
		"this.missing === undefined":          true,
		"this.missing == null":                true,
		"this.z === undefined":                false,
		"!this.f && this.s":                   true,
		"this.nope.deeper":                    false,
		"return this.n + 1 == 8;":             true,
		`this.s + 1 == "abc1"`:                true,
		`this.s > "abb" && this.s < "abd"`:    true,
		`this.msg.match("^bo+m")`:             true,
		`this.o.hasOwnProperty("k")`:          true,
		"this.n % 2 == 1 || this.n / 0 > 1e9": true,
		"-this.n < 0":                         true,
	} {
		c, err := Compile(src)
		if err != nil {
			t.Errorf("%q: %v", src, err)
			continue
		}
		out := renderLine(t, &logfmt.Options{Conds: []logfmt.Condition{c}}, line)
		if got := len(out) > 0; got != want {
			t.Errorf("%q: matched %v, want %v", src, got, want)
		}
	}
}
