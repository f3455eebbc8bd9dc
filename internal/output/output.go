// Package output is the one place obs decides how results reach a person or a
// script: aligned tables and colour for a terminal, JSON for pipes and tools,
// one-line errors with a meaningful exit code.
package output

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"golang.org/x/term"
)

// Exit codes shared by every command.
const (
	ExitOK    = 0 // success
	ExitFail  = 1 // the thing checked is bad (a failed check, a crash found)
	ExitUsage = 2 // the command line is wrong
)

// IO carries the streams of one command run and what they are connected to.
// Commands print only through it so tests can capture everything.
type IO struct {
	In     io.Reader
	Out    io.Writer
	Err    io.Writer
	IsTTY  bool // Out is a terminal
	Color  bool // colour escapes are allowed on Out
	Width  int  // terminal width, 0 when unknown
	NoWarn bool

	deferred []string
}

// DeferWarn records a warning that qualifies the command's whole result
// (a truncated input, say). It is printed as a warning line when the
// command succeeds, and joined to the error line when it fails, so that
// stderr stays one line per outcome.
func (o *IO) DeferWarn(format string, a ...any) {
	o.deferred = append(o.deferred, fmt.Sprintf(format, a...))
}

// Deferred returns the warnings recorded by DeferWarn and forgets them.
func (o *IO) Deferred() []string {
	d := o.deferred
	o.deferred = nil
	return d
}

// System returns an IO bound to the process's standard streams. Colour is on
// only when stdout is a terminal and neither NO_COLOR nor noColor asks
// otherwise.
func System(noColor bool) *IO {
	tty := false
	width := 0
	if fd := int(os.Stdout.Fd()); term.IsTerminal(fd) {
		tty = true
		if w, _, err := term.GetSize(fd); err == nil {
			width = w
		}
	}
	return &IO{
		In:    os.Stdin,
		Out:   os.Stdout,
		Err:   os.Stderr,
		IsTTY: tty,
		Color: tty && !noColor && ColorAllowedByEnv(),
		Width: width,
	}
}

// ColorAllowedByEnv reports whether the environment permits colour
// (NO_COLOR unset or empty, TERM not "dumb").
func ColorAllowedByEnv() bool {
	if v, ok := os.LookupEnv("NO_COLOR"); ok && v != "" {
		return false
	}
	return os.Getenv("TERM") != "dumb"
}

// Buffer returns an IO writing to the given buffers, never a TTY. Tests use it.
func Buffer(out, errw io.Writer) *IO {
	return &IO{In: strings.NewReader(""), Out: out, Err: errw}
}

// ANSI colour names understood by Paint.
const (
	Red    = "31"
	Green  = "32"
	Yellow = "33"
	Blue   = "34"
	Cyan   = "36"
	Bold   = "1"
	Dim    = "2"
)

// Paint wraps s in the colour escape code when colour is on.
func (o *IO) Paint(code, s string) string {
	if !o.Color || code == "" {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

// Printf writes to Out.
func (o *IO) Printf(format string, a ...any) { fmt.Fprintf(o.Out, format, a...) }

// Warnf writes a one-line warning to Err.
func (o *IO) Warnf(format string, a ...any) {
	if o.NoWarn {
		return
	}
	fmt.Fprintf(o.Err, "obs: warning: "+format+"\n", a...)
}

// JSON writes v as indented JSON followed by a newline.
func (o *IO) JSON(v any) error {
	enc := json.NewEncoder(o.Out)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// Table collects rows and prints them with aligned columns.
type Table struct {
	header []string
	rows   [][]string
	right  map[int]bool
}

// NewTable starts a table with the given column headings.
func NewTable(header ...string) *Table { return &Table{header: header, right: map[int]bool{}} }

// AlignRight right-aligns the given columns (numbers read better so).
func (t *Table) AlignRight(cols ...int) *Table {
	for _, c := range cols {
		t.right[c] = true
	}
	return t
}

// Row appends one row; values are formatted with %v.
func (t *Table) Row(cells ...any) {
	r := make([]string, len(cells))
	for i, c := range cells {
		r[i] = fmt.Sprint(c)
	}
	t.rows = append(t.rows, r)
}

// Len is the number of rows added.
func (t *Table) Len() int { return len(t.rows) }

// Render writes the table to w. The header is bold when colour is on.
func (t *Table) Render(o *IO) {
	n := len(t.header)
	for _, r := range t.rows {
		if len(r) > n {
			n = len(r)
		}
	}
	width := make([]int, n)
	measure := func(r []string) {
		for i, c := range r {
			if l := visibleLen(c); l > width[i] {
				width[i] = l
			}
		}
	}
	measure(t.header)
	for _, r := range t.rows {
		measure(r)
	}
	line := func(r []string, head bool) {
		var b strings.Builder
		for i := 0; i < n; i++ {
			c := ""
			if i < len(r) {
				c = r[i]
			}
			pad := width[i] - visibleLen(c)
			last := i == n-1
			if t.right[i] {
				b.WriteString(strings.Repeat(" ", pad))
				b.WriteString(c)
			} else {
				b.WriteString(c)
				if !last {
					b.WriteString(strings.Repeat(" ", pad))
				}
			}
			if !last {
				b.WriteString("  ")
			}
		}
		s := strings.TrimRight(b.String(), " ")
		if head {
			s = o.Paint(Bold, s)
		}
		fmt.Fprintln(o.Out, s)
	}
	if len(t.header) > 0 {
		line(t.header, true)
	}
	for _, r := range t.rows {
		line(r, false)
	}
}

// visibleLen counts runes, skipping ANSI escape sequences.
func visibleLen(s string) int {
	n := 0
	for i := 0; i < len(s); {
		if s[i] == 0x1b && i+1 < len(s) && s[i+1] == '[' {
			j := i + 2
			for j < len(s) && (s[j] < 0x40 || s[j] > 0x7e) {
				j++
			}
			i = j + 1
			continue
		}
		_, sz := utf8.DecodeRuneInString(s[i:])
		i += sz
		n++
	}
	return n
}

// ExitError carries an exit code through cobra back to main. Its message is
// printed as one line.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit %d", e.Code)
	}
	return e.Err.Error()
}
func (e *ExitError) Unwrap() error { return e.Err }

// Usagef returns an error that exits 2: the command line was wrong.
func Usagef(format string, a ...any) error {
	return &ExitError{Code: ExitUsage, Err: fmt.Errorf(format, a...)}
}

// Failf returns an error that exits 1: the thing checked is bad.
func Failf(format string, a ...any) error {
	return &ExitError{Code: ExitFail, Err: fmt.Errorf(format, a...)}
}

// Silent returns an error that exits with code and prints nothing more (the
// command already said what was wrong).
func Silent(code int) error { return &ExitError{Code: code} }

// Code maps an error to the process exit code.
func Code(err error) int {
	if err == nil {
		return ExitOK
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	return ExitFail
}

// OneLine flattens an error message to one line for the terminal.
func OneLine(err error) string {
	s := err.Error()
	s = strings.ReplaceAll(s, "\r", " ")
	s = strings.ReplaceAll(s, "\n", "; ")
	return s
}
