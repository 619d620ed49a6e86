package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"banger/internal/errdefs"
)

// Kernel is the persisted record of a guest kernel in the kernel store.
type Kernel struct {
	ID        string // 16 lowercase hex chars: the start of SHA256
	Name      string // unique
	Vmlinux   string // absolute path of the uncompressed ELF kernel
	BzImage   string // absolute path of the compressed kernel, "" if none
	Initrd    string // absolute path, "" if none
	Version   string // kernel release, e.g. "6.1.172-banger"
	Source    string // "built", "imported" or "distro"
	SHA256    string // of the vmlinux, 64 hex chars
	Size      int64  // of the vmlinux
	CreatedAt time.Time
	// Origin says where the kernel came from, for people: "distro
	// package linux-image-6.1.0-57-cloud-amd64 6.1.192-3 (downloaded)".
	Origin string
	// Discovery is how the kernel finds virtio-mmio devices: "cmdline"
	// (the default) or "acpi".
	Discovery string
	// HZ is the kernel's timer frequency (CONFIG_HZ) when known (read from
	// a distribution package's config), else 0.
	HZ int
}

var (
	kernelSources     = []string{"built", "imported", "distro"}
	kernelDiscoveries = []string{"cmdline", "acpi"}
)

const kernelColumns = `id, name, vmlinux, bzimage, initrd, version, source, sha256, size, created_at, origin, discovery, hz`

func validateKernel(k Kernel) error {
	var p problems
	p.checkHexID("id", k.ID)
	if k.Name == "" {
		p.addf("name is empty")
	}
	for _, f := range []struct{ name, path string }{{"vmlinux", k.Vmlinux}, {"bzImage", k.BzImage}, {"initrd", k.Initrd}} {
		if (f.name == "vmlinux" || f.path != "") && !filepath.IsAbs(f.path) {
			p.addf("%s path %q is not absolute", f.name, f.path)
		}
	}
	p.checkOneOf("source", k.Source, kernelSources)
	p.checkOneOf("discovery", k.Discovery, kernelDiscoveries)
	if len(k.SHA256) != 64 || strings.Trim(k.SHA256, "0123456789abcdef") != "" {
		p.addf("sha256 %q is not 64 lowercase hex characters", k.SHA256)
	}
	p.checkNonNegative("size", k.Size)
	p.checkNonNegative("hz", int64(k.HZ))
	if len(p) > 0 {
		return errdefs.InvalidArgumentf("invalid kernel record %q: %s", k.Name, p)
	}
	return nil
}

func scanKernel(sc scanner) (Kernel, error) {
	var (
		k       Kernel
		created int64
	)
	if err := sc.Scan(&k.ID, &k.Name, &k.Vmlinux, &k.BzImage, &k.Initrd, &k.Version, &k.Source,
		&k.SHA256, &k.Size, &created, &k.Origin, &k.Discovery, &k.HZ); err != nil {
		return Kernel{}, err
	}
	k.CreatedAt = fromNanos(created)
	return k, nil
}

// CreateKernel inserts k; CreatedAt defaults to now. It fails with
// AlreadyExists if the name or id is taken.
func (s *Store) CreateKernel(ctx context.Context, k Kernel) error {
	if k.Discovery == "" {
		k.Discovery = "cmdline"
	}
	if err := validateKernel(k); err != nil {
		return err
	}
	_, err := s.q.ExecContext(ctx, `INSERT INTO kernels (`+kernelColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		k.ID, k.Name, k.Vmlinux, k.BzImage, k.Initrd, k.Version, k.Source, k.SHA256, k.Size,
		nanos(orNow(k.CreatedAt, s.now())), k.Origin, k.Discovery, k.HZ)
	switch sqliteCode(err) {
	case 0:
		return nil
	case codePrimaryKey:
		return errdefs.AlreadyExistsf("a kernel with id %q already exists", k.ID)
	case codeUnique:
		return errdefs.AlreadyExistsf("a kernel named %q already exists: pick another name, or remove it with \"banger kernel rm %s\"", k.Name, k.Name)
	}
	return fmt.Errorf("write kernel %q: %w", k.Name, err)
}

// GetKernel returns the kernel whose id is ref or, failing that, whose name
// is ref.
func (s *Store) GetKernel(ctx context.Context, ref string) (Kernel, error) {
	row := s.q.QueryRowContext(ctx, `SELECT `+kernelColumns+` FROM kernels
		WHERE id = ?1 OR name = ?1 ORDER BY id = ?1 DESC LIMIT 1`, ref)
	k, err := scanKernel(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Kernel{}, errdefs.NotFoundf("no kernel named %q; \"banger kernel list\" shows the kernels", ref)
	}
	if err != nil {
		return Kernel{}, fmt.Errorf("read kernel %q: %w", ref, err)
	}
	return k, nil
}

// KernelDiscovery returns how the kernel whose vmlinux is at path finds
// virtio-mmio devices: the recorded discovery of a kernel in the store, or
// "cmdline" for a file no kernel record has (an image registered with a
// kernel of its own).
func (s *Store) KernelDiscovery(ctx context.Context, vmlinux string) (string, error) {
	var d string
	err := s.db.QueryRowContext(ctx, `SELECT discovery FROM kernels WHERE vmlinux = ? LIMIT 1`, vmlinux).Scan(&d)
	if errors.Is(err, sql.ErrNoRows) {
		return "cmdline", nil
	}
	if err != nil {
		return "", fmt.Errorf("read the kernel of %s: %w", vmlinux, err)
	}
	return d, nil
}

// KernelSource returns where the kernel whose vmlinux is at path came
// from ("built", "imported" or "distro"), or "" for a file no kernel
// record has.
func (s *Store) KernelSource(ctx context.Context, vmlinux string) (string, error) {
	var src string
	err := s.db.QueryRowContext(ctx, `SELECT source FROM kernels WHERE vmlinux = ? LIMIT 1`, vmlinux).Scan(&src)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read the kernel of %s: %w", vmlinux, err)
	}
	return src, nil
}

// KernelHZ returns the recorded timer frequency (CONFIG_HZ) of the kernel
// whose vmlinux is at path, or 0 when it is not known or no kernel record
// has that file.
func (s *Store) KernelHZ(ctx context.Context, vmlinux string) (int, error) {
	var hz int
	err := s.db.QueryRowContext(ctx, `SELECT hz FROM kernels WHERE vmlinux = ? LIMIT 1`, vmlinux).Scan(&hz)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read the kernel of %s: %w", vmlinux, err)
	}
	return hz, nil
}

// ListKernels returns every kernel, oldest first (ties by name).
func (s *Store) ListKernels(ctx context.Context) ([]Kernel, error) {
	return queryAll(ctx, s.q, "list kernels", scanKernel, `SELECT `+kernelColumns+` FROM kernels ORDER BY created_at, name`)
}

// DeleteKernel removes the kernel with the given id. It fails with
// FailedPrecondition while an image boots with the kernel's vmlinux.
func (s *Store) DeleteKernel(ctx context.Context, id string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		k, err := scanKernel(tx.QueryRowContext(ctx, `SELECT `+kernelColumns+` FROM kernels WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return errdefs.NotFoundf("no kernel with id %q; \"banger kernel list\" shows the kernels", id)
		}
		if err != nil {
			return err
		}
		names, err := queryStrings(ctx, tx, `SELECT name FROM images WHERE kernel = ? ORDER BY name LIMIT 5`, k.Vmlinux)
		if err != nil {
			return err
		}
		if len(names) > 0 {
			return errdefs.FailedPreconditionf("kernel %q is used by images %s: remove them first with \"banger image rm\"", k.Name, strings.Join(names, ", "))
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM kernels WHERE id = ?`, id)
		return err
	})
}
