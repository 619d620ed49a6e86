package agent

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"

	"banger/internal/agent/guestnet"
	"banger/internal/agent/proto"
)

// SystemIdentity applies an identity request to the machine the agent
// runs in (Server.Reidentify): clock, entropy, machine-id, hostname, SSH
// host keys, network and token file, in that order. Empty paths take the
// usual ones.
type SystemIdentity struct {
	TokenFile  string // default /etc/banger/agent-token
	HostKeyDir string // default /etc/ssh
	ResolvConf string // default /etc/resolv.conf
	EtcDir     string // hostname, hosts, machine-id; default /etc
	// NetFile receives the new network settings in the kernel command
	// line's form, which a restarted agent applies instead of
	// /proc/cmdline's (the saved machine's until the next boot); default
	// NetOverride.
	NetFile string
}

// NetOverride is where SystemIdentity leaves the network settings of a
// re-identified guest: on /run, so that the next boot, whose command
// line is its own, forgets them.
const NetOverride = "/run/banger/network"

// Apply applies id. It stops at the first failure; every part is safe to
// apply again.
func (s SystemIdentity) Apply(ctx context.Context, id proto.Identity) error {
	etc := orDefault(s.EtcDir, "/etc")
	ts := unix.NsecToTimespec(id.Time.UnixNano())
	if err := unix.ClockSettime(unix.CLOCK_REALTIME, &ts); err != nil {
		return fmt.Errorf("step the clock to %v: %w", id.Time, err)
	}
	if err := addEntropy(id.Entropy); err != nil {
		return err
	}
	if err := writeMachineID(etc, id.MachineID); err != nil {
		return err
	}
	if err := setHostname(etc, id.Hostname); err != nil {
		return err
	}
	if err := regenerateHostKeys(ctx, orDefault(s.HostKeyDir, "/etc/ssh")); err != nil {
		return err
	}
	if id.Address != "" {
		mac, _ := net.ParseMAC(id.MAC)
		cfg := guestnet.Config{Addr: netip.MustParsePrefix(id.Address)}
		if id.Gateway != "" {
			cfg.Gateway = netip.MustParseAddr(id.Gateway)
		}
		if id.DNS != "" {
			cfg.DNS = netip.MustParseAddr(id.DNS)
		}
		if err := guestnet.Reconfigure(cfg, mac, orDefault(s.ResolvConf, "/etc/resolv.conf")); err != nil {
			return err
		}
		netFile := orDefault(s.NetFile, NetOverride)
		if err := os.MkdirAll(filepath.Dir(netFile), 0o755); err != nil {
			return err
		}
		args := "banger.ip=" + id.Address
		if id.Gateway != "" {
			args += " banger.gw=" + id.Gateway
		}
		if id.DNS != "" {
			args += " banger.dns=" + id.DNS
		}
		if err := writeFileAtomic(netFile, []byte(args+"\n"), 0o644); err != nil {
			return err
		}
	}
	return writeFileAtomic(orDefault(s.TokenFile, "/etc/banger/agent-token"), []byte(id.Token+"\n"), 0o600)
}

func orDefault(v, d string) string {
	if v == "" {
		return d
	}
	return v
}

// addEntropy credits b to the kernel's entropy pool (RNDADDENTROPY on
// /dev/random: struct rand_pool_info {int entropy_count; int buf_size;
// __u32 buf[];}) and reseeds the kernel's random number generator from it
// at once (RNDRESEEDCRNG): otherwise the restored copies of one guest,
// whose generator state is the saved one, draw the same numbers until
// its next periodic reseed (up to a minute), and make the same SSH host
// keys.
func addEntropy(b []byte) error {
	f, err := os.OpenFile("/dev/random", os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("open /dev/random: %w", err)
	}
	defer f.Close()
	info := make([]byte, 8+len(b))
	binary.NativeEndian.PutUint32(info[0:], uint32(len(b)*8))
	binary.NativeEndian.PutUint32(info[4:], uint32(len(b)))
	copy(info[8:], b)
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), unix.RNDADDENTROPY, uintptr(unsafe.Pointer(&info[0]))); errno != 0 {
		return fmt.Errorf("add entropy (RNDADDENTROPY): %w", errno)
	}
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), unix.RNDRESEEDCRNG, 0); errno != 0 {
		return fmt.Errorf("reseed the kernel's random number generator (RNDRESEEDCRNG): %w", errno)
	}
	return nil
}

// writeMachineID writes etc/machine-id, and /var/lib/dbus/machine-id
// when that is a file of its own rather than a link to it.
func writeMachineID(etc, id string) error {
	if err := writeFileAtomic(filepath.Join(etc, "machine-id"), []byte(id+"\n"), 0o444); err != nil {
		return err
	}
	const dbus = "/var/lib/dbus/machine-id"
	if etc == "/etc" {
		if st, err := os.Lstat(dbus); err == nil && st.Mode().IsRegular() {
			return writeFileAtomic(dbus, []byte(id+"\n"), 0o444)
		}
	}
	return nil
}

// setHostname sets the kernel's host name and writes etc/hostname and
// etc/hosts as banger writes them for a new VM.
func setHostname(etc, name string) error {
	if err := unix.Sethostname([]byte(name)); err != nil {
		return fmt.Errorf("set the host name: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(etc, "hostname"), []byte(name+"\n"), 0o644); err != nil {
		return err
	}
	hosts := "127.0.0.1\tlocalhost\n127.0.1.1\t" + name + "\n::1\tlocalhost ip6-localhost ip6-loopback\n"
	return writeFileAtomic(filepath.Join(etc, "hosts"), []byte(hosts), 0o644)
}

// regenerateHostKeys replaces each SSH host key in dir by a new one of
// the same type (sshd reads the key files for each connection it
// serves). A guest without host keys or without ssh-keygen is left alone.
func regenerateHostKeys(ctx context.Context, dir string) error {
	keys, err := filepath.Glob(filepath.Join(dir, "ssh_host_*_key"))
	if err != nil || len(keys) == 0 {
		return err
	}
	bin, err := exec.LookPath("ssh-keygen")
	if err != nil {
		return nil
	}
	for _, k := range keys {
		typ := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(k), "ssh_host_"), "_key")
		tmp := k + ".new"
		_ = os.Remove(tmp)
		_ = os.Remove(tmp + ".pub")
		out, err := exec.CommandContext(ctx, bin, "-q", "-t", typ, "-N", "", "-C", "", "-f", tmp).CombinedOutput()
		if err != nil {
			return fmt.Errorf("ssh-keygen -t %s: %w: %s", typ, err, out)
		}
		if err := os.Rename(tmp+".pub", k+".pub"); err != nil {
			return err
		}
		if err := os.Rename(tmp, k); err != nil {
			return err
		}
	}
	return nil
}

// writeFileAtomic replaces path with data (mode perm) through a temporary
// file in the same directory.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(data)
	err = errors.Join(err, tmp.Chmod(perm), tmp.Sync(), tmp.Close())
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
