package repl

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Hello is what an agent says first on every connection.
type Hello struct {
	Proto     int       `json:"proto"`      // protocol version, 1
	Name      string    `json:"name"`       // Config.Name, or the executable's base name
	PID       int       `json:"pid"`        // the service's pid (in its own pid namespace)
	GoVersion string    `json:"go_version"` // runtime.Version() of the service
	Module    string    `json:"module,omitempty"`
	Started   time.Time `json:"started"`  // when the agent started
	Commands  []string  `json:"commands"` // every command name, sorted
	Exposed   []string  `json:"exposed"`  // every exposed value name, sorted
}

// CommandError is a command that ran and failed in the agent (unknown
// command, bad arguments, the command's own error, a contained panic, output
// over the cap, a cancellation). The connection stays usable. Any other
// error from Do is a transport or protocol error after which the Client is
// unusable.
type CommandError struct {
	Cmd string
	Msg string
}

func (e *CommandError) Error() string { return e.Cmd + ": " + e.Msg }

// ErrRefused is returned by Dial when the agent refuses the connection (a
// peer of another uid, a wrong token).
var ErrRefused = errors.New("refused by agent")

// refusal is a refusal with its own words; errors.Is(err, ErrRefused)
// holds for it.
type refusal string

func (r refusal) Error() string        { return string(r) }
func (r refusal) Is(target error) bool { return target == ErrRefused }

// Client is one connection to an agent. Do may be called repeatedly, one
// request at a time; a Client is not for concurrent use.
type Client struct {
	conn  net.Conn
	br    *bufio.Reader
	wmu   sync.Mutex
	hello Hello
	addr  string

	scratch []byte
}

// DialTimeout bounds connecting and reading the agent's hello.
var DialTimeout = 5 * time.Second

// Dial connects to an agent. target is a pid ("1234"), a socket path (any
// target containing a '/'), "tcp:HOST:PORT" (the token is read from
// $OBS_REPL_TOKEN), or an agent name as shown by List (it must match
// exactly one agent).
func Dial(target string) (*Client, error) {
	switch {
	case target == "":
		return nil, errors.New("repl: empty target")
	case strings.HasPrefix(target, "tcp:"):
		return DialTCP(strings.TrimPrefix(target, "tcp:"), os.Getenv("OBS_REPL_TOKEN"))
	case strings.Contains(target, "/"):
		return DialSocket(target)
	}
	if pid, err := strconv.Atoi(target); err == nil {
		if pid <= 0 {
			return nil, fmt.Errorf("repl: bad pid %d", pid)
		}
		path, err := socketForPID(pid)
		if err != nil {
			return nil, err
		}
		return DialSocket(path)
	}
	agents, err := List()
	if err != nil {
		return nil, err
	}
	var match []AgentInfo
	for _, a := range agents {
		if a.Name == target {
			match = append(match, a)
		}
	}
	switch len(match) {
	case 0:
		return nil, fmt.Errorf("no agent named %q on this host (see 'obs ps')", target)
	case 1:
		return DialSocket(match[0].Socket)
	}
	var pids []string
	for _, m := range match {
		pids = append(pids, strconv.Itoa(m.PID))
	}
	return nil, fmt.Errorf("%d agents are named %q (pids %s): give a pid", len(match), target, strings.Join(pids, ", "))
}

// DialSocket connects to the agent listening on a unix socket path.
func DialSocket(path string) (*Client, error) { return dialSocket(path, DialTimeout) }

// listTimeout bounds each agent's answer in List: a stopped process must
// not hold up obs ps for long.
const listTimeout = 2 * time.Second

func dialSocket(path string, timeout time.Duration) (*Client, error) {
	conn, err := net.DialTimeout("unix", path, timeout)
	if err != nil {
		if errors.Is(err, syscall.EACCES) {
			return nil, fmt.Errorf("connect to agent at %s: %w", path, refusal("permission denied (only the service's user and root may connect)"))
		}
		return nil, fmt.Errorf("connect to agent at %s: %w", path, err)
	}
	return handshake(conn, path, "", timeout)
}

// DialTCP connects to an agent's TCP listener and authenticates with token.
func DialTCP(addr, token string) (*Client, error) {
	if token == "" {
		return nil, fmt.Errorf("connect to agent at %s: a TCP agent needs a token ($OBS_REPL_TOKEN)", addr)
	}
	conn, err := net.DialTimeout("tcp", addr, DialTimeout)
	if err != nil {
		return nil, fmt.Errorf("connect to agent at %s: %w", addr, err)
	}
	return handshake(conn, addr, token, DialTimeout)
}

func handshake(conn net.Conn, addr, token string, timeout time.Duration) (*Client, error) {
	c := &Client{conn: conn, br: bufio.NewReaderSize(conn, OutputChunk+16), addr: addr}
	_ = conn.SetDeadline(time.Now().Add(timeout))
	if token != "" {
		if err := WriteFrame(conn, FrameAuth, []byte(token)); err != nil {
			conn.Close()
			return nil, fmt.Errorf("agent at %s: send token: %w", addr, err)
		}
	}
	f, err := ReadFrame(c.br)
	if err != nil {
		conn.Close()
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) {
			return nil, fmt.Errorf("agent at %s: %w", addr, refusal("closed the connection before its hello"))
		}
		return nil, fmt.Errorf("agent at %s: read hello: %w", addr, err)
	}
	switch f.Type {
	case FrameHello:
	case FrameError:
		conn.Close()
		return nil, fmt.Errorf("agent at %s refused the connection: %w", addr, refusal(f.Payload))
	default:
		conn.Close()
		return nil, fmt.Errorf("agent at %s: expected hello, got frame %s", addr, f)
	}
	if err := json.Unmarshal(f.Payload, &c.hello); err != nil {
		conn.Close()
		return nil, fmt.Errorf("agent at %s: bad hello: %w", addr, err)
	}
	_ = conn.SetDeadline(time.Time{})
	return c, nil
}

// Hello returns what the agent announced when the connection opened.
func (c *Client) Hello() Hello { return c.hello }

// Addr is the socket path or TCP address connected to.
func (c *Client) Addr() string { return c.addr }

// Close closes the connection. A command still running in the agent is
// cancelled by it.
func (c *Client) Close() error { return c.conn.Close() }

// CancelGrace is how long Do waits, after ctx is done and the cancel frame
// sent, for the agent to end the request before closing the connection.
var CancelGrace = 5 * time.Second

// Do runs one command in the agent and streams its output to out. It
// returns nil on success, a *CommandError when the command failed (the
// Client stays usable), ctx.Err() when ctx ended first (the agent is sent a
// cancel frame; if it does not end the request within CancelGrace the
// connection is closed), or another error when the connection failed.
func (c *Client) Do(ctx context.Context, cmd string, args []string, out io.Writer) error {
	req, err := EncodeRequest(cmd, args)
	if err != nil {
		return &CommandError{Cmd: cmd, Msg: err.Error()}
	}
	if out == nil {
		out = io.Discard
	}
	if err := c.write(FrameRequest, req); err != nil {
		return fmt.Errorf("agent at %s: send request: %w", c.addr, err)
	}
	finished := make(chan struct{})
	watcher := make(chan struct{})
	// The watcher has ended before Do returns, so a late cancel frame can
	// only reach the agent before the next request, where it is ignored.
	defer func() { close(finished); <-watcher }()
	go func() {
		defer close(watcher)
		select {
		case <-finished:
		case <-ctx.Done():
			_ = c.write(FrameCancel, nil)
			select {
			case <-finished:
			case <-time.After(CancelGrace):
				c.conn.Close()
			}
		}
	}()
	var outErr error
	if c.scratch == nil {
		c.scratch = make([]byte, OutputChunk)
	}
	for {
		// Output frames are read into one buffer, reused.
		f, err := readFrame(c.br, c.scratch)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("agent at %s: %w", c.addr, noEOF(err))
		}
		switch f.Type {
		case FrameOutput:
			if outErr == nil {
				if _, err := out.Write(f.Payload); err != nil {
					// Keep reading to the end of the response so
					// the connection stays in step, but stop the
					// command: its output has nowhere to go.
					outErr = err
					_ = c.write(FrameCancel, nil)
				}
			}
		case FrameDone:
			if outErr != nil {
				return fmt.Errorf("write output of %s: %w", cmd, outErr)
			}
			return nil
		case FrameError:
			if outErr != nil {
				return fmt.Errorf("write output of %s: %w", cmd, outErr)
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return &CommandError{Cmd: cmd, Msg: string(f.Payload)}
		default:
			c.conn.Close()
			return fmt.Errorf("agent at %s: unexpected frame %s", c.addr, f)
		}
	}
}

func (c *Client) write(typ byte, p []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return WriteFrame(c.conn, typ, p)
}

// AgentInfo describes one agent found on this host.
type AgentInfo struct {
	PID       int       `json:"pid"`
	Name      string    `json:"name"`
	Socket    string    `json:"socket"`
	UID       int       `json:"uid"`
	User      string    `json:"user"`
	GoVersion string    `json:"go_version,omitempty"`
	Started   time.Time `json:"started,omitzero"`
	Commands  []string  `json:"commands,omitempty"`
	Exposed   []string  `json:"exposed,omitempty"`
	Err       string    `json:"error,omitempty"` // why the agent could not be asked (e.g. another user's)
}

// List finds the agents on this host that this process can see: every live
// PID.sock in the candidate socket directories. Each is asked for its hello
// (a short connection); one that refuses or does not answer is still listed,
// with Err set.
func List() ([]AgentInfo, error) {
	var out []AgentInfo
	seen := map[int]bool{}
	for _, dir := range candidateDirs() {
		ents, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range ents {
			pid, ok := pidOfSocket(e.Name())
			if !ok || e.Type()&os.ModeSocket == 0 || seen[pid] || !alive(pid) {
				continue
			}
			path := filepath.Join(dir, e.Name())
			info := AgentInfo{PID: pid, Socket: path, UID: -1}
			if fi, err := os.Stat(path); err == nil {
				if st, ok := fi.Sys().(*syscall.Stat_t); ok {
					info.UID = int(st.Uid)
					info.User = userName(info.UID)
				}
			}
			c, err := dialSocket(path, listTimeout)
			if err != nil {
				if errors.Is(err, syscall.ECONNREFUSED) {
					continue // a stale socket whose pid was reused
				}
				info.Err = shortErr(err)
			} else {
				h := c.Hello()
				c.Close()
				info.Name, info.GoVersion, info.Started = h.Name, h.GoVersion, h.Started
				info.Commands, info.Exposed = h.Commands, h.Exposed
			}
			seen[pid] = true
			out = append(out, info)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PID < out[j].PID })
	return out, nil
}

func shortErr(err error) string {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Sprintf("no hello within %s (process stopped or busy?)", listTimeout)
	}
	if errors.Is(err, ErrRefused) {
		return "refused"
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	var se syscall.Errno
	if errors.As(err, &se) {
		return se.Error()
	}
	return err.Error()
}

var userCache sync.Map

func userName(uid int) string {
	if v, ok := userCache.Load(uid); ok {
		return v.(string)
	}
	name := strconv.Itoa(uid)
	if u, err := user.LookupId(name); err == nil {
		name = u.Username
	}
	userCache.Store(uid, name)
	return name
}
