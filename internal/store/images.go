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

// Image is the persisted record of a guest image: a read-only root
// filesystem and the kernel (and optional initrd) that boots it.
type Image struct {
	ID         string // 16 lowercase hex chars
	Name       string // unique
	RootFS     string // absolute path
	Kernel     string // absolute path; "" for a pulled image
	Initrd     string // absolute path, "" if none
	RootFSSize int64
	CreatedAt  time.Time
	// State is ImageReady (bootable, the default) or ImagePulled (an OCI
	// image flattened to a root filesystem tar, not bootable yet).
	State string
	// Source is the registry reference a pulled image came from, Digest
	// its manifest digest, RunConfig its config's run defaults (JSON, as
	// the images service writes it) and Layers its layer digests.
	Source    string
	Digest    string
	RunConfig string
	Layers    []string
	// Identity is how VMs of the image get their identity: ImageIdentityDisk
	// (the image reads a per-VM identity disk at boot) or
	// ImageIdentityDebugfs (banger writes it into each VM's root disk; the
	// default, for images built before the identity disk or registered by
	// hand).
	Identity string
}

// Image identity capabilities.
const (
	ImageIdentityDebugfs = "debugfs"
	ImageIdentityDisk    = "disk"
)

// Image states.
const (
	ImageReady  = "ready"
	ImagePulled = "pulled"
)

const imageColumns = `id, name, rootfs, kernel, initrd, rootfs_size, created_at, state, source, digest, run_config, layers, identity`

func validateImage(img Image) error {
	var p problems
	p.checkHexID("id", img.ID)
	if img.Name == "" {
		p.addf("name is empty")
	}
	if !filepath.IsAbs(img.RootFS) {
		p.addf("root filesystem path %q is not absolute", img.RootFS)
	}
	switch img.State {
	case "", ImageReady:
		if !filepath.IsAbs(img.Kernel) {
			p.addf("kernel path %q is not absolute", img.Kernel)
		}
	case ImagePulled:
		if img.Kernel != "" {
			p.addf("a pulled image has no kernel yet, not %q", img.Kernel)
		}
		if img.Source == "" || img.Digest == "" {
			p.addf("a pulled image needs its source and digest")
		}
	default:
		p.addf("state %q is not %q or %q", img.State, ImageReady, ImagePulled)
	}
	if img.Initrd != "" && !filepath.IsAbs(img.Initrd) {
		p.addf("initrd path %q is not absolute", img.Initrd)
	}
	for _, l := range img.Layers {
		if !strings.HasPrefix(l, "sha256:") || strings.Contains(l, ",") {
			p.addf("layer digest %q is not sha256:<hex>", l)
		}
	}
	switch img.Identity {
	case "", ImageIdentityDebugfs, ImageIdentityDisk:
	default:
		p.addf("identity %q is not %q or %q", img.Identity, ImageIdentityDebugfs, ImageIdentityDisk)
	}
	p.checkNonNegative("root filesystem size", img.RootFSSize)
	if len(p) > 0 {
		return errdefs.InvalidArgumentf("invalid image record %q: %s", img.Name, p)
	}
	return nil
}

func scanImage(sc scanner) (Image, error) {
	var (
		img     Image
		created int64
		layers  string
	)
	if err := sc.Scan(&img.ID, &img.Name, &img.RootFS, &img.Kernel, &img.Initrd, &img.RootFSSize, &created,
		&img.State, &img.Source, &img.Digest, &img.RunConfig, &layers, &img.Identity); err != nil {
		return Image{}, err
	}
	img.CreatedAt = fromNanos(created)
	if layers != "" {
		img.Layers = strings.Split(layers, ",")
	}
	return img, nil
}

// CreateImage inserts img; CreatedAt defaults to now. It fails with
// AlreadyExists if the name or id is taken.
func (s *Store) CreateImage(ctx context.Context, img Image) error {
	if err := validateImage(img); err != nil {
		return err
	}
	state := img.State
	if state == "" {
		state = ImageReady
	}
	identity := img.Identity
	if identity == "" {
		identity = ImageIdentityDebugfs
	}
	_, err := s.q.ExecContext(ctx, `INSERT INTO images (`+imageColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		img.ID, img.Name, img.RootFS, img.Kernel, img.Initrd, img.RootFSSize, nanos(orNow(img.CreatedAt, s.now())),
		state, img.Source, img.Digest, img.RunConfig, strings.Join(img.Layers, ","), identity)
	switch sqliteCode(err) {
	case 0:
	case codePrimaryKey:
		return errdefs.AlreadyExistsf("an image with id %q already exists", img.ID)
	case codeUnique:
		return errdefs.AlreadyExistsf("an image named %q already exists: pick another name, or remove it with \"banger image rm %s\"", img.Name, img.Name)
	}
	if err != nil {
		return fmt.Errorf("write image %q: %w", img.Name, err)
	}
	return nil
}

// GetImage returns the image whose id is ref or, failing that, whose name
// is ref.
func (s *Store) GetImage(ctx context.Context, ref string) (Image, error) {
	row := s.q.QueryRowContext(ctx, `SELECT `+imageColumns+` FROM images
		WHERE id = ?1 OR name = ?1 ORDER BY id = ?1 DESC LIMIT 1`, ref)
	img, err := scanImage(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Image{}, errdefs.NotFoundf("no image named %q; \"banger image list\" shows the images", ref)
	}
	if err != nil {
		return Image{}, fmt.Errorf("read image %q: %w", ref, err)
	}
	return img, nil
}

// ListImages returns every image, oldest first (ties by name).
func (s *Store) ListImages(ctx context.Context) ([]Image, error) {
	return queryAll(ctx, s.q, "list images", scanImage, `SELECT `+imageColumns+` FROM images ORDER BY created_at, name`)
}

// DeleteImage removes the image with the given id. It fails with
// FailedPrecondition, naming them, while any VM uses the image.
func (s *Store) DeleteImage(ctx context.Context, id string) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var name string
		err := tx.QueryRowContext(ctx, `SELECT name FROM images WHERE id = ?`, id).Scan(&name)
		if errors.Is(err, sql.ErrNoRows) {
			return errdefs.NotFoundf("no image with id %q; \"banger image list\" shows the images", id)
		}
		if err != nil {
			return err
		}
		if err := imageInUse(ctx, tx, id, name); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM images WHERE id = ?`, id)
		if sqliteCode(err) == codeForeignKey {
			return errdefs.FailedPreconditionf("image %q is used by VMs: delete them first", name)
		}
		return err
	})
	if err != nil && errdefs.KindOf(err) == errdefs.Internal {
		return fmt.Errorf("delete image %s: %w", id, err)
	}
	return err
}

// imageInUse returns FailedPrecondition naming up to five of the VMs that
// use the image, or nil if none does.
func imageInUse(ctx context.Context, q querier, id, name string) error {
	const show = 5
	var n int
	if err := q.QueryRowContext(ctx, `SELECT count(*) FROM vms WHERE image_id = ?`, id).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	names, err := queryStrings(ctx, q, `SELECT name FROM vms WHERE image_id = ? ORDER BY created_at, name LIMIT ?`, id, show)
	if err != nil {
		return err
	}
	list := strings.Join(names, ", ")
	if n > len(names) {
		list += fmt.Sprintf(" and %d more", n-len(names))
	}
	noun, pronoun := "VMs", "them"
	if n == 1 {
		noun, pronoun = "VM", "it"
	}
	return errdefs.FailedPreconditionf("image %q is used by %s %s: delete %s first with \"banger vm delete\"", name, noun, list, pronoun)
}
