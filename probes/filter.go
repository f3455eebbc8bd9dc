package probes

import (
	"fmt"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
)

// Filter selects trace events by an expression over their decoded values,
// evaluated in obs as each event arrives (the probe still fires and sends
// every event; the filter only chooses what is shown). Names: each argument
// by name (n, name) and as arg.NAME, arg0..arg8 for USDT, and pid, tid,
// goid, probe, ret. Example: `arg.n > 5 && name startsWith "hello"`.
type Filter struct {
	src  string
	prog *vm.Program
}

// CompileFilter parses a filter expression.
func CompileFilter(src string) (*Filter, error) {
	prog, err := expr.Compile(src, expr.AsBool(), expr.AllowUndefinedVariables())
	if err != nil {
		return nil, usagef("bad --filter %q: %v", src, oneLine(err.Error()))
	}
	return &Filter{src: src, prog: prog}, nil
}

func oneLine(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			return s[:i]
		}
	}
	return s
}

// Match reports whether ev passes. An expression that cannot be evaluated
// for this event (a missing argument, mismatched types) does not match.
func (f *Filter) Match(probe string, ev Event) bool {
	if f == nil {
		return true
	}
	args := map[string]any{}
	env := map[string]any{"pid": ev.PID, "tid": ev.TID, "goid": int(ev.Goid), "probe": probe, "ret": ev.Ret}
	for _, a := range ev.Args {
		args[a.Name] = a.Raw
		if _, taken := env[a.Name]; !taken && a.Name != "arg" {
			env[a.Name] = a.Raw
		}
	}
	env["arg"] = args
	out, err := expr.Run(f.prog, env)
	if err != nil {
		return false
	}
	ok, _ := out.(bool)
	return ok
}

// String is the expression as given.
func (f *Filter) String() string { return fmt.Sprint(f.src) }
