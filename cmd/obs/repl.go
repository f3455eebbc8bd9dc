package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"unicode/utf8"

	"github.com/chzyer/readline"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/obs-toolkit/obs/internal/output"
	"github.com/obs-toolkit/obs/repl"
)

func init() {
	register(newReplCmd)
	register(newPsCmd)
}

type replOptions struct {
	io     *output.IO
	target string
	pid    int
	exec   []string
	file   string
	json   bool
	// interactive forces (true) or forbids (false) the prompt; nil decides
	// by whether stdin is a terminal.
	interactive *bool
}

func newReplCmd(g *globals) *cobra.Command {
	o := &replOptions{}
	c := &cobra.Command{
		Use:   "repl [PID|NAME|SOCKET]",
		Short: "Connect to the agent in a running service: goroutines, memory, GC, log level, values, profiles",
		Long: `Connect to the obs agent a Go service links in (package repl) and run its
commands: help, goroutines, stack, memstats, metrics, gc, setgc, memlimit,
loglevel, vars, get, eval, buildinfo, fds, profile, trace, uptime, and the
service's own. The target is a pid, an agent name (see 'obs ps'), a socket
path, or tcp:HOST:PORT with the token in $OBS_REPL_TOKEN.

On a terminal, without -e or -f, obs repl prompts, with history and tab
completion of command and value names; Ctrl-C cancels the running command,
Ctrl-D leaves. 'CMD ARGS > FILE' writes a command's output to FILE (use it
for profile and trace). Otherwise commands come from -e (repeatable), -f FILE
or standard input, one per line; '#' starts a comment. Each failed command is
reported on stderr, the rest still run, and obs exits 1 if any failed.

--json (with -e, -f or standard input) prints an array with one object per
command: command, ok, output (text) or output_base64 (binary output), error.`,
		Example: `  obs repl checkout
  obs repl -p 4242 -e goroutines -e 'get stats'
  obs repl checkout -e 'eval stats.hits / stats.total'
  obs repl 4242 -e 'profile heap > heap.pb.gz'`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.io = g.IO()
			if len(args) == 1 {
				o.target = args[0]
			}
			return runRepl(c.Context(), o)
		},
	}
	c.Flags().IntVarP(&o.pid, "pid", "p", 0, "the service's pid (instead of the argument)")
	c.Flags().StringArrayVarP(&o.exec, "exec", "e", nil, "run this command line and exit (repeatable)")
	c.Flags().StringVarP(&o.file, "file", "f", "", "run the command lines in FILE ('-' for stdin) and exit")
	c.Flags().BoolVar(&o.json, "json", false, "print results as JSON (with -e/-f)")
	return c
}

func runRepl(ctx context.Context, o *replOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	target := o.target
	switch {
	case o.pid != 0 && target != "":
		return output.Usagef("give either -p PID or a target, not both")
	case o.pid < 0:
		return output.Usagef("bad pid %d", o.pid)
	case o.pid > 0:
		target = strconv.Itoa(o.pid)
	case target == "":
		return output.Usagef("give a PID, NAME or SOCKET to connect to (see 'obs ps')")
	}
	var lines []string
	batch := len(o.exec) > 0 || o.file != ""
	lines = append(lines, o.exec...)
	if o.file != "" {
		ls, err := readLines(o.file, o.io.In)
		if err != nil {
			return err
		}
		lines = append(lines, ls...)
	}
	interactive := !batch
	if o.interactive != nil {
		interactive = *o.interactive && !batch
	} else if interactive {
		f, ok := o.io.In.(*os.File)
		interactive = ok && term.IsTerminal(int(f.Fd()))
	}
	if !batch && !interactive {
		ls, err := readLines("-", o.io.In)
		if err != nil {
			return err
		}
		lines = ls
	}
	for _, l := range lines {
		if _, err := repl.ParseLine(l); err != nil {
			return output.Usagef("%q: %v", l, err)
		}
	}
	c, err := repl.Dial(target)
	if err != nil {
		return output.Failf("%v", err)
	}
	defer c.Close()
	if interactive {
		return interactiveRepl(ctx, c, o.io)
	}
	return batchRepl(ctx, c, lines, o)
}

func readLines(name string, stdin io.Reader) ([]string, error) {
	var r io.Reader = stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, output.Failf("read commands: %v", err)
		}
		defer f.Close()
		r = f
	}
	var out []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, output.Failf("read commands from %s: %v", name, err)
	}
	return out, nil
}

// replResult is one element of --json output.
type replResult struct {
	Command      string `json:"command"`
	OK           bool   `json:"ok"`
	Output       string `json:"output,omitempty"`
	OutputBase64 []byte `json:"output_base64,omitempty"`
	Error        string `json:"error,omitempty"`
}

// interruptible returns a context cancelled by the first SIGINT/SIGTERM
// while a command runs.
func interruptible(ctx context.Context) (context.Context, func()) {
	return signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
}

func batchRepl(ctx context.Context, c *repl.Client, lines []string, o *replOptions) error {
	failed := 0
	var results []replResult
	for _, text := range lines {
		l, _ := repl.ParseLine(text)
		if l.Cmd == "" {
			continue
		}
		var buf bytes.Buffer
		var w io.Writer = o.io.Out
		if o.json {
			w = &buf
		}
		cctx, stop := interruptible(ctx)
		err := runLine(cctx, c, l, w)
		interrupted := cctx.Err() != nil && ctx.Err() == nil
		stop()
		if o.json {
			r := replResult{Command: text, OK: err == nil}
			if utf8.Valid(buf.Bytes()) {
				r.Output = buf.String()
			} else {
				r.OutputBase64 = buf.Bytes()
			}
			if err != nil {
				r.Error = err.Error()
			}
			results = append(results, r)
		}
		if err == nil {
			continue
		}
		failed++
		if !o.json {
			fmt.Fprintf(o.io.Err, "obs: %s\n", output.OneLine(err))
		}
		var ce *repl.CommandError
		if interrupted || !errors.As(err, &ce) {
			// Interrupted, or the connection is gone: stop here.
			if o.json {
				_ = o.io.JSON(results)
			}
			return output.Silent(output.ExitFail)
		}
	}
	if o.json {
		if results == nil {
			results = []replResult{}
		}
		if err := o.io.JSON(results); err != nil {
			return err
		}
	}
	if failed > 0 {
		return output.Silent(output.ExitFail)
	}
	return nil
}

// interrupted is a command the user cancelled (Ctrl-C).
type interrupted struct{ cmd string }

func (e interrupted) Error() string { return e.cmd + ": cancelled" }
func (e interrupted) Unwrap() error { return context.Canceled }

// runLine runs one parsed line, sending its output to w or to the file it
// redirects to.
func runLine(ctx context.Context, c *repl.Client, l repl.Line, w io.Writer) error {
	err := runLine1(ctx, c, l, w)
	if errors.Is(err, context.Canceled) {
		return interrupted{l.Cmd}
	}
	return err
}

// binaryOutput names the commands whose output is binary.
var binaryOutput = map[string]bool{"profile": true, "trace": true}

func runLine1(ctx context.Context, c *repl.Client, l repl.Line, w io.Writer) error {
	if l.Redirect == "" && binaryOutput[l.Cmd] && isTerminal(w) {
		return &repl.CommandError{Cmd: l.Cmd, Msg: fmt.Sprintf("writes binary data: send it to a file (%s %s > FILE)", l.Cmd, strings.Join(l.Args, " "))}
	}
	if l.Redirect != "" {
		f, err := os.Create(l.Redirect)
		if err != nil {
			return fmt.Errorf("%s: %w", l.Cmd, err)
		}
		err = c.Do(ctx, l.Cmd, l.Args, f)
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("%s: %w", l.Cmd, cerr)
		}
		return err
	}
	return c.Do(ctx, l.Cmd, l.Args, w)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func historyFile() string {
	dir := os.Getenv("XDG_STATE_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		dir = filepath.Join(home, ".local", "state")
	}
	dir = filepath.Join(dir, "obs")
	if os.MkdirAll(dir, 0o700) != nil {
		return ""
	}
	return filepath.Join(dir, "repl_history")
}

func completer(h repl.Hello) readline.AutoCompleter {
	names := func(list []string) func(string) []string {
		return func(string) []string { return list }
	}
	var items []readline.PrefixCompleterInterface
	for _, cmd := range h.Commands {
		switch cmd {
		case "get", "eval":
			items = append(items, readline.PcItem(cmd, readline.PcItemDynamic(names(h.Exposed))))
		case "help":
			items = append(items, readline.PcItem(cmd, readline.PcItemDynamic(names(h.Commands))))
		case "profile":
			var kinds []readline.PrefixCompleterInterface
			for _, k := range []string{"cpu", "heap", "allocs", "goroutine", "mutex", "block"} {
				kinds = append(kinds, readline.PcItem(k))
			}
			items = append(items, readline.PcItem(cmd, kinds...))
		case "goroutines":
			items = append(items, readline.PcItem(cmd, readline.PcItem("--all")))
		default:
			items = append(items, readline.PcItem(cmd))
		}
	}
	items = append(items, readline.PcItem("exit"), readline.PcItem("quit"))
	return readline.NewPrefixCompleter(items...)
}

func interactiveRepl(ctx context.Context, c *repl.Client, o *output.IO) error {
	h := c.Hello()
	cfg := &readline.Config{
		Prompt:          fmt.Sprintf("%s(%d)> ", h.Name, h.PID),
		HistoryFile:     historyFile(),
		AutoComplete:    completer(h),
		InterruptPrompt: "^C",
		// Saved by hand, trimmed: completion leaves a trailing blank.
		DisableAutoSaveHistory: true,
		Stdout:                 o.Out,
		Stderr:                 o.Err,
	}
	if in, ok := o.In.(*os.File); ok {
		// The terminal is o.In, which need not be fd 0.
		fd := int(in.Fd())
		var saved *term.State
		cfg.Stdin = readline.NewCancelableStdin(in)
		cfg.FuncIsTerminal = func() bool { return term.IsTerminal(fd) }
		cfg.FuncMakeRaw = func() error {
			st, err := term.MakeRaw(fd)
			if err == nil {
				saved = st
			}
			return err
		}
		cfg.FuncExitRaw = func() error {
			if saved == nil {
				return nil
			}
			err := term.Restore(fd, saved)
			saved = nil
			return err
		}
		cfg.FuncGetWidth = func() int {
			w, _, err := term.GetSize(fd)
			if err != nil {
				return 0
			}
			return w
		}
	}
	rl, err := readline.NewEx(cfg)
	if err != nil {
		return output.Failf("start the prompt: %v", err)
	}
	defer rl.Close()
	fmt.Fprintf(o.Out, "connected to %s (pid %d, %s) at %s; 'help' lists commands, Ctrl-D leaves\n",
		h.Name, h.PID, h.GoVersion, c.Addr())
	for {
		text, err := rl.Readline()
		if errors.Is(err, readline.ErrInterrupt) {
			continue
		}
		if err != nil { // io.EOF: Ctrl-D
			return nil
		}
		if t := strings.TrimSpace(text); t != "" {
			_ = rl.SaveHistory(t)
		}
		l, err := repl.ParseLine(text)
		if err != nil {
			fmt.Fprintf(o.Err, "obs: %v\n", err)
			continue
		}
		switch l.Cmd {
		case "":
			continue
		case "exit", "quit":
			return nil
		}
		cctx, stop := interruptible(ctx)
		err = runLine(cctx, c, l, o.Out)
		stop()
		if err == nil {
			continue
		}
		var ce *repl.CommandError
		if errors.As(err, &ce) || errors.Is(err, context.Canceled) {
			fmt.Fprintf(o.Err, "obs: %s\n", output.OneLine(err))
			continue
		}
		return output.Failf("%v", err)
	}
}

type psOptions struct {
	io     *output.IO
	json   bool
	agents bool
}

func newPsCmd(g *globals) *cobra.Command {
	o := &psOptions{}
	c := &cobra.Command{
		Use:   "ps",
		Short: "List the Go processes on this host and which run an obs agent",
		Long: `List the Go processes on this host that obs can read (all of them as root):
pid, name (the agent's, else the executable's), user, Go version and main
module from the executable's build information, and whether an obs agent
answers ('obs repl PID' connects to it).

--json prints an array of objects with the fields pid, name, user, uid,
go_version, module, exe, agent (true when an agent answered), socket (the
agent's unix socket), agent_error (why an agent socket did not answer).`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			o.io = g.IO()
			return runPs(o)
		},
	}
	c.Flags().BoolVar(&o.json, "json", false, "print JSON")
	c.Flags().BoolVarP(&o.agents, "agents", "a", false, "only processes with an agent socket")
	return c
}

func runPs(o *psOptions) error {
	procs, err := repl.Processes()
	if err != nil {
		return output.Failf("list processes: %v", err)
	}
	if o.agents {
		var keep []repl.Process
		for _, p := range procs {
			if p.Socket != "" {
				keep = append(keep, p)
			}
		}
		procs = keep
	}
	if o.json {
		if procs == nil {
			procs = []repl.Process{}
		}
		return o.io.JSON(procs)
	}
	t := output.NewTable("PID", "NAME", "USER", "GO", "AGENT", "MODULE").AlignRight(0)
	for _, p := range procs {
		agent := "no"
		switch {
		case p.Agent:
			agent = o.io.Paint(output.Green, "yes")
		case p.AgentErr != "":
			agent = "no answer: " + p.AgentErr
		}
		t.Row(p.PID, p.Name, p.User, p.GoVersion, agent, p.Module)
	}
	if t.Len() == 0 {
		fmt.Fprintln(o.io.Err, "no Go processes found")
		return nil
	}
	t.Render(o.io)
	return nil
}
