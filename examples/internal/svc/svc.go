// Package svc is what the two example services share: flags, a bunyan log
// file (obs logs reads it), a Zipkin tracer, the obs REPL agent, and an HTTP
// server on loopback that stops cleanly on SIGINT or SIGTERM.
package svc

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/openzipkin/zipkin-go"
	zipkinhttp "github.com/openzipkin/zipkin-go/middleware/http"
	"github.com/openzipkin/zipkin-go/reporter"
	reporterhttp "github.com/openzipkin/zipkin-go/reporter/http"

	"github.com/obs-toolkit/obs/logfmt"
	"github.com/obs-toolkit/obs/repl"
)

// Flags are the command-line settings both services take.
type Flags struct {
	Addr     string // listen address, loopback by default
	AddrFile string // file to write the bound address to, for scripts
	Log      string // bunyan JSON log file; stderr when empty
	Zipkin   string // Zipkin server base URL; no spans are sent when empty
	NoREPL   bool   // do not start the obs REPL agent
}

// Register adds the flags to fs.
func (f *Flags) Register(fs *flag.FlagSet) {
	fs.StringVar(&f.Addr, "addr", "127.0.0.1:0", "listen address (port 0 picks a free one)")
	fs.StringVar(&f.AddrFile, "addr-file", "", "write the bound host:port to this file once listening")
	fs.StringVar(&f.Log, "log", "", "append bunyan log records to this file (default stderr)")
	fs.StringVar(&f.Zipkin, "zipkin", "", "report spans to this Zipkin server, e.g. http://127.0.0.1:9411")
	fs.BoolVar(&f.NoREPL, "no-repl", false, "do not start the obs REPL agent (obs repl, obs ps)")
}

// Service is one running example service.
type Service struct {
	Name   string
	Log    *slog.Logger
	Tracer *zipkin.Tracer
	Addr   string         // the bound host:port
	Level  *slog.LevelVar // the log level, changeable through the agent
	Agent  *repl.Agent    // nil with -no-repl or when it could not start

	ln      net.Listener
	rep     reporter.Reporter
	logFile io.Closer
}

// Start opens the log, the tracer and the listener.
func Start(name string, f Flags) (*Service, error) {
	s := &Service{Name: name}
	var w io.Writer = os.Stderr
	if f.Log != "" {
		lf, err := os.OpenFile(f.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("open log: %w", err)
		}
		w, s.logFile = lf, lf
	}
	s.Level = new(slog.LevelVar)
	s.Log = slog.New(logfmt.NewHandler(w, &logfmt.HandlerOptions{Level: s.Level, Name: name}))

	ln, err := net.Listen("tcp", f.Addr)
	if err != nil {
		s.close()
		return nil, fmt.Errorf("listen on %s: %w", f.Addr, err)
	}
	s.ln, s.Addr = ln, ln.Addr().String()

	s.rep = reporter.NewNoopReporter()
	if f.Zipkin != "" {
		s.rep = reporterhttp.NewReporter(f.Zipkin+"/api/v2/spans", reporterhttp.BatchInterval(200*time.Millisecond))
	}
	ep, err := zipkin.NewEndpoint(name, s.Addr)
	if err == nil {
		s.Tracer, err = zipkin.NewTracer(s.rep, zipkin.WithLocalEndpoint(ep))
	}
	if err != nil {
		s.close()
		return nil, fmt.Errorf("zipkin tracer: %w", err)
	}
	if !f.NoREPL {
		// A service runs on without its agent: say why and go on.
		a, err := repl.Start(repl.Config{Name: name, LogLevel: s.Level, Logger: s.Log})
		if err != nil {
			s.Log.Warn("no obs REPL agent", logfmt.Err(err))
		} else {
			s.Agent = a
		}
	}
	if f.AddrFile != "" {
		tmp := f.AddrFile + ".tmp"
		if err := os.WriteFile(tmp, []byte(s.Addr+"\n"), 0o644); err != nil {
			s.close()
			return nil, fmt.Errorf("write address file: %w", err)
		}
		if err := os.Rename(tmp, filepath.Clean(f.AddrFile)); err != nil {
			s.close()
			return nil, fmt.Errorf("write address file: %w", err)
		}
	}
	return s, nil
}

// Run serves h, traced, until SIGINT or SIGTERM, then drains requests,
// flushes spans and closes the log. It returns the process exit code.
func (s *Service) Run(h http.Handler) int {
	srv := &http.Server{
		Handler:           zipkinhttp.NewServerMiddleware(s.Tracer, zipkinhttp.TagResponseSize(true))(h),
		ReadHeaderTimeout: 10 * time.Second,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(s.ln) }()
	fmt.Printf("%s listening on http://%s\n", s.Name, s.Addr)
	s.Log.Info("listening", "addr", s.Addr, "pid", os.Getpid())

	code := 0
	select {
	case <-ctx.Done():
		s.Log.Info("shutting down")
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			s.Log.Error("shutdown", logfmt.Err(err))
			code = 1
		}
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			s.Log.Error("serve", logfmt.Err(err))
			code = 1
		}
	}
	s.close()
	return code
}

// Handle registers h on mux for pattern ("GET /work") and names the
// request's server span after the route, so traces read "GET /work"
// rather than the bare method.
func Handle(mux *http.ServeMux, pattern string, h http.HandlerFunc) {
	mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if sp := zipkin.SpanFromContext(r.Context()); sp != nil {
			sp.SetName(pattern)
		}
		h(w, r)
	})
}

// Expose makes v readable through the REPL agent (obs repl NAME -e 'get
// NAME'); nothing happens without an agent.
func (s *Service) Expose(name string, v any) {
	if s.Agent != nil {
		s.Agent.Expose(name, v)
	}
}

func (s *Service) close() {
	if s.Agent != nil {
		_ = s.Agent.Close()
	}
	if s.rep != nil {
		_ = s.rep.Close()
	}
	if s.ln != nil {
		_ = s.ln.Close()
	}
	if s.logFile != nil {
		_ = s.logFile.Close()
	}
}

// Fatal prints a one-line error and exits 1; for start-up failures.
func Fatal(name string, err error) {
	fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
	os.Exit(1)
}
