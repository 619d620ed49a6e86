-- Images and the VMs made from them. Times are UTC unix nanoseconds; a NULL
-- time means "never". Ids are 16 lowercase hex characters.

CREATE TABLE images (
	id          TEXT    NOT NULL PRIMARY KEY
	            CHECK (length(id) = 16 AND id NOT GLOB '*[^0-9a-f]*'),
	name        TEXT    NOT NULL UNIQUE CHECK (name <> ''),
	rootfs      TEXT    NOT NULL,
	kernel      TEXT    NOT NULL,
	initrd      TEXT    NOT NULL DEFAULT '',
	rootfs_size INTEGER NOT NULL DEFAULT 0 CHECK (rootfs_size >= 0),
	created_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE vms (
	id          TEXT    NOT NULL PRIMARY KEY
	            CHECK (length(id) = 16 AND id NOT GLOB '*[^0-9a-f]*'),
	name        TEXT    NOT NULL UNIQUE CHECK (name <> ''),
	state       TEXT    NOT NULL CHECK (state IN
	            ('creating', 'stopped', 'starting', 'running', 'stopping', 'deleting', 'error')),
	image_id    TEXT    NOT NULL REFERENCES images (id) ON DELETE RESTRICT,
	vcpus       INTEGER NOT NULL CHECK (vcpus >= 0),
	memory_mib  INTEGER NOT NULL CHECK (memory_mib >= 0),
	disk_bytes  INTEGER NOT NULL CHECK (disk_bytes >= 0),
	driver      TEXT    NOT NULL,
	dir         TEXT    NOT NULL,
	runtime_dir TEXT    NOT NULL,
	api_socket  TEXT    NOT NULL DEFAULT '',
	pid         INTEGER NOT NULL DEFAULT 0 CHECK (pid >= 0),
	pid_start   INTEGER NOT NULL DEFAULT 0 CHECK (pid_start >= 0),
	last_error  TEXT    NOT NULL DEFAULT '',
	created_at  INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL,
	started_at  INTEGER
) STRICT;

CREATE INDEX vms_by_image ON vms (image_id);
CREATE INDEX vms_by_created ON vms (created_at, name);
