-- A VM may be paused: its VMM runs with the guest's vCPUs stopped. The state
-- CHECK of vms is part of the table, so the table is rebuilt. Foreign keys
-- are enforced inside a migration's transaction, where they cannot be
-- turned off, and dropping vms would cascade to the tables that reference
-- it: their rows are kept aside, the tables dropped first and made again
-- exactly as before.

CREATE TABLE vms_new (
	id          TEXT    NOT NULL PRIMARY KEY
	            CHECK (length(id) = 16 AND id NOT GLOB '*[^0-9a-f]*'),
	name        TEXT    NOT NULL UNIQUE CHECK (name <> ''),
	state       TEXT    NOT NULL CHECK (state IN
	            ('creating', 'stopped', 'starting', 'running', 'paused', 'stopping', 'deleting', 'error')),
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
	started_at  INTEGER,
	agent_token TEXT    NOT NULL DEFAULT '',
	nat         INTEGER NOT NULL DEFAULT 1 CHECK (nat IN (0, 1)),
	net_group   TEXT    NOT NULL DEFAULT ''
) STRICT;

INSERT INTO vms_new (id, name, state, image_id, vcpus, memory_mib, disk_bytes, driver, dir,
	runtime_dir, api_socket, pid, pid_start, last_error, created_at, updated_at, started_at,
	agent_token, nat, net_group)
SELECT id, name, state, image_id, vcpus, memory_mib, disk_bytes, driver, dir,
	runtime_dir, api_socket, pid, pid_start, last_error, created_at, updated_at, started_at,
	agent_token, nat, net_group FROM vms;

CREATE TEMP TABLE keep_leases AS SELECT * FROM leases;
CREATE TEMP TABLE keep_forwards AS SELECT * FROM forwards;
CREATE TEMP TABLE keep_workspaces AS SELECT * FROM workspaces;
DROP TABLE leases;
DROP TABLE forwards;
DROP TABLE workspaces;
DROP TABLE vms;
ALTER TABLE vms_new RENAME TO vms;
CREATE INDEX vms_by_image ON vms (image_id);
CREATE INDEX vms_by_created ON vms (created_at, name);

CREATE TABLE leases (
	vm_id      TEXT    NOT NULL PRIMARY KEY REFERENCES vms (id) ON DELETE CASCADE,
	ip         TEXT    NOT NULL UNIQUE CHECK (ip <> ''),
	mac        TEXT    NOT NULL UNIQUE CHECK (length(mac) = 17),
	created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE forwards (
	host_addr  TEXT    NOT NULL CHECK (host_addr <> ''),
	host_port  INTEGER NOT NULL CHECK (host_port BETWEEN 1 AND 65535),
	vm_id      TEXT    NOT NULL REFERENCES vms (id) ON DELETE CASCADE,
	guest_port INTEGER NOT NULL CHECK (guest_port BETWEEN 1 AND 65535),
	created_at INTEGER NOT NULL,
	PRIMARY KEY (host_addr, host_port)
) STRICT;

CREATE TABLE workspaces (
	vm_id       TEXT    NOT NULL PRIMARY KEY REFERENCES vms (id) ON DELETE CASCADE,
	host_path   TEXT    NOT NULL CHECK (host_path <> ''),
	guest_path  TEXT    NOT NULL CHECK (guest_path <> ''),
	base_commit TEXT    NOT NULL CHECK (base_commit <> ''),
	branch      TEXT    NOT NULL DEFAULT '',
	prepared_at INTEGER NOT NULL
) STRICT;

INSERT INTO leases SELECT * FROM keep_leases;
INSERT INTO forwards SELECT * FROM keep_forwards;
INSERT INTO workspaces SELECT * FROM keep_workspaces;
DROP TABLE keep_leases;
DROP TABLE keep_forwards;
DROP TABLE keep_workspaces;
