package firewall

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/google/nftables"

	"banger/internal/errdefs"
)

// Apply replaces banger's tables with exactly what spec says, in one
// netlink batch: the kernel applies it as one transaction, so a reader
// never sees a half-made ruleset. With no VMs the tables exist and are
// empty. The spec is validated first; nothing is changed if it is invalid.
func Apply(spec Spec) error {
	if err := spec.Validate(); err != nil {
		return err
	}
	spec.groups = nil
	return applyWhole(spec)
}

// applyWhole replaces the tables with a validated spec in one batch.
func applyWhole(spec Spec) error {
	conn, err := nftables.New()
	if err != nil {
		return kernelError("open an nftables connection", err)
	}
	for _, t := range ruleset(spec) {
		if err := t.program(conn); err != nil {
			return errdefs.Wrap(errdefs.Internal, fmt.Errorf("build the %s table: %w", familyName(t.table.Family), err))
		}
	}
	if err := conn.Flush(); err != nil {
		return kernelError("replace banger's nftables tables", err)
	}
	return nil
}

// Remove deletes banger's tables (daemon uninstall, tests) in one batch.
// Missing tables are not an error.
func Remove() error {
	conn, err := nftables.New()
	if err != nil {
		return kernelError("open an nftables connection", err)
	}
	for _, fam := range families {
		t := &nftables.Table{Name: TableName, Family: fam}
		conn.AddTable(t) // so that the delete never fails for a missing table
		conn.DelTable(t)
	}
	if err := conn.Flush(); err != nil {
		return kernelError("delete banger's nftables tables", err)
	}
	return nil
}

// families are the families of banger's tables.
var families = []nftables.TableFamily{nftables.TableFamilyINet, nftables.TableFamilyBridge}

func familyName(f nftables.TableFamily) string {
	switch f {
	case nftables.TableFamilyINet:
		return "inet"
	case nftables.TableFamilyBridge:
		return "bridge"
	}
	return fmt.Sprintf("family %d", f)
}

// kernelError classifies an error from the kernel's nf_tables and says
// what to do about it.
func kernelError(what string, err error) error {
	switch {
	case errors.Is(err, os.ErrPermission), errors.Is(err, syscall.EPERM):
		return errdefs.Wrap(errdefs.FailedPrecondition,
			fmt.Errorf("%s: %w: needs CAP_NET_ADMIN; run bangerd as root", what, err))
	case errors.Is(err, syscall.ENOENT), errors.Is(err, syscall.EOPNOTSUPP), errors.Is(err, syscall.EAFNOSUPPORT),
		errors.Is(err, syscall.EPROTONOSUPPORT):
		return errdefs.Wrap(errdefs.Unavailable,
			fmt.Errorf("%s: %w: the kernel lacks nf_tables support banger needs; load nf_tables, nft_ct, nft_masq, nft_nat and nf_tables_bridge (or build them in)", what, err))
	}
	return errdefs.Wrap(errdefs.Unavailable, fmt.Errorf("%s: %w", what, err))
}
