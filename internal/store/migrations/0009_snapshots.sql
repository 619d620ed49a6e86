-- Snapshots: the saved state of a paused VM (its VMM's state and memory
-- files and copies of its disks) under dir. vm_id and vm_name say which VM
-- it was taken of; they are not a foreign key, a snapshot outlives its VM.
-- The image stays referenced: a snapshot's disks were made from it.

CREATE TABLE snapshots (
	id         TEXT    NOT NULL PRIMARY KEY
	           CHECK (length(id) = 16 AND id NOT GLOB '*[^0-9a-f]*'),
	name       TEXT    NOT NULL UNIQUE CHECK (name <> ''),
	state      TEXT    NOT NULL CHECK (state IN ('creating', 'ready', 'deleting')),
	vm_id      TEXT    NOT NULL,
	vm_name    TEXT    NOT NULL,
	image_id   TEXT    NOT NULL REFERENCES images (id) ON DELETE RESTRICT,
	driver     TEXT    NOT NULL,
	vcpus      INTEGER NOT NULL CHECK (vcpus >= 0),
	memory_mib INTEGER NOT NULL CHECK (memory_mib >= 0),
	disk_bytes INTEGER NOT NULL CHECK (disk_bytes >= 0),
	dir        TEXT    NOT NULL CHECK (dir <> ''),
	size_bytes INTEGER NOT NULL DEFAULT 0 CHECK (size_bytes >= 0),
	created_at INTEGER NOT NULL
) STRICT;

CREATE INDEX snapshots_by_created ON snapshots (created_at, name);
