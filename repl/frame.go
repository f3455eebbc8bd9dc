package repl

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Frame types. Upper case letters, so that a hex dump of a session reads.
const (
	FrameHello   byte = 'H' // agent -> client: JSON Hello, first frame of a connection
	FrameAuth    byte = 'A' // client -> agent: token, first frame on TCP
	FrameRequest byte = 'R' // client -> agent: NUL-separated argv, command first
	FrameCancel  byte = 'C' // client -> agent: cancel the running request
	FrameOutput  byte = 'O' // agent -> client: a chunk of the command's output
	FrameDone    byte = 'D' // agent -> client: the request succeeded (empty payload)
	FrameError   byte = 'E' // agent -> client: the request failed; payload is the message
)

// MaxFramePayload bounds the payload of one frame. Output is split into
// chunks of at most OutputChunk bytes, well under it; a peer announcing a
// longer frame is cut off before anything is allocated.
const (
	MaxFramePayload = 1 << 20
	OutputChunk     = 32 << 10
)

// ErrFrameTooLarge is returned when a frame header announces more than
// MaxFramePayload bytes.
var ErrFrameTooLarge = errors.New("repl: frame too large")

// ErrBadFrame is returned for a frame with length zero (no type byte).
var ErrBadFrame = errors.New("repl: malformed frame")

// Frame is one protocol unit: a type byte and its payload.
type Frame struct {
	Type    byte
	Payload []byte
}

func (f Frame) String() string {
	return fmt.Sprintf("%c[%d]", f.Type, len(f.Payload))
}

// frameHeader is the length of a frame's header: length and type.
const frameHeader = 5

// putHeader fills the first frameHeader bytes of b for a frame of typ with
// n payload bytes.
func putHeader(b []byte, typ byte, n int) {
	binary.BigEndian.PutUint32(b[:4], uint32(n+1))
	b[4] = typ
}

// WriteFrame writes one frame: a 4-byte big-endian length of what follows,
// the type byte, then the payload.
func WriteFrame(w io.Writer, typ byte, payload []byte) error {
	if len(payload) > MaxFramePayload {
		return ErrFrameTooLarge
	}
	var hdr [frameHeader]byte
	putHeader(hdr[:], typ, len(payload))
	if len(payload) == 0 {
		_, err := w.Write(hdr[:])
		return err
	}
	// One write per frame keeps frames whole on the wire even when a
	// writer is shared with care; the copy is bounded by OutputChunk for
	// output and by MaxFramePayload otherwise.
	buf := make([]byte, 5+len(payload))
	copy(buf, hdr[:])
	copy(buf[5:], payload)
	_, err := w.Write(buf)
	return err
}

// ReadFrame reads one frame. It returns io.EOF only when the stream ends
// cleanly between frames, io.ErrUnexpectedEOF inside one.
func ReadFrame(r *bufio.Reader) (Frame, error) {
	return readFrame(r, nil)
}

// readFrame is ReadFrame reading the payload into scratch when it is large
// enough (the payload is then only valid until scratch is reused).
func readFrame(r *bufio.Reader, scratch []byte) (Frame, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return Frame{}, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n == 0 {
		return Frame{}, ErrBadFrame
	}
	if n-1 > MaxFramePayload {
		return Frame{}, ErrFrameTooLarge
	}
	typ, err := r.ReadByte()
	if err != nil {
		return Frame{}, noEOF(err)
	}
	f := Frame{Type: typ}
	if n > 1 {
		if int(n-1) <= cap(scratch) {
			f.Payload = scratch[:n-1]
		} else {
			f.Payload = make([]byte, n-1)
		}
		if _, err := io.ReadFull(r, f.Payload); err != nil {
			return Frame{}, noEOF(err)
		}
	}
	return f, nil
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// EncodeRequest builds the payload of a request frame: the command and its
// arguments separated by NUL bytes.
func EncodeRequest(cmd string, args []string) ([]byte, error) {
	if cmd == "" {
		return nil, errors.New("repl: empty command")
	}
	n := len(cmd)
	for _, a := range append([]string{cmd}, args...) {
		if strings.IndexByte(a, 0) >= 0 {
			return nil, fmt.Errorf("repl: argument %q contains a NUL byte", a)
		}
		n += len(a) + 1
	}
	if n > MaxFramePayload {
		return nil, fmt.Errorf("repl: request of %d bytes is over the %d byte limit", n, MaxFramePayload)
	}
	b := make([]byte, 0, n)
	b = append(b, cmd...)
	for _, a := range args {
		b = append(b, 0)
		b = append(b, a...)
	}
	return b, nil
}

// DecodeRequest splits a request payload into the command and its
// arguments.
func DecodeRequest(p []byte) (cmd string, args []string, err error) {
	if len(p) == 0 {
		return "", nil, errors.New("repl: empty request")
	}
	parts := strings.Split(string(p), "\x00")
	if parts[0] == "" {
		return "", nil, errors.New("repl: request without a command")
	}
	return parts[0], parts[1:], nil
}
