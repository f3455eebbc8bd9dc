package output

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

func TestTableAlignment(t *testing.T) {
	var out bytes.Buffer
	o := Buffer(&out, &out)
	tb := NewTable("NAME", "COUNT").AlignRight(1)
	tb.Row("alpha", 3)
	tb.Row("b", 12345)
	tb.Render(o)
	want := "NAME   COUNT\nalpha      3\nb      12345\n"
	if out.String() != want {
		t.Fatalf("got\n%q\nwant\n%q", out.String(), want)
	}
}

func TestPaintOnlyWithColor(t *testing.T) {
	o := Buffer(nil, nil)
	if got := o.Paint(Red, "x"); got != "x" {
		t.Fatalf("colour off painted %q", got)
	}
	o.Color = true
	if got := o.Paint(Red, "x"); got != "\x1b[31mx\x1b[0m" {
		t.Fatalf("colour on gave %q", got)
	}
	if visibleLen(o.Paint(Red, "héllo")) != 5 {
		t.Fatal("visibleLen counts escapes")
	}
}

func TestNoColorEnv(t *testing.T) {
	t.Setenv("NO_COLOR", "1")
	if ColorAllowedByEnv() {
		t.Fatal("NO_COLOR=1 must disable colour")
	}
	t.Setenv("NO_COLOR", "")
	t.Setenv("TERM", "xterm")
	if !ColorAllowedByEnv() {
		t.Fatal("empty NO_COLOR must not disable colour")
	}
}

func TestExitCodes(t *testing.T) {
	if Code(nil) != 0 || Code(errors.New("x")) != 1 {
		t.Fatal("plain errors exit 1")
	}
	if Code(fmt.Errorf("wrap: %w", Usagef("bad flag"))) != 2 {
		t.Fatal("usage errors exit 2 through wrapping")
	}
	if Code(Failf("check failed")) != 1 || Code(Silent(2)) != 2 {
		t.Fatal("fail/silent codes")
	}
	if OneLine(errors.New("a\nb")) != "a; b" {
		t.Fatal("OneLine")
	}
}
