-- Images pulled from OCI registries: where they came from, their manifest
-- digest, the run defaults of their config (JSON), the layer digests
-- their files came from (comma-separated, so removing an image can drop the
-- cached layers no image needs), and whether they can boot yet. A
-- "pulled" image is a flattened root filesystem tar with no kernel.

ALTER TABLE images ADD COLUMN state TEXT NOT NULL DEFAULT 'ready' CHECK (state IN ('ready', 'pulled'));
ALTER TABLE images ADD COLUMN source TEXT NOT NULL DEFAULT '';
ALTER TABLE images ADD COLUMN digest TEXT NOT NULL DEFAULT '';
ALTER TABLE images ADD COLUMN run_config TEXT NOT NULL DEFAULT '';
ALTER TABLE images ADD COLUMN layers TEXT NOT NULL DEFAULT '';
