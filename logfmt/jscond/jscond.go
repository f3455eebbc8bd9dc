package jscond

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"

	"github.com/obs-toolkit/obs/logfmt"
)

// Package jscond compiles bunyan's -c conditions (JavaScript snippets with
// `this` as the record) into logfmt.Conditions, on expr-lang/expr with the
// operators re-bound to JavaScript's rules.
//
// Condition is a compiled -c CONDITION: bunyan's JavaScript snippet with
// `this` as the record, translated to an expr-lang program whose operators
// follow JavaScript's rules.
//
// Supported: this.field, this.a.b, this["key"], number/string/boolean
// literals, null and undefined, the level names TRACE..FATAL, == != ===
// !== < <= > >= (JavaScript coercions), && || ! (truthiness, short
// circuit), + - * / %, a leading `return` and a trailing `;`, and the
// methods indexOf, lastIndexOf, includes, startsWith, endsWith,
// toLowerCase, toUpperCase, trim, match (RE2 syntax, pattern as a string),
// hasOwnProperty and .length. Accessing a field of undefined yields
// undefined (JavaScript would throw, and bunyan would crash).
type Condition struct {
	src  string
	prog *vm.Program
	keys []string // top-level fields read; nil: all
}

// Help lists what Compile accepts, for --help.
const Help = `this.FIELD (nested: this.a.b, this["a-b"]), literals, null, undefined,
TRACE DEBUG INFO WARN ERROR FATAL, == != === !== < <= > >=, && || !,
+ - * / %, and the methods indexOf lastIndexOf includes startsWith endsWith
toLowerCase toUpperCase trim match hasOwnProperty, and .length`

type jsNullT = logfmt.NullValue

var jsNull = logfmt.Null

var methods = map[string]bool{
	"indexOf": true, "lastIndexOf": true, "includes": true, "startsWith": true,
	"endsWith": true, "toLowerCase": true, "toUpperCase": true, "trim": true,
	"match": true, "hasOwnProperty": true, "toString": true,
}

// translate rewrites the JavaScript operators expr lacks.
func translate(js string) (string, error) {
	js = strings.TrimSpace(js)
	if strings.HasPrefix(js, "return") && (len(js) == 6 || !isIdentByte(js[6])) {
		js = strings.TrimSpace(js[6:])
	}
	js = strings.TrimSuffix(js, ";")
	var b strings.Builder
	prevSignificant := byte(0)
	for i := 0; i < len(js); {
		c := js[i]
		switch {
		case c == '\'' || c == '"':
			j := i + 1
			for j < len(js) && js[j] != c {
				if js[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(js) {
				return "", errors.New("unterminated string")
			}
			b.WriteString(js[i : j+1])
			i = j + 1
			prevSignificant = c
			continue
		case c == '`':
			return "", errors.New("template literals are not supported")
		case c == '/' && (prevSignificant == 0 || strings.IndexByte("(,=!&|?:", prevSignificant) >= 0):
			return "", errors.New("regular expression literals are not supported; use .match(\"pattern\")")
		case strings.HasPrefix(js[i:], "==="):
			b.WriteString(" contains ")
			i += 3
			prevSignificant = '='
			continue
		case strings.HasPrefix(js[i:], "!=="):
			b.WriteString(" not contains ")
			i += 3
			prevSignificant = '='
			continue
		case isIdentByte(c) && !(c >= '0' && c <= '9'):
			j := i
			for j < len(js) && isIdentByte(js[j]) {
				j++
			}
			w := js[i:j]
			afterDot := prevSignificant == '.'
			switch {
			case afterDot:
				b.WriteString(w)
			case w == "null":
				b.WriteString("_null")
			case w == "undefined":
				b.WriteString("nil")
			case w == "typeof" || w == "new" || w == "function" || w == "var" || w == "let" || w == "in" ||
				w == "not" || w == "and" || w == "or" || w == "contains" || w == "matches":
				return "", fmt.Errorf("%q is not supported in a condition", w)
			default:
				b.WriteString(w)
			}
			i = j
			prevSignificant = 'a'
			continue
		}
		b.WriteByte(c)
		if c != ' ' && c != '\t' && c != '\n' {
			prevSignificant = c
		}
		i++
	}
	return b.String(), nil
}

func isIdentByte(c byte) bool {
	return c == '_' || c == '$' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}

type patcher struct {
	keys map[string]bool
	all  bool
	err  error
}

func call(name string, args ...ast.Node) *ast.CallNode {
	return &ast.CallNode{Callee: &ast.IdentifierNode{Value: name}, Arguments: args}
}

func (p *patcher) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.BinaryNode:
		switch n.Operator {
		case "==":
			ast.Patch(node, call("_eq", n.Left, n.Right))
		case "!=":
			ast.Patch(node, call("_ne", n.Left, n.Right))
		case "contains":
			ast.Patch(node, call("_seq", n.Left, n.Right))
		case "<", ">", "<=", ">=", "+", "-", "*", "/", "%":
			ast.Patch(node, call("_op", &ast.StringNode{Value: n.Operator}, n.Left, n.Right))
		case "&&", "and":
			ast.Patch(node, &ast.ConditionalNode{Cond: call("_truthy", n.Left), Exp1: n.Right, Exp2: n.Left})
		case "||", "or":
			ast.Patch(node, &ast.ConditionalNode{Cond: call("_truthy", n.Left), Exp1: n.Left, Exp2: n.Right})
		default:
			p.err = fmt.Errorf("operator %q is not supported", n.Operator)
		}
	case *ast.UnaryNode:
		switch n.Operator {
		case "!", "not":
			n.Operator = "!"
			n.Node = call("_truthy", n.Node)
		case "-":
			ast.Patch(node, call("_op", &ast.StringNode{Value: "-"}, &ast.IntegerNode{Value: 0}, n.Node))
		case "+":
			ast.Patch(node, call("_op", &ast.StringNode{Value: "-"}, n.Node, &ast.IntegerNode{Value: 0}))
		}
	case *ast.MemberNode:
		if n.Method {
			return
		}
		if id, ok := n.Node.(*ast.IdentifierNode); ok && id.Value == "this" {
			if s, ok := n.Property.(*ast.StringNode); ok {
				p.keys[s.Value] = true
			} else {
				p.all = true
			}
		}
		ast.Patch(node, call("_get", n.Node, n.Property))
	case *ast.CallNode:
		m, ok := n.Callee.(*ast.MemberNode)
		if !ok {
			if id, ok := n.Callee.(*ast.IdentifierNode); ok && strings.HasPrefix(id.Value, "_") {
				return // ours
			}
			p.err = errors.New("only method calls on values are supported")
			return
		}
		name, _ := m.Property.(*ast.StringNode)
		if name == nil || !methods[name.Value] {
			p.err = fmt.Errorf("method %v is not supported", m.Property)
			return
		}
		if id, ok := m.Node.(*ast.IdentifierNode); ok && id.Value == "this" {
			p.all = true
		}
		args := append([]ast.Node{m.Node, &ast.StringNode{Value: name.Value}}, n.Arguments...)
		ast.Patch(node, call("_call", args...))
	case *ast.IdentifierNode:
		if n.Value == "this" {
			// bare this (not this.x) needs the whole record; member
			// access records its own key.
		}
	case *ast.ConditionalNode:
		if _, ok := n.Cond.(*ast.CallNode); !ok {
			n.Cond = call("_truthy", n.Cond)
		}
	}
}

var levelVars = map[string]any{"TRACE": 10.0, "DEBUG": 20.0, "INFO": 30.0, "WARN": 40.0, "ERROR": 50.0, "FATAL": 60.0}

// Compile compiles a bunyan -c condition.
func Compile(js string) (*Condition, error) {
	src, err := translate(js)
	if err != nil {
		return nil, fmt.Errorf("condition %q: %w", js, err)
	}
	p := &patcher{keys: map[string]bool{}}
	env := map[string]any{"this": map[string]any{}, "_null": jsNull}
	for k, v := range levelVars {
		env[k] = v
	}
	prog, err := expr.Compile(src, expr.Env(env), expr.Patch(p),
		expr.Function("_eq", func(a ...any) (any, error) { return looseEq(a[0], a[1]), nil }),
		expr.Function("_ne", func(a ...any) (any, error) { return !looseEq(a[0], a[1]), nil }),
		expr.Function("_seq", func(a ...any) (any, error) { return strictEq(a[0], a[1]), nil }),
		expr.Function("_truthy", func(a ...any) (any, error) { return jsTruthy(a[0]), nil }, new(func(any) bool)),
		expr.Function("_op", func(a ...any) (any, error) { return jsOp(a[0].(string), a[1], a[2]), nil }),
		expr.Function("_get", func(a ...any) (any, error) { return jsGet(a[0], a[1]), nil }),
		expr.Function("_call", func(a ...any) (any, error) { return jsCall(a[0], a[1].(string), a[2:]) }),
	)
	if err == nil && p.err != nil {
		err = p.err
	}
	if err != nil {
		msg := err.Error()
		if i := strings.IndexByte(msg, '\n'); i >= 0 {
			msg = msg[:i]
		}
		return nil, fmt.Errorf("illegal CONDITION %q: %s", js, msg)
	}
	c := &Condition{src: js, prog: prog}
	if !p.all && !strings.Contains(strings.ReplaceAll(src, "this.", ""), "this") {
		for k := range p.keys {
			c.keys = append(c.keys, k)
		}
		if c.keys == nil {
			c.keys = []string{}
		}
	}
	return c, nil
}

// String returns the condition as given.
func (c *Condition) String() string { return c.src }

// NewMatcher returns a matcher with its own VM and environment.
func (c *Condition) NewMatcher() func(*logfmt.Record) bool {
	var m vm.VM
	env := map[string]any{"_null": jsNull}
	for k, v := range levelVars {
		env[k] = v
	}
	return func(rec *logfmt.Record) bool {
		var this map[string]any
		if c.keys != nil {
			this = make(map[string]any, len(c.keys))
			for _, k := range c.keys {
				if v, ok := rec.Field(k); ok {
					this[k] = v
				}
			}
		} else {
			this = rec.All()
		}
		env["this"] = this
		out, err := m.Run(c.prog, env)
		if err != nil {
			return false
		}
		return jsTruthy(out)
	}
}

func jsTruthy(x any) bool {
	switch v := x.(type) {
	case nil, jsNullT:
		return false
	case bool:
		return v
	case float64:
		return v != 0 && !math.IsNaN(v)
	case int:
		return v != 0
	case string:
		return v != ""
	}
	return true
}

func jsToString(x any) string {
	switch v := x.(type) {
	case nil:
		return "undefined"
	case jsNullT:
		return "null"
	case bool:
		if v {
			return "true"
		}
		return "false"
	case float64:
		return logfmt.JSNumberString(v)
	case int:
		return fmt.Sprint(v)
	case string:
		return v
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			if e != nil && e != any(jsNull) {
				parts[i] = jsToString(e)
			}
		}
		return strings.Join(parts, ",")
	}
	return "[object Object]"
}

func toPrimitive(x any) any {
	switch x.(type) {
	case []any, map[string]any:
		return jsToString(x)
	}
	return x
}

func jsToNumber(x any) float64 {
	switch v := x.(type) {
	case nil:
		return math.NaN()
	case jsNullT:
		return 0
	case bool:
		if v {
			return 1
		}
		return 0
	case float64:
		return v
	case int:
		return float64(v)
	case string:
		return logfmt.JSStringToNumber(v)
	case []any:
		return logfmt.JSStringToNumber(jsToString(v))
	}
	return math.NaN()
}

func isNum(x any) bool {
	switch x.(type) {
	case float64, int:
		return true
	}
	return false
}

func isObj(x any) bool {
	switch x.(type) {
	case []any, map[string]any:
		return true
	}
	return false
}

func sameObject(a, b any) bool {
	return reflect.ValueOf(a).Pointer() == reflect.ValueOf(b).Pointer()
}

func strictEq(a, b any) bool {
	switch {
	case isNum(a) && isNum(b):
		return jsToNumber(a) == jsToNumber(b)
	case isObj(a) && isObj(b):
		return reflect.TypeOf(a) == reflect.TypeOf(b) && sameObject(a, b)
	case isNum(a) || isNum(b) || isObj(a) || isObj(b):
		return false
	}
	return a == b
}

func looseEq(a, b any) bool {
	nullish := func(x any) bool { return x == nil || x == any(jsNull) }
	switch {
	case nullish(a) || nullish(b):
		return nullish(a) && nullish(b)
	case isObj(a) && isObj(b):
		return strictEq(a, b)
	case isObj(a):
		return looseEq(toPrimitive(a), b)
	case isObj(b):
		return looseEq(a, toPrimitive(b))
	}
	sa, aStr := a.(string)
	sb, bStr := b.(string)
	if aStr && bStr {
		return sa == sb
	}
	return jsToNumber(a) == jsToNumber(b)
}

func jsOp(op string, a, b any) any {
	pa, pb := toPrimitive(a), toPrimitive(b)
	sa, aStr := pa.(string)
	sb, bStr := pb.(string)
	switch op {
	case "+":
		if aStr || bStr {
			return jsToString(pa) + jsToString(pb)
		}
		return jsToNumber(pa) + jsToNumber(pb)
	case "-":
		return jsToNumber(pa) - jsToNumber(pb)
	case "*":
		return jsToNumber(pa) * jsToNumber(pb)
	case "/":
		return jsToNumber(pa) / jsToNumber(pb)
	case "%":
		return math.Mod(jsToNumber(pa), jsToNumber(pb))
	}
	if aStr && bStr {
		switch op {
		case "<":
			return sa < sb
		case ">":
			return sa > sb
		case "<=":
			return sa <= sb
		case ">=":
			return sa >= sb
		}
	}
	x, y := jsToNumber(pa), jsToNumber(pb)
	switch op {
	case "<":
		return x < y
	case ">":
		return x > y
	case "<=":
		return x <= y
	case ">=":
		return x >= y
	}
	return nil
}

func jsGet(obj, prop any) any {
	key := jsToString(prop)
	switch v := obj.(type) {
	case map[string]any:
		return v[key]
	case []any:
		if key == "length" {
			return float64(len(v))
		}
		if i, ok := arrayIndex(key); ok && i < len(v) {
			return v[i]
		}
	case string:
		if key == "length" {
			return float64(logfmt.UTF16Len(v))
		}
		if i, ok := arrayIndex(key); ok {
			n := 0
			for _, r := range v {
				if n == i {
					return string(r)
				}
				n++
			}
		}
	}
	return nil
}

func arrayIndex(k string) (int, bool) {
	if !logfmt.IsArrayIndex(k) {
		return 0, false
	}
	n := 0
	for _, c := range k {
		n = n*10 + int(c-'0')
	}
	return n, true
}

// utf16Index converts a byte offset in s to UTF-16 units.
func utf16Index(s string, byteOff int) float64 {
	if byteOff < 0 {
		return -1
	}
	return float64(logfmt.UTF16Len(s[:byteOff]))
}

func jsCall(obj any, name string, args []any) (any, error) {
	arg := func(i int) any {
		if i < len(args) {
			return args[i]
		}
		return nil
	}
	if m, ok := obj.(map[string]any); ok && name == "hasOwnProperty" {
		_, has := m[jsToString(arg(0))]
		return has, nil
	}
	if a, ok := obj.([]any); ok {
		switch name {
		case "indexOf", "includes":
			for i, e := range a {
				if strictEq(e, arg(0)) {
					if name == "includes" {
						return true, nil
					}
					return float64(i), nil
				}
			}
			if name == "includes" {
				return false, nil
			}
			return -1.0, nil
		case "toString":
			return jsToString(a), nil
		}
		return nil, fmt.Errorf("%s is not a function", name)
	}
	s, ok := obj.(string)
	if !ok {
		if obj != nil && name == "toString" {
			return jsToString(obj), nil
		}
		return nil, fmt.Errorf("cannot call %s on %v", name, obj)
	}
	a0 := jsToString(arg(0))
	switch name {
	case "indexOf":
		return utf16Index(s, strings.Index(s, a0)), nil
	case "lastIndexOf":
		return utf16Index(s, strings.LastIndex(s, a0)), nil
	case "includes":
		return strings.Contains(s, a0), nil
	case "startsWith":
		return strings.HasPrefix(s, a0), nil
	case "endsWith":
		return strings.HasSuffix(s, a0), nil
	case "toLowerCase":
		return strings.ToLower(s), nil
	case "toUpperCase":
		return strings.ToUpper(s), nil
	case "trim":
		return logfmt.JSTrim(s), nil
	case "toString":
		return s, nil
	case "match":
		re, err := regexp.Compile(a0)
		if err != nil {
			return nil, err
		}
		m := re.FindStringSubmatch(s)
		if m == nil {
			return jsNull, nil
		}
		out := make([]any, len(m))
		for i, x := range m {
			out[i] = x
		}
		return out, nil
	}
	return nil, fmt.Errorf("%s is not a function", name)
}
