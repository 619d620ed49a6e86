package oci

import (
	"context"
	"strings"
	"testing"

	"banger/internal/disk"
	"banger/internal/disk/disktest"
	"banger/internal/errdefs"
	"banger/internal/testtier"
)

// TestFetchRefusedWithoutRoom: a pull whose layers to download cannot fit
// in the layer cache's filesystem is refused before any blob is fetched,
// saying what it needs and what is free.
func TestFetchRefusedWithoutRoom(t *testing.T) {
	testtier.Root(t)
	dockerConfig(t, nil)
	reg := newTestRegistry(t)
	big := randomLayer(t, "big", 12<<20)
	reg.push(t, "big:1", testImage(t, "amd64", big))
	p := &Puller{Dir: disktest.SmallFS(t, 8<<20), Jobs: 2}
	_, err := p.Fetch(context.Background(), reg.ref("big:1"), nil)
	if !errdefs.Is(err, errdefs.FailedPrecondition) || !disk.IsNoSpace(err) || !strings.Contains(err.Error(), "pulling "+reg.ref("big:1")+" (12 MiB of layers to download) needs") {
		t.Fatalf("Fetch = %v, want a refusal naming the need", err)
	}
	if n := reg.blobGets(digestString(t, big)); n != 0 {
		t.Errorf("the layer was fetched %d times before the refusal", n)
	}
	if blobs, tmp := cacheFiles(t, p); len(blobs)+len(tmp) != 0 {
		t.Errorf("cache holds %v %v after the refusal", blobs, tmp)
	}
}
