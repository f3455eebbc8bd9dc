package jscond

import (
	"bytes"
	"math/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/obs-toolkit/obs/logfmt"
	"github.com/obs-toolkit/obs/logfmt/internal/logtest"
)

// TestDifferential runs bunyan and logfmt with the same -c conditions on a
// generated corpus and compares the bytes.
func TestDifferential(t *testing.T) {
	bin := logtest.BunyanPath(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "gen.log")
	if err := os.WriteFile(path, logtest.GenCorpus(rand.New(rand.NewSource(3)), 2500), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, conds := range [][]string{
		{"this.level >= WARN"},
		{"this.pid == 101", "this.name !== 'db'"},
		{`this.msg.indexOf("a") != -1 || this.level === 55`},
		{`this.n > 5 && this.n < 1000`},
		{`this.obj && this.obj.a == "x"`},
		{`!this.flag && this.hostname`},
		{`this.s >= "b" || this.req`},
		{`this.level == "30"`},
		{`this.count === undefined && this.a !== null`},
		{`this["with space"] || this.b + 1 > 3`},
	} {
		var args []string
		opts := &logfmt.Options{JSONIndent: 2}
		for _, s := range conds {
			args = append(args, "-c", s)
			c, err := Compile(s)
			if err != nil {
				t.Fatalf("%q: %v", s, err)
			}
			opts.Conds = append(opts.Conds, c)
		}
		want, code := logtest.RunBunyan(t, bin, append(args, path)...)
		if code != 0 {
			t.Fatalf("bunyan %v exited %d", args, code)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		p := &logfmt.Processor{Opts: opts, Workers: 2}
		if _, _, err := p.Run(&got, []logfmt.Input{{Name: path, R: f, Chunked64K: true, File: true}}); err != nil {
			t.Fatal(err)
		}
		f.Close()
		t.Logf("%v: %d lines", conds, bytes.Count(want, []byte("\n")))
		if !bytes.Equal(got.Bytes(), want) {
			t.Errorf("bunyan %v: output differs\n%s", args, logtest.FirstDiff(got.Bytes(), want))
		}
	}
}
