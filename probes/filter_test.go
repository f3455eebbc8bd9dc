package probes

import "testing"

func TestFilter(t *testing.T) {
	ev := Event{PID: 7, Args: []Value{{Name: "name", Raw: "hello-3"}, {Name: "n", Raw: 13}, {Name: "ok", Raw: true}}}
	for src, want := range map[string]bool{
		"arg.n > 5":                        true,
		"n > 13":                           false,
		`name startsWith "hello" && ok`:    true,
		`arg.name == "x"`:                  false,
		"pid == 7 && !ret":                 true,
		"missing > 3":                      false,
		`n + 1 == 14 && probe == "main.f"`: true,
	} {
		f, err := CompileFilter(src)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if got := f.Match("main.f", ev); got != want {
			t.Errorf("%s = %v, want %v", src, got, want)
		}
	}
	for _, bad := range []string{"n >", "1 +", "(("} {
		if _, err := CompileFilter(bad); err == nil {
			t.Errorf("CompileFilter(%q) succeeded", bad)
		}
	}
}
