package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"banger/internal/api"
	"banger/internal/netnstest"
)

// SSH benchmark parameters.
const (
	sshSamples   = 10  // connections of each kind, alternating
	goalSSHRatio = 1.1 // ssh NAME.vm true over the direct ssh's median
	sshVMName    = "ssh-bench"
)

// sshWorld is the OpenSSH side of a world: a HOME of its own whose
// ~/.ssh/config includes banger's (installed with `banger ssh-config
// --install`), and banger's key and known_hosts.
type sshWorld struct {
	w    *world
	home string
	cfg  string      // HOME/.ssh/config
	info api.SSHInfo // banger's key, known_hosts and domain
}

// installSSH gives the world a HOME with banger's Include installed, and
// connects once to vm with `banger vm ssh` so its host keys are pinned
// (waiting for sshd). It skips the benchmark without the OpenSSH client.
func (w *world) installSSH(ctx context.Context, vm string) *sshWorld {
	w.tb.Helper()
	if _, err := exec.LookPath("ssh"); err != nil {
		w.tb.Skip("needs the OpenSSH client: apt-get install openssh-client")
	}
	s := &sshWorld{w: w, home: w.path("home")}
	s.cfg = filepath.Join(s.home, ".ssh", "config")
	if err := os.MkdirAll(s.home, 0o700); err != nil {
		w.tb.Fatal(err)
	}
	if out, err := s.run(ctx, nil, nil, bangerCLI(w.tb), "ssh-config", "--install"); err != nil {
		w.tb.Fatalf("ssh-config --install: %v\n%s", err, out)
	}
	info, err := w.client.SSHInfo(ctx)
	if err != nil {
		w.tb.Fatalf("banger's ssh info: %v", err)
	}
	s.info = info
	if out, err := s.run(ctx, nil, nil, bangerCLI(w.tb), "vm", "ssh", vm, "--", "true"); err != nil {
		w.tb.Fatalf("first vm ssh %s: %v\n%s\ndaemon log:\n%s", vm, err, out, lastLines(w.daemonLog(), 15))
	}
	return s
}

// sshArgs are the options of every ssh through the include: its config,
// and no prompt.
func (s *sshWorld) sshArgs() []string {
	return []string{"-F", s.cfg, "-o", "BatchMode=yes"}
}

// rsh is the ssh command rsync runs (-e).
func (s *sshWorld) rsh() string { return "ssh -F " + s.cfg + " -o BatchMode=yes" }

// host is vm's name under banger's domain.
func (s *sshWorld) host(vm string) string { return vm + "." + s.info.Domain }

// run runs bin in the world's namespace with the world's environment and
// HOME, stdin and stdout (nil: none, and captured), and returns what it
// printed on stdout and stderr.
func (s *sshWorld) run(ctx context.Context, stdin io.Reader, stdout io.Writer, bin string, args ...string) (string, error) {
	cmd := netnstest.Command(ctx, s.w.netns, bin, args...)
	cmd.Env = append(append([]string{}, s.w.env...), "HOME="+s.home)
	var out bytes.Buffer
	cmd.Stdin = stdin
	cmd.Stdout, cmd.Stderr = &out, &out
	if stdout != nil {
		cmd.Stdout = stdout
	}
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s %s: %w", filepath.Base(bin), strings.Join(args, " "), err)
	}
	return out.String(), nil
}

// BenchmarkSSH times `ssh NAME.vm true` through the Include `banger
// ssh-config --install` wrote (the ProxyCommand relays through bangerd and
// the guest agent) next to a direct `ssh -i KEY -o
// UserKnownHostsFile=KNOWN_HOSTS root@IP true` over the VM bridge to the
// same guest with the same key and pins, sshSamples of each, alternating,
// and prints the medians and their ratio. Figures only, never asserted.
func BenchmarkSSH(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), guestBenchTimeout)
	defer cancel()
	w := newGuestWorld(b)
	w.startDaemon(ctx)
	w.registerImage(ctx)
	// On the bridge (not offline): the direct ssh needs the guest's address.
	v, err := w.client.CreateVM(ctx, api.CreateVMRequest{Name: sshVMName, Image: imageName, Start: true}, nil)
	if err != nil {
		b.Fatalf("create the VM: %v\ndaemon log:\n%s", err, lastLines(w.daemonLog(), 15))
	}
	defer func() {
		_, _ = w.client.KillVM(context.Background(), sshVMName, nil)
		_ = w.client.DeleteVM(context.Background(), sshVMName, nil)
	}()
	if v.IP == "" {
		b.Fatalf("VM %s has no address: the direct ssh needs the guest on the bridge", sshVMName)
	}
	if _, err := w.client.WaitVM(ctx, sshVMName, 5*time.Minute); err != nil {
		b.Fatalf("wait for the guest: %v", err)
	}
	loadBefore := loadAverage()
	s := w.installSSH(ctx, sshVMName)
	include := append(s.sshArgs(), s.host(sshVMName), "true")
	direct := []string{"-F", "/dev/null", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
		"-o", "IdentitiesOnly=yes", "-i", s.info.IdentityFile, "-o", "UserKnownHostsFile=" + s.info.KnownHostsFile,
		"root@" + v.IP, "true"}
	var viaInclude, viaIP []time.Duration
	for range b.N * sshSamples {
		for _, c := range []struct {
			args []string
			into *[]time.Duration
		}{{include, &viaInclude}, {direct, &viaIP}} {
			t0 := time.Now()
			if out, err := s.run(ctx, nil, nil, "ssh", c.args...); err != nil {
				b.Fatalf("%v\n%s\ndaemon log:\n%s", err, out, lastLines(w.daemonLog(), 15))
			}
			*c.into = append(*c.into, time.Since(t0))
		}
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "ssh ... true to one guest (qemu, %d vCPUs), %d of each, alternating; new connection each time, no ControlMaster\n",
		guestVCPUs, len(viaInclude))
	fmt.Fprintf(&sb, "  %-66s %s\n", "ssh "+s.host(sshVMName)+" true (include; ProxyCommand via bangerd)", msList(viaInclude))
	fmt.Fprintf(&sb, "  %-66s %s\n", "ssh -i KEY -o UserKnownHostsFile=... root@"+v.IP+" true (bridge)", msList(viaIP))
	ratio := float64(percentile(viaInclude, 50)) / float64(percentile(viaIP, 50))
	fmt.Fprintf(&sb, "  ratio of medians %.2f× (goal ≤ %.1f×: %s)\n", ratio, goalSSHRatio, verdict(ratio <= goalSSHRatio))
	fmt.Fprintf(&sb, "host load average (1 min) at the start %s, at the end %s, on %d CPUs", loadBefore, loadAverage(), runtime.NumCPU())
	printFigures(b, sb.String())
	b.ReportMetric(msf(percentile(viaInclude, 50)), "include-p50-ms")
	b.ReportMetric(msf(percentile(viaIP, 50)), "direct-p50-ms")
	b.ReportMetric(0, "ns/op")
}
