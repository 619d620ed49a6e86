package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"banger/internal/testtier"
)

// runWithHome runs bin (the real OpenSSH tools, or banger) in the world with HOME
// set to home, and returns its output and exit code.
func (w *world) runWithHome(t *testing.T, home, bin string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), guestTimeout)
	defer cancel()
	cmd := w.command(ctx, bin, args...)
	cmd.Env = append(append([]string{}, cmd.Env...), "HOME="+home)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %s %s: %v", bin, strings.Join(args, " "), err)
	}
	return out.String(), errb.String(), code
}

// TestGuestSSH drives one offline guest with the real OpenSSH client:
// banger vm ssh and ssh, scp, rsync and git push through the installed Include work on the
// first connection with StrictHostKeyChecking yes (the host keys came from
// the agent), a guest whose host keys changed is refused, and deleting the
// VM removes its pins.
func TestGuestSSH(t *testing.T) {
	testtier.Guest(t)
	for _, tool := range []string{"ssh", "scp"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs the OpenSSH client (%s): apt-get install openssh-client", tool)
		}
	}
	w := newGuestWorld(t)
	home := w.path("home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		t.Fatal(err)
	}
	// --offline: the relay goes through the guest agent, not the network.
	w.mustGuestBanger("vm", "create", "--start", "--offline", "s")
	knownHosts := filepath.Join(w.stateDir(), "ssh", "known_hosts")

	// Right after the start sshd may not listen yet: vm ssh waits for it.
	out, errs, code := w.guestBanger("", "vm", "ssh", "s", "--", "echo", "ssh-ok")
	if code != 0 || strings.TrimSpace(out) != "ssh-ok" {
		t.Fatalf("vm ssh s -- echo ssh-ok: exit %d, stdout %q, stderr:\n%s\ndaemon log:\n%s", code, out, errs, w.daemonLog())
	}
	pins, err := os.ReadFile(knownHosts)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(pins), "s.vm,") || !strings.Contains(string(pins), "ssh-ed25519 ") {
		t.Fatalf("known_hosts after the first connection:\n%s", pins)
	}

	t.Run("ssh, scp, rsync and git push through the include", func(t *testing.T) {
		out, errs, code := w.runWithHome(t, home, w.bin.banger, "ssh-config", "--install")
		if code != 0 {
			t.Fatalf("ssh-config --install: exit %d, %s%s", code, out, errs)
		}
		cfg := filepath.Join(home, ".ssh", "config")
		sshOpts := []string{"-F", cfg, "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"}
		out, errs, code = w.runWithHome(t, home, "ssh", append(sshOpts, "s.vm", "uname", "-a")...)
		if code != 0 || !strings.HasPrefix(out, "Linux s ") {
			t.Fatalf("ssh s.vm uname -a: exit %d, stdout %q, stderr:\n%s", code, out, errs)
		}
		src := w.path("files/in.bin")
		data := bytes.Repeat([]byte("banger scp\x00\xff"), 100000)
		if err := os.WriteFile(src, data, 0o640); err != nil {
			t.Fatal(err)
		}
		if _, errs, code := w.runWithHome(t, home, "scp", append(sshOpts, src, "s.vm:/root/in.bin")...); code != 0 {
			t.Fatalf("scp in: exit %d: %s", code, errs)
		}
		back := w.path("files/back.bin")
		if _, errs, code := w.runWithHome(t, home, "scp", append(sshOpts, "s.vm:/root/in.bin", back)...); code != 0 {
			t.Fatalf("scp back: exit %d: %s", code, errs)
		}
		got, err := os.ReadFile(back)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("the file that came back differs (%d bytes, want %d; %v)", len(got), len(data), err)
		}
		if _, err := exec.LookPath("rsync"); err == nil {
			tree := w.path("files/tree")
			if err := os.MkdirAll(filepath.Join(tree, "sub"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(tree, "sub", "run.sh"), []byte("#!/bin/sh\necho hi\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			rsh := "ssh -F " + cfg + " -o BatchMode=yes"
			if _, errs, code := w.runWithHome(t, home, "rsync", "-a", "-e", rsh, tree+"/", "s.vm:/root/tree/"); code != 0 {
				t.Fatalf("rsync in: exit %d: %s", code, errs)
			}
			out, errs, code := w.runWithHome(t, home, "ssh", append(sshOpts, "s.vm", "/root/tree/sub/run.sh")...)
			if code != 0 || out != "hi\n" {
				t.Fatalf("the rsynced script in the guest: exit %d, stdout %q, stderr %s", code, out, errs)
			}
		}
		// git push over the same include: a commit made on the host lands in
		// a bare repository in the guest.
		repo := w.path("files/pushrepo")
		gitSSH := "core.sshCommand=ssh -F " + cfg + " -o BatchMode=yes -o StrictHostKeyChecking=yes"
		for _, args := range [][]string{
			{"init", "-q", "-b", "main", repo},
			{"-C", repo, "-c", "user.name=banger test", "-c", "user.email=test@banger.invalid", "commit", "-q", "--allow-empty", "-m", "pushed from the host"},
		} {
			if _, errs, code := w.runWithHome(t, home, "git", args...); code != 0 {
				t.Fatalf("git %s: exit %d: %s", strings.Join(args, " "), code, errs)
			}
		}
		if _, errs, code := w.runWithHome(t, home, "ssh", append(sshOpts, "s.vm", "git", "init", "-q", "--bare", "/root/pushed.git")...); code != 0 {
			t.Fatalf("git init --bare in the guest: exit %d: %s", code, errs)
		}
		if _, errs, code := w.runWithHome(t, home, "git", "-C", repo, "-c", gitSSH, "push", "-q", "s.vm:/root/pushed.git", "main"); code != 0 {
			t.Fatalf("git push s.vm:/root/pushed.git: exit %d: %s", code, errs)
		}
		head, _, _ := w.runWithHome(t, home, "git", "-C", repo, "rev-parse", "HEAD")
		pushed, errs, code := w.runWithHome(t, home, "ssh", append(sshOpts, "s.vm", "git", "-C", "/root/pushed.git", "rev-parse", "main")...)
		if code != 0 || pushed != head || head == "" {
			t.Fatalf("the guest's main after git push: %q (exit %d, %s), want the host's HEAD %q", pushed, code, errs, head)
		}

		out, errs, code = w.runWithHome(t, home, w.bin.banger, "ssh-config", "--uninstall")
		if code != 0 {
			t.Fatalf("ssh-config --uninstall: exit %d, %s%s", code, out, errs)
		}
		if b, _ := os.ReadFile(cfg); len(b) != 0 {
			t.Errorf("~/.ssh/config after --uninstall: %q, want empty", b)
		}
	})

	t.Run("a port nothing listens on times out clearly", func(t *testing.T) {
		_, errs, code := w.guestBanger("", "vm", "ssh-proxy", "--wait", "2s", "s", "2222")
		if code == 0 || !strings.Contains(errs, "nothing listens on port 2222 in VM s") {
			t.Errorf("ssh-proxy to a closed port: exit %d, stderr:\n%s", code, errs)
		}
	})

	t.Run("changed host key is refused", func(t *testing.T) {
		w.mustGuestBanger("vm", "exec", "s", "--", "sh", "-c",
			"rm -f /etc/ssh/ssh_host_* && ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key && systemctl restart ssh")
		out, errs, code := w.guestBanger("", "vm", "ssh", "s", "--", "echo", "should-not-run")
		if code == 0 || strings.Contains(out, "should-not-run") {
			t.Fatalf("vm ssh to a guest with changed host keys: exit %d, stdout %q", code, out)
		}
		if !strings.Contains(errs, "banger refuses it") {
			t.Errorf("stderr does not say the key was refused:\n%s", errs)
		}
	})

	w.mustGuestBanger("vm", "delete", "s")
	pins, err = os.ReadFile(knownHosts)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(pins), "s.vm") || strings.Contains(string(pins), "banger-vm-") {
		t.Fatalf("known_hosts still pins the deleted VM:\n%s", pins)
	}
}
