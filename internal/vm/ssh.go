package vm

import (
	"context"
	"fmt"
	"io"
	"time"

	"banger/internal/errdefs"
	"banger/internal/store"
)

// SSHKeys is banger's SSH identity and known_hosts (package sshkeys, wired
// by the daemon).
type SSHKeys interface {
	// AuthorizedKey is the public key line guests must accept.
	AuthorizedKey() (string, error)
	// Pin records keys (OpenSSH public key lines) as VM id's host keys;
	// a key that differs from the one pinned for its type is refused with
	// a failed_precondition error and nothing is written.
	Pin(id, name, ip string, keys []string) error
	// Unpin forgets VM id's host keys.
	Unpin(id string) error
}

// authorizedKeysPath is where a VM's sshd finds banger's key. /root is the
// per-VM work disk, mounted over the root layer's /root at boot, so the key
// lives in the root layer, where the default image's sshd_config
// (AuthorizedKeysFile ... /etc/ssh/authorized_keys.d/%u) looks too.
const authorizedKeysPath = "/etc/ssh/authorized_keys.d/root"

const (
	// sshPort is the guest port sshd listens on.
	sshPort = 22
	// pinTimeout bounds asking the agent for host keys.
	pinTimeout = 5 * time.Second
)

// sshFiles is the authorized key file written into a VM's root disk, none
// without SSH support.
func (s *Service) sshFiles() ([]GuestFile, error) {
	if s.ssh == nil {
		return nil, nil
	}
	line, err := s.ssh.AuthorizedKey()
	if err != nil {
		return nil, err
	}
	return []GuestFile{{Path: authorizedKeysPath, Data: []byte(line), Mode: 0o600}}, nil
}

// writeSSHKeyStep puts banger's key into the root disk at every start, so
// VMs made before banger had a key (or before the key was remade) accept
// it too. A VM whose image reads the identity disk gets the key there
// instead (writeIdentityDiskStep).
func (s *Service) writeSSHKeyStep(rec *store.VM, root func() string) step {
	return step{
		name: "write-ssh-key",
		do: func(ctx context.Context) error {
			files, err := s.sshFiles()
			if err != nil || len(files) == 0 {
				return err
			}
			if err := s.disks.WriteFiles(ctx, root(), files); err != nil {
				return fmt.Errorf("write banger's SSH key into the root disk of %s: %w", rec.Name, err)
			}
			return nil
		},
	}
}

// pinHostKeys asks rec's agent for the guest's SSH host keys and pins
// them. No keys yet (the guest makes them on first boot) is not an error.
func (s *Service) pinHostKeys(ctx context.Context, rec store.VM, ag Agent) error {
	if s.ssh == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, pinTimeout)
	defer cancel()
	keys, err := ag.HostKeys(ctx)
	if err != nil {
		return fmt.Errorf("ask the guest agent of %s for its SSH host keys: %w", rec.Name, err)
	}
	if len(keys) == 0 {
		return nil
	}
	lines := make([]string, 0, len(keys))
	for _, k := range keys {
		lines = append(lines, k.PublicKey)
	}
	ip := ""
	if s.net != nil {
		if l, err := s.store.GetLease(ctx, rec.ID); err == nil {
			ip = l.IP.String()
		}
	}
	return s.ssh.Pin(rec.ID, rec.Name, ip, lines)
}

// pinOnReady pins the host keys of a VM whose agent just answered. A
// changed key is logged; connections are refused when they are made.
func (s *Service) pinOnReady(ctx context.Context, rec store.VM, ag Agent) {
	if err := s.pinHostKeys(ctx, rec, ag); err != nil {
		if errdefs.Is(err, errdefs.FailedPrecondition) {
			s.log.Warn("the guest's SSH host keys changed: refused", "vm", rec.Name, "err", err)
			return
		}
		s.log.Info("could not pin the guest's SSH host keys", "vm", rec.Name, "err", err)
	}
}

// DialGuest opens a byte stream to TCP port on the guest's loopback,
// through the guest agent (no network needed). A VM still starting is
// waited for, and so is a port nothing listens on yet (sshd comes up after
// the agent), both within wait. For the SSH port the guest's host keys are
// pinned first, and a guest whose keys changed is refused.
func (s *Service) DialGuest(ctx context.Context, ref string, port int, wait time.Duration) (io.ReadWriteCloser, error) {
	if port < 1 || port > 65535 {
		return nil, errdefs.InvalidArgumentf("port %d: must be from 1 to 65535", port)
	}
	start := time.Now()
	if _, err := s.WaitReady(ctx, ref, wait); err != nil {
		return nil, err
	}
	rec, err := s.store.GetVM(ctx, ref)
	if err != nil {
		return nil, err
	}
	var last error
	for {
		conn, err := s.dialOnce(ctx, rec, port)
		if err == nil {
			return conn, nil
		}
		if !errdefs.Is(err, errdefs.Unavailable) {
			return nil, err
		}
		last = err
		if time.Since(start) > wait {
			what := fmt.Sprintf("nothing listens on port %d", port)
			if port == sshPort {
				what = "sshd does not listen"
			}
			return nil, errdefs.Unavailablef("%s in VM %s after %v (last error: %v): check that the image runs it, and see banger vm logs %s", what, rec.Name, wait.Round(time.Second), last, rec.Name)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(readyPoll):
		}
	}
}

func (s *Service) dialOnce(ctx context.Context, rec store.VM, port int) (io.ReadWriteCloser, error) {
	ag, _, err := s.agentFor(ctx, rec)
	if err != nil {
		return nil, err
	}
	conn, err := ag.Dial(ctx, port)
	if err != nil {
		return nil, err
	}
	if port == sshPort {
		// sshd listens: the host keys it serves exist by now.
		if err := s.pinHostKeys(ctx, rec, ag); err != nil {
			conn.Close()
			if errdefs.Is(err, errdefs.FailedPrecondition) {
				s.log.Warn("refused an SSH connection: the guest's host keys changed", "vm", rec.Name, "err", err)
			}
			return nil, err
		}
	}
	return conn, nil
}
