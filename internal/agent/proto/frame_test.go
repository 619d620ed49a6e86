package proto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestFrameRoundTrip(t *testing.T) {
	frames := []Frame{
		{Type: FrameStdin, Payload: []byte("hello")},
		{Type: FrameStdinEOF, Payload: []byte{}},
		{Type: FrameResize, Payload: EncodeResize(24, 80)},
		{Type: FrameSignal, Payload: EncodeSignal(15)},
		{Type: FrameStdout, Payload: bytes.Repeat([]byte("x"), MaxFrameSize)},
		{Type: FrameExit, Payload: EncodeExit(Exit{Code: 137, Signal: 9})},
	}
	var buf bytes.Buffer
	for _, f := range frames {
		if err := WriteFrame(&buf, f.Type, f.Payload); err != nil {
			t.Fatal(err)
		}
	}
	var got []Frame
	for {
		f, err := ReadFrame(&buf)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, f)
	}
	if len(got) != len(frames) {
		t.Fatalf("read %d frames, want %d", len(got), len(frames))
	}
	for i, f := range frames {
		// bytes.Equal, not cmp: cmp walks a 1 MiB slice byte by byte.
		if got[i].Type != f.Type || !bytes.Equal(got[i].Payload, f.Payload) {
			t.Errorf("frame %d = %s of %d bytes, want %s of %d bytes", i, got[i].Type, len(got[i].Payload), f.Type, len(f.Payload))
		}
	}
}

func TestReadFrameRejects(t *testing.T) {
	huge := []byte{byte(FrameStdout), 0, 0, 0, 0}
	binary.BigEndian.PutUint32(huge[1:], MaxFrameSize+1)
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"huge length", huge, ErrFrameTooLarge},
		{"max uint32 length", []byte{0x11, 0xff, 0xff, 0xff, 0xff}, ErrFrameTooLarge},
		{"truncated header", []byte{0x11, 0}, io.ErrUnexpectedEOF},
		{"truncated payload", []byte{0x11, 0, 0, 0, 9, 'a'}, io.ErrUnexpectedEOF},
		{"empty", nil, io.EOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadFrame(bytes.NewReader(tt.in))
			if !errors.Is(err, tt.want) {
				t.Errorf("ReadFrame error = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestWriteFrameTooLarge(t *testing.T) {
	err := WriteFrame(io.Discard, FrameStdin, make([]byte, MaxFrameSize+1))
	if !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("WriteFrame error = %v, want ErrFrameTooLarge", err)
	}
}

func TestPayloadDecoders(t *testing.T) {
	rows, cols, err := DecodeResize(EncodeResize(40, 132))
	if err != nil || rows != 40 || cols != 132 {
		t.Errorf("DecodeResize = %d, %d, %v; want 40, 132, nil", rows, cols, err)
	}
	sig, err := DecodeSignal(EncodeSignal(2))
	if err != nil || sig != 2 {
		t.Errorf("DecodeSignal = %d, %v; want 2, nil", sig, err)
	}
	e, err := DecodeExit(EncodeExit(Exit{Code: -1}))
	if err != nil || e != (Exit{Code: -1}) {
		t.Errorf("DecodeExit = %+v, %v; want {-1 0}, nil", e, err)
	}
	for name, err := range map[string]error{
		"resize": func() error { _, _, err := DecodeResize([]byte{1}); return err }(),
		"signal": func() error { _, err := DecodeSignal(nil); return err }(),
		"exit":   func() error { _, err := DecodeExit([]byte{1, 2, 3}); return err }(),
	} {
		if err == nil || !strings.Contains(err.Error(), "want") {
			t.Errorf("%s decoder accepted a short payload (err %v)", name, err)
		}
	}
	if got, want := FrameType(0x7f).String(), "unknown(0x7f)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}
