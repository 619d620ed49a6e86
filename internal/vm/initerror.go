package vm

import (
	"bytes"
	"io"
	"os"
	"strings"

	"banger/internal/initramfs"
)

// initErrorTail is how much of the end of the console log initError reads.
const initErrorTail = 256 << 10

// initError returns the error line banger-init printed on the console
// during the latest boot in the console log at path (the text after the
// last kernel banner), or "" if there is none. Such a guest never starts
// its agent: the line says why.
func initError(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return ""
	}
	off := max(st.Size()-initErrorTail, 0)
	b, err := io.ReadAll(io.NewSectionReader(f, off, st.Size()-off))
	if err != nil {
		return ""
	}
	if i := bytes.LastIndex(b, []byte("Linux version ")); i >= 0 {
		b = b[i:]
	} else if off > 0 {
		return "" // the latest boot's start is not in the tail
	}
	i := bytes.Index(b, []byte(initramfs.ErrorMarker))
	if i < 0 {
		return ""
	}
	line := b[i:]
	if j := bytes.IndexByte(line, '\n'); j >= 0 {
		line = line[:j]
	}
	return strings.TrimSpace(string(line))
}
