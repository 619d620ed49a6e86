-- VM networking: each VM's egress and group settings, its address lease,
-- the host ports forwarded to it, and host facts banger must restore.

ALTER TABLE vms ADD COLUMN nat INTEGER NOT NULL DEFAULT 1 CHECK (nat IN (0, 1));
ALTER TABLE vms ADD COLUMN net_group TEXT NOT NULL DEFAULT '';

-- A lease lives as long as its VM record: it is never handed to another VM
-- while the record exists, and goes with it.
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

CREATE TABLE host_facts (
	key   TEXT NOT NULL PRIMARY KEY CHECK (key <> ''),
	value TEXT NOT NULL
) STRICT;
