package logfmt

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/obs-toolkit/obs/logfmt/internal/logtest"
)

func bunyanPath(t testing.TB) string { return logtest.BunyanPath(t) }

func runBunyan(t testing.TB, bin string, args ...string) ([]byte, int) {
	return logtest.RunBunyan(t, bin, args...)
}

func genCorpus(r *rand.Rand, n int) []byte { return logtest.GenCorpus(r, n) }

type diffCase struct {
	args []string
	opts func(*Options)
}

var diffCases = []diffCase{
	{nil, func(o *Options) {}},
	{[]string{"-o", "short"}, func(o *Options) { o.Mode = ModeShort }},
	{[]string{"-o", "simple"}, func(o *Options) { o.Mode = ModeSimple }},
	{[]string{"-j"}, func(o *Options) { o.Mode = ModeJSON }},
	{[]string{"-o", "json-3"}, func(o *Options) { o.Mode, o.JSONIndent = ModeJSON, 3 }},
	{[]string{"-0"}, func(o *Options) { o.Mode = ModeBunyan }},
	{[]string{"-o", "inspect"}, func(o *Options) { o.Mode = ModeInspect }},
	{[]string{"--color"}, func(o *Options) { o.Color = true }},
	{[]string{"-L", "-o", "short"}, func(o *Options) { o.Local, o.Mode = true, ModeShort }},
	{[]string{"--strict", "-l", "info"}, func(o *Options) { o.Strict, o.Level = true, 30 }},
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
