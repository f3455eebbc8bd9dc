package probes

import (
	"os/exec"
	"reflect"
	"strings"
	"testing"
)

func TestSplitCommand(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"a b  c", []string{"a", "b", "c"}},
		{`sh -c 'echo $HOME; x'`, []string{"sh", "-c", "echo $HOME; x"}},
		{`a "b \"c\" \$d \x"`, []string{"a", `b "c" $d \x`}},
		{`a\ b c`, []string{"a b", "c"}},
		{`''`, []string{""}},
		{`x"y"'z'`, []string{"xyz"}},
	} {
		got, err := SplitCommand(tc.in)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("SplitCommand(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{`'abc`, `"abc`, `abc\`} {
		if _, err := SplitCommand(bad); err == nil {
			t.Errorf("SplitCommand(%q) succeeded", bad)
		}
	}
}

// FuzzSplitCommand checks the splitter never panics and, for inputs a POSIX
// shell would only split (no expansion characters), agrees with /bin/sh.
func FuzzSplitCommand(f *testing.F) {
	for _, s := range []string{"a b", `'x y' "z"`, `a\ b`, `"a\"b"`, ""} {
		f.Add(s)
	}
	sh, _ := exec.LookPath("sh")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := SplitCommand(s)
		if strings.IndexFunc(s, func(r rune) bool { return r < 0x20 && r != ' ' && r != '\t' }) >= 0 {
			return
		}
		if err != nil || sh == "" || strings.ContainsAny(s, "$`*?[]{}~#;&|<>()!\x00\r\n=%^") || len(s) > 200 {
			return
		}
		out, err := exec.Command(sh, "-c", `for a in `+s+`; do printf '%s\001' "$a"; done`).Output()
		if err != nil {
			return
		}
		want := strings.Split(string(out), "\x01")
		want = want[:len(want)-1]
		if len(got) == 0 && len(want) == 0 {
			return
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("SplitCommand(%q) = %q, sh says %q", s, got, want)
		}
	})
}
