package imagebuild

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"
)

// configure turns a bootstrapped Debian tree at dir into a banger image:
// the agent and its unit, first-boot identity (empty machine-id, no SSH
// host keys), /root on the work disk, a locked root password, and no apt
// lists. All writes go through an os.Root, so a symlink in the tree can
// never make them land outside it.
func configure(dir string, agent []byte) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("open the image tree: %w", err)
	}
	defer root.Close()
	t := tree{root}
	steps := []struct {
		name string
		do   func() error
	}{
		{"install the agent", func() error { return t.write("usr/local/bin/banger-agent", agent, 0o755) }},
		{"install units", t.installUnits},
		{"write fstab", func() error { return t.write("etc/fstab", []byte(fstab), 0o644) }},
		{"reset machine-id", t.resetMachineID},
		{"remove SSH host keys", t.removeHostKeys},
		{"configure sshd", func() error { return t.write("etc/ssh/sshd_config.d/banger.conf", []byte(sshdConfig), 0o644) }},
		{"create /etc/banger", func() error { return t.mkdir("etc/banger", 0o700) }},
		{"mark the identity disk", func() error {
			return t.write(strings.TrimPrefix(IdentityMarker, "/"), []byte(identityMarkerText), 0o644)
		}},
		{"set hostname", t.writeIdentity},
		{"lock root's password", t.lockRoot},
		{"clean apt lists", t.cleanApt},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	return nil
}

// tree edits an image tree through an os.Root. Names are relative and
// slash-separated.
type tree struct{ r *os.Root }

// write replaces whatever is at name (a file or a symlink) with a regular
// file owned by root, creating parent directories (0755) as needed.
func (t tree) write(name string, data []byte, mode os.FileMode) error {
	if err := t.r.MkdirAll(path.Dir(name), 0o755); err != nil {
		return err
	}
	if err := t.removeFile(name); err != nil {
		return err
	}
	f, err := t.r.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode); err != nil { // the umask may have cut bits
		f.Close()
		return err
	}
	return f.Close()
}

// symlink makes name a symlink to target, replacing a file or link.
func (t tree) symlink(target, name string) error {
	if err := t.r.MkdirAll(path.Dir(name), 0o755); err != nil {
		return err
	}
	if err := t.removeFile(name); err != nil {
		return err
	}
	return t.r.Symlink(target, name)
}

// removeFile removes a file or symlink at name; a missing one is fine, a
// directory is an error.
func (t tree) removeFile(name string) error {
	st, err := t.r.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if st.IsDir() {
		return fmt.Errorf("%s is a directory", name)
	}
	return t.r.Remove(name)
}

// mkdir makes name a directory with exactly mode.
func (t tree) mkdir(name string, mode os.FileMode) error {
	if err := t.r.MkdirAll(name, mode); err != nil {
		return err
	}
	return t.r.Chmod(name, mode)
}

func (t tree) installUnits() error {
	for name, text := range enabledUnits {
		unit := "etc/systemd/system/" + name
		if err := t.write(unit, []byte(text), 0o644); err != nil {
			return err
		}
		if err := t.symlink("/"+unit, "etc/systemd/system/multi-user.target.wants/"+name); err != nil {
			return err
		}
	}
	// The drop-in's directory is new: made 0755 whatever the umask (a
	// rootless build's is 077).
	if err := t.mkdir(path.Dir(udevTriggerDropInPath), 0o755); err != nil {
		return err
	}
	if err := t.write(udevTriggerDropInPath, []byte(udevTriggerDropIn), 0o644); err != nil {
		return err
	}
	for _, name := range maskedUnits {
		if err := t.symlink("/dev/null", "etc/systemd/system/"+name); err != nil {
			return err
		}
	}
	for _, link := range disabledLinks {
		if err := t.removeFile(link); err != nil {
			return err
		}
	}
	return nil
}

// resetMachineID leaves an empty /etc/machine-id, which systemd fills at
// first boot, so no two VMs share one.
func (t tree) resetMachineID() error {
	if err := t.write("etc/machine-id", nil, 0o444); err != nil {
		return err
	}
	return t.removeFile("var/lib/dbus/machine-id")
}

func (t tree) removeHostKeys() error {
	entries, err := fs.ReadDir(t.r.FS(), "etc/ssh")
	if err != nil {
		return err
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "ssh_host_") {
			if err := t.removeFile("etc/ssh/" + e.Name()); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeIdentity writes the placeholder identity the VM service replaces
// per VM, and drops the host's resolv.conf that bootstrapping copied in.
func (t tree) writeIdentity() error {
	for _, f := range []struct{ name, text string }{
		{"etc/hostname", "banger\n"}, {"etc/hosts", hostsFile}, {"etc/resolv.conf", resolvConf},
	} {
		if err := t.write(f.name, []byte(f.text), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// lockRoot sets root's password field in /etc/shadow to "!", in place so
// the file keeps its owner and mode.
func (t tree) lockRoot() error {
	const name = "etc/shadow"
	st, err := t.r.Lstat(name)
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", name)
	}
	data, err := t.r.ReadFile(name)
	if err != nil {
		return err
	}
	out, err := lockRootLine(string(data))
	if err != nil {
		return err
	}
	f, err := t.r.OpenFile(name, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(out); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// lockRootLine returns shadow with root's password field set to "!".
func lockRootLine(shadow string) (string, error) {
	lines := strings.SplitAfter(shadow, "\n")
	for i, line := range lines {
		fields := strings.Split(line, ":")
		if fields[0] == "root" && len(fields) >= 3 {
			fields[1] = "!"
			lines[i] = strings.Join(fields, ":")
			return strings.Join(lines, ""), nil
		}
	}
	return "", errors.New("no root entry in /etc/shadow")
}

// cleanApt removes package lists and downloaded packages, which the image
// does not need and a VM fetches again with apt-get update.
func (t tree) cleanApt() error {
	for _, dir := range []string{"var/lib/apt/lists", "var/cache/apt", "var/cache/apt/archives"} {
		entries, err := fs.ReadDir(t.r.FS(), dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		for _, e := range entries {
			n := e.Name()
			if e.IsDir() || n == "lock" {
				continue
			}
			if dir == "var/cache/apt/archives" && !strings.HasSuffix(n, ".deb") {
				continue
			}
			if err := t.removeFile(dir + "/" + n); err != nil {
				return err
			}
		}
	}
	return nil
}
