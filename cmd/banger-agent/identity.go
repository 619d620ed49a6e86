package main

import (
	"fmt"
	"io"
	"strings"

	"banger/internal/identdisk"
)

// identityPaths is where applyIdentity looks: the block devices, their
// nodes and the root the files go under. Tests point them elsewhere.
type identityPaths struct {
	sysBlock, dev, root string
}

var guestPaths = identityPaths{sysBlock: "/sys/block", dev: "/dev", root: "/"}

// applyIdentity installs the files of the VM's identity disk, if one is
// attached, and names the machine after the /etc/hostname it carried.
// sethostname is unix.Sethostname outside tests.
func applyIdentity(p identityPaths, sethostname func([]byte) error, out io.Writer) error {
	dev, err := identdisk.Find(p.sysBlock, p.dev)
	if err != nil {
		return err
	}
	if dev == "" {
		fmt.Fprintln(out, "banger-agent identity: no identity disk attached; the VM keeps the identity in its root disk")
		return nil
	}
	files, err := identdisk.Read(dev)
	if err != nil {
		return err
	}
	if err := identdisk.Install(p.root, files); err != nil {
		return err
	}
	for _, f := range files {
		if f.Path == "/etc/hostname" {
			if name := strings.TrimSpace(string(f.Data)); name != "" {
				if err := sethostname([]byte(name)); err != nil {
					return fmt.Errorf("set the hostname to %q: %w", name, err)
				}
			}
		}
	}
	fmt.Fprintf(out, "banger-agent identity: installed %d files from %s\n", len(files), dev)
	return nil
}

// runIdentity is "banger-agent identity", which banger-identity.service
// runs at boot before the agent and sshd.
func runIdentity(args []string, sethostname func([]byte) error, stdout io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("identity takes no arguments, got %q", args)
	}
	if err := applyIdentity(guestPaths, sethostname, stdout); err != nil {
		return fmt.Errorf("install the identity from the identity disk: %w: recreate the VM, or start it again to rewrite the disk", err)
	}
	return nil
}
