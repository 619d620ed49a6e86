-- Workspaces: where a VM's shipped git checkout came from (the host path),
-- where it lives in the guest, and the commit it was shipped at.

CREATE TABLE workspaces (
	vm_id       TEXT    NOT NULL PRIMARY KEY REFERENCES vms (id) ON DELETE CASCADE,
	host_path   TEXT    NOT NULL CHECK (host_path <> ''),
	guest_path  TEXT    NOT NULL CHECK (guest_path <> ''),
	base_commit TEXT    NOT NULL CHECK (base_commit <> ''),
	branch      TEXT    NOT NULL DEFAULT '',
	prepared_at INTEGER NOT NULL
) STRICT;
