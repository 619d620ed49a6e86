-- Warm-start snapshots: a snapshot of a freshly booted, ready VM that
-- vm run resumes instead of booting. warm_key is the digest of everything
-- a resumed VM must agree on with a cold-booted one (the image and its
-- files, the kernel's files, the driver, vcpus, memory and work disk
-- size): one warm snapshot per key. The row goes with its snapshot.

CREATE TABLE warm_snapshots (
	snapshot_id TEXT NOT NULL PRIMARY KEY REFERENCES snapshots (id) ON DELETE CASCADE,
	warm_key    TEXT NOT NULL UNIQUE CHECK (length(warm_key) = 64 AND warm_key NOT GLOB '*[^0-9a-f]*')
) STRICT;
