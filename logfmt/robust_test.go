package logfmt

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

var allModes = []Mode{ModeLong, ModeShort, ModeSimple, ModeJSON, ModeBunyan, ModeInspect}

func renderLine(t testing.TB, opts *Options, line []byte) []byte {
	r := newRenderer(opts)
	if !utf8.Valid(line) {
		line = repairUTF8(nil, line)
	}
	out, _ := r.Line(nil, line)
	return out
}

func FuzzLine(f *testing.F) {
	for _, s := range []string{
		`{"v":0,"level":30,"name":"n","hostname":"h","pid":1,"time":"2024-01-01T00:00:00.000Z","msg":"m"}`,
		`{"v":0,"level":55,"name":"n","hostname":"h","pid":1,"time":1,"msg":"a\nb","req":{"method":"GET","headers":{"a":"b"}},"res":{"statusCode":200,"body":null},"err":{"stack":"x"}}`,
		`{"v":0,"level":"30","name":[1],"hostname":"","pid":{},"time":"x","msg":"","10":1,"2":[],"k":"\ud800"}`,
		`not json`, `{`, `{"a":1,"a":2}`, "{\"\xff\":1}", `{"v":0,"level":30,"name":"n","hostname":"h","pid":1,"time":"t","msg":"m","x":1e400}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		if bytes.IndexByte(line, '\n') >= 0 {
			return
		}
		valid := utf8.Valid(line)
		if len(line) > 0 && line[0] == '{' && valid {
			_, ours := parseObject(line, nil, &arena{}, true)
			theirs := json.Valid(line)
			if ours && !theirs {
				t.Fatalf("accepted invalid JSON %q", line)
			}
			if theirs && !ours && len(line) < MaxDepth {
				t.Fatalf("rejected valid JSON %q", line)
			}
		}
		for _, m := range allModes {
			for _, color := range []bool{false, true} {
				opts := &Options{Mode: m, JSONIndent: 2, Color: color, Local: m == ModeShort}
				out := renderLine(t, opts, line)
				if !utf8.Valid(out) {
					t.Fatalf("mode %d: invalid UTF-8 out of %q: %q", m, line, out)
				}
				if (m == ModeJSON || m == ModeBunyan) && bytes.HasPrefix(out, []byte("{")) && len(line) > 0 && line[0] == '{' {
					if json.Valid(line) && !json.Valid(out) {
						t.Fatalf("mode %d: output is not JSON: %q -> %q", m, line, out)
					}
				}
			}
		}
	})
}

func FuzzParseISO(f *testing.F) {
	for _, s := range []string{"2024-01-01T00:00:00.000Z", "2024-02-29T23:59:59.999+05:30", "+002024-01-01", "2024-13-01", "2024-01-01 10:00", "2024"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, moment := range []bool{false, true} {
			it, ok := parseISO(s, moment)
			if !ok {
				continue
			}
			if it.mo < 1 || it.mo > 12 || it.d < 1 || it.d > 31 || it.h > 24 || it.mi > 59 || it.s > 59 {
				t.Fatalf("%q parsed out of range: %+v", s, it)
			}
			momentMillis(it.frac)
			v8Millis(it.frac)
		}
	})
}

const recHead = `{"v":0,"level":30,"name":"n","hostname":"h","pid":1,"time":"2024-01-01T00:00:00.000Z"`

func TestHugeLine(t *testing.T) {
	big := strings.Repeat("x", 10<<20)
	for _, line := range []string{
		recHead + `,"msg":"` + big + `"}`,
		recHead + `,"msg":"m","blob":"` + big + ` y"}`,
		"plain " + big,
		recHead + `,"msg":"truncated ` + big[:1<<20],
	} {
		dir := t.TempDir()
		path := filepath.Join(dir, "huge.log")
		os.WriteFile(path, []byte(line+"\n"+recHead+`,"msg":"after"}`+"\n"), 0o644)
		out := render(t, &Options{}, path)
		if !bytes.Contains(out, []byte(": after\n")) {
			t.Errorf("record after a %d-byte line lost", len(line))
		}
		if len(out) < len(line)/2 {
			t.Errorf("huge line not shown: %d bytes out", len(out))
		}
	}
}

func TestDeepNesting(t *testing.T) {
	ok := recHead + `,"msg":"m","deep":` + strings.Repeat("[", 1000) + strings.Repeat("]", 1000) + `}`
	out := renderLine(t, &Options{Mode: ModeBunyan}, []byte(ok))
	if !json.Valid(out) {
		t.Fatalf("1000-deep record not rendered as JSON: %.200q", out)
	}
	// Deeper than MaxDepth: shown as text, without exhausting the stack.
	deep := recHead + `,"msg":"m","deep":` + strings.Repeat(`{"a":`, 200000) + "1" + strings.Repeat("}", 200000) + "}"
	out = renderLine(t, &Options{}, []byte(deep))
	if string(out) != deep+"\n" {
		t.Fatalf("over-deep record not passed through")
	}
	out = renderLine(t, &Options{}, bytes.Repeat([]byte("["), 10<<20))
	if len(out) != 10<<20+1 {
		t.Fatalf("10 MB of [ not passed through")
	}
}

func TestTruncatedFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "t.log")
	full := recHead + `,"msg":"one"}` + "\n" + recHead + `,"msg":"tw`
	os.WriteFile(path, []byte(full), 0o644)
	got := string(render(t, &Options{}, path))
	want := "[2024-01-01T00:00:00.000Z]  INFO: n/1 on h: one\n" + recHead + `,"msg":"tw` + "\n"
	if got != want {
		t.Errorf("got %q want %q", got, want)
	}
	got = string(render(t, &Options{Strict: true}, path))
	if got != "[2024-01-01T00:00:00.000Z]  INFO: n/1 on h: one\n" {
		t.Errorf("strict: %q", got)
	}
}

func TestRepairUTF8(t *testing.T) {
	for in, want := range map[string]string{
		"a\xffb":               "a\uFFFDb",
		"\xe2\x82x":            "\uFFFDx", // one replacement for a maximal subpart
		"\xed\xa0\x80":         "\uFFFD\uFFFD\uFFFD",
		"\xf0\x9f\x98":         "\uFFFD",
		"\xc0\xaf":             "\uFFFD\uFFFD",
		"\xf4\x90\x80\x80":     "\uFFFD\uFFFD\uFFFD\uFFFD",
		"ok \xc3\xa9 \xe2\x82": "ok \u00e9 \uFFFD",
	} {
		if got := string(repairUTF8(nil, []byte(in))); got != want {
			t.Errorf("repair(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestJSNumber(t *testing.T) {
	for f, want := range map[float64]string{
		1: "1", 1e21: "1e+21", 1e20: "100000000000000000000", 1e-7: "1e-7", 1.5e-6: "0.0000015",
		123.456: "123.456", -0.5: "-0.5", 5e-324: "5e-324", 1.7976931348623157e308: "1.7976931348623157e+308",
		12345678901234567890: "12345678901234567000", 0.30000000000000004: "0.30000000000000004",
	} {
		if got := string(appendJSNumber(nil, f)); got != want {
			t.Errorf("%v: got %s want %s", f, got, want)
		}
	}
}

var _ = io.EOF
