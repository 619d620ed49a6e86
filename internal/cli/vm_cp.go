package cli

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"banger/internal/api"
	"banger/internal/bytesize"
	"banger/internal/client"
	"banger/internal/errdefs"
	"banger/internal/tarstream"
)

// guestHome is where a relative guest path starts, as commands do.
const guestHome = "/root"

// cpEnd is one side of vm cp: a guest path (vm set), a host path, or "-"
// (a tar stream on stdin or stdout).
type cpEnd struct {
	vm   string
	path string
	std  bool
}

func (e cpEnd) String() string {
	switch {
	case e.std:
		return "-"
	case e.vm != "":
		return e.vm + ":" + e.path
	}
	return e.path
}

// parseCpEnd reads one argument of vm cp. NAME:PATH names a guest path
// when NAME looks like a VM name or id (lowercase letters, digits and
// '-'); anything else is a host path, so "./a:b", "/tmp/a:b" and a
// Windows-looking "C:\x" stay on the host. A relative guest path (or
// none, "NAME:") starts at /root.
func parseCpEnd(arg string) cpEnd {
	if arg == "-" {
		return cpEnd{std: true}
	}
	name, p, ok := strings.Cut(arg, ":")
	if !ok || !vmRefLike(name) {
		return cpEnd{path: arg}
	}
	if !strings.HasPrefix(p, "/") {
		p = guestHome + "/" + p
	}
	return cpEnd{vm: name, path: p}
}

func vmRefLike(s string) bool {
	if s == "" || len(s) > 64 || s[0] == '-' {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// cpPlan is one copy, parsed and checked for shape.
type cpPlan struct {
	src, dst cpEnd
}

func planCp(srcArg, dstArg string) (cpPlan, error) {
	src, dst := parseCpEnd(srcArg), parseCpEnd(dstArg)
	usage := "vm cp copies between the host and one VM: give NAME:PATH on exactly one side, e.g. banger vm cp ./dir dev:/root/ or banger vm cp dev:/etc/hosts . " +
		"(a local path that contains ':' can be written ./a:b)"
	switch {
	case src.vm != "" && dst.vm != "":
		return cpPlan{}, errdefs.InvalidArgumentf("%s and %s are both in VMs: %s", src, dst, usage)
	case src.vm == "" && dst.vm == "":
		return cpPlan{}, errdefs.InvalidArgumentf("neither %s nor %s is in a VM: %s", srcArg, dstArg, usage)
	case src.path == "" && !src.std || dst.path == "" && !dst.std:
		return cpPlan{}, errdefs.InvalidArgumentf("an empty host path: %s", usage)
	}
	return cpPlan{src: src, dst: dst}, nil
}

func (a *app) vmCpCommand() *cobra.Command {
	var (
		timeout time.Duration
		json    bool
	)
	cmd := &cobra.Command{
		Use:               "cp SRC DST",
		ValidArgsFunction: a.completeCpEnd,
		Short:             "Copy files and directories between the host and a VM",
		Long: "Copy a file or a directory tree between the host and a running VM, like docker cp: one side is\n" +
			"NAME:PATH (relative guest paths start at /root), the other a host path or - for a tar stream on\n" +
			"stdin (unpacked into the guest directory NAME:PATH) or stdout (a tar of NAME:PATH).\n\n" +
			"A file copied to an existing directory lands inside it; to a missing path, it gets that name\n" +
			"(a missing path ending in / is an error). A directory copied to an existing directory lands\n" +
			"inside it, or only its contents when SRC ends in /.; to a missing path, it is created with that\n" +
			"name. The parent of a missing destination must exist. Modes and modification times are kept,\n" +
			"symlinks are copied as symlinks, and what comes from the guest is unpacked only inside the\n" +
			"destination: entries that try to leave it, or are device nodes or FIFOs, stop the copy.",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			plan, err := planCp(args[0], args[1])
			if err != nil {
				return err
			}
			if json && plan.dst.std {
				return fmt.Errorf("--json cannot be combined with DST -: the tar stream is the output")
			}
			cl, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			vm := plan.src.vm + plan.dst.vm
			if v, err := cl.GetVM(cmd.Context(), vm); err != nil {
				return err
			} else if v.State == api.StateStarting || v.State == api.StateRunning {
				// A VM that was just started may still be booting.
				if _, err := cl.WaitVM(cmd.Context(), vm, timeout); err != nil {
					return err
				}
			}
			start := time.Now()
			var n cpCount
			if plan.dst.vm != "" {
				err = a.cpToGuest(cmd.Context(), cl, plan, &n)
			} else {
				err = a.cpFromGuest(cmd.Context(), cl, plan, &n)
			}
			if err != nil {
				return err
			}
			if json {
				return writeJSON(a.env.Stdout, cpResult{Source: plan.src.String(), Destination: plan.dst.String(), TarBytes: n.bytes})
			}
			if !plan.dst.std {
				// Entries are counted where the tar is unpacked: on the
				// host, not in the guest.
				entries := ""
				if plan.dst.vm == "" {
					entries = fmt.Sprintf("%d entries, ", n.entries)
				}
				fmt.Fprintf(a.env.Stderr, "copied %s to %s (%s%s)\n", bytesize.Format(n.bytes), plan.dst, entries, time.Since(start).Round(time.Millisecond))
			}
			return nil
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "how long to wait for a booting guest to become ready")
	cmd.Flags().BoolVar(&json, "json", false, "print what was copied as JSON (not with DST -)")
	return cmd
}

// cpResult is what vm cp --json prints: the ends, and the size of the tar
// stream that went between them (headers and padding included).
type cpResult struct {
	Source      string `json:"source"`
	Destination string `json:"destination"`
	TarBytes    int64  `json:"tar_bytes"`
}

// cpCount counts what a copy moved.
type cpCount struct {
	entries int
	bytes   int64
}

// counter counts the bytes read through it.
type counter struct {
	r io.Reader
	n *int64
}

func (c counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	*c.n += int64(n)
	return n, err
}

// errUploadEnded stops the tar writer when the upload is over (or failed).
var errUploadEnded = errors.New("the upload ended")

// cpToGuest copies a host path, or a tar on stdin, into the guest.
func (a *app) cpToGuest(ctx context.Context, cl *client.Client, p cpPlan, n *cpCount) error {
	vm, dst := p.dst.vm, p.dst.path
	clean := path.Clean(dst)
	st, err := cl.StatPath(ctx, vm, clean)
	exists := err == nil
	if err != nil && !errdefs.Is(err, errdefs.NotFound) {
		return err
	}
	if p.src.std {
		if !exists || !st.Dir {
			return errdefs.InvalidArgumentf("%s is not a directory in the guest: with - as the source, the destination must be an existing directory", p.dst)
		}
		return cl.UploadFiles(ctx, vm, clean, counter{a.stdin(), &n.bytes})
	}
	src := p.src.path
	info, err := os.Lstat(src)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return errdefs.NotFoundf("%s does not exist on the host", src)
		}
		return errdefs.InvalidArgumentf("read %s: %w", src, err)
	}
	abs, err := filepath.Abs(src)
	if err != nil {
		return err
	}
	// Where the tar is extracted in the guest, and what its top entry is called.
	dir, top := clean, filepath.Base(abs)
	switch {
	case exists && st.Dir:
		if info.IsDir() && contentsOnly(src) {
			top = "."
		}
	case exists:
		if info.IsDir() {
			return errdefs.InvalidArgumentf("cannot copy the directory %s over the file %s", src, p.dst)
		}
		dir, top = path.Dir(clean), path.Base(clean)
	default:
		if strings.HasSuffix(dst, "/") && !info.IsDir() {
			return errdefs.NotFoundf("the directory %s does not exist in the guest: create it first, or drop the trailing / to copy %s to a file of that name", p.dst, src)
		}
		dir, top = path.Dir(clean), path.Base(clean)
		if pst, err := cl.StatPath(ctx, vm, dir); err != nil || !pst.Dir {
			if err != nil && !errdefs.Is(err, errdefs.NotFound) {
				return err
			}
			return errdefs.NotFoundf("the directory %s:%s does not exist: create it first (banger vm exec %s -- mkdir -p %s)", vm, dir, vm, dir)
		}
	}
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := tarstream.Write(pw, filepath.Clean(src), top, func(file string, mode fs.FileMode) {
			fmt.Fprintf(a.env.Stderr, "banger: skipped %s: a %s is not copied\n", file, fileKind(mode))
		})
		pw.CloseWithError(err)
		done <- err
	}()
	err = cl.UploadFiles(ctx, vm, dir, counter{pr, &n.bytes})
	pr.CloseWithError(errUploadEnded)
	if werr := <-done; werr != nil && !errors.Is(werr, errUploadEnded) {
		return fmt.Errorf("copy %s to %s: %w", src, p.dst, werr)
	}
	return err
}

// cpFromGuest copies a guest path to a host path, or as a tar to stdout.
func (a *app) cpFromGuest(ctx context.Context, cl *client.Client, p cpPlan, n *cpCount) error {
	rc, err := cl.DownloadFiles(ctx, p.src.vm, path.Clean(p.src.path))
	if err != nil {
		return err
	}
	defer rc.Close()
	stream := counter{rc, &n.bytes}
	if p.dst.std {
		// Checked on the way, so what reaches stdout has no entry the
		// host side would refuse.
		n.entries, err = tarstream.Check(stream, a.env.Stdout, tarstream.Options{})
		return err
	}
	first, rest, err := peekHeader(stream)
	if err != nil {
		return fmt.Errorf("copy from %s: %w", p.src, err)
	}
	if first == nil {
		return errdefs.Internalf("copy from %s: the guest sent an empty archive", p.src)
	}
	top, err := tarstream.EntryName(first.Name)
	if err != nil {
		return err
	}
	top = filepath.ToSlash(top)
	if strings.Contains(top, "/") {
		return errdefs.InvalidArgumentf("tar entry %q from the guest is not the top of the copy: refused", first.Name)
	}
	srcDir := first.Typeflag == tar.TypeDir
	dst := p.dst.path
	o := tarstream.Options{From: top, To: top}
	root := dst
	st, err := os.Stat(dst)
	switch {
	case err == nil && st.IsDir():
		if srcDir && contentsOnly(p.src.path) {
			o.To = "."
		}
	case err == nil:
		if srcDir {
			return errdefs.InvalidArgumentf("cannot copy the directory %s over the file %s", p.src, dst)
		}
		root, o.To = filepath.Dir(filepath.Clean(dst)), filepath.Base(dst)
	case errors.Is(err, fs.ErrNotExist):
		if strings.HasSuffix(dst, "/") && !srcDir {
			return errdefs.NotFoundf("the directory %s does not exist: create it first, or drop the trailing / to copy %s to a file of that name", dst, p.src)
		}
		root, o.To = filepath.Dir(filepath.Clean(dst)), filepath.Base(dst)
		if pst, err := os.Stat(root); err != nil || !pst.IsDir() {
			return errdefs.NotFoundf("the directory %s does not exist: create it first (mkdir -p %s)", root, root)
		}
	default:
		return errdefs.InvalidArgumentf("read %s: %w", dst, err)
	}
	n.entries, err = tarstream.Extract(root, rest, o)
	if err != nil {
		return fmt.Errorf("copy %s to %s: %w (entries before the refused one were written)", p.src, dst, err)
	}
	return nil
}

// peekHeader reads the first tar header of r and returns it with a reader
// that yields r from its beginning again.
func peekHeader(r io.Reader) (*tar.Header, io.Reader, error) {
	var buf bytes.Buffer
	hdr, err := tar.NewReader(io.TeeReader(r, &buf)).Next()
	if errors.Is(err, io.EOF) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, errdefs.InvalidArgumentf("read the tar stream from the guest: %w", err)
	}
	return hdr, io.MultiReader(&buf, r), nil
}

// contentsOnly reports whether a source path asks for a directory's
// contents rather than the directory: it ends in "/.".
func contentsOnly(p string) bool {
	return strings.HasSuffix(p, "/.")
}

// fileKind names a special file's type for a message.
func fileKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeNamedPipe != 0:
		return "FIFO"
	case m&fs.ModeDevice != 0:
		return "device node"
	}
	return "special file"
}
