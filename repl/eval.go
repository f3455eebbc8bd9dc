package repl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
)

// Budgets of the eval command.
const (
	evalMaxExpr   = 4096    // bytes of expression text
	evalMaxNodes  = 2000    // parsed nodes
	evalMemory    = 200_000 // expr-lang memory units (elements of ranges, maps, built strings)
	evalMaxResult = 1 << 20 // bytes of JSON result
)

// evalTimeout is how long eval waits for a result (a variable for tests).
var evalTimeout = time.Second

// snapshot turns a value into plain JSON data (maps, slices, strings,
// bools, nil, int64 or float64): what eval sees. Going through JSON makes
// eval read-only by construction: there are no methods to call and nothing
// that aliases the service's memory.
func snapshot(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return plainNumbers(v), nil
}

func plainNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return int(i)
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = plainNumbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = plainNumbers(e)
		}
	}
	return v
}

// evalEnv reads every exposed value into a snapshot keyed by name. Values
// that cannot be read are left out, their errors returned by name.
func (a *Agent) evalEnv() (map[string]any, map[string]error) {
	env := map[string]any{}
	bad := map[string]error{}
	for _, n := range a.exposedNames() {
		b, ok, err := a.exposedJSON(n)
		if err != nil {
			bad[n] = err
			continue
		}
		if !ok {
			continue
		}
		v, err := snapshot(b)
		if err != nil {
			bad[n] = fmt.Errorf("%s: %w", n, err)
			continue
		}
		env[n] = v
	}
	return env, bad
}

// Eval evaluates an expr-lang expression over snapshots of the exposed
// values, within the eval budgets, and returns the result.
func (a *Agent) Eval(ctx context.Context, src string) (any, error) {
	if strings.TrimSpace(src) == "" {
		return nil, errors.New("usage: eval EXPR")
	}
	if len(src) > evalMaxExpr {
		return nil, fmt.Errorf("expression of %d bytes is over the %d byte budget", len(src), evalMaxExpr)
	}
	env, bad := a.evalEnv()
	prog, err := expr.Compile(src, expr.Env(env), expr.MaxNodes(evalMaxNodes))
	if err != nil {
		for n, berr := range bad {
			if strings.Contains(src, n) {
				return nil, berr
			}
		}
		return nil, fmt.Errorf("compile: %s", oneLine(err.Error()))
	}
	type result struct {
		v   any
		err error
	}
	done := make(chan result, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- result{err: fmt.Errorf("eval panicked: %v", r)}
			}
		}()
		m := vm.VM{MemoryBudget: evalMemory}
		v, err := m.Run(prog, env)
		done <- result{v, err}
	}()
	t := time.NewTimer(evalTimeout)
	defer t.Stop()
	select {
	case r := <-done:
		if r.err != nil {
			return nil, fmt.Errorf("eval: %s", oneLine(r.err.Error()))
		}
		return r.v, nil
	case <-t.C:
		// The memory budget bounds how long the abandoned run can go on.
		return nil, fmt.Errorf("eval: over the time budget of %s", evalTimeout)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		// expr-lang puts the source and a caret on the next lines.
		s = s[:i]
	}
	return s
}

func (a *Agent) cmdEval(ctx context.Context, args []string, w io.Writer) error {
	v, err := a.Eval(ctx, strings.Join(args, " "))
	if err != nil {
		return err
	}
	switch x := v.(type) {
	case string:
		_, err = fmt.Fprintln(w, x)
		return err
	case nil:
		_, err = fmt.Fprintln(w, "nil")
		return err
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		_, err = fmt.Fprintf(w, "%v\n", v)
		return err
	}
	if len(b) > evalMaxResult {
		return fmt.Errorf("result of %d bytes is over the %d byte budget", len(b), evalMaxResult)
	}
	b = append(b, '\n')
	_, err = w.Write(b)
	return err
}
