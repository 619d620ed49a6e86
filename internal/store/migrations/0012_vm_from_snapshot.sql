-- VMs made from a snapshot (vm create --from-snapshot, vm fork) record it
-- in snapshot_id ('' for VMs booted from an image): a snapshot a VM was
-- made from cannot be deleted while that VM exists. A snapshot keeps the
-- agent token its guest held (agent_token), with which the daemon reaches
-- the restored guest to give it its new identity, even after the VM it
-- was taken of is gone. auto marks the snapshots vm fork made on its own,
-- removed with the last VM made from them.

ALTER TABLE vms ADD COLUMN snapshot_id TEXT NOT NULL DEFAULT '';
ALTER TABLE snapshots ADD COLUMN agent_token TEXT NOT NULL DEFAULT '';
ALTER TABLE snapshots ADD COLUMN auto INTEGER NOT NULL DEFAULT 0 CHECK (auto IN (0, 1));
