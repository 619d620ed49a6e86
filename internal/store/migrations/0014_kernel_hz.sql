-- A kernel's timer frequency (CONFIG_HZ), read from a distribution
-- package's config when the kernel is fetched; 0 when not known. VMs of a
-- distro kernel boot with lpj= derived from it (kernels.md).

ALTER TABLE kernels ADD COLUMN hz INTEGER NOT NULL DEFAULT 0 CHECK (hz >= 0);
