// Package repl is an agent a Go service links in, and the client that talks
// to it: an operator connects to the running process and looks inside
// (goroutines, memory, GC settings, log level, exposed values, profiles).
//
// In the service:
//
//	a, err := repl.Start(repl.Config{Name: "checkout", LogLevel: lv})
//	if err != nil { ... }
//	defer a.Close()
//	a.Expose("stats", func() Stats { mu.Lock(); defer mu.Unlock(); return st })
//	a.Command("flush", "flush the cache", func(ctx context.Context, args []string, w io.Writer) error { ... })
//
// From a shell: obs ps, obs repl checkout, obs repl -e goroutines PID.
//
// # Where it listens, and who may connect
//
// The agent listens on a unix socket named PID.sock in $XDG_RUNTIME_DIR/obs,
// or /tmp/obs-UID when XDG_RUNTIME_DIR is unset. The directory is created
// with mode 0700 and refused if another user owns it; the socket has mode
// 0600. Each connection's peer is checked with SO_PEERCRED: only the
// service's own uid and root are served; anyone else gets an error frame,
// and the refusal is logged. Start removes sockets left by dead processes;
// Close removes its own. TCP is off unless Config.TCP asks for it, and then
// every TCP connection must first present the token.
//
// Idle, the agent is one goroutine parked in Accept (the netpoller wakes it
// only when a client connects): no timers, no polling, no allocation.
//
// # Protocol
//
// Both directions are a sequence of frames:
//
//	+----------------------+------+----------------------+
//	| length: uint32, BE   | type | payload              |
//	| (1 + len(payload))   | byte | length-1 bytes       |
//	+----------------------+------+----------------------+
//
// A payload is at most MaxFramePayload (1 MiB) bytes; a longer header ends
// the connection. Frame types:
//
//	'A' client->agent  token (TCP only, the first frame the client sends)
//	'H' agent->client  hello: JSON {proto, name, pid, go_version, module, started, commands, exposed}
//	'R' client->agent  request: the command and its arguments separated by NUL bytes
//	'C' client->agent  cancel the running request
//	'O' agent->client  a chunk of output (at most 32 KiB), raw bytes
//	'D' agent->client  the request succeeded; empty payload
//	'E' agent->client  the request failed; payload is a one-line message
//
// The agent speaks first: a hello, or an 'E' frame and close when the peer
// is refused. Then the client sends one request at a time; each is answered
// by zero or more 'O' frames and exactly one 'D' or 'E'. Errors never mix
// with output. A 'C' (or closing the connection) cancels the command's
// context; the answer is then 'E' "cancelled". A second 'R' before the
// answer is a protocol error and ends the connection.
//
// A request's output is capped at Config.MaxOutput bytes: past it writes
// fail, the command's context is cancelled, and the answer is 'E'. A panic
// in a command is recovered, logged with its stack, and answered 'E'; the
// service goes on.
package repl
