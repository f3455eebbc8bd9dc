package repl

import (
	"errors"
	"strings"
)

// Line is one command line as typed at the prompt or given to -e.
type Line struct {
	Cmd      string
	Args     []string
	Redirect string // "> FILE": write the output to FILE instead
}

// ParseLine splits a command line into words the way a shell would for
// plain words, 'single' and "double" quotes (backslash escapes inside
// double quotes and outside quotes), without expansion. A final "> FILE"
// (or ">FILE") sends the output to FILE. For eval the rest of the line
// after the command is kept as one argument, exactly as typed, so that its
// quotes and comparisons reach the expression (eval takes no redirection).
// An empty line, or one starting with '#', gives an empty Cmd.
func ParseLine(s string) (Line, error) {
	var l Line
	s = strings.TrimSpace(s)
	if s == "" || strings.HasPrefix(s, "#") {
		return l, nil
	}
	if name, rest, _ := strings.Cut(s, " "); name == "eval" || strings.HasPrefix(s, "eval\t") {
		if name != "eval" {
			rest = s[len("eval\t"):]
		}
		l.Cmd = "eval"
		if e := strings.TrimSpace(rest); e != "" {
			l.Args = []string{e}
		}
		return l, nil
	}
	words, ops, err := splitWords(s)
	if err != nil {
		return l, err
	}
	for i := 0; i < len(words); i++ {
		if ops[i] {
			if i != len(words)-2 || ops[i+1] {
				return l, errors.New("'>' must be followed by one file name, at the end of the line")
			}
			l.Redirect = words[i+1]
			words = words[:i]
			break
		}
	}
	if len(words) == 0 {
		return l, errors.New("no command before '>'")
	}
	if words[0] == "" {
		return l, errors.New("empty command name")
	}
	l.Cmd, l.Args = words[0], words[1:]
	return l, nil
}

// splitWords splits on unquoted blanks; ops[i] marks an unquoted ">" word
// (a ">FILE" word is split into ">" and "FILE").
func splitWords(s string) ([]string, []bool, error) {
	var words []string
	var ops []bool
	var cur strings.Builder
	inWord, quoted := false, false
	flush := func() {
		if inWord {
			w := cur.String()
			if !quoted && strings.HasPrefix(w, ">") {
				words = append(words, ">")
				ops = append(ops, true)
				if rest := w[1:]; rest != "" {
					words = append(words, rest)
					ops = append(ops, false)
				}
			} else {
				words = append(words, w)
				ops = append(ops, false)
			}
		}
		cur.Reset()
		inWord, quoted = false, false
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == ' ' || ch == '\t':
			flush()
		case ch == '\'':
			inWord, quoted = true, true
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, nil, errors.New("unterminated ' quote")
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
		case ch == '"':
			inWord, quoted = true, true
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte(`"\$`+"`", s[i+1]) >= 0 {
					i++
				}
				cur.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, nil, errors.New(`unterminated " quote`)
			}
		case ch == '\\':
			inWord = true
			if i+1 < len(s) {
				i++
				cur.WriteByte(s[i])
				quoted = true
			}
		default:
			inWord = true
			cur.WriteByte(ch)
		}
	}
	flush()
	return words, ops, nil
}
