// Package logtest holds what the logfmt tests share: the bunyan CLI as the
// oracle, and a generator of log corpora.
package logtest

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/obs-toolkit/obs/internal/testenv"
)

// BunyanPath finds the bunyan CLI: on PATH (CI puts .ci/node's there), or
// in the repository's .ci/node; otherwise the test skips (fails in CI).
func BunyanPath(t testing.TB) string {
	if p, err := exec.LookPath("bunyan"); err == nil {
		return p
	}
	if dir, err := os.Getwd(); err == nil {
		for d := dir; d != filepath.Dir(d); d = filepath.Dir(d) {
			p := filepath.Join(d, ".ci/node/node_modules/.bin/bunyan")
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	return testenv.RequireTool(t, "bunyan")
}

// RunBunyan runs bunyan with args in a fixed time zone and returns its
// stdout and exit code.
func RunBunyan(t testing.TB, bin string, args ...string) ([]byte, int) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "TZ=America/New_York", "BUNYAN_NO_PAGER=1", "BUNYAN_NO_COLOR=")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("bunyan: %v", err)
	}
	if errb.Len() > 0 && code == 0 {
		t.Logf("bunyan stderr: %s", errb.String())
	}
	return out.Bytes(), code
}

// FirstDiff shows the first differing line of got and want.
func FirstDiff(got, want []byte) string {
	gl := strings.SplitAfter(string(got), "\n")
	wl := strings.SplitAfter(string(want), "\n")
	for i := 0; i < len(gl) || i < len(wl); i++ {
		var g, w string
		if i < len(gl) {
			g = gl[i]
		}
		if i < len(wl) {
			w = wl[i]
		}
		if g != w {
			return fmt.Sprintf("line %d:\n  got:  %s\n  want: %s", i+1, quote(g), quote(w))
		}
	}
	return "(same lines, different bytes)"
}

func quote(s string) string {
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return fmt.Sprintf("%q", s)
}

func jsonQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

var _ = utf8.RuneError

var words = []string{"alpha", "beta", "gamma", "a b", "", "x", "über", "日本", "😀", "tab\there",
	"new\nline", "q\"uote", "back\\slash", "slash/", strings.Repeat("long", 14), "ctl\x01", "sp ace "}

func genString(r *rand.Rand) string {
	w := words[r.Intn(len(words))]
	if r.Intn(4) == 0 {
		w += " " + words[r.Intn(len(words))]
	}
	return w
}

func genNumber(r *rand.Rand) string {
	switch r.Intn(8) {
	case 0:
		return fmt.Sprint(r.Int63())
	case 1:
		return fmt.Sprintf("%g", r.NormFloat64()*1e6)
	case 2:
		return fmt.Sprintf("%de%d", r.Intn(100), r.Intn(40)-20)
	case 3:
		return "-0"
	case 4:
		return fmt.Sprintf("%d.%d0", r.Intn(1000), r.Intn(10))
	default:
		return fmt.Sprint(r.Intn(2000) - 100)
	}
}

func genValue(r *rand.Rand, depth int) string {
	k := r.Intn(10)
	if depth > 3 && k >= 7 {
		k = 0
	}
	switch k {
	case 0, 1, 2:
		return jsonQuote(genString(r))
	case 3, 4:
		return genNumber(r)
	case 5:
		return []string{"true", "false", "null"}[r.Intn(3)]
	case 6:
		return jsonQuote(strings.Repeat("z", 45+r.Intn(10)))
	case 7:
		n := r.Intn(4)
		parts := make([]string, n)
		for i := range parts {
			parts[i] = genValue(r, depth+1)
		}
		return "[" + strings.Join(parts, ",") + "]"
	default:
		n := r.Intn(4)
		parts := make([]string, n)
		for i := range parts {
			parts[i] = jsonQuote(genKey(r)) + ":" + genValue(r, depth+1)
		}
		return "{" + strings.Join(parts, ",") + "}"
	}
}

var keys = []string{"a", "b", "count", "user", "path", "10", "2", "k-1", "with space", "é", "n", "s", "flag", "obj"}

func genKey(r *rand.Rand) string { return keys[r.Intn(len(keys))] }

var levels = []string{"10", "20", "30", "30", "30", "40", "50", "60", "55", `"30"`}

// GenCorpus writes n lines: mostly bunyan records with random extras and
// the fields bunyan renders specially, some lines that are not records.
func GenCorpus(r *rand.Rand, n int) []byte {
	var b bytes.Buffer
	t0 := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := 0; i < n; i++ {
		switch r.Intn(40) {
		case 0:
			b.WriteString("plain text line " + genString(r) + "\n")
			continue
		case 1:
			b.WriteString(`{"not":"bunyan"}` + "\n")
			continue
		case 2:
			b.WriteString("\n")
			continue
		}
		ts := t0.Add(time.Duration(i)*time.Second + time.Duration(r.Intn(1000))*time.Millisecond)
		var f []string
		f = append(f, `"name":`+jsonQuote([]string{"svc", "api", "db"}[r.Intn(3)]))
		f = append(f, `"hostname":`+jsonQuote([]string{"h1", "host two", ""}[r.Intn(3)]))
		f = append(f, fmt.Sprintf(`"pid":%d`, 100+r.Intn(3)))
		f = append(f, `"level":`+levels[r.Intn(len(levels))])
		for k := r.Intn(4); k > 0; k-- {
			f = append(f, jsonQuote(genKey(r))+":"+genValue(r, 0))
		}
		switch r.Intn(12) {
		case 0:
			f = append(f, `"req":{"method":"GET","url":"/p?q=`+fmt.Sprint(i)+`","headers":{"host":"x","accept":"*/*"},"remoteAddress":"127.0.0.1","remotePort":`+fmt.Sprint(r.Intn(65000))+`}`)
		case 1:
			f = append(f, fmt.Sprintf(`"res":{"statusCode":%d,"header":"HTTP/1.1 %d X\r\nA: b\r\n\r\n"}`, 200+r.Intn(300), 200))
		case 2:
			f = append(f, `"res":{"statusCode":`+[]string{"200", "404", "503", "299"}[r.Intn(4)]+`,"headers":{"content-type":"text/plain"},"body":`+genValue(r, 2)+`}`)
		case 3:
			f = append(f, `"err":{"message":"boom","name":"Error","stack":"Error: boom\n    at f (a.js:1:2)","code":`+genValue(r, 3)+`}`)
		case 4:
			f = append(f, `"src":{"file":"/app/x.go","line":`+fmt.Sprint(r.Intn(900))+`,"func":"main.f"}`)
		case 5:
			f = append(f, `"component":"worker","req_id":"`+fmt.Sprint(r.Int31())+`"`)
		case 6:
			f = append(f, `"client_req":{"method":"POST","url":"/up","headers":{"h":"v"},"body":{"k":1}}`, `"client_res":{"statusCode":201}`)
		}
		msg := genString(r)
		f = append(f, `"msg":`+jsonQuote(msg))
		f = append(f, `"time":"`+ts.Format("2006-01-02T15:04:05.000Z")+`"`)
		f = append(f, `"v":0`)
		if r.Intn(3) == 0 {
			r.Shuffle(len(f), func(i, j int) { f[i], f[j] = f[j], f[i] })
		}
		b.WriteString("{" + strings.Join(f, ",") + "}\n")
	}
	return b.Bytes()
}
