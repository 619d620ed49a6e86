-- Kernels VMs boot (built from linux-source or imported), and the per-VM
-- secret the guest agent authenticates the daemon with.

CREATE TABLE kernels (
	id         TEXT    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
	name       TEXT    NOT NULL UNIQUE CHECK (name <> ''),
	vmlinux    TEXT    NOT NULL CHECK (vmlinux <> ''),
	bzimage    TEXT    NOT NULL DEFAULT '',
	initrd     TEXT    NOT NULL DEFAULT '',
	version    TEXT    NOT NULL DEFAULT '',
	source     TEXT    NOT NULL CHECK (source IN ('built', 'imported')),
	sha256     TEXT    NOT NULL CHECK (length(sha256) = 64),
	size       INTEGER NOT NULL CHECK (size >= 0),
	created_at INTEGER NOT NULL
) STRICT;

ALTER TABLE vms ADD COLUMN agent_token TEXT NOT NULL DEFAULT '';
