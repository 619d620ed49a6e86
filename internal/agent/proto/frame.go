package proto

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// FrameType is the first byte of an exec stream frame.
type FrameType byte

// Frames the host sends to the agent.
const (
	FrameStdin    FrameType = 0x01 // payload: stdin bytes
	FrameStdinEOF FrameType = 0x02 // no payload
	FrameResize   FrameType = 0x03 // payload: EncodeResize
	FrameSignal   FrameType = 0x04 // payload: EncodeSignal
)

// Frames the agent sends to the host.
const (
	FrameStdout FrameType = 0x11 // payload: stdout bytes (PTY output with tty)
	FrameStderr FrameType = 0x12 // payload: stderr bytes
	FrameExit   FrameType = 0x13 // payload: EncodeExit; always the last frame
	FrameError  FrameType = 0x14 // payload: UTF-8 message; an exit frame follows
)

func (t FrameType) String() string {
	switch t {
	case FrameStdin:
		return "stdin"
	case FrameStdinEOF:
		return "stdin-eof"
	case FrameResize:
		return "resize"
	case FrameSignal:
		return "signal"
	case FrameStdout:
		return "stdout"
	case FrameStderr:
		return "stderr"
	case FrameExit:
		return "exit"
	case FrameError:
		return "error"
	}
	return fmt.Sprintf("unknown(0x%02x)", byte(t))
}

// MaxFrameSize bounds a frame's payload. Both sides refuse larger frames.
const MaxFrameSize = 1 << 20

// headerSize is the type byte plus the big-endian uint32 length.
const headerSize = 5

// ErrFrameTooLarge is returned by ReadFrame and WriteFrame for a payload
// over MaxFrameSize.
var ErrFrameTooLarge = errors.New("exec frame exceeds the 1 MiB limit")

// Frame is one decoded frame.
type Frame struct {
	Type    FrameType
	Payload []byte
}

// WriteFrame writes one frame with a single Write call.
func WriteFrame(w io.Writer, t FrameType, payload []byte) error {
	if len(payload) > MaxFrameSize {
		return fmt.Errorf("write %s frame of %d bytes: %w", t, len(payload), ErrFrameTooLarge)
	}
	buf := make([]byte, headerSize+len(payload))
	buf[0] = byte(t)
	binary.BigEndian.PutUint32(buf[1:headerSize], uint32(len(payload)))
	copy(buf[headerSize:], payload)
	_, err := w.Write(buf)
	return err
}

// ReadFrame reads one frame. It returns io.EOF when the stream ends cleanly
// between frames and io.ErrUnexpectedEOF when it ends inside one.
func ReadFrame(r io.Reader) (Frame, error) {
	var hdr [headerSize]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return Frame{}, err
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n > MaxFrameSize {
		return Frame{}, fmt.Errorf("read %s frame announcing %d bytes: %w", FrameType(hdr[0]), n, ErrFrameTooLarge)
	}
	f := Frame{Type: FrameType(hdr[0]), Payload: make([]byte, n)}
	if _, err := io.ReadFull(r, f.Payload); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return Frame{}, err
	}
	return f, nil
}

// EncodeResize encodes a terminal size as rows then columns.
func EncodeResize(rows, cols uint16) []byte {
	b := make([]byte, 4)
	binary.BigEndian.PutUint16(b[0:2], rows)
	binary.BigEndian.PutUint16(b[2:4], cols)
	return b
}

// DecodeResize decodes EncodeResize.
func DecodeResize(p []byte) (rows, cols uint16, err error) {
	if len(p) != 4 {
		return 0, 0, fmt.Errorf("resize frame has %d bytes, want 4", len(p))
	}
	return binary.BigEndian.Uint16(p[0:2]), binary.BigEndian.Uint16(p[2:4]), nil
}

// EncodeSignal encodes a signal number.
func EncodeSignal(sig int32) []byte {
	return binary.BigEndian.AppendUint32(nil, uint32(sig))
}

// DecodeSignal decodes EncodeSignal.
func DecodeSignal(p []byte) (int32, error) {
	if len(p) != 4 {
		return 0, fmt.Errorf("signal frame has %d bytes, want 4", len(p))
	}
	return int32(binary.BigEndian.Uint32(p)), nil
}

// Exit is how a command ended. Signal is non-zero when a signal killed it;
// Code is then 128+Signal, as a shell reports it.
type Exit struct {
	Code   int32
	Signal int32
}

// EncodeExit encodes e as code then signal.
func EncodeExit(e Exit) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(e.Code))
	return binary.BigEndian.AppendUint32(b, uint32(e.Signal))
}

// DecodeExit decodes EncodeExit.
func DecodeExit(p []byte) (Exit, error) {
	if len(p) != 8 {
		return Exit{}, fmt.Errorf("exit frame has %d bytes, want 8", len(p))
	}
	return Exit{Code: int32(binary.BigEndian.Uint32(p[0:4])), Signal: int32(binary.BigEndian.Uint32(p[4:8]))}, nil
}
