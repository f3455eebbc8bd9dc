package repl

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

func TestFrameRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	frames := []Frame{
		{FrameHello, []byte(`{"proto":1}`)},
		{FrameRequest, []byte("get\x00stats")},
		{FrameCancel, nil},
		{FrameOutput, bytes.Repeat([]byte{0, 1, 2, 0xff}, 10000)},
		{FrameDone, nil},
		{FrameError, []byte("bad")},
	}
	for _, f := range frames {
		if err := WriteFrame(&buf, f.Type, f.Payload); err != nil {
			t.Fatal(err)
		}
	}
	// The wire format is exactly length (of type + payload), type, payload.
	wire := buf.Bytes()
	if n := binary.BigEndian.Uint32(wire); n != uint32(1+len(frames[0].Payload)) || wire[4] != 'H' {
		t.Fatalf("header % x", wire[:5])
	}
	r := bufio.NewReader(&buf)
	for i, want := range frames {
		got, err := ReadFrame(r)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if got.Type != want.Type || !bytes.Equal(got.Payload, want.Payload) {
			t.Fatalf("frame %d: got %s want %s", i, got, want)
		}
	}
	if _, err := ReadFrame(r); err != io.EOF {
		t.Fatalf("after last frame: %v, want io.EOF", err)
	}
}

func TestFrameErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"zero length", []byte{0, 0, 0, 0}, ErrBadFrame},
		{"too large", []byte{0, 0x10, 0, 2, 'O'}, ErrFrameTooLarge},
		{"huge", []byte{0xff, 0xff, 0xff, 0xff}, ErrFrameTooLarge},
		{"cut header", []byte{0, 0}, io.ErrUnexpectedEOF},
		{"cut type", []byte{0, 0, 0, 3}, io.ErrUnexpectedEOF},
		{"cut payload", []byte{0, 0, 0, 3, 'O', 'x'}, io.ErrUnexpectedEOF},
	} {
		_, err := ReadFrame(bufio.NewReader(bytes.NewReader(tc.in)))
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
	if err := WriteFrame(io.Discard, FrameOutput, make([]byte, MaxFramePayload+1)); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("writing an oversized frame: %v", err)
	}
	// The largest allowed frame is accepted.
	var buf bytes.Buffer
	if err := WriteFrame(&buf, FrameOutput, make([]byte, MaxFramePayload)); err != nil {
		t.Fatal(err)
	}
	if f, err := ReadFrame(bufio.NewReader(&buf)); err != nil || len(f.Payload) != MaxFramePayload {
		t.Fatalf("max frame: %v %d", err, len(f.Payload))
	}
}

func TestRequestEncoding(t *testing.T) {
	for _, tc := range []struct {
		cmd  string
		args []string
	}{
		{"help", nil},
		{"get", []string{"stats"}},
		{"eval", []string{`a == "x y"`}},
		{"x", []string{"", "", "z"}},
	} {
		p, err := EncodeRequest(tc.cmd, tc.args)
		if err != nil {
			t.Fatal(err)
		}
		cmd, args, err := DecodeRequest(p)
		if err != nil {
			t.Fatal(err)
		}
		if len(tc.args) == 0 {
			tc.args = []string{}
		}
		if cmd != tc.cmd || !reflect.DeepEqual(args, tc.args) {
			t.Errorf("%q %q -> %q -> %q %q", tc.cmd, tc.args, p, cmd, args)
		}
	}
	if _, err := EncodeRequest("", nil); err == nil {
		t.Error("empty command encoded")
	}
	if _, err := EncodeRequest("get", []string{"a\x00b"}); err == nil {
		t.Error("NUL in an argument encoded")
	}
	if _, err := EncodeRequest("eval", []string{strings.Repeat("x", MaxFramePayload)}); err == nil {
		t.Error("oversized request encoded")
	}
	if _, _, err := DecodeRequest(nil); err == nil {
		t.Error("empty request decoded")
	}
	if _, _, err := DecodeRequest([]byte("\x00x")); err == nil {
		t.Error("request without command decoded")
	}
}

// FuzzReadFrame feeds arbitrary bytes to the frame and request decoders:
// they must never panic, never allocate more than the header allows, and
// what they accept must encode back to the same bytes.
func FuzzReadFrame(f *testing.F) {
	var seed bytes.Buffer
	_ = WriteFrame(&seed, FrameRequest, []byte("get\x00stats"))
	_ = WriteFrame(&seed, FrameCancel, nil)
	f.Add(seed.Bytes())
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 'O'})
	f.Add([]byte{0, 0, 0, 2, 'E'})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReader(bytes.NewReader(data))
		var again bytes.Buffer
		consumed := 0
		for {
			fr, err := ReadFrame(r)
			if err != nil {
				break
			}
			if len(fr.Payload) > MaxFramePayload {
				t.Fatalf("payload of %d bytes accepted", len(fr.Payload))
			}
			consumed += 5 + len(fr.Payload)
			if err := WriteFrame(&again, fr.Type, fr.Payload); err != nil {
				t.Fatal(err)
			}
			if fr.Type == FrameRequest {
				if cmd, args, err := DecodeRequest(fr.Payload); err == nil {
					p, err := EncodeRequest(cmd, args)
					if err != nil || !bytes.Equal(p, fr.Payload) {
						t.Fatalf("request %q re-encodes to %q (%v)", fr.Payload, p, err)
					}
				}
			}
		}
		if !bytes.Equal(again.Bytes(), data[:consumed]) {
			t.Fatalf("frames re-encode differently")
		}
	})
}
