package kernelbuild

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"banger/internal/errdefs"
	"banger/internal/tarstream"
)

// arMagic starts an ar archive, the container of a .deb.
const arMagic = "!<arch>\n"

// maxDebMember bounds one member of a .deb.
const maxDebMember = 1 << 30

// debData finds the data.tar member of a .deb read from r and returns a
// reader of its uncompressed tar stream (xz, zstd, gzip or none). The
// caller closes it.
func debData(r io.Reader) (io.ReadCloser, error) {
	br := bufio.NewReader(r)
	magic := make([]byte, len(arMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != arMagic {
		return nil, errdefs.InvalidArgumentf("not a .deb: no ar header")
	}
	for {
		hdr := make([]byte, 60)
		if _, err := io.ReadFull(br, hdr); err != nil {
			if errors.Is(err, io.EOF) {
				return nil, errdefs.InvalidArgumentf("the .deb has no data.tar member")
			}
			return nil, errdefs.InvalidArgumentf("read the .deb: %v", err)
		}
		if string(hdr[58:60]) != "`\n" {
			return nil, errdefs.InvalidArgumentf("the .deb has a corrupt ar member header")
		}
		name := strings.TrimSuffix(strings.TrimSpace(string(hdr[0:16])), "/")
		size, err := strconv.ParseInt(strings.TrimSpace(string(hdr[48:58])), 10, 64)
		if err != nil || size < 0 || size > maxDebMember {
			return nil, errdefs.InvalidArgumentf("the .deb member %q has a bad size %q", name, strings.TrimSpace(string(hdr[48:58])))
		}
		if strings.HasPrefix(name, "data.tar") {
			return decompressTar(name, io.LimitReader(br, size))
		}
		if _, err := io.CopyN(io.Discard, br, size+size%2); err != nil {
			return nil, errdefs.InvalidArgumentf("the .deb is truncated in member %q", name)
		}
	}
}

func decompressTar(name string, r io.Reader) (io.ReadCloser, error) {
	switch name {
	case "data.tar":
		return io.NopCloser(r), nil
	case "data.tar.xz":
		if p, err := exec.LookPath("xz"); err == nil {
			return xzProgram(p, r)
		}
		xr, err := xz.NewReader(bufio.NewReaderSize(r, 1<<20))
		if err != nil {
			return nil, errdefs.InvalidArgumentf("the .deb's %s: %v", name, err)
		}
		return io.NopCloser(xr), nil
	case "data.tar.zst":
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, errdefs.InvalidArgumentf("the .deb's %s: %v", name, err)
		}
		return zr.IOReadCloser(), nil
	case "data.tar.gz":
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, errdefs.InvalidArgumentf("the .deb's %s: %v", name, err)
		}
		return zr, nil
	}
	return nil, errdefs.InvalidArgumentf("the .deb's data member %q is compressed in a way banger does not read", name)
}

// xzProgram decompresses r with the xz program, several times faster than
// the pure-Go reader on a kernel package's 100 MB of tar. Close kills xz
// if the stream was not read to its end and waits for it.
func xzProgram(path string, r io.Reader) (io.ReadCloser, error) {
	cmd := exec.Command(path, "--decompress", "--stdout", "--quiet")
	cmd.Stdin = r
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("run xz: %w", err)
	}
	return &xzReader{cmd: cmd, out: out, stderr: &stderr}, nil
}

type xzReader struct {
	cmd    *exec.Cmd
	out    io.ReadCloser
	stderr *bytes.Buffer
	done   bool
}

func (x *xzReader) Read(p []byte) (int, error) {
	n, err := x.out.Read(p)
	if errors.Is(err, io.EOF) && !x.done {
		x.done = true
		if werr := x.cmd.Wait(); werr != nil {
			return n, errdefs.InvalidArgumentf("the .deb's data.tar.xz: xz: %v %s", werr, strings.TrimSpace(x.stderr.String()))
		}
	}
	return n, err
}

func (x *xzReader) Close() error {
	if !x.done {
		x.done = true
		_ = x.cmd.Process.Kill()
		_ = x.out.Close()
		_ = x.cmd.Wait()
	}
	return nil
}

// walkDeb calls fn for every regular file of the .deb's data tar, by its
// cleaned relative name. The stream passes through tarstream.Check first,
// so an entry with an absolute or ".." name, a device node or any other
// entry tarstream refuses fails the walk before fn sees anything after
// it.
func walkDeb(deb io.Reader, fn func(name string, size int64, r io.Reader) error) error {
	data, err := debData(deb)
	if err != nil {
		return err
	}
	defer data.Close()
	pr, pw := io.Pipe()
	checked := make(chan error, 1)
	go func() {
		_, err := tarstream.Check(data, pw, tarstream.Options{})
		pw.CloseWithError(err)
		checked <- err
	}()
	walkErr := func() error {
		tr := tar.NewReader(pr)
		for {
			hdr, err := tr.Next()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			if hdr.Typeflag != tar.TypeReg {
				continue
			}
			if err := fn(hdr.Name, hdr.Size, tr); err != nil {
				return err
			}
		}
	}()
	// Stop the checker if the walk ended early; a refused entry reaches
	// the walk through the pipe as its error.
	pr.CloseWithError(errors.New("walk ended"))
	cerr := <-checked
	if walkErr != nil {
		return fmt.Errorf("read the .deb: %w", walkErr)
	}
	if cerr != nil {
		return fmt.Errorf("read the .deb: %w", cerr)
	}
	return nil
}

// readAllMax reads r to its end, failing past max bytes.
func readAllMax(r io.Reader, max int64, what string) ([]byte, error) {
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(r, max+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	if n > max {
		return nil, errdefs.InvalidArgumentf("%s is larger than %d MiB", what, max>>20)
	}
	return buf.Bytes(), nil
}
