package userfile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"

	"banger/internal/bytesize"
	"banger/internal/errdefs"
)

// chunk is how much Copy moves between two looks at its context.
const chunk = 1 << 20

// Copy copies src to dst until src ends, in chunks of at most 1 MiB,
// checking ctx before each: a cancelled copy stops within one chunk and
// returns ctx's error. It returns the number of bytes written.
func Copy(ctx context.Context, dst io.Writer, src io.Reader) (int64, error) {
	buf := make([]byte, chunk)
	var written int64
	for {
		if err := ctx.Err(); err != nil {
			return written, err
		}
		n, rerr := src.Read(buf)
		if n > 0 {
			m, werr := dst.Write(buf[:n])
			written += int64(m)
			if werr != nil {
				return written, werr
			}
			if m != n {
				return written, io.ErrShortWrite
			}
		}
		if errors.Is(rerr, io.EOF) {
			return written, nil
		}
		if rerr != nil {
			return written, rerr
		}
	}
}

// ReadFile opens path with Open and returns its contents, at most maxSize
// bytes. A file that grows past maxSize while it is read is refused too.
func ReadFile(path string, maxSize int64) ([]byte, error) {
	f, err := Open(path, maxSize)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	limit := maxSize
	if limit < math.MaxInt64 {
		limit++ // one byte more tells a file that grew
	}
	data, err := io.ReadAll(io.LimitReader(f, limit))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(data)) > maxSize {
		return nil, errdefs.Wrap(errdefs.InvalidArgument, &fileError{ErrTooLarge,
			fmt.Sprintf("%s grew past the %s allowed here while it was read", path, bytesize.Format(maxSize))})
	}
	return data, nil
}
