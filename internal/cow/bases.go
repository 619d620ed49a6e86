package cow

import "path/filepath"

// BasesDir is where the loop-xfs strategy keeps, inside the state
// directory stateDir, its one copy of each image cloned so far (the file
// VM disks are reflink clones of). It is there only while banger's XFS
// filesystem is mounted; copies of images that are gone are removed when
// the filesystem is next opened.
func BasesDir(stateDir string) string { return filepath.Join(stateDir, xfsMount, basesDir) }
