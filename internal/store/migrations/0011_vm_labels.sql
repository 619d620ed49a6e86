-- Labels: free key/value pairs a client attaches to a VM when it creates it
-- (banger-vk records the Pod's UID there), as a JSON object.

ALTER TABLE vms ADD COLUMN labels TEXT NOT NULL DEFAULT '{}';
