package bench

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"banger/internal/imagebuild"
	"banger/internal/imagebuild/imagetest"
	"banger/internal/oci"
	"banger/internal/testtier"
)

// ociBenchTree is the real tree the image's layers are cut from: Go's
// standard library sources (about 160 MB in 11 000 files), present
// wherever the benchmarks are built.
func ociBenchTree(b *testing.B) string {
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		b.Skipf("needs the go command: %v", err)
	}
	return filepath.Join(strings.TrimSpace(string(goroot)), "src")
}

// writeLayerTars writes the tree at src as three uncompressed layer tars
// under dir (the directories a-m, then n-z, then the files at the top,
// each under src/), oldest first.
func writeLayerTars(b *testing.B, src, dir string) []string {
	b.Helper()
	var files []string
	var tws []*tar.Writer
	for i := range 3 {
		p := filepath.Join(dir, fmt.Sprintf("layer%d.tar", i))
		f, err := os.Create(p)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		files = append(files, p)
		tws = append(tws, tar.NewWriter(f))
	}
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if rel == "." {
			return nil
		}
		top, _, _ := strings.Cut(rel, string(filepath.Separator))
		layer := 2
		if top != rel || d.IsDir() {
			layer = 0
			if top[0] > 'm' {
				layer = 1
			}
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		hdr.Name = "src/" + filepath.ToSlash(rel)
		if d.IsDir() {
			hdr.Name += "/"
		}
		hdr.Uname, hdr.Gname = "", ""
		tw := tws[layer]
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	if err != nil {
		b.Fatalf("write the layers: %v", err)
	}
	for _, tw := range tws {
		if err := tw.Close(); err != nil {
			b.Fatal(err)
		}
	}
	return files
}

// ociRounds is how many times BenchmarkOCIBoot runs each side.
const ociRounds = 3

const maxDuration = time.Duration(1<<63 - 1)

// BenchmarkOCIBoot compares making a pulled image bootable with what a
// user would do by hand, side by side on the same three layers cut from a
// real tree (Go's standard library sources). banger: flatten the cached
// layers (every entry checked, whiteouts applied, one tar written) and
// make the root disk (the tar checked again, extracted as root, the agent
// injected, mkfs.ext4 -d). By hand: tar -x of the three layers in order
// into one directory (no checks, no whiteouts, no agent), then
// mkfs.ext4 -d of a file of the same size; each step's fastest of three
// alternating rounds. The download from the in-process registry is timed
// on its own. Goal: banger ≤ 1.3× by hand. Then a second pull, of an
// image sharing all but its top layer with the first, must fetch only
// that layer (and the image's config): the registry counts the bytes.
func BenchmarkOCIBoot(b *testing.B) {
	testtier.Root(b) // the root disk is extracted as root
	tmp := tempDir(b, "bgb-oci-")
	layers := writeLayerTars(b, ociBenchTree(b), tmp)
	var ls []v1.Layer
	for _, p := range layers {
		l, err := tarball.LayerFromFile(p)
		if err != nil {
			b.Fatal(err)
		}
		ls = append(ls, l)
	}
	img, err := mutate.AppendLayers(empty.Image, ls...)
	if err != nil {
		b.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		b.Fatal(err)
	}
	reg := &countingRegistry{h: registry.New(registry.Logger(log.New(io.Discard, "", 0)))}
	srv := httptest.NewServer(reg)
	defer srv.Close()
	ref := strings.TrimPrefix(srv.URL, "http://") + "/bench:1"
	r, _ := name.ParseReference(ref)
	if err := remote.Write(r, img); err != nil {
		b.Fatalf("push: %v", err)
	}
	agent, err := imagetest.AgentBinary(tmp)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()

	// banger
	p := &oci.Puller{Dir: filepath.Join(tmp, "oci")}
	t0 := time.Now()
	pulled, err := p.Fetch(ctx, ref, nil)
	if err != nil {
		b.Fatal(err)
	}
	fetch := time.Since(t0)
	firstBytes := reg.blobBytes.Swap(0)
	// Each side runs ociRounds times, alternating, and the fastest run
	// of each step counts: on a machine shared with other work a single
	// run of either side can take twice its time.
	var (
		flatten, disk, extract, mkfs = maxDuration, maxDuration, maxDuration, maxDuration
		res                          imagebuild.TarResult
		tree                         string
	)
	for round := range ociRounds {
		// banger
		out := filepath.Join(tmp, fmt.Sprintf("image%d", round))
		if err := os.MkdirAll(out, 0o755); err != nil {
			b.Fatal(err)
		}
		t0 = time.Now()
		if _, err := p.FlattenTo(ctx, pulled, filepath.Join(out, "rootfs.tar")); err != nil {
			b.Fatal(err)
		}
		flatten = min(flatten, time.Since(t0))
		t0 = time.Now()
		if res, err = imagebuild.FromTar(ctx, imagebuild.TarOptions{Tar: filepath.Join(out, "rootfs.tar"), AgentBinary: agent, Dest: filepath.Join(out, "rootfs.ext4")}, nil); err != nil {
			b.Fatal(err)
		}
		disk = min(disk, time.Since(t0))
		if err := os.RemoveAll(out); err != nil {
			b.Fatal(err)
		}

		// by hand
		if tree != "" {
			if err := os.RemoveAll(tree); err != nil {
				b.Fatal(err)
			}
		}
		tree = filepath.Join(tmp, fmt.Sprintf("hand%d", round))
		if err := os.Mkdir(tree, 0o755); err != nil {
			b.Fatal(err)
		}
		t0 = time.Now()
		for _, l := range layers {
			if out, err := exec.Command("tar", "--extract", "--file", l, "--directory", tree, "--numeric-owner", "--same-owner", "--same-permissions").CombinedOutput(); err != nil {
				b.Fatalf("tar -x %s: %v: %s", l, err, out)
			}
		}
		extract = min(extract, time.Since(t0))
		handImg := filepath.Join(tmp, "hand.ext4")
		if err := os.WriteFile(handImg, nil, 0o644); err != nil {
			b.Fatal(err)
		}
		if err := os.Truncate(handImg, res.Size); err != nil {
			b.Fatal(err)
		}
		t0 = time.Now()
		if out, err := exec.Command("mkfs.ext4", "-q", "-F", "-L", "rootfs", "-d", tree, "-E", "root_owner=0:0", handImg).CombinedOutput(); err != nil {
			b.Fatalf("mkfs.ext4: %v: %s", err, out)
		}
		mkfs = min(mkfs, time.Since(t0))
	}
	ours, hand := flatten+disk, extract+mkfs

	second := secondPull(b, ctx, p, reg, strings.TrimPrefix(srv.URL, "http://")+"/bench:2", img, layers[2], tmp)

	var sb strings.Builder
	fmt.Fprintf(&sb, "OCI image (3 layers of Go's src/: %d entries, %.0f MiB uncompressed) to a bootable ext4 of %d MiB (fastest of %d rounds):\n",
		countFiles(tree), float64(treeBytes(layers))/(1<<20), res.Size>>20, ociRounds)
	fmt.Fprintf(&sb, "  banger flatten (checks, whiteouts, one tar)     %6.2f s\n", flatten.Seconds())
	fmt.Fprintf(&sb, "  banger root disk (check, tar -x, agent, mkfs)   %6.2f s\n", disk.Seconds())
	fmt.Fprintf(&sb, "  banger total                                    %6.2f s\n", ours.Seconds())
	fmt.Fprintf(&sb, "  by hand tar -x of the layers (no checks)        %6.2f s\n", extract.Seconds())
	fmt.Fprintf(&sb, "  by hand mkfs.ext4 -d                            %6.2f s\n", mkfs.Seconds())
	fmt.Fprintf(&sb, "  by hand total                                   %6.2f s\n", hand.Seconds())
	fmt.Fprintf(&sb, "  banger / by hand: %.2f× (goal ≤ 1.3×); download from the loopback registry, not in either: %.2f s\n",
		ours.Seconds()/hand.Seconds(), fetch.Seconds())
	fmt.Fprintf(&sb, "A second pull of an image sharing all but one layer with the first (blob bytes the registry served):\n")
	fmt.Fprintf(&sb, "  first pull, 3 layers                   %12d B\n", firstBytes)
	fmt.Fprintf(&sb, "  second pull                            %12d B (its new layer: %d B, its config: %d B)\n", second.served, second.layer, second.config)
	printFigures(b, sb.String())
	b.ReportMetric(ours.Seconds(), "banger-s")
	b.ReportMetric(hand.Seconds(), "byhand-s")
	b.ReportMetric(ours.Seconds()/hand.Seconds(), "ratio")
	b.ReportMetric(float64(second.served), "second-pull-B")
	b.ReportMetric(0, "ns/op")
	if second.served != second.layer+second.config {
		b.Errorf("the second pull fetched %d bytes of blobs, want only its new layer's %d and its config's %d", second.served, second.layer, second.config)
	}
}

// countingRegistry serves h and counts the bytes of blobs it serves.
type countingRegistry struct {
	h         http.Handler
	blobBytes atomic.Int64
}

func (c *countingRegistry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
		w = &countingWriter{ResponseWriter: w, n: &c.blobBytes}
	}
	c.h.ServeHTTP(w, r)
}

type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (w *countingWriter) Write(b []byte) (int, error) {
	n, err := w.ResponseWriter.Write(b)
	w.n.Add(int64(n))
	return n, err
}

// pullBytes is what the registry served for the second pull, and the
// sizes of the blobs that pull needed: its new layer and its config.
type pullBytes struct{ served, layer, config int64 }

// secondPull pushes first with its top layer (the tar file top) replaced
// by a new one (the same entries and one more file) as ref, pulls it with
// p, whose cache holds first's layers, and counts what the registry
// served.
func secondPull(b *testing.B, ctx context.Context, p *oci.Puller, reg *countingRegistry, ref string, first v1.Image, top, dir string) pullBytes {
	b.Helper()
	newTop := filepath.Join(dir, "layer2-changed.tar")
	in, err := os.Open(top)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(newTop)
	if err != nil {
		b.Fatal(err)
	}
	defer out.Close()
	tw := tar.NewWriter(out)
	if err := copyEntries(tw, tar.NewReader(in)); err != nil {
		b.Fatal(err)
	}
	changed := []byte("a file only the second image has\n")
	if err := tw.WriteHeader(&tar.Header{Name: "src/CHANGED", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(changed)), ModTime: time.Unix(1700000000, 0)}); err != nil {
		b.Fatal(err)
	}
	if _, err := tw.Write(changed); err != nil {
		b.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		b.Fatal(err)
	}
	layer, err := tarball.LayerFromFile(newTop)
	if err != nil {
		b.Fatal(err)
	}
	ls, err := first.Layers()
	if err != nil {
		b.Fatal(err)
	}
	base, err := mutate.AppendLayers(empty.Image, ls[:2]...)
	if err != nil {
		b.Fatal(err)
	}
	img, err := mutate.AppendLayers(base, layer)
	if err != nil {
		b.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		b.Fatal(err)
	}
	r, _ := name.ParseReference(ref)
	if err := remote.Write(r, img); err != nil {
		b.Fatalf("push: %v", err)
	}
	reg.blobBytes.Store(0)
	if _, err := p.Fetch(ctx, ref, nil); err != nil {
		b.Fatal(err)
	}
	var pb pullBytes
	pb.served = reg.blobBytes.Load()
	if pb.layer, err = layer.Size(); err != nil {
		b.Fatal(err)
	}
	m, err := img.Manifest()
	if err != nil {
		b.Fatal(err)
	}
	pb.config = m.Config.Size
	return pb
}

// copyEntries copies every entry of tr to tw.
func copyEntries(tw *tar.Writer, tr *tar.Reader) error {
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
}

func countFiles(dir string) int {
	n := 0
	_ = filepath.WalkDir(dir, func(string, fs.DirEntry, error) error { n++; return nil })
	return n
}

func treeBytes(files []string) int64 {
	var n int64
	for _, f := range files {
		if st, err := os.Stat(f); err == nil {
			n += st.Size()
		}
	}
	return n
}
