package initlayout

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestListRoundTrip(t *testing.T) {
	list := []ListEntry{{File: "virtio.ko"}, {File: "virtio_blk.ko", Depends: []string{"virtio", "virtio_ring"}}}
	text := FormatList(list)
	if want := "virtio.ko\nvirtio_blk.ko virtio virtio_ring\n"; text != want {
		t.Errorf("FormatList = %q, want %q", text, want)
	}
	if diff := cmp.Diff(list, ParseList(text+"\n  \n"), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("ParseList (-want +got):\n%s", diff)
	}
}
