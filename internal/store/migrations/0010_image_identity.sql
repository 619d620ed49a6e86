-- How a VM made from the image gets its identity (hostname, agent token,
-- authorized key): "disk" when the image reads a per-VM identity disk at
-- boot (built by a banger that installs the banger-identity unit),
-- "debugfs" when banger must write the files into each VM's root disk
-- (images built before, or registered by hand).

ALTER TABLE images ADD COLUMN identity TEXT NOT NULL DEFAULT 'debugfs' CHECK (identity IN ('debugfs', 'disk'));
