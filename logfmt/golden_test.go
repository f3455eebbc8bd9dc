package logfmt

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/obs-toolkit/obs/logfmt/internal/logtest"
)

// goldenSets mirrors the option sets of testdata/gen.sh.
var goldenSets = map[string]func(*Options){
	"long":       func(o *Options) {},
	"short":      func(o *Options) { o.Mode = ModeShort },
	"simple":     func(o *Options) { o.Mode = ModeSimple },
	"json":       func(o *Options) { o.Mode = ModeJSON },
	"json4":      func(o *Options) { o.Mode, o.JSONIndent = ModeJSON, 4 },
	"json0":      func(o *Options) { o.Mode, o.JSONIndent = ModeJSON, 0 },
	"bunyan":     func(o *Options) { o.Mode = ModeBunyan },
	"color":      func(o *Options) { o.Color = true },
	"local":      func(o *Options) { o.Local = true },
	"shortlocal": func(o *Options) { o.Mode, o.Local = ModeShort, true },
	"strict":     func(o *Options) { o.Strict = true },
	"warn":       func(o *Options) { o.Level = 40 },
	"level35":    func(o *Options) { o.Level = 35 },
	"inspect":    func(o *Options) { o.Mode = ModeInspect },
}

func goldenLoc(t testing.TB) *time.Location {
	loc, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skipf("no tz database: %v", err)
	}
	return loc
}

func openInput(t testing.TB, path string) Input {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	in := Input{Name: path, R: f, Chunked64K: true, File: true}
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		in.R, in.Chunked64K = zr, false
	}
	return in
}

// render runs paths through a Processor with opts and returns the bytes
// bunyan's process would write (including its final colour reset).
func render(t testing.TB, opts *Options, paths ...string) []byte {
	var ins []Input
	for _, p := range paths {
		ins = append(ins, openInput(t, p))
	}
	var out bytes.Buffer
	p := &Processor{Opts: opts, Workers: 2}
	_, errs, err := p.Run(&out, ins)
	if err != nil || len(errs) > 0 {
		t.Fatalf("run %v: %v %v", paths, err, errs)
	}
	if opts.Color {
		out.WriteString("\x1b[0m")
	}
	return out.Bytes()
}

func TestGolden(t *testing.T) {
	loc := goldenLoc(t)
	files, err := filepath.Glob("testdata/golden/*")
	if err != nil || len(files) < 300 {
		t.Fatalf("golden files: %d, %v (run testdata/gen.sh)", len(files), err)
	}
	for _, g := range files {
		base := filepath.Base(g)
		dot := strings.LastIndexByte(base, '.')
		input, set := base[:dot], base[dot+1:]
		mod := goldenSets[set]
		if mod == nil {
			t.Fatalf("%s: unknown option set %q", g, set)
		}
		var paths []string
		switch {
		case strings.HasPrefix(input, "merge-"):
			for _, p := range strings.Split(strings.TrimPrefix(input, "merge-"), "-") {
				paths = append(paths, "testdata/corpus/"+p+".log")
			}
		case fileExists("testdata/cases/" + input):
			paths = []string{"testdata/cases/" + input}
		default:
			paths = []string{"testdata/corpus/" + input}
		}
		want, err := os.ReadFile(g)
		if err != nil {
			t.Fatal(err)
		}
		opts := &Options{JSONIndent: 2, Loc: loc}
		mod(opts)
		got := render(t, opts, paths...)
		if !bytes.Equal(got, want) {
			t.Errorf("%s: output differs from bunyan's\n%s", base, firstDiff(got, want))
		}
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// firstDiff shows the first differing line of got and want.
func firstDiff(got, want []byte) string { return logtest.FirstDiff(got, want) }

var _ = io.EOF
