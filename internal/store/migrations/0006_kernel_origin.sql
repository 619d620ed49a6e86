-- Kernels taken from a distribution package: a third source, a line for
-- people saying where a kernel came from, and how the kernel finds its
-- virtio-mmio devices (on the command line, or in ACPI tables, which the
-- VMM then has to describe). SQLite cannot change a CHECK: the table is
-- rebuilt.

CREATE TABLE kernels_new (
	id         TEXT    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
	name       TEXT    NOT NULL UNIQUE CHECK (name <> ''),
	vmlinux    TEXT    NOT NULL CHECK (vmlinux <> ''),
	bzimage    TEXT    NOT NULL DEFAULT '',
	initrd     TEXT    NOT NULL DEFAULT '',
	version    TEXT    NOT NULL DEFAULT '',
	source     TEXT    NOT NULL CHECK (source IN ('built', 'imported', 'distro')),
	sha256     TEXT    NOT NULL CHECK (length(sha256) = 64),
	size       INTEGER NOT NULL CHECK (size >= 0),
	created_at INTEGER NOT NULL,
	origin     TEXT    NOT NULL DEFAULT '',
	discovery  TEXT    NOT NULL DEFAULT 'cmdline' CHECK (discovery IN ('cmdline', 'acpi'))
) STRICT;

INSERT INTO kernels_new (id, name, vmlinux, bzimage, initrd, version, source, sha256, size, created_at)
	SELECT id, name, vmlinux, bzimage, initrd, version, source, sha256, size, created_at FROM kernels;

DROP TABLE kernels;

ALTER TABLE kernels_new RENAME TO kernels;
