package imagebuild

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"banger/internal/disk"
	"banger/internal/disk/disktest"
	"banger/internal/errdefs"
	"banger/internal/testtier"
)

// TestBuildRefusedWithoutRoom: a build whose work directory's filesystem
// has less than the least any image needs is refused before anything is
// made, saying how much it needs and how much is free.
func TestBuildRefusedWithoutRoom(t *testing.T) {
	testtier.Root(t)
	find := fakeFinder(t)
	o := testOptions(t)
	o.WorkDir = filepath.Join(disktest.SmallFS(t, 16<<20), "images")
	_, err := build(context.Background(), o, find, nil)
	if errdefs.KindOf(err) != errdefs.FailedPrecondition || !disk.IsNoSpace(err) {
		t.Fatalf("build = %v (kind %s), want a failed_precondition about space", err, errdefs.KindOf(err))
	}
	for _, want := range []string{"building an image needs 512.0 MiB", "is free", "banger image prune"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if _, err := os.Stat(o.WorkDir); !os.IsNotExist(err) {
		t.Errorf("the work directory was made before the check (err %v)", err)
	}
}
