package privileged

import (
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"

	"banger/internal/errdefs"
	"banger/internal/firewall"
)

const (
	// callTimeout bounds one call, dial to answer.
	callTimeout = 30 * time.Second
	// maxReply caps an answer (a host with very many routes or links).
	maxReply = 8 << 20
)

// Client implements Host by asking the root helper listening on Socket,
// one connection per call, each bounded by 30 seconds. The helper's errors
// keep their errdefs kind; a helper that cannot be reached is Unavailable,
// one whose socket belongs to another uid is FailedPrecondition.
type Client struct {
	Socket string
}

var _ Host = Client{}

// call sends method with args and decodes the result into out (nil: the
// result is ignored).
func (c Client) call(method string, args, out any) error {
	rawArgs, err := json.Marshal(args)
	if err != nil {
		return errdefs.Internalf("encode the arguments of %s: %w", method, err)
	}
	body, err := json.Marshal(request{Method: method, Args: rawArgs})
	if err != nil {
		return errdefs.Internalf("encode the %s request: %w", method, err)
	}
	conn, err := net.DialTimeout("unix", c.Socket, callTimeout)
	if errors.Is(err, fs.ErrPermission) {
		if owner, ok := socketOwner(c.Socket); ok && owner != os.Getuid() {
			return errdefs.FailedPreconditionf("reach banger's root helper at %s: %w: its socket is open only to uid %d, the uid it serves (--allow-uid), and root; run bangerd as uid %d, or restart the helper with --allow-uid %d", c.Socket, err, owner, owner, os.Getuid())
		}
	}
	if err != nil {
		return errdefs.Unavailablef("reach banger's root helper at %s: %w: start it as root (bangerd --root-helper --allow-uid UID) or run bangerd as root", c.Socket, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(callTimeout))
	// A refused caller may be answered before its request is read, and
	// the write then fails; the answer still says why.
	_, werr := conn.Write(body)
	var r reply
	if err := json.NewDecoder(io.LimitReader(conn, maxReply)).Decode(&r); err != nil {
		if werr != nil {
			err = werr
		}
		return errdefs.Unavailablef("call %s on banger's root helper at %s: %w: check the helper's log", method, c.Socket, err)
	}
	if r.Error != nil {
		return r.Error.err()
	}
	if r.Result == nil {
		return errdefs.Internalf("call %s on banger's root helper: the answer has neither result nor error: upgrade bangerd and the helper together", method)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(r.Result, out); err != nil {
		return errdefs.Internalf("decode the result of %s from banger's root helper: %w: upgrade bangerd and the helper together", method, err)
	}
	return nil
}

// socketOwner is the uid that owns the socket at path, if this process
// can see it.
func socketOwner(path string) (int, bool) {
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode()&fs.ModeSocket == 0 {
		return 0, false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Uid), true
}

// EnsureBridge asks the helper to create or fix the bridge.
func (c Client) EnsureBridge(name string, addr netip.Prefix) error {
	return c.call("EnsureBridge", ensureBridgeArgs{Name: name, Addr: addr}, nil)
}

// CreateTap asks the helper for a persistent tap owned by uid and gid.
func (c Client) CreateTap(name string, uid, gid int) error {
	return c.call("CreateTap", createTapArgs{Name: name, UID: uid, GID: gid}, nil)
}

// AttachTap asks the helper to put the tap on the bridge and set it up.
func (c Client) AttachTap(tap, bridge string) error {
	return c.call("AttachTap", attachTapArgs{Tap: tap, Bridge: bridge}, nil)
}

// DetachTap asks the helper to take the tap off its bridge.
func (c Client) DetachTap(tap string) error {
	return c.call("DetachTap", tapArgs{Tap: tap}, nil)
}

// RenameLink asks the helper to rename a tap.
func (c Client) RenameLink(from, to string) error {
	return c.call("RenameLink", renameArgs{From: from, To: to}, nil)
}

// DeleteLink asks the helper to delete a tap.
func (c Client) DeleteLink(name string) error {
	return c.call("DeleteLink", nameArgs{Name: name}, nil)
}

// Links lists banger's taps whose names start with prefix.
func (c Client) Links(prefix string) ([]string, error) {
	var names []string
	if err := c.call("Links", prefixArgs{Prefix: prefix}, &names); err != nil {
		return nil, err
	}
	return names, nil
}

// LinkExists reports whether the bridge or tap exists.
func (c Client) LinkExists(name string) (bool, error) {
	var ok bool
	err := c.call("LinkExists", nameArgs{Name: name}, &ok)
	return ok, err
}

// LinkIndex returns the interface index of the bridge or a tap.
func (c Client) LinkIndex(name string) (int, error) {
	var i int
	err := c.call("LinkIndex", nameArgs{Name: name}, &i)
	return i, err
}

// RoutedPrefixes lists the IPv4 prefixes the host routes, but exclude's.
func (c Client) RoutedPrefixes(exclude string) ([]netip.Prefix, error) {
	var ps []netip.Prefix
	if err := c.call("RoutedPrefixes", excludeArgs{Exclude: exclude}, &ps); err != nil {
		return nil, err
	}
	return ps, nil
}

// Forwarding reports whether IPv4 forwarding is on.
func (c Client) Forwarding() (bool, error) {
	var on bool
	err := c.call("Forwarding", noArgs{}, &on)
	return on, err
}

// SetForwarding asks the helper to turn IPv4 forwarding on or off.
func (c Client) SetForwarding(on bool) error {
	return c.call("SetForwarding", forwardingArgs{On: &on}, nil)
}

// ApplyRules asks the helper to make banger's nftables tables match spec.
func (c Client) ApplyRules(spec firewall.Spec) error {
	return c.call("ApplyRules", rulesArgs{Spec: specToWire(spec)}, nil)
}

// ReadRules reports the state of banger's nftables tables.
func (c Client) ReadRules() (firewall.Status, error) {
	var w wireStatus
	if err := c.call("ReadRules", noArgs{}, &w); err != nil {
		return firewall.Status{}, err
	}
	return w.status(), nil
}
