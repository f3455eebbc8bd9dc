package repl

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseLine(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Line
		err  string
	}{
		{"", Line{}, ""},
		{"   # comment", Line{}, ""},
		{"help", Line{Cmd: "help", Args: []string{}}, ""},
		{"  get   stats ", Line{Cmd: "get", Args: []string{"stats"}}, ""},
		{`flush 'a b' "c \"d\"" e\ f`, Line{Cmd: "flush", Args: []string{"a b", `c "d"`, "e f"}}, ""},
		{"profile heap > heap.pb.gz", Line{Cmd: "profile", Args: []string{"heap"}, Redirect: "heap.pb.gz"}, ""},
		{"profile cpu 5 >cpu.pb.gz", Line{Cmd: "profile", Args: []string{"cpu", "5"}, Redirect: "cpu.pb.gz"}, ""},
		{`flush ">" x`, Line{Cmd: "flush", Args: []string{">", "x"}}, ""},
		{`eval stats.hits > 3 && name == "a b"`, Line{Cmd: "eval", Args: []string{`stats.hits > 3 && name == "a b"`}}, ""},
		{"eval", Line{Cmd: "eval"}, ""},
		{"eval\t1 + 2", Line{Cmd: "eval", Args: []string{"1 + 2"}}, ""},
		{"get 'x", Line{}, "unterminated"},
		{`get "x`, Line{}, "unterminated"},
		{"profile heap >", Line{}, "followed by one file"},
		{"profile heap > a b", Line{}, "followed by one file"},
		{"> x", Line{}, "no command"},
	} {
		got, err := ParseLine(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: got %#v, want %#v", tc.in, got, tc.want)
		}
	}
}

func FuzzParseLine(f *testing.F) {
	for _, s := range []string{"help", `flush 'a b' "c \"d\"" e\ f`, "profile heap > x", "eval a > b", `"`, `\`, "> >"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseLine(s)
		if err != nil {
			return
		}
		if l.Cmd == "" && (len(l.Args) > 0 || l.Redirect != "") {
			t.Fatalf("%q: arguments without a command: %#v", s, l)
		}
		if l.Cmd != "" && l.Cmd != "eval" {
			// Quoting every word back gives the same line.
			var b strings.Builder
			for _, w := range append([]string{l.Cmd}, l.Args...) {
				b.WriteString("'" + strings.ReplaceAll(w, "'", `'\''`) + "' ")
			}
			again, err := ParseLine(b.String())
			if err != nil || again.Cmd != l.Cmd || !reflect.DeepEqual(again.Args, l.Args) {
				t.Fatalf("%q: requoted %q parses to %#v (%v), want %#v", s, b.String(), again, err, l)
			}
		}
	})
}
