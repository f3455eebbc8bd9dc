package repl

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Func is a command: it reads its arguments, writes its output to w and
// returns an error to fail the request. ctx is cancelled when the client
// cancels (Ctrl-C), disconnects, or the agent closes; a long command must
// watch it. Writes to w fail once the output cap is reached.
type Func func(ctx context.Context, args []string, w io.Writer) error

// Config configures an agent. The zero value is usable.
type Config struct {
	// Name identifies the service in 'obs ps' and 'obs repl NAME'.
	// Default: the executable's base name.
	Name string
	// LogLevel, when set, is read and changed by the loglevel command.
	LogLevel *slog.LevelVar
	// Logger receives the agent's own records: refused peers, contained
	// panics, commands that change the process. Default: slog.Default().
	Logger *slog.Logger
	// Dir is the socket directory. Default: SocketDir().
	Dir string
	// TCP, when set (e.g. "127.0.0.1:0"), also listens on that TCP
	// address; every TCP connection must present Token first.
	TCP string
	// Token authenticates TCP clients. When TCP is set and Token empty, a
	// random one is made; read it with Agent.Token.
	Token string
	// MaxOutput caps the bytes one request may send back. Default 256 MiB.
	MaxOutput int64
	// MaxConns bounds concurrent connections. Default 8.
	MaxConns int
}

// Agent serves the REPL protocol inside a service. Idle, it costs one
// goroutine parked in Accept (two with TCP): no timers, no polling, no
// allocation. Each connection costs two goroutines while it is open, plus
// one while a command runs.
type Agent struct {
	cfg     Config
	log     *slog.Logger
	name    string
	path    string
	started time.Time
	token   string

	ln  *net.UnixListener
	tcp net.Listener

	mu    sync.RWMutex
	cmds  map[string]*command
	vars  map[string]any
	conns map[net.Conn]struct{}

	sem    chan struct{}
	wg     sync.WaitGroup
	closed chan struct{}
	once   sync.Once

	profMu sync.Mutex // one CPU profile or execution trace at a time
}

type command struct {
	name    string
	usage   string // arguments, for help
	help    string
	impact  string
	mutates bool // logged at Info when run
	fn      Func
}

// Start creates the socket directory, removes sockets left by dead
// processes, and listens on DIR/PID.sock (mode 0600). Connections from
// another uid than this process's (other than root) are refused and logged.
func Start(cfg Config) (*Agent, error) {
	if cfg.Name == "" {
		exe, _ := os.Executable()
		cfg.Name = filepath.Base(exe)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Dir == "" {
		cfg.Dir = SocketDir()
	}
	if cfg.MaxOutput <= 0 {
		cfg.MaxOutput = 256 << 20
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = 8
	}
	a := &Agent{
		cfg:     cfg,
		log:     cfg.Logger,
		name:    cfg.Name,
		started: time.Now(),
		cmds:    map[string]*command{},
		vars:    map[string]any{},
		conns:   map[net.Conn]struct{}{},
		sem:     make(chan struct{}, cfg.MaxConns),
		closed:  make(chan struct{}),
	}
	a.addBuiltins()
	if err := ensureDir(cfg.Dir); err != nil {
		return nil, fmt.Errorf("repl: %w", err)
	}
	if n := cleanStale(cfg.Dir); n > 0 {
		a.log.Debug("repl: removed stale sockets", "dir", cfg.Dir, "count", n)
	}
	a.path = filepath.Join(cfg.Dir, socketName(os.Getpid()))
	if _, dup := liveSockets.LoadOrStore(a.path, a); dup {
		return nil, fmt.Errorf("repl: an agent of this process already listens on %s", a.path)
	}
	ok := false
	defer func() {
		if !ok {
			liveSockets.Delete(a.path)
		}
	}()
	// A socket file with this process's pid is a leftover of an earlier
	// process that had the same pid.
	_ = os.Remove(a.path)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: a.path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("repl: listen on %s: %w", a.path, err)
	}
	if err := os.Chmod(a.path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("repl: chmod %s: %w", a.path, err)
	}
	a.ln = ln
	if cfg.TCP != "" {
		a.token = cfg.Token
		if a.token == "" {
			var b [16]byte
			if _, err := rand.Read(b[:]); err != nil {
				ln.Close()
				return nil, fmt.Errorf("repl: make token: %w", err)
			}
			a.token = hex.EncodeToString(b[:])
		}
		t, err := net.Listen("tcp", cfg.TCP)
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("repl: listen on %s: %w", cfg.TCP, err)
		}
		a.tcp = t
		a.log.Info("repl: listening on TCP (token required)", "addr", t.Addr().String())
		a.wg.Add(1)
		go a.acceptLoop(t, true)
	}
	a.wg.Add(1)
	go a.acceptLoop(ln, false)
	ok = true
	return a, nil
}

// liveSockets holds the socket paths of this process's open agents.
var liveSockets sync.Map

// Socket is the path of the agent's unix socket.
func (a *Agent) Socket() string { return a.path }

// TCPAddr is the TCP address listened on, or "" without Config.TCP.
func (a *Agent) TCPAddr() string {
	if a.tcp == nil {
		return ""
	}
	return a.tcp.Addr().String()
}

// Token is the token TCP clients must present ("" without Config.TCP).
func (a *Agent) Token() string { return a.token }

// Name is the name the agent announces.
func (a *Agent) Name() string { return a.name }

// Close stops listening, removes the socket, cancels running commands and
// closes every connection. It waits up to two seconds for commands that do
// not heed their context.
func (a *Agent) Close() error {
	a.once.Do(func() {
		close(a.closed)
		a.ln.Close() // unlinks the socket file
		if a.tcp != nil {
			a.tcp.Close()
		}
		_ = os.Remove(a.path)
		liveSockets.Delete(a.path)
		a.mu.Lock()
		for c := range a.conns {
			c.Close()
		}
		a.mu.Unlock()
		done := make(chan struct{})
		go func() { a.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(2 * time.Second):
		}
	})
	return nil
}

var nameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Expose makes v readable by name (get, vars, eval). v is read when a
// client asks, concurrently with the service: expose a value that is safe
// to read so (an expvar.Var, atomics), or a func() T that takes your own
// lock and returns a snapshot; the func is called for each read. Values are
// shown as JSON. Exposing a name again replaces the value. The name must be
// an identifier (eval uses it as a variable); Expose panics otherwise.
func (a *Agent) Expose(name string, v any) {
	if !nameRE.MatchString(name) {
		panic(fmt.Sprintf("repl: Expose: name %q is not an identifier", name))
	}
	a.mu.Lock()
	a.vars[name] = v
	a.mu.Unlock()
}

// Command adds a command. help is its one-line description. A name that is
// already a command (built-in or not) panics, like expvar.Publish.
func (a *Agent) Command(name, help string, fn Func) {
	if name == "" || strings.ContainsAny(name, " \t\n\x00") {
		panic(fmt.Sprintf("repl: Command: bad name %q", name))
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, dup := a.cmds[name]; dup {
		panic(fmt.Sprintf("repl: Command: %q is already a command", name))
	}
	a.cmds[name] = &command{name: name, help: help, impact: "defined by the service", mutates: true, fn: fn}
}

func (a *Agent) addBuiltin(c *command) { a.cmds[c.name] = c }

func (a *Agent) isClosed() bool {
	select {
	case <-a.closed:
		return true
	default:
		return false
	}
}

func (a *Agent) acceptLoop(ln net.Listener, tcp bool) {
	defer a.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			if a.isClosed() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of descriptors or similar: back off instead of
			// spinning, and try again.
			a.log.Warn("repl: accept", "err", err)
			select {
			case <-a.closed:
				return
			case <-time.After(200 * time.Millisecond):
			}
			continue
		}
		select {
		case a.sem <- struct{}{}:
		default:
			_ = c.SetWriteDeadline(time.Now().Add(time.Second))
			_ = WriteFrame(c, FrameError, []byte(fmt.Sprintf("too many connections (limit %d)", a.cfg.MaxConns)))
			c.Close()
			continue
		}
		a.mu.Lock()
		a.conns[c] = struct{}{}
		a.mu.Unlock()
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			defer func() { <-a.sem }()
			defer func() {
				a.mu.Lock()
				delete(a.conns, c)
				a.mu.Unlock()
				c.Close()
			}()
			a.serve(c, tcp)
		}()
	}
}

// peerAllowed checks the uid of a unix peer with SO_PEERCRED.
func (a *Agent) peerAllowed(c net.Conn) (uid, pid int, ok bool, err error) {
	uc, isUnix := c.(*net.UnixConn)
	if !isUnix {
		return -1, -1, false, errors.New("not a unix connection")
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return -1, -1, false, err
	}
	var cred *syscall.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return -1, -1, false, err
	}
	if cerr != nil {
		return -1, -1, false, cerr
	}
	uid, pid = int(cred.Uid), int(cred.Pid)
	return uid, pid, uid == os.Geteuid() || uid == 0, nil
}

const handshakeTimeout = 10 * time.Second

func (a *Agent) hello() []byte {
	h := Hello{Proto: 1, Name: a.name, PID: os.Getpid(), GoVersion: runtime.Version(), Started: a.started}
	if bi, ok := debug.ReadBuildInfo(); ok {
		h.Module = bi.Main.Path
	}
	a.mu.RLock()
	for n := range a.cmds {
		h.Commands = append(h.Commands, n)
	}
	for n := range a.vars {
		h.Exposed = append(h.Exposed, n)
	}
	a.mu.RUnlock()
	sort.Strings(h.Commands)
	sort.Strings(h.Exposed)
	b, _ := json.Marshal(h)
	return b
}

func (a *Agent) serve(c net.Conn, tcp bool) {
	br := bufio.NewReaderSize(c, 4096)
	_ = c.SetDeadline(time.Now().Add(handshakeTimeout))
	peer := "tcp " + c.RemoteAddr().String()
	if tcp {
		f, err := ReadFrame(br)
		if err != nil || f.Type != FrameAuth ||
			subtle.ConstantTimeCompare(f.Payload, []byte(a.token)) != 1 {
			a.log.Warn("repl: refused TCP connection: bad or missing token", "peer", c.RemoteAddr().String())
			_ = WriteFrame(c, FrameError, []byte("bad or missing token"))
			return
		}
	} else {
		uid, pid, ok, err := a.peerAllowed(c)
		if err != nil {
			a.log.Warn("repl: refused connection: cannot read peer credentials", "err", err)
			_ = WriteFrame(c, FrameError, []byte("cannot read peer credentials"))
			return
		}
		if !ok {
			a.log.Warn("repl: refused connection from another user", "peer_uid", uid, "peer_pid", pid, "uid", os.Geteuid())
			_ = WriteFrame(c, FrameError, []byte(fmt.Sprintf("uid %d may not connect (only uid %d and root)", uid, os.Geteuid())))
			return
		}
		peer = fmt.Sprintf("uid %d pid %d", uid, pid)
	}
	if err := WriteFrame(c, FrameHello, a.hello()); err != nil {
		return
	}
	_ = c.SetDeadline(time.Time{})

	frames := make(chan Frame)
	readErr := make(chan error, 1)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			f, err := ReadFrame(br)
			if err != nil {
				readErr <- err
				return
			}
			select {
			case frames <- f:
			case <-stop:
				return
			}
		}
	}()

	for {
		var f Frame
		select {
		case f = <-frames:
		case <-readErr:
			return
		case <-a.closed:
			return
		}
		switch f.Type {
		case FrameRequest:
		case FrameCancel:
			continue // the request it was meant for has already ended
		default:
			_ = WriteFrame(c, FrameError, []byte(fmt.Sprintf("unexpected frame %s", f)))
			return
		}
		if !a.request(c, f.Payload, frames, readErr, peer) {
			return
		}
	}
}

// request runs one request and writes its response. It returns false when
// the connection must be dropped.
func (a *Agent) request(c net.Conn, payload []byte, frames <-chan Frame, readErr <-chan error, peer string) bool {
	name, args, err := DecodeRequest(payload)
	if err != nil {
		return WriteFrame(c, FrameError, []byte(err.Error())) == nil
	}
	a.mu.RLock()
	cmd := a.cmds[name]
	a.mu.RUnlock()
	if cmd == nil {
		return WriteFrame(c, FrameError, []byte(fmt.Sprintf("unknown command %q (try help)", name))) == nil
	}
	if cmd.mutates {
		a.log.Info("repl: command", "cmd", name, "args", args, "peer", peer)
	} else {
		a.log.Debug("repl: command", "cmd", name, "args", args, "peer", peer)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := &outWriter{conn: c, max: a.cfg.MaxOutput, cancel: cancel}
	result := make(chan error, 1)
	go func() {
		var err error
		defer func() {
			if r := recover(); r != nil {
				a.log.Error("repl: command panicked", "cmd", name, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				err = fmt.Errorf("panic: %v (contained; the service goes on)", r)
			}
			result <- err
		}()
		err = cmd.fn(ctx, args, w)
	}()

	var (
		cancelled bool
		dropped   bool // the connection ends after this request
		closing   bool // because the agent closes
		grace     <-chan time.Time
		closed    = a.closed
	)
	for {
		select {
		case err := <-result:
			switch {
			case closing:
				w.close()
				w.send(FrameError, []byte("cancelled: the agent is closing"))
				return false
			case dropped:
				w.close()
				return false
			}
			return a.finish(w, err, cancelled)
		case f := <-frames:
			if f.Type == FrameCancel {
				cancelled = true
				cancel()
				if grace == nil {
					grace = time.After(2 * time.Second)
				}
				continue
			}
			// A second request while one runs breaks the protocol.
			dropped = true
			cancel()
			grace = time.After(2 * time.Second)
		case <-readErr:
			dropped = true
			cancel()
			if grace == nil {
				grace = time.After(2 * time.Second)
			}
			readErr = nil
		case <-closed:
			closed = nil // seen once; a closed channel is always ready
			dropped, closing = true, true
			cancel()
			if grace == nil {
				grace = time.After(2 * time.Second)
			}
		case <-grace:
			// The command ignores its context. Answer now; its later
			// writes are discarded.
			w.close()
			if !dropped {
				return w.send(FrameError, []byte("cancelled (the command ignores cancellation and is still running in the service)"))
			}
			return false
		}
	}
}

func (a *Agent) finish(w *outWriter, err error, cancelled bool) bool {
	capped := w.close()
	switch {
	case capped:
		return w.send(FrameError, []byte(fmt.Sprintf("output over the cap of %d bytes (the first %d were sent)", w.max, w.max)))
	case cancelled:
		return w.send(FrameError, []byte("cancelled"))
	case err != nil:
		return w.send(FrameError, []byte(err.Error()))
	case w.err != nil:
		return false
	}
	return w.send(FrameDone, nil)
}

// ErrOutputCapped is what writes return once a request's output reaches
// Config.MaxOutput.
var ErrOutputCapped = errors.New("repl: output cap reached")

var errWriterClosed = errors.New("repl: request already answered")

// writeTimeout bounds one frame write: a client that stops reading does not
// hold a command forever.
const writeTimeout = time.Minute

// outWriter buffers a command's output into frames of OutputChunk bytes.
type outWriter struct {
	mu     sync.Mutex
	conn   net.Conn
	buf    []byte
	n, max int64
	capped bool
	closed bool
	err    error // transport error
	cancel context.CancelFunc
}

func (w *outWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return 0, errWriterClosed
	}
	if w.err != nil {
		return 0, w.err
	}
	if w.capped {
		return 0, ErrOutputCapped
	}
	if room := w.max - w.n; int64(len(p)) > room {
		p = p[:room]
		w.capped = true
		w.cancel()
	}
	accepted := len(p)
	w.n += int64(accepted)
	for len(p) > 0 {
		if w.buf == nil {
			// Room for the frame header first, so a full chunk goes
			// out in one write without another copy.
			w.buf = make([]byte, frameHeader, frameHeader+OutputChunk)
		}
		k := copy(w.buf[len(w.buf):cap(w.buf)], p)
		w.buf = w.buf[:len(w.buf)+k]
		p = p[k:]
		if len(w.buf) == cap(w.buf) {
			if err := w.flushLocked(); err != nil {
				return 0, err
			}
		}
	}
	if w.capped {
		return accepted, ErrOutputCapped
	}
	return accepted, nil
}

// Flush sends buffered output now. Commands that stream slowly call it
// through an interface{ Flush() error } assertion.
func (w *outWriter) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return errWriterClosed
	}
	return w.flushLocked()
}

func (w *outWriter) flushLocked() error {
	if len(w.buf) <= frameHeader || w.err != nil {
		return w.err
	}
	putHeader(w.buf, FrameOutput, len(w.buf)-frameHeader)
	_ = w.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	if _, err := w.conn.Write(w.buf); err != nil {
		w.err = err
		w.cancel()
		return err
	}
	w.buf = w.buf[:frameHeader]
	return nil
}

// close flushes what is buffered and refuses later writes. It reports
// whether the cap was reached.
func (w *outWriter) close() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed {
		_ = w.flushLocked()
		w.closed = true
	}
	return w.capped
}

func (w *outWriter) send(typ byte, p []byte) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return false
	}
	_ = w.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	return WriteFrame(w.conn, typ, p) == nil
}
