package logfmt

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

	"github.com/obs-toolkit/obs/internal/testenv"
)

// bunyanPath finds the bunyan CLI: on PATH (CI puts .ci/node's there), or
// in the repository's .ci/node; otherwise the test skips (fails in CI).
func bunyanPath(t testing.TB) string {
	if p, err := exec.LookPath("bunyan"); err == nil {
		return p
	}
	if p, err := filepath.Abs("../.ci/node/node_modules/.bin/bunyan"); err == nil && fileExists(p) {
		return p
	}
	return testenv.RequireTool(t, "bunyan")
}

func runBunyan(t testing.TB, bin string, args ...string) ([]byte, int) {
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

func jsonQuote(s string) string { return string(appendJSONString(nil, s)) }

var levels = []string{"10", "20", "30", "30", "30", "40", "50", "60", "55", `"30"`}

// genCorpus writes n lines: mostly bunyan records with random extras and
// the fields bunyan renders specially, some lines that are not records.
func genCorpus(r *rand.Rand, n int) []byte {
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

type diffCase struct {
	args  []string
	opts  func(*Options)
	conds []string
}

var diffCases = []diffCase{
	{nil, func(o *Options) {}, nil},
	{[]string{"-o", "short"}, func(o *Options) { o.Mode = ModeShort }, nil},
	{[]string{"-o", "simple"}, func(o *Options) { o.Mode = ModeSimple }, nil},
	{[]string{"-j"}, func(o *Options) { o.Mode = ModeJSON }, nil},
	{[]string{"-o", "json-3"}, func(o *Options) { o.Mode, o.JSONIndent = ModeJSON, 3 }, nil},
	{[]string{"-0"}, func(o *Options) { o.Mode = ModeBunyan }, nil},
	{[]string{"-o", "inspect"}, func(o *Options) { o.Mode = ModeInspect }, nil},
	{[]string{"--color"}, func(o *Options) { o.Color = true }, nil},
	{[]string{"-L", "-o", "short"}, func(o *Options) { o.Local, o.Mode = true, ModeShort }, nil},
	{[]string{"--strict", "-l", "info"}, func(o *Options) { o.Strict, o.Level = true, 30 }, nil},
	{[]string{"-c", "this.level >= WARN"}, func(o *Options) {}, []string{"this.level >= WARN"}},
	{[]string{"-c", "this.pid == 101", "-c", "this.name !== 'db'"}, func(o *Options) {}, []string{"this.pid == 101", "this.name !== 'db'"}},
	{[]string{"-c", `this.msg.indexOf("a") != -1 || this.level === 55`}, func(o *Options) {}, []string{`this.msg.indexOf("a") != -1 || this.level === 55`}},
	{[]string{"-c", `this.n > 5 && this.n < 1000`}, func(o *Options) {}, []string{`this.n > 5 && this.n < 1000`}},
	{[]string{"-c", `this.obj && this.obj.a == "x"`}, func(o *Options) {}, []string{`this.obj && this.obj.a == "x"`}},
	{[]string{"-c", `!this.flag && this.hostname`}, func(o *Options) {}, []string{`!this.flag && this.hostname`}},
	{[]string{"-c", `this.s >= "b" || this.req`}, func(o *Options) {}, []string{`this.s >= "b" || this.req`}},
	{[]string{"-c", `this.level == "30"`}, func(o *Options) {}, []string{`this.level == "30"`}},
}

// TestDifferential renders a generated corpus with bunyan and with logfmt
// under each option set and compares the bytes.
func TestDifferential(t *testing.T) {
	bin := bunyanPath(t)
	loc := goldenLoc(t)
	dir := t.TempDir()
	r := rand.New(rand.NewSource(3))
	path := filepath.Join(dir, "gen.log")
	if err := os.WriteFile(path, genCorpus(r, 2500), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range diffCases {
		want, code := runBunyan(t, bin, append(c.args, path)...)
		if code != 0 {
			t.Fatalf("bunyan %v exited %d", c.args, code)
		}
		opts := &Options{JSONIndent: 2, Loc: loc}
		c.opts(opts)
		for _, s := range c.conds {
			cond, err := CompileCondition(s)
			if err != nil {
				t.Fatalf("%q: %v", s, err)
			}
			opts.Conds = append(opts.Conds, cond)
		}
		got := render(t, opts, path)
		t.Logf("bunyan %v: %d bytes, %d lines", c.args, len(want), bytes.Count(want, []byte("\n")))
		if !bytes.Equal(got, want) {
			t.Errorf("bunyan %v: output differs\n%s", c.args, firstDiff(got, want))
		}
	}
	// Several files merged in time order, with lines that are not records
	// (bunyan writes those as its reads complete) and a last file ending
	// without a newline.
	r2 := rand.New(rand.NewSource(4))
	var parts [3]bytes.Buffer
	for _, line := range bytes.SplitAfter(genCorpus(r2, 3000), []byte("\n")) {
		parts[r2.Intn(3)].Write(line)
	}
	parts[2].WriteString("tail without newline")
	var paths []string
	for i := range parts {
		p := filepath.Join(dir, fmt.Sprintf("m%d.log", i))
		os.WriteFile(p, parts[i].Bytes(), 0o644)
		paths = append(paths, p)
	}
	for _, ps := range [][]string{paths, {paths[2], paths[0]}, {paths[1], paths[2], paths[0]}} {
		want, _ := runBunyan(t, bin, ps...)
		got := render(t, &Options{JSONIndent: 2, Loc: loc}, ps...)
		if !bytes.Equal(got, want) {
			t.Errorf("merge %v: output differs\n%s", ps, firstDiff(got, want))
		}
	}
}
