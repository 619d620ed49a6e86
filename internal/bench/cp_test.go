package bench

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"banger/internal/api"
	"banger/internal/netnstest"
)

// vm cp benchmark parameters.
const (
	cpFileSize   = 1 << 30 // the file copied each way
	cpDisk       = 4 << 30 // the VM's work disk: the file, and one copy of it at a time
	cpGoalRatio  = 0.8     // the goal: vm cp at least 80% of the baseline's throughput
	cpBenchLimit = 20 * time.Minute
)

// BenchmarkVMCp times `banger vm cp` of a 1 GiB file of random data from a
// real guest to the host and back, next to the same bytes through `banger
// vm exec NAME -- cat FILE > out` (and `cat > FILE` with the file on
// stdin) on the same guest, and checks every copy's sha256. The issue's
// goal compares with `ssh cat`; exec is the baseline this machine has
// without a network path into the guest. Figures only, never asserted.
func BenchmarkVMCp(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), cpBenchLimit)
	defer cancel()
	w := newGuestWorld(b)
	w.startDaemon(ctx)
	w.registerImage(ctx)
	const name = "cp"
	if _, err := w.client.CreateVM(ctx, api.CreateVMRequest{Name: name, Image: imageName, DiskBytes: cpDisk, Start: true}, nil); err != nil {
		b.Fatalf("create VM: %v\n%s", err, lastLines(w.daemonLog(), 15))
	}
	defer func() {
		_, _ = w.client.KillVM(context.Background(), name, nil)
		_ = w.client.DeleteVM(context.Background(), name, nil)
	}()
	if _, err := w.client.WaitVM(ctx, name, 5*time.Minute); err != nil {
		b.Fatalf("wait for the guest: %v", err)
	}
	out, err := w.cli(ctx, nil, nil, "vm", "exec", name, "--", "sh", "-c",
		fmt.Sprintf("head -c %d /dev/urandom > /root/big && sha256sum /root/big", cpFileSize))
	if err != nil {
		b.Fatalf("make the file in the guest: %v", err)
	}
	sum, _, _ := strings.Cut(out, " ")
	guestSum := func(file string) string {
		out, err := w.cli(ctx, nil, nil, "vm", "exec", name, "--", "sh", "-c", "sha256sum "+file+" && rm "+file)
		if err != nil {
			b.Fatalf("sha256 of %s in the guest: %v", file, err)
		}
		s, _, _ := strings.Cut(out, " ")
		return s
	}

	var down, downBase, up, upBase time.Duration
	for range b.N {
		cpOut, execOut := w.path("cp.out"), w.path("exec.out")
		down = w.timed(b, func() error { _, err := w.cli(ctx, nil, nil, "vm", "cp", name+":/root/big", cpOut); return err })
		downBase = w.timed(b, func() error {
			f, err := os.Create(execOut)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = w.cli(ctx, nil, f, "vm", "exec", name, "--", "cat", "/root/big")
			return err
		})
		for _, p := range []string{cpOut, execOut} {
			if got := sha256Of(b, p); got != sum {
				b.Fatalf("%s: sha256 %s, want %s", p, got, sum)
			}
		}
		up = w.timed(b, func() error { _, err := w.cli(ctx, nil, nil, "vm", "cp", cpOut, name+":/root/up"); return err })
		if got := guestSum("/root/up"); got != sum {
			b.Fatalf("vm cp to the guest: sha256 %s, want %s", got, sum)
		}
		upBase = w.timed(b, func() error {
			f, err := os.Open(execOut)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = w.cli(ctx, f, nil, "vm", "exec", name, "--", "sh", "-c", "cat > /root/up")
			return err
		})
		if got := guestSum("/root/up"); got != sum {
			b.Fatalf("exec cat to the guest: sha256 %s, want %s", got, sum)
		}
		os.Remove(cpOut)
		os.Remove(execOut)
	}
	rate := func(d time.Duration) string {
		return fmt.Sprintf("%6.1f MiB/s", float64(cpFileSize)/(1<<20)/d.Seconds())
	}
	row := func(dir string, cp, base time.Duration) string {
		ratio := base.Seconds() / cp.Seconds()
		goal := "met"
		if ratio < cpGoalRatio {
			goal = "NOT met"
		}
		return fmt.Sprintf("  %-14s vm cp %8s %s   exec cat %8s %s   vm cp / exec = %.2f (goal ≥ %.1f: %s)",
			dir, cp.Round(time.Millisecond), rate(cp), base.Round(time.Millisecond), rate(base), ratio, cpGoalRatio, goal)
	}
	rows := append([]string{}, fmt.Sprintf("1 GiB of random data, last of %d rounds, sha256 checked each way", b.N),
		row("guest → host", down, downBase), row("host → guest", up, upBase))
	printFigures(b, strings.Join(rows, "\n"))
	b.ReportMetric(float64(cpFileSize)/(1<<20)/down.Seconds(), "MiB/s-down")
	b.ReportMetric(float64(cpFileSize)/(1<<20)/up.Seconds(), "MiB/s-up")
}

// cli runs the banger CLI in the world's namespace with stdin and stdout
// (nil: none, and captured) and returns what it printed.
func (w *world) cli(ctx context.Context, stdin io.Reader, stdout io.Writer, args ...string) (string, error) {
	cmd := netnstest.Command(ctx, w.netns, bangerCLI(w.tb), args...)
	cmd.Env = w.env
	var out, errb bytes.Buffer
	cmd.Stdin = stdin
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdout != nil {
		cmd.Stdout = stdout
	}
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("banger %s: %w\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.String(), nil
}

// timed runs f and returns how long it took, failing the benchmark on an
// error.
func (w *world) timed(b *testing.B, f func() error) time.Duration {
	b.Helper()
	t0 := time.Now()
	if err := f(); err != nil {
		b.Fatalf("%v\ndaemon log:\n%s", err, lastLines(w.daemonLog(), 15))
	}
	return time.Since(t0)
}

func sha256Of(b *testing.B, p string) string {
	b.Helper()
	f, err := os.Open(p)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		b.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}
