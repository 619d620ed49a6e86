package netlink

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"syscall"

	"banger/internal/errdefs"
)

// ipForward is the IPv4 forwarding switch of the network namespace of the
// process that opens it.
const ipForward = "/proc/sys/net/ipv4/ip_forward"

// Forwarding reports whether IPv4 forwarding is on in this network
// namespace.
func Forwarding() (bool, error) {
	b, err := os.ReadFile(ipForward)
	if err != nil {
		return false, fmt.Errorf("read %s: %w: is /proc mounted?", ipForward, err)
	}
	switch v := strings.TrimSpace(string(b)); v {
	case "0":
		return false, nil
	case "1":
		return true, nil
	default:
		return false, errdefs.Internalf("read %s: unexpected value %q, want 0 or 1", ipForward, v)
	}
}

// SetForwarding turns IPv4 forwarding in this network namespace on or off.
func SetForwarding(on bool) error {
	v := "0\n"
	if on {
		v = "1\n"
	}
	f, err := os.OpenFile(ipForward, os.O_WRONLY, 0)
	if err == nil {
		_, err = f.WriteString(v)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err == nil {
		return nil
	}
	if errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS) {
		return errdefs.FailedPreconditionf("write %s: %w: run bangerd as root, with /proc/sys writable", ipForward, err)
	}
	return fmt.Errorf("write %s: %w", ipForward, err)
}
