package disk

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkWorkDiskCreate compares the template path (sparse copy of a
// cached empty filesystem plus tune2fs -U random) with running mkfs.ext4
// for every disk. Both write through a synced temporary file and rename.
func BenchmarkWorkDiskCreate(b *testing.B) {
	needTool(b, "mkfs.ext4")
	needTool(b, "tune2fs")
	for _, size := range []int64{1 << 30, 16 << 30, 128 << 30} {
		name := fmt.Sprintf("%dGiB", size>>30)
		b.Run("template/"+name, func(b *testing.B) {
			w := NewWorkDisks(filepath.Join(b.TempDir(), "cache"))
			dir := b.TempDir()
			if err := w.Create(context.Background(), filepath.Join(dir, "warm"), size); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := range b.N {
				dst := filepath.Join(dir, fmt.Sprint(i))
				if err := w.Create(context.Background(), dst, size); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				os.Remove(dst)
				b.StartTimer()
			}
		})
		b.Run("mkfs/"+name, func(b *testing.B) {
			w := NewWorkDisks(b.TempDir())
			dir := b.TempDir()
			for i := range b.N {
				dst := filepath.Join(dir, fmt.Sprint(i))
				err := writeAtomic(dst, true, func(f *os.File) error {
					if err := f.Truncate(size); err != nil {
						return err
					}
					return w.makeFS(context.Background(), f.Name())
				})
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				os.Remove(dst)
				b.StartTimer()
			}
		})
	}
}

// BenchmarkSparseCopy copies a 1 GiB file holding 64 MiB of data in 16
// extents; throughput is reported over the data bytes.
func BenchmarkSparseCopy(b *testing.B) {
	dir := b.TempDir()
	src := filepath.Join(dir, "src")
	const size, n = 1 << 30, 16
	var data []extent
	for i := range int64(n) {
		data = append(data, extent{i * (size / n), 4 * mib})
	}
	makeSparse(b, src, size, data)
	for _, cp := range copiers {
		b.Run(cp.name, func(b *testing.B) {
			b.SetBytes(n * 4 * mib)
			for i := range b.N {
				dst := filepath.Join(dir, fmt.Sprint(i))
				if err := cp.c.copyFile(context.Background(), src, dst); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				os.Remove(dst)
				b.StartTimer()
			}
		})
	}
}
