package bench

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"banger/internal/cow"
	"banger/internal/testtier"
)

// Clone figure: an image of cloneImageSize apparent bytes holding
// cloneImageData bytes of data in cloneExtents extents spread over it (a
// root filesystem is mostly holes), cloned cloneSamples times per strategy.
const (
	cloneImageSize = 8 << 30
	cloneImageData = 512 << 20
	cloneExtents   = 64
	cloneSamples   = 7
	sparseSamples  = 3 // seconds each
)

// BenchmarkRootDiskClone times making a VM's root disk from an 8 GiB image
// with each strategy available here: the sparse copy, qcow2 overlays
// (written in Go; their allocated size is the overlay's own), reflink
// (on an XFS filesystem) and loop-XFS (an XFS file on the ext4 state
// directory; its first clone copies the image in once and is shown apart)
// and device-mapper snapshots where the host has device-mapper (the clone,
// and apart the device made at start and removed at stop).
// Goal: < 10 ms per clone with reflink or loop-XFS (and qcow2, dm).
func BenchmarkRootDiskClone(b *testing.B) {
	testtier.Root(b) // loop devices and mounts
	ctx := context.Background()
	type row struct {
		name        string
		first, p50  time.Duration
		max         time.Duration
		allocatedMB int64
		note        string
	}
	var rows []row
	measure := func(name string, s cow.Strategy, img, dir string, samples int) {
		var ds []time.Duration
		var first time.Duration
		var alloc int64
		for i := range samples + 1 {
			dst := filepath.Join(dir, fmt.Sprintf("clone-%d.ext4", i))
			start := time.Now()
			if err := cow.CloneImage(ctx, s, img, dst); err != nil {
				b.Fatalf("%s clone: %v", name, err)
			}
			d := time.Since(start)
			if i == 0 {
				first = d
			} else {
				ds = append(ds, d)
			}
			if u, err := s.Usage(dst); err == nil {
				alloc = u.Allocated
			}
		}
		for i := range samples + 1 {
			_ = s.Remove(filepath.Join(dir, fmt.Sprintf("clone-%d.ext4", i)))
		}
		rows = append(rows, row{name: name, first: first, p50: percentile(ds, 50), max: percentile(ds, 100), allocatedMB: alloc >> 20})
	}

	for range b.N {
		rows = rows[:0]
		// Sparse copy on the ext4 state directory, as every VM got before.
		state := b.TempDir()
		img := writeCloneImage(b, filepath.Join(state, "image.ext4"))
		s, _, err := cow.Open(ctx, cow.Options{StateDir: state, UID: os.Getuid(), Force: cow.NameSparse})
		if err != nil {
			b.Fatal(err)
		}
		measure("sparse copy (ext4)", s, img, state, sparseSamples)
		// qcow2 overlays of the image, on the same ext4 directory.
		qs, _, err := cow.Open(ctx, cow.Options{StateDir: state, UID: os.Getuid(), Force: cow.NameQCOW2, Driver: cow.DriverQEMU})
		if err != nil {
			b.Fatal(err)
		}
		measure("qcow2 overlay (ext4)", qs, img, state, cloneSamples)

		// Device-mapper snapshots: the clone is an empty COW file; the
		// device is made at start (attach) and removed at stop.
		ds, _, err := cow.Open(ctx, cow.Options{StateDir: state, UID: os.Getuid(), Force: cow.NameDM,
			DM: cow.DMLocal{StateDir: state, UID: os.Getuid()}, DMPrefix: cow.DMPrefix + "bench-"})
		if err != nil {
			rows = append(rows, row{name: "dm", note: "skipped: " + err.Error() + " (cow's TestDMInGuest measures it in a guest: BenchmarkDMClone)"})
		} else {
			vms := filepath.Join(state, "dm-vms")
			if err := os.MkdirAll(vms, 0o700); err != nil {
				b.Fatal(err)
			}
			measure("dm (snapshot)", ds, img, vms, cloneSamples)
			disk := filepath.Join(vms, "attached.ext4")
			if err := ds.Clone(ctx, img, disk); err != nil {
				b.Fatal(err)
			}
			a := ds.(cow.Attacher)
			var at []time.Duration
			for range cloneSamples {
				start := time.Now()
				if _, err := a.Attach(ctx, "bench", disk); err != nil {
					b.Fatal(err)
				}
				if err := a.Detach("bench"); err != nil {
					b.Fatal(err)
				}
				at = append(at, time.Since(start))
			}
			rows = append(rows, row{name: "dm attach + detach (start, stop)", first: at[0], p50: percentile(at, 50), max: percentile(at, 100)})
		}

		if _, err := exec.LookPath("mkfs.xfs"); err != nil {
			rows = append(rows, row{name: "reflink, loop-xfs", note: "skipped: install xfsprogs"})
			break
		}
		lx, _, err := cow.Open(ctx, cow.Options{StateDir: state, UID: os.Getuid(), Force: cow.NameLoopXFS, Mounter: cow.Local{}, XFSSize: 32 << 30})
		if err != nil {
			b.Fatal(err)
		}
		func() {
			defer func() {
				if err := cow.Unmount(lx); err != nil {
					b.Errorf("unmount: %v", err)
				}
			}()
			vms := filepath.Join(lx.Dir(), "bench")
			if err := os.MkdirAll(vms, 0o700); err != nil {
				b.Fatal(err)
			}
			measure("loop-xfs (image copied in once)", lx, img, vms, cloneSamples)

			// Reflink on a state directory that is itself XFS: the same
			// mount serves as one.
			xstate := filepath.Join(lx.Dir(), "xfs-state")
			if err := os.MkdirAll(xstate, 0o700); err != nil {
				b.Fatal(err)
			}
			ximg := filepath.Join(xstate, "image.ext4")
			if err := lx.Clone(ctx, img, ximg); err != nil {
				b.Fatal(err)
			}
			rs, _, err := cow.Open(ctx, cow.Options{StateDir: xstate, UID: os.Getuid(), Force: cow.NameReflink})
			if err != nil {
				b.Fatal(err)
			}
			measure("reflink (state dir on XFS)", rs, ximg, xstate, cloneSamples)
		}()
	}

	var sb strings.Builder
	fmt.Fprintf(&sb, "root disk clone of an image of %d GiB apparent, %d MiB data in %d extents, %d clones each after a first (%d for the sparse copy) (goal: < 10 ms with reflink or loop-xfs):\n",
		cloneImageSize>>30, cloneImageData>>20, cloneExtents, cloneSamples, sparseSamples)
	fmt.Fprintf(&sb, "  %-34s %9s %9s %9s %12s\n", "(ms)", "first", "p50", "max", "alloc MiB")
	for _, r := range rows {
		if r.note != "" {
			fmt.Fprintf(&sb, "  %-34s %s\n", r.name, r.note)
			continue
		}
		fmt.Fprintf(&sb, "  %-34s %9s %9s %9s %12d\n", r.name, ms(r.first), ms(r.p50), ms(r.max), r.allocatedMB)
		b.ReportMetric(msf(r.p50), strings.Fields(r.name)[0]+"-p50-ms")
	}
	printFigures(b, sb.String())
}

// writeCloneImage writes the sparse benchmark image at path.
func writeCloneImage(b *testing.B, path string) string {
	b.Helper()
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(cloneImageSize); err != nil {
		b.Fatal(err)
	}
	chunk := make([]byte, cloneImageData/cloneExtents)
	for i := range cloneExtents {
		_, _ = rand.Read(chunk)
		if _, err := f.WriteAt(chunk, int64(i)*(cloneImageSize/cloneExtents)); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	return path
}
