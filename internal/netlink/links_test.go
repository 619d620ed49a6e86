package netlink

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"banger/internal/errdefs"
	"banger/internal/netnstest"
)

func TestLinksPrefix(t *testing.T) {
	if !netnstest.Isolate(t) {
		return
	}
	for _, n := range []string{"bt-c", "bt-a", "bp-1", "bt-b", "other"} {
		addVeth(t, n)
	}
	tests := []struct {
		prefix string
		want   []string
	}{
		{"bt-", []string{"bt-a", "bt-b", "bt-c"}},
		{"bp-", []string{"bp-1"}},
		{"none-", nil},
		{"", []string{"bp-1", "bt-a", "bt-b", "bt-c", "lo", "other"}},
	}
	for _, tt := range tests {
		got, err := Links(tt.prefix)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("Links(%q) (-want +got):\n%s", tt.prefix, diff)
		}
	}
}

func TestRenameLinkErrors(t *testing.T) {
	if !netnstest.Isolate(t) {
		return
	}
	addVeth(t, "bt-x")
	addVeth(t, "bt-y")
	tests := []struct {
		from, to string
		want     errdefs.Kind
	}{
		{"bt-missing", "bt-z", errdefs.NotFound},
		{"bt-x", "bt-y", errdefs.AlreadyExists},
		{"bt-x", "Bad.Name", errdefs.InvalidArgument},
	}
	for _, tt := range tests {
		err := RenameLink(tt.from, tt.to)
		if got := errdefs.KindOf(err); got != tt.want {
			t.Errorf("RenameLink(%s, %s) = %v (kind %s), want kind %s", tt.from, tt.to, err, got, tt.want)
		}
	}
	if err := RenameLink("bt-x", "bt-x"); err != nil {
		t.Errorf("RenameLink to the same name = %v, want nil", err)
	}
	if err := RenameLink("bt-x", "bt-z"); err != nil {
		t.Fatal(err)
	}
	got, err := Links("bt-")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"bt-y", "bt-z"}, got); diff != "" {
		t.Errorf("links after rename (-want +got):\n%s", diff)
	}
}

func TestDeleteLinkMissing(t *testing.T) {
	if !netnstest.Isolate(t) {
		return
	}
	if err := DeleteLink("bt-never"); err != nil {
		t.Errorf("DeleteLink of a missing link = %v, want nil", err)
	}
}
