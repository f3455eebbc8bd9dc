package main

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/obs-toolkit/obs/internal/output"
	"github.com/obs-toolkit/obs/logfmt"
	"github.com/obs-toolkit/obs/logfmt/jscond"
	"github.com/obs-toolkit/obs/logfmt/snoop"
)

func init() { register(newLogsCmd) }

type logsOpts struct {
	modes     []string // -o NAME / -j / -0 in order
	level     string
	conds     []string
	strict    bool
	color     bool
	pager     bool
	noPager   bool
	local     bool
	timeFmt   string
	since     string
	until     string
	follow    bool
	stats     bool
	jsonOut   bool
	detect    bool
	pid       string
	workers   int
	modeFlags []string
}

func newLogsCmd(g *globals) *cobra.Command {
	o := &logsOpts{}
	c := &cobra.Command{
		Use:   "logs [FILE...]",
		Short: "Filter and pretty-print bunyan JSON logs (the bunyan CLI, byte for byte)",
		Long: `Filter and pretty-print bunyan log files, as bunyan 2.0.5 does: the same
output for every mode and option below, several times faster. Reads stdin
when no FILE is given; FILE.gz is decompressed; several files are merged in
time order. Lines that are not bunyan records pass through (--strict drops
them).

Output modes (-o): long (default), short, simple, json, json-N (N-space
indent), bunyan (one-line JSON; also -0), inspect (node 20's util.inspect
with colours). -j is -o json.

-c CONDITION is bunyan's JavaScript condition with this as the record,
compiled with expr-lang/expr under JavaScript semantics; several are ANDed.
Supported:
  ` + strings.ReplaceAll(jscond.Help, "\n", "\n  ") + `
e.g. -c 'this.level >= ERROR' -c 'this.req_id === "x1"' -c 'this.msg.indexOf("boom") != -1'

Beyond bunyan: --since/--until (RFC 3339, a date, or a duration ago such as
15m), -f/--follow (across rotation), --stats (record counts by level and
name), --detect (render pino, zap, logrus and log/slog JSON lines as records).

Colour is on for a terminal unless --no-color, BUNYAN_NO_COLOR or NO_COLOR;
--color forces it. A terminal gets a pager ($PAGER, else less with
LESS=FRX) when files are given, unless --no-pager or BUNYAN_NO_PAGER.

--json prints records as one-line JSON (like -0); with --stats it prints
{"lines","records","shown","other","bytes","by_level":{LEVEL:n},"by_name":{NAME:n}}.

-p PID snoops a live Go process that logs through logfmt.Handler, as bunyan
-p did with DTrace: every record at every level, even those below the
handler's level (which go nowhere else), until Ctrl-C. It raises the
handler's flag in the process and attaches one uprobe; both are undone on
exit. Needs root; not for stripped binaries. Records over 16 KiB are cut.

Exit status: 0, or the number of files that could not be read (as bunyan);
2 for a usage error.`,
		RunE: func(c *cobra.Command, args []string) error {
			return runLogs(c, g, o, args)
		},
	}
	f := c.Flags()
	// -o, -j and -0 are applied in command-line order: the last wins.
	f.VarP(modeSeq{&o.modes, ""}, "output", "o", "output mode: long (default), short, simple, json, json-N, bunyan, inspect")
	f.VarP(modeSeq{&o.modes, "j"}, "json-output", "j", "shortcut for -o json")
	f.VarP(modeSeq{&o.modes, "0"}, "bunyan-output", "0", "shortcut for -o bunyan")
	f.Lookup("json-output").NoOptDefVal = "true"
	f.Lookup("bunyan-output").NoOptDefVal = "true"
	f.StringVarP(&o.level, "level", "l", "", "only records at or above LEVEL (name or number)")
	f.StringArrayVarP(&o.conds, "condition", "c", nil, "only records for which the JavaScript CONDITION holds (repeatable, ANDed)")
	f.BoolVar(&o.strict, "strict", false, "drop lines that are not bunyan records")
	f.BoolVar(&o.color, "color", false, "colourise output even when not a terminal")
	f.BoolVar(&o.pager, "pager", false, "page output through $PAGER (less) on a terminal")
	f.BoolVar(&o.noPager, "no-pager", false, "never page")
	f.BoolVarP(&o.local, "local", "L", false, "show times in local time (TZ), as --time local")
	f.StringVar(&o.timeFmt, "time", "", "utc or local")
	f.StringVar(&o.since, "since", "", "only records at or after TIME (RFC 3339, date, or duration ago)")
	f.StringVar(&o.until, "until", "", "only records before TIME")
	f.BoolVarP(&o.follow, "follow", "f", false, "keep reading each FILE as it grows, across rotation")
	f.BoolVar(&o.stats, "stats", false, "print counts of records by level and name instead of records")
	f.BoolVar(&o.jsonOut, "json", false, "machine output: records as one-line JSON, or --stats as JSON")
	f.BoolVar(&o.detect, "detect", false, "render pino, zap, logrus and slog JSON lines as records")
	f.StringVarP(&o.pid, "pid", "p", "", "snoop the records of a running Go process using logfmt.Handler, at every level (root)")
	f.IntVar(&o.workers, "workers", 0, "rendering goroutines (0: one per CPU)")
	return c
}

func parseMode(name string, jsonIndent *int) (logfmt.Mode, error) {
	n := name
	if i := strings.LastIndexByte(n, '-'); i >= 0 {
		if v, ok := jsNumber(n[i+1:]); ok {
			*jsonIndent = v
			n = n[:i]
		}
	}
	switch n {
	case "long", "paul":
		return logfmt.ModeLong, nil
	case "short":
		return logfmt.ModeShort, nil
	case "simple":
		return logfmt.ModeSimple, nil
	case "json":
		return logfmt.ModeJSON, nil
	case "bunyan":
		return logfmt.ModeBunyan, nil
	case "inspect":
		return logfmt.ModeInspect, nil
	}
	return 0, output.Usagef("unknown output mode: %q", n)
}

// jsNumber is Number(s) for an indent: "" is 0, NaN is !ok; the indent is
// clamped to 0..10 as JSON.stringify does.
func jsNumber(s string) (int, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || strings.ContainsAny(s, "xXpP_nN") {
		if s == "Infinity" || s == "+Infinity" {
			return 10, true
		}
		return 0, false
	}
	if f > 10 {
		f = 10
	}
	if f < 1 {
		f = 0
	}
	return int(f), true
}

func parseLevel(s string) (float64, error) {
	if f, ok := jsNumberF(s); ok {
		return f, nil
	}
	switch strings.ToLower(s) {
	case "trace":
		return 10, nil
	case "debug":
		return 20, nil
	case "info":
		return 30, nil
	case "warn":
		return 40, nil
	case "error":
		return 50, nil
	case "fatal":
		return 60, nil
	}
	return 0, output.Usagef("unknown level value: %q", s)
}

func jsNumberF(s string) (float64, bool) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, true
	}
	if strings.ContainsAny(t, "_pPnN") && t != "Infinity" {
		return 0, false
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil {
		if v, err := strconv.ParseInt(t, 0, 64); err == nil && !strings.HasPrefix(t, "-") && !strings.HasPrefix(t, "+") {
			return float64(v), true
		}
		return 0, false
	}
	return f, true
}

// parseWhen reads --since/--until: RFC 3339, a date (local), or a
// duration before now.
func parseWhen(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, output.Usagef("cannot read time %q (want RFC 3339, YYYY-MM-DD[THH:MM[:SS]] or a duration like 15m)", s)
}

func envSet(k string) bool { return os.Getenv(k) != "" }

func runLogs(c *cobra.Command, g *globals, o *logsOpts, args []string) error {
	io_ := g.IO()
	// A reader that goes away (obs logs x | head) ends the run quietly with
	// status 0, as in bunyan: take EPIPE as an error, not a signal.
	signal.Ignore(syscall.SIGPIPE)
	opts := &logfmt.Options{JSONIndent: 2}
	// The last of -o/-j/-0 wins, as in bunyan; every -o is checked.
	mode := logfmt.ModeLong
	for _, m := range o.modes {
		switch m {
		case "j":
			mode = logfmt.ModeJSON
		case "0":
			mode = logfmt.ModeBunyan
		default:
			pm, err := parseMode(strings.TrimPrefix(m, "o:"), &opts.JSONIndent)
			if err != nil {
				return err
			}
			mode = pm
		}
	}
	if o.jsonOut && !o.stats {
		mode = logfmt.ModeBunyan
	}
	opts.Mode = mode
	if o.level != "" || c.Flags().Changed("level") {
		lv, err := parseLevel(o.level)
		if err != nil {
			return err
		}
		opts.Level = lv
	}
	for _, s := range o.conds {
		cond, err := jscond.Compile(s)
		if err != nil {
			return output.Usagef("%v", err)
		}
		opts.Conds = append(opts.Conds, cond)
	}
	opts.Strict = o.strict
	opts.Detect = o.detect
	switch o.timeFmt {
	case "", "utc":
	case "local":
		opts.Local = true
	default:
		return output.Usagef("invalid time format: %q", o.timeFmt)
	}
	if o.local {
		opts.Local = true
	}
	opts.Loc = time.Local
	now := time.Now()
	var err error
	if o.since != "" {
		if opts.Since, err = parseWhen(o.since, now); err != nil {
			return err
		}
	}
	if o.until != "" {
		if opts.Until, err = parseWhen(o.until, now); err != nil {
			return err
		}
	}
	switch {
	case o.color:
		opts.Color = true
	case g.noColor, envSet("BUNYAN_NO_COLOR"), envSet("NO_COLOR"):
		opts.Color = false
	default:
		opts.Color = io_.IsTTY
	}
	if o.follow && len(args) == 0 {
		return output.Usagef("--follow needs a FILE")
	}

	out := io_.Out
	if o.pid != "" {
		return runSnoop(io_, opts, o.pid, args)
	}
	var pagerCmd *exec.Cmd
	stdinTTY := term.IsTerminal(int(os.Stdin.Fd()))
	paginate := io_.IsTTY && stdinTTY && len(args) > 0 && !o.follow && !o.stats &&
		(o.pager || (!o.noPager && !envSet("BUNYAN_NO_PAGER")))
	if paginate {
		pc := os.Getenv("PAGER")
		if pc == "" {
			pc = "less"
		}
		argv := strings.Fields(pc)
		pagerCmd = exec.Command(argv[0], argv[1:]...)
		pagerCmd.Env = os.Environ()
		if _, ok := os.LookupEnv("LESS"); !ok {
			pagerCmd.Env = append(pagerCmd.Env, "LESS=FRX")
		}
		pagerCmd.Stdout, pagerCmd.Stderr = os.Stdout, os.Stderr
		pw, err := pagerCmd.StdinPipe()
		if err == nil && pagerCmd.Start() == nil {
			out = pw
			defer func() { pw.Close(); pagerCmd.Wait() }()
		} else {
			pagerCmd = nil
		}
	}

	p := &logfmt.Processor{Opts: opts, Workers: o.workers, CountOnly: o.stats}
	if o.follow {
		// Each file is followed on its own; lines are written whole, in
		// the order they arrive.
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		lw := &lockedWriter{w: out}
		errc := make(chan error, len(args))
		for _, name := range args {
			go func(name string) {
				err := p.Follow(ctx, lw, name, 0)
				if err != nil && !errors.Is(err, logfmt.ErrOutputClosed) {
					err = fmt.Errorf("follow %s: %v", name, err)
				}
				if err != nil {
					stop()
				}
				errc <- err
			}(name)
		}
		var first error
		for range args {
			if err := <-errc; err != nil && first == nil {
				first = err
			}
		}
		if opts.Color {
			fmt.Fprint(out, "\x1b[0m")
		}
		if first != nil && !errors.Is(first, logfmt.ErrOutputClosed) {
			return output.Failf("%v", first)
		}
		return nil
	}

	failed := 0
	var inputs []logfmt.Input
	var closers []io.Closer
	defer func() {
		for _, c := range closers {
			c.Close()
		}
	}()
	if len(args) == 0 {
		inputs = append(inputs, logfmt.Input{Name: "-", R: io_.In})
	}
	for _, name := range args {
		f, err := os.Open(name)
		if err != nil {
			fmt.Fprintf(io_.Err, "obs: %s\n", openMsg(err, name))
			failed++
			continue
		}
		closers = append(closers, f)
		in := logfmt.Input{Name: name, R: f, Chunked64K: true, File: true}
		if strings.HasSuffix(name, ".gz") {
			zr, err := gzip.NewReader(f)
			if err != nil {
				fmt.Fprintf(io_.Err, "obs: %s: %v\n", name, err)
				failed++
				continue
			}
			in.R, in.Chunked64K = namedReader{zr, name}, false
		}
		inputs = append(inputs, in)
	}
	var st logfmt.Stats
	if len(inputs) > 0 {
		var errs []error
		st, errs, err = p.Run(out, inputs)
		for _, e := range errs {
			fmt.Fprintf(io_.Err, "obs: %v\n", e)
			failed++
		}
		if err != nil && !errors.Is(err, logfmt.ErrOutputClosed) {
			return output.Failf("write: %v", err)
		}
	}
	if o.stats {
		printStats(io_, st, o.jsonOut)
	}
	if opts.Color {
		fmt.Fprint(out, "\x1b[0m")
	}
	if failed > 0 {
		return output.Silent(failed)
	}
	return nil
}

func openMsg(err error, name string) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Sprintf("%s: %v", name, pe.Err)
	}
	return err.Error()
}

func printStats(io_ *output.IO, st logfmt.Stats, asJSON bool) {
	if st.ByLevel == nil {
		st.ByLevel = map[string]int64{}
	}
	if st.ByName == nil {
		st.ByName = map[string]int64{}
	}
	if asJSON {
		io_.JSON(st)
		return
	}
	io_.Printf("%d lines, %d records, %d shown, %d other lines, %d bytes\n", st.Lines, st.Records, st.Shown, st.Other, st.Bytes)
	t := output.NewTable("LEVEL", "RECORDS").AlignRight(1)
	order := map[string]int{"TRACE": 1, "DEBUG": 2, "INFO": 3, "WARN": 4, "ERROR": 5, "FATAL": 6}
	var lv []string
	for k := range st.ByLevel {
		lv = append(lv, k)
	}
	sort.Slice(lv, func(i, j int) bool {
		oi, oj := order[lv[i]], order[lv[j]]
		if oi == 0 {
			oi = 100
		}
		if oj == 0 {
			oj = 100
		}
		if oi != oj {
			return oi < oj
		}
		return lv[i] < lv[j]
	})
	for _, k := range lv {
		t.Row(k, st.ByLevel[k])
	}
	t.Render(io_)
	io_.Printf("\n")
	t = output.NewTable("NAME", "RECORDS").AlignRight(1)
	var names []string
	for k := range st.ByName {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool {
		if st.ByName[names[i]] != st.ByName[names[j]] {
			return st.ByName[names[i]] > st.ByName[names[j]]
		}
		return names[i] < names[j]
	})
	for _, k := range names {
		t.Row(k, st.ByName[k])
	}
	t.Render(io_)
}

func runSnoop(io_ *output.IO, opts *logfmt.Options, pidArg string, args []string) error {
	pid, err := strconv.Atoi(pidArg)
	if err != nil || pid <= 0 {
		return output.Usagef("-p wants a process id, not %q", pidArg)
	}
	if len(args) > 0 {
		return output.Usagef("can't use both -p PID and files (%s)", strings.Join(args, " "))
	}
	s, err := snoop.Attach(pid)
	if err != nil {
		return output.Failf("%v", err)
	}
	defer s.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	fmt.Fprintf(io_.Err, "obs: snooping pid %d at %d call site(s)\n", pid, s.Sites)
	lr := logfmt.NewLineRenderer(opts)
	var buf []byte
	var werr error
	err = s.Run(ctx, func(rec []byte) {
		if werr != nil {
			return
		}
		buf = lr.Line(buf[:0], rec)
		if _, e := io_.Out.Write(buf); e != nil {
			werr = e
			stop()
		}
	})
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	if opts.Color {
		fmt.Fprint(io_.Out, "\x1b[0m")
	}
	if err != nil {
		return output.Failf("%v", err)
	}
	if werr != nil && !errors.Is(werr, syscall.EPIPE) {
		return output.Failf("write: %v", werr)
	}
	return nil
}

// modeSeq records -o NAME (tok "") or -j / -0 (tok "j" / "0") in order.
type modeSeq struct {
	seq *[]string
	tok string
}

func (m modeSeq) String() string { return "" }
func (m modeSeq) Type() string {
	if m.tok == "" {
		return "mode"
	}
	return "bool"
}
func (m modeSeq) IsBoolFlag() bool { return m.tok != "" }
func (m modeSeq) Set(v string) error {
	if m.tok == "" {
		*m.seq = append(*m.seq, "o:"+v)
	} else if v == "true" {
		*m.seq = append(*m.seq, m.tok)
	}
	return nil
}

// lockedWriter serialises writes from several followers.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// namedReader puts the file's name on read errors (a corrupt gzip stream
// is found only while reading, long after the file was opened).
type namedReader struct {
	r    io.Reader
	name string
}

func (n namedReader) Read(p []byte) (int, error) {
	k, err := n.r.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("%s: %w", n.name, err)
	}
	return k, err
}
