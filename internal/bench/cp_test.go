package bench

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"runtime"
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
// real guest to the host and back, next to two baselines on the same
// guest: the issue's `ssh NAME.vm cat FILE > out` (and `cat > FILE` with
// the file on stdin) through the Include `banger ssh-config --install`
// wrote, whose ProxyCommand relays through bangerd and the guest agent as
// vm cp does, and `banger vm exec NAME -- cat FILE > out` (and `cat >
// FILE`), the agent's exec stream without SSH. It checks every copy's
// sha256. The goal compares vm cp with ssh cat. Figures only, never
// asserted.
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
	loadBefore := loadAverage()
	s := w.installSSH(ctx, name)
	sshCmd := func(stdin io.Reader, stdout io.Writer, cmd string) error {
		out, err := s.run(ctx, stdin, stdout, "ssh", append(s.sshArgs(), s.host(name), cmd)...)
		if err != nil {
			return fmt.Errorf("%w\n%s", err, out)
		}
		return nil
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

	var down, downExec, downSSH, up, upExec, upSSH time.Duration
	for range b.N {
		cpOut, execOut, sshOut := w.path("cp.out"), w.path("exec.out"), w.path("ssh.out")
		down = w.timed(b, func() error { _, err := w.cli(ctx, nil, nil, "vm", "cp", name+":/root/big", cpOut); return err })
		downExec = w.timed(b, func() error {
			return writeTo(execOut, func(f io.Writer) error {
				_, err := w.cli(ctx, nil, f, "vm", "exec", name, "--", "cat", "/root/big")
				return err
			})
		})
		downSSH = w.timed(b, func() error {
			return writeTo(sshOut, func(f io.Writer) error { return sshCmd(nil, f, "cat /root/big") })
		})
		for _, p := range []string{cpOut, execOut, sshOut} {
			if got := sha256Of(b, p); got != sum {
				b.Fatalf("%s: sha256 %s, want %s", p, got, sum)
			}
		}
		up = w.timed(b, func() error { _, err := w.cli(ctx, nil, nil, "vm", "cp", cpOut, name+":/root/up"); return err })
		if got := guestSum("/root/up"); got != sum {
			b.Fatalf("vm cp to the guest: sha256 %s, want %s", got, sum)
		}
		upExec = w.timed(b, func() error {
			return readFrom(execOut, func(f io.Reader) error {
				_, err := w.cli(ctx, f, nil, "vm", "exec", name, "--", "sh", "-c", "cat > /root/up")
				return err
			})
		})
		if got := guestSum("/root/up"); got != sum {
			b.Fatalf("exec cat to the guest: sha256 %s, want %s", got, sum)
		}
		upSSH = w.timed(b, func() error {
			return readFrom(sshOut, func(f io.Reader) error { return sshCmd(f, nil, "cat > /root/up") })
		})
		if got := guestSum("/root/up"); got != sum {
			b.Fatalf("ssh cat to the guest: sha256 %s, want %s", got, sum)
		}
		os.Remove(cpOut)
		os.Remove(execOut)
		os.Remove(sshOut)
	}
	rate := func(d time.Duration) string {
		return fmt.Sprintf("%8s %6.1f MiB/s", d.Round(time.Millisecond), float64(cpFileSize)/(1<<20)/d.Seconds())
	}
	row := func(dir string, cp, ssh, exec time.Duration) string {
		ratio := ssh.Seconds() / cp.Seconds()
		return fmt.Sprintf("  %-14s vm cp %s   ssh cat %s   exec cat %s   vm cp / ssh cat = %.2f (goal ≥ %.1f: %s)",
			dir, rate(cp), rate(ssh), rate(exec), ratio, cpGoalRatio, verdict(ratio >= cpGoalRatio))
	}
	rows := []string{
		fmt.Sprintf("1 GiB of random data, last of %d rounds, sha256 checked each way; guest: qemu, %d vCPUs", b.N, guestVCPUs),
		row("guest → host", down, downSSH, downExec), row("host → guest", up, upSSH, upExec),
		"  vm cp:    banger vm cp through bangerd and the guest agent's file stream",
		"  ssh cat:  ssh " + s.host(name) + " 'cat FILE' > out (and 'cat > FILE' < in) through the installed Include:",
		"            OpenSSH (encryption, its own flow control) over the ProxyCommand banger vm ssh-proxy,",
		"            relayed by bangerd and the guest agent to the guest's sshd",
		"  exec cat: banger vm exec NAME -- cat FILE > out (and sh -c 'cat > FILE' < in), the agent's exec stream",
		fmt.Sprintf("host load average (1 min) at the start %s, at the end %s, on %d CPUs", loadBefore, loadAverage(), runtime.NumCPU()),
	}
	printFigures(b, strings.Join(rows, "\n"))
	b.ReportMetric(float64(cpFileSize)/(1<<20)/down.Seconds(), "MiB/s-down")
	b.ReportMetric(float64(cpFileSize)/(1<<20)/up.Seconds(), "MiB/s-up")
	b.ReportMetric(float64(cpFileSize)/(1<<20)/downSSH.Seconds(), "ssh-MiB/s-down")
	b.ReportMetric(float64(cpFileSize)/(1<<20)/upSSH.Seconds(), "ssh-MiB/s-up")
}

// writeTo creates path and runs f with it open for writing.
func writeTo(path string, f func(io.Writer) error) error {
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := f(out); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// readFrom opens path and runs f with it.
func readFrom(path string, f func(io.Reader) error) error {
	in, err := os.Open(path)
	if err != nil {
		return err
	}
	defer in.Close()
	return f(in)
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
