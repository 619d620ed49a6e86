package cli

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"banger/internal/api"
	"banger/internal/errdefs"
)

// sshWait bounds how long vm ssh and the relay wait for the guest's sshd.
const sshWait = 2 * time.Minute

func (a *app) vmSSHCommand() *cobra.Command {
	return &cobra.Command{
		Use:               "ssh NAME [-- COMMAND [ARG...]]",
		ValidArgsFunction: a.completeVMs(1),
		Short:             "Log into a VM with the system's OpenSSH client",
		Long: "Run ssh as root into the VM with banger's key and banger's known_hosts (StrictHostKeyChecking yes),\n" +
			"through a relay in the daemon: it works for VMs without a network and without host DNS.\n" +
			"A VM whose sshd is still starting is waited for.",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			info, err := cl.SSHInfo(cmd.Context())
			if err != nil {
				return err
			}
			sshBin, err := exec.LookPath("ssh")
			if err != nil {
				return errdefs.FailedPreconditionf("banger vm ssh runs the OpenSSH client, which is not installed: apt-get install openssh-client")
			}
			proxy, err := a.proxyCommand(args[0])
			if err != nil {
				return err
			}
			c := exec.CommandContext(cmd.Context(), sshBin, sshArgs(info, proxy, args[0], args[1:])...)
			c.Stdin, c.Stdout, c.Stderr = a.stdin(), a.env.Stdout, a.env.Stderr
			// ssh handles ^C itself (on a terminal it goes to the guest).
			signal.Ignore(syscall.SIGINT)
			defer signal.Reset(syscall.SIGINT)
			err = c.Run()
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				return exitCode(ee.ExitCode())
			}
			return err
		},
	}
}

// sshArgs is the ssh command line of vm ssh: banger's identity and
// known_hosts only, root, and the relay as ProxyCommand.
func sshArgs(info api.SSHInfo, proxy, name string, command []string) []string {
	host := name + "." + info.Domain
	args := []string{
		"-i", info.IdentityFile,
		"-o", "IdentitiesOnly=yes",
		"-o", "UserKnownHostsFile=" + info.KnownHostsFile,
		"-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "StrictHostKeyChecking=yes",
		"-o", "UpdateHostKeys=no",
		"-o", "HostKeyAlias=" + host,
		"-o", "User=root",
		"-o", "ProxyCommand=" + proxy,
		"--", host,
	}
	return append(args, command...)
}

// proxyCommand is the ProxyCommand that runs this banger's ssh-proxy for
// target (a VM name, or ssh's %h).
func (a *app) proxyCommand(target string) (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", errdefs.Internalf("find the banger executable for the ProxyCommand: %w", err)
	}
	parts := []string{shellQuote(self)}
	if a.socket != "" {
		parts = append(parts, "--socket", shellQuote(a.socket))
	}
	return strings.Join(append(parts, "vm", "ssh-proxy", target), " "), nil
}

// shellQuote quotes s for the shell ssh runs a ProxyCommand with, when it
// needs quoting.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+=:,@%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func (a *app) vmSSHProxyCommand() *cobra.Command {
	var wait time.Duration
	cmd := &cobra.Command{
		Use:               "ssh-proxy NAME [PORT]",
		ValidArgsFunction: a.completeVMs(1),
		Short:             "Relay stdin and stdout to a TCP port of a VM (ssh's ProxyCommand)",
		Hidden:            true,
		Args:              cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			port := 22
			if len(args) == 2 {
				p, err := strconv.Atoi(args[1])
				if err != nil || p < 1 || p > 65535 {
					return errdefs.InvalidArgumentf("port %q: must be a TCP port from 1 to 65535", args[1])
				}
				port = p
			}
			cl, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			name := args[0]
			if i := strings.IndexByte(name, '.'); i > 0 {
				info, err := cl.SSHInfo(cmd.Context())
				if err != nil {
					return err
				}
				name = strings.TrimSuffix(name, "."+info.Domain)
			}
			conn, err := cl.DialVM(cmd.Context(), name, port, wait)
			if err != nil {
				return err
			}
			return relay(cmd.Context(), conn, a.stdin(), a.env.Stdout)
		},
	}
	cmd.Flags().DurationVar(&wait, "wait", sshWait, "how long to wait for the VM and the port")
	return cmd
}

// relay copies in to conn and conn to out until conn ends. When in ends
// first, conn's write side is closed so the guest sees the end.
func relay(ctx context.Context, conn io.ReadWriteCloser, in io.Reader, out io.Writer) error {
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	go func() {
		_, _ = io.Copy(conn, in)
		if cw, ok := conn.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
	}()
	_, err := io.Copy(out, conn)
	if err != nil && ctx.Err() == nil && !errors.Is(err, os.ErrClosed) {
		return errdefs.Unavailablef("relay to the VM broke: %w", err)
	}
	return nil
}
