// Command obs is the observability and post-mortem debugging toolkit: probes,
// core dumps, traces, logs, a REPL into live services, and profiles.
//
// This package is a thin shell: flags, output and exit codes. The work is
// done by the capability packages (probes, postmortem, tracing, logfmt, repl).
package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/obs-toolkit/obs/internal/output"
)

// groups holds the constructors of the top-level command groups. Each group
// lives in its own file and registers itself from init, so adding a group
// never touches this file.
var groups []func(*globals) *cobra.Command

func register(f func(*globals) *cobra.Command) { groups = append(groups, f) }

// globals are the flags every command shares, and the IO they select.
type globals struct {
	noColor bool
	io      *output.IO
}

// IO returns the output layer for this run, created on first use so that
// --no-color has been parsed.
func (g *globals) IO() *output.IO {
	if g.io == nil {
		g.io = output.System(g.noColor)
	}
	return g.io
}

func newRoot(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:   "obs",
		Short: "Observability and post-mortem debugging for production services",
		Long: `obs: probes, core dumps, traces, logs, a REPL into live services, and profiles.

Exit codes: 0 success, 1 the thing checked is bad, 2 usage error.
Every command takes --json for scripts; colour only on a terminal, never with
NO_COLOR or --no-color. Run 'obs doctor' to see what this host allows.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().BoolVar(&g.noColor, "no-color", false, "never colour the output")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return output.Usagef("%v", err)
	})
	root.CompletionOptions.HiddenDefaultCmd = true
	for _, f := range groups {
		root.AddCommand(f(g))
	}
	root.SetHelpCommand(newHelpCmd(root))
	strictGroups(root)
	return root
}

// strictGroups makes every command group that has no action of its own
// refuse an unknown subcommand (exit 2) instead of printing its help and
// exiting 0, as cobra does for non-root groups. A bare group still prints
// its help.
func strictGroups(c *cobra.Command) {
	for _, sub := range c.Commands() {
		strictGroups(sub)
	}
	if c.HasParent() && c.HasSubCommands() && c.Run == nil && c.RunE == nil {
		c.Args = cobra.ArbitraryArgs
		c.RunE = func(c *cobra.Command, args []string) error {
			if len(args) > 0 {
				return output.Usagef("unknown command %q for %q", args[0], c.CommandPath())
			}
			return c.Help()
		}
	}
}

// newHelpCmd is `obs help [COMMAND...]`; an unknown topic is a usage error.
func newHelpCmd(root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:   "help [command]",
		Short: "Help about any command",
		RunE: func(c *cobra.Command, args []string) error {
			target, rest, err := root.Find(args)
			if err != nil || target == nil || len(rest) > 0 {
				return output.Usagef("unknown help topic %q", strings.Join(args, " "))
			}
			target.InitDefaultHelpFlag()
			return target.Help()
		},
	}
}

// run executes the command line and returns the exit code.
func run(args []string, g *globals) int {
	root := newRoot(g)
	root.SetArgs(args)
	if g.io != nil {
		root.SetOut(g.io.Out)
		root.SetErr(g.io.Err)
	}
	cmd, err := root.ExecuteC()
	var deferred []string
	if g.io != nil {
		deferred = g.io.Deferred()
	}
	if err == nil {
		for _, w := range deferred {
			g.io.Warnf("%s", w)
		}
		return 0
	}
	if len(deferred) > 0 {
		err = fmt.Errorf("%w (%s)", err, strings.Join(deferred, "; "))
	}
	errw := os.Stderr
	if g.io != nil {
		if w, ok := g.io.Err.(*os.File); ok {
			errw = w
		}
	}
	var msg string
	code := output.Code(err)
	var ee *output.ExitError
	if errors.As(err, &ee) && ee.Err == nil {
		return code // already reported
	}
	if code == output.ExitUsage || isUsage(err) {
		code = output.ExitUsage
		msg = output.OneLine(err)
		if !strings.Contains(msg, "--help'") {
			msg = fmt.Sprintf("%s (see '%s --help')", msg, cmd.CommandPath())
		}
	} else {
		msg = output.OneLine(err)
	}
	if g.io != nil && g.io.Err != nil {
		fmt.Fprintf(g.io.Err, "obs: %s\n", msg)
	} else {
		fmt.Fprintf(errw, "obs: %s\n", msg)
	}
	return code
}

// isUsage recognises cobra's own argument errors, which it does not type.
func isUsage(err error) bool {
	s := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag",
		"accepts ", "requires at least", "requires at most", "requires exactly",
		"received ", "invalid argument", "flag needs an argument", "required flag"} {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}

func main() {
	g := &globals{}
	os.Exit(run(os.Args[1:], g))
}
