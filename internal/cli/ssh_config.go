package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"banger/internal/api"
	"banger/internal/errdefs"
	"banger/internal/paths"
)

func (a *app) sshConfigCommand() *cobra.Command {
	var install, uninstall bool
	cmd := &cobra.Command{
		Use:   "ssh-config",
		Short: "Print, install or uninstall the OpenSSH client config for NAME.vm",
		Long: "Print a client config block for Host *.<domain> that reaches VMs through banger's relay with banger's\n" +
			"key and known_hosts. --install writes it to banger's config directory and adds one Include line\n" +
			"for it at the top of ~/.ssh/config, after which ssh, scp, rsync -e ssh and git reach NAME.vm;\n" +
			"--uninstall removes that line and nothing else.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if install && uninstall {
				return errdefs.InvalidArgumentf("--install and --uninstall exclude each other: pick one")
			}
			l, err := paths.UserLayout(a.getenv, os.Getuid())
			if err != nil {
				return err
			}
			included := filepath.Join(l.ConfigDir, "ssh_config")
			userConfig, err := a.userSSHConfig()
			if err != nil {
				return err
			}
			if uninstall {
				removed, err := uninstallInclude(userConfig, includeLine(included))
				if err != nil {
					return err
				}
				if removed {
					fmt.Fprintf(a.env.Stdout, "removed banger's Include line from %s\n", userConfig)
				} else {
					fmt.Fprintf(a.env.Stdout, "%s has no banger Include line\n", userConfig)
				}
				return nil
			}
			cl, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			info, err := cl.SSHInfo(cmd.Context())
			if err != nil {
				return err
			}
			proxy, err := a.proxyCommand("%h")
			if err != nil {
				return err
			}
			block := sshConfigBlock(info, proxy)
			if !install {
				fmt.Fprint(a.env.Stdout, block)
				return nil
			}
			if err := os.MkdirAll(l.ConfigDir, 0o700); err != nil {
				return errdefs.Internalf("create %s: %w", l.ConfigDir, err)
			}
			if err := os.WriteFile(included, []byte(block), 0o600); err != nil {
				return errdefs.Internalf("write %s: %w", included, err)
			}
			added, err := installInclude(userConfig, includeLine(included))
			if err != nil {
				return err
			}
			if added {
				fmt.Fprintf(a.env.Stdout, "added an Include of %s to %s: ssh NAME.%s now works\n", included, userConfig, info.Domain)
			} else {
				fmt.Fprintf(a.env.Stdout, "updated %s; %s already includes it\n", included, userConfig)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&install, "install", false, "write the config and include it from ~/.ssh/config")
	cmd.Flags().BoolVar(&uninstall, "uninstall", false, "remove banger's Include line from ~/.ssh/config")
	return cmd
}

// userSSHConfig is ~/.ssh/config.
func (a *app) userSSHConfig() (string, error) {
	home := a.getenv("HOME")
	if home == "" {
		return "", errdefs.FailedPreconditionf("HOME is not set: banger cannot find ~/.ssh/config")
	}
	return filepath.Join(home, ".ssh", "config"), nil
}

// sshConfigBlock is the client config for banger's VMs.
func sshConfigBlock(info api.SSHInfo, proxy string) string {
	return "# banger: reach VMs as NAME." + info.Domain + " (written by banger ssh-config)\n" +
		"Host *." + info.Domain + "\n" +
		"\tUser root\n" +
		"\tIdentityFile " + sshQuote(info.IdentityFile) + "\n" +
		"\tIdentitiesOnly yes\n" +
		"\tUserKnownHostsFile " + sshQuote(info.KnownHostsFile) + "\n" +
		"\tStrictHostKeyChecking yes\n" +
		"\tUpdateHostKeys no\n" +
		"\tProxyCommand " + proxy + "\n"
}

// sshQuote quotes a path for ssh_config when it has spaces.
func sshQuote(s string) string {
	if strings.ContainsAny(s, " \t\"") {
		return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`
	}
	return s
}

// includeLine is the one line --install adds: the included path, under
// banger's config directory, is what marks it as banger's.
func includeLine(included string) string { return "Include " + sshQuote(included) }

// installInclude puts line at the top of the ssh config at path unless it
// is there already, creating the file (0600) and its directory (0700)
// when missing. It reports whether it added the line.
func installInclude(path, line string) (bool, error) {
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return false, errdefs.Internalf("read %s: %w", path, err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(l) == line {
			return false, nil
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return false, errdefs.Internalf("create %s: %w", filepath.Dir(path), err)
	}
	// An Include inside a Host block would apply only to that block: the
	// line goes first.
	out := line + "\n" + string(data)
	if err := os.WriteFile(path, []byte(out), 0o600); err != nil {
		return false, errdefs.Internalf("write %s: %w", path, err)
	}
	return true, nil
}

// uninstallInclude removes every line of the ssh config at path that is
// line, and nothing else. A missing file has nothing to remove.
func uninstallInclude(path, line string) (bool, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, errdefs.Internalf("read %s: %w", path, err)
	}
	lines := strings.SplitAfter(string(data), "\n")
	kept := lines[:0]
	for _, l := range lines {
		if strings.TrimSpace(l) != line {
			kept = append(kept, l)
		}
	}
	if len(kept) == len(lines) {
		return false, nil
	}
	if err := os.WriteFile(path, []byte(strings.Join(kept, "")), 0o600); err != nil {
		return false, errdefs.Internalf("write %s: %w", path, err)
	}
	return true, nil
}
