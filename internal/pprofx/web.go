package pprofx

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/google/pprof/driver"
)

// Web serves the google/pprof web UI (graph, flame graph, top, source,
// peek) for the profile in file on addr (host:port; port 0 picks one) until
// ctx ends. ready is called with the UI's URL once it listens. No browser is
// started and graphviz is needed only for the graph view.
func Web(ctx context.Context, file, addr string, ready func(url string), log io.Writer) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("web address %q: %w", addr, err)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, port))
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	bound := ln.Addr().String()
	serve := func(args *driver.HTTPServerArgs) error {
		// The UI lives under /ui/ (its pages link relatively); only
		// loopback clients are served when bound to loopback.
		local := isLoopback(host)
		ui := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if local {
				h, _, err := net.SplitHostPort(r.RemoteAddr)
				if err != nil || !isLoopback(h) {
					http.Error(w, "permission denied", http.StatusForbidden)
					return
				}
			}
			h := args.Handlers[r.URL.Path]
			if h == nil {
				http.NotFound(w, r)
				return
			}
			h.ServeHTTP(w, r)
		})
		mux := http.NewServeMux()
		mux.Handle("/ui/", http.StripPrefix("/ui", ui))
		mux.Handle("/", http.RedirectHandler("/ui/", http.StatusTemporaryRedirect))
		srv := &http.Server{Handler: mux}
		go func() { <-ctx.Done(); srv.Close() }()
		if ready != nil {
			ready("http://" + bound + "/ui/flamegraph")
		}
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}
	fs := &flagSet{FlagSet: flag.NewFlagSet("pprof", flag.ContinueOnError),
		args: []string{"-http=" + bound, "-no_browser", "-symbolize=none", file}}
	fs.SetOutput(io.Discard)
	err = driver.PProf(&driver.Options{Flagset: fs, UI: &quietUI{w: log}, HTTPServer: serve})
	ln.Close()
	if err != nil {
		return fmt.Errorf("pprof web on %s: %w", file, err)
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// flagSet adapts package flag to the driver's FlagSet with fixed arguments.
type flagSet struct {
	*flag.FlagSet
	args  []string
	extra []string
}

func (f *flagSet) StringList(name, def, usage string) *[]*string {
	var list []*string
	f.Func(name, usage, func(s string) error { list = append(list, &s); return nil })
	if def != "" {
		list = append(list, &def)
	}
	return &list
}

func (f *flagSet) ExtraUsage() string      { return strings.Join(f.extra, "\n") }
func (f *flagSet) AddExtraUsage(eu string) { f.extra = append(f.extra, eu) }

func (f *flagSet) Parse(usage func()) []string {
	f.Usage = usage
	if err := f.FlagSet.Parse(f.args); err != nil || f.NArg() == 0 {
		usage()
		return nil
	}
	return f.Args()
}

type quietUI struct{ w io.Writer }

func (u *quietUI) ReadLine(string) (string, error) { return "", io.EOF }
func (u *quietUI) Print(a ...any) {
	if u.w != nil {
		fmt.Fprintln(u.w, strings.TrimRight(fmt.Sprint(a...), "\n"))
	}
}
func (u *quietUI) PrintErr(a ...any)                   { u.Print(a...) }
func (u *quietUI) IsTerminal() bool                    { return false }
func (u *quietUI) WantBrowser() bool                   { return false }
func (u *quietUI) SetAutoComplete(func(string) string) {}
