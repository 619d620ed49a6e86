package oci

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"banger/internal/imagebuild/imagetest"
)

// TestPullDebianImage pulls the tree of banger's real Debian image (its
// paths, types, modes, owners, symlink targets and /dev nodes as
// imagetest.Listing reads them, small file bodies), split into three
// layers (usr/, the rest, and a layer that rewrites etc/hostname and
// whites out etc/motd), from the in-process registry, and checks that
// the flattened tree has every path of the image with its type, mode
// (set-id bits included), owner and symlink target, but for the device
// nodes under /dev (dropped by policy, and counted) and the whited-out
// file.
func TestPullDebianImage(t *testing.T) {
	rootfs := imagetest.RootFS(t) // guest tier: builds or reuses the image
	want := imagetest.Listing(t, rootfs)
	if want["/etc/motd"] == "" || want["/etc/hostname"] == "" {
		t.Fatalf("the image has no /etc/motd or /etc/hostname to change")
	}
	// The layers hold the image's tree as the listing has it; file bodies
	// are the files' names (their contents are not what is tested, and
	// the race detector makes hundreds of megabytes slow).
	dir := t.TempDir()
	usr := newTarFile(t, filepath.Join(dir, "usr.tar"))
	rest := newTarFile(t, filepath.Join(dir, "rest.tar"))
	paths := make([]string, 0, len(want))
	for p := range want {
		paths = append(paths, p)
	}
	sort.Strings(paths) // parents first
	for _, p := range paths {
		l := want[p]
		rel := strings.TrimPrefix(p, "/")
		if strings.Contains(l, " dev ") {
			continue // below
		}
		hdr := headerFromListing(t, rel, l)
		if hdr == nil {
			delete(want, p) // debugfs lists lost+found with mode 0
			continue
		}
		tw := rest
		if rel == "usr" || strings.HasPrefix(rel, "usr/") {
			tw = usr
		}
		var body []byte
		switch hdr.Typeflag {
		case tar.TypeSymlink:
			_, quoted, _ := strings.Cut(l, " -> ")
			target, err := strconv.Unquote(quoted)
			if err != nil {
				t.Fatalf("listing of %s: %q", p, l)
			}
			hdr.Linkname = target
		case tar.TypeReg:
			body = []byte(p)
			hdr.Size = int64(len(body))
		}
		tw.add(t, hdr, body)
	}
	devices := 0
	for p, l := range want {
		if strings.Contains(l, " dev ") {
			rest.add(t, &tar.Header{Name: strings.TrimPrefix(p, "/"), Typeflag: tar.TypeChar, Mode: 0o666, Devmajor: 1, Devminor: 3}, nil)
			devices++
		}
	}
	change := newTarFile(t, filepath.Join(dir, "change.tar"))
	change.add(t, &tar.Header{Name: "etc/hostname", Typeflag: tar.TypeReg, Mode: 0o644, Size: 6}, []byte("oci-1\n"))
	change.add(t, &tar.Header{Name: "etc/.wh.motd", Typeflag: tar.TypeReg}, nil)
	var layers []v1.Layer
	for _, tf := range []*tarFile{usr, rest, change} {
		layers = append(layers, tf.layer(t))
	}

	dockerConfig(t, nil)
	reg := newTestRegistry(t)
	reg.push(t, "debian:test", testImage(t, "amd64", layers...))
	p := newPuller(t)
	img, err := p.Fetch(context.Background(), reg.ref("debian:test"), nil)
	if err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(t.TempDir(), "rootfs.tar")
	st, err := p.FlattenTo(context.Background(), img, dest)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d layers, %d bytes fetched, flattened to %d entries (%d bytes of files), %d /dev nodes dropped",
		len(img.Layers), img.Fetched, st.Entries, st.Bytes, st.DroppedDevices)
	if st.DroppedDevices != devices {
		t.Errorf("%d device nodes dropped, want the image's %d", st.DroppedDevices, devices)
	}

	got := map[string]string{}
	var hostname string
	f, err := os.Open(dest)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		name := "/" + strings.TrimSuffix(h.Name, "/")
		if name == "/." {
			continue
		}
		if name == "/etc/hostname" {
			b, _ := io.ReadAll(tr)
			hostname = string(b)
		}
		got[name] = listingOf(h)
	}
	for p, l := range want {
		if strings.Contains(l, " dev ") {
			delete(want, p)
		}
	}
	delete(want, "/etc/motd")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("flattened tree vs the image (-image +flattened):\n%.4000s", diff)
	}
	if hostname != "oci-1\n" {
		t.Errorf("etc/hostname = %q, want the top layer's", hostname)
	}
}

// headerFromListing is the tar header of path rel with the type, mode and
// owner of its imagetest.Listing line ("0100644 0:0"), or nil for a type
// it does not know.
func headerFromListing(t *testing.T, rel, l string) *tar.Header {
	t.Helper()
	f := strings.Fields(l)
	mode, err := strconv.ParseInt(f[0], 8, 64)
	if err != nil {
		t.Fatalf("listing of %s: %q", rel, l)
	}
	var uid, gid int
	if _, err := fmt.Sscanf(f[1], "%d:%d", &uid, &gid); err != nil {
		t.Fatalf("listing of %s: %q", rel, l)
	}
	hdr := &tar.Header{Name: rel, Mode: mode & 0o7777, Uid: uid, Gid: gid, ModTime: epoch}
	switch mode & 0o170000 {
	case 0o040000:
		hdr.Typeflag, hdr.Name = tar.TypeDir, rel+"/"
	case 0o120000:
		hdr.Typeflag = tar.TypeSymlink
	case 0o010000:
		hdr.Typeflag = tar.TypeFifo
	case 0o100000:
		hdr.Typeflag = tar.TypeReg
	default:
		return nil
	}
	return hdr
}

// listingOf is h as imagetest.Listing shows a path.
func listingOf(h *tar.Header) string {
	typ := map[byte]int64{tar.TypeDir: 0o040000, tar.TypeReg: 0o100000, tar.TypeLink: 0o100000, tar.TypeSymlink: 0o120000, tar.TypeFifo: 0o010000}[h.Typeflag]
	s := fmt.Sprintf("%07o %d:%d", typ|h.Mode&0o7777, h.Uid, h.Gid)
	if h.Typeflag == tar.TypeSymlink {
		s += " -> " + strconv.Quote(h.Linkname) // as debugfs shows it
	}
	return s
}

// tarFile is a layer being written to a file.
type tarFile struct {
	path string
	f    *os.File
	tw   *tar.Writer
}

func newTarFile(t *testing.T, path string) *tarFile {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	return &tarFile{path: path, f: f, tw: tar.NewWriter(f)}
}

func (tf *tarFile) add(t *testing.T, hdr *tar.Header, body []byte) {
	t.Helper()
	if err := tf.tw.WriteHeader(hdr); err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(tf.tw, bytes.NewReader(body)); err != nil {
		t.Fatal(err)
	}
}

// layer closes the tar and returns it as a gzip layer.
func (tf *tarFile) layer(t *testing.T) v1.Layer {
	t.Helper()
	if err := tf.tw.Close(); err != nil {
		t.Fatal(err)
	}
	tf.f.Close()
	l, err := tarball.LayerFromFile(tf.path, tarball.WithCompressionLevel(1))
	if err != nil {
		t.Fatal(err)
	}
	return l
}
