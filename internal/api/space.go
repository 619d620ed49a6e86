package api

// DiskUsage is the reply of GET /v1/system/df: what banger's files take,
// by category, and the room left on the filesystems that hold them.
type DiskUsage struct {
	Filesystems []FilesystemSpace `json:"filesystems"`
	Categories  []SpaceCategory   `json:"categories"`
	Total       SpaceTotal        `json:"total"`
}

// SpaceTotal is what all of banger's files take together. Allocated adds
// up every file's blocks, Shared the part of them shared between files
// (a copy-on-write clone and its image: reflink, loop-xfs), and OnDisk
// counts each shared block once: what the files really occupy.
type SpaceTotal struct {
	Apparent  int64 `json:"apparent"`
	Allocated int64 `json:"allocated"`
	Shared    int64 `json:"shared"`
	OnDisk    int64 `json:"on_disk"`
}

// FilesystemSpace is the room on the filesystem holding one of banger's
// directories (statfs: what an unprivileged writer may still use).
type FilesystemSpace struct {
	Dir       string `json:"dir"`  // "state" or "cache"
	Path      string `json:"path"` // the directory
	Available int64  `json:"available"`
	Total     int64  `json:"total"`
}

// Space categories. Clients must accept categories they do not know.
const (
	SpaceImages    = "images"
	SpaceLayers    = "layers"
	SpaceKernels   = "kernels"
	SpaceVMDisks   = "vm_disks"
	SpaceSnapshots = "snapshots"
	SpaceCaches    = "caches"
)

// SpaceCategory is what one kind of thing takes. Apparent is the files'
// sizes, Allocated the bytes their blocks occupy (less for sparse
// files), Shared the part of Allocated in blocks shared with other files
// (a VM's clone of its image shares the image's blocks until either is
// written), so Allocated − Shared is the category's own. Reclaimable is
// the bytes ReclaimCommand would free (the items' own blocks: shared
// ones stay while another file holds them); ReclaimCommand is empty
// when banger has no command for it.
type SpaceCategory struct {
	Name           string      `json:"name"`
	Count          int         `json:"count"`
	Apparent       int64       `json:"apparent"`
	Allocated      int64       `json:"allocated"`
	Shared         int64       `json:"shared"`
	Reclaimable    int64       `json:"reclaimable"`
	ReclaimCommand string      `json:"reclaim_command,omitempty"`
	Items          []SpaceItem `json:"items"`
}

// SpaceItem is one image, kernel, VM or cache directory; Shared is the
// part of Allocated shared with other files.
type SpaceItem struct {
	Name        string `json:"name"`
	Path        string `json:"path"`
	Apparent    int64  `json:"apparent"`
	Allocated   int64  `json:"allocated"`
	Shared      int64  `json:"shared"`
	InUse       bool   `json:"in_use"`
	Reclaimable bool   `json:"reclaimable"`
	Detail      string `json:"detail,omitempty"`
}

// PruneRequest is the body of the prune routes. With DryRun nothing is
// removed: the reply lists what would be.
type PruneRequest struct {
	DryRun bool `json:"dry_run"`
}

// PruneReply lists what a prune removed (or, with DryRun, would remove)
// and the allocated bytes that frees.
type PruneReply struct {
	DryRun    bool         `json:"dry_run"`
	Removed   []PrunedItem `json:"removed"`
	Reclaimed int64        `json:"reclaimed"`
}

// PrunedItem is one thing a prune removed.
type PrunedItem struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Allocated int64  `json:"allocated"`
}
