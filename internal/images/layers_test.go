package images

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func layerDigests(ls []CachedLayer) []string {
	out := []string{}
	for _, l := range ls {
		out = append(out, l.Digest)
	}
	return out
}

// TestPruneLayers: the layers a failed pull cached are the ones no image
// needs; a dry run lists them, a prune removes only them.
func TestPruneLayers(t *testing.T) {
	f, p, _ := pullFixture(t)
	ctx := context.Background()
	for _, ref := range []string{"debian:12", "app:1"} {
		if _, err := f.svc.Pull(ctx, PullRequest{Ref: ref}, nil); err != nil {
			t.Fatal(err)
		}
	}
	p.images["index.docker.io/library/tool:1"] = Pulled{Ref: "index.docker.io/library/tool:1", Digest: digest('f'),
		Layers: []PulledLayer{{Digest: digest('1'), Size: 10}, {Digest: digest('4'), Size: 40}}}
	p.flattenErr = context.Canceled
	if _, err := f.svc.Pull(ctx, PullRequest{Ref: "tool:1"}, nil); err == nil {
		t.Fatal("the failing pull succeeded")
	}
	all := []string{digest('1'), digest('2'), digest('3'), digest('4')}
	if diff := cmp.Diff(all, p.cached()); diff != "" {
		t.Fatalf("cache after the failed pull (-want +got):\n%s", diff)
	}

	cached, used, err := f.svc.Layers(ctx)
	if err != nil || len(cached) != 4 || !used[digest('2')] || used[digest('4')] {
		t.Errorf("Layers = %v, %v, %v", cached, used, err)
	}
	dry, err := f.svc.PruneLayers(ctx, true)
	if err != nil || !cmp.Equal(layerDigests(dry), []string{digest('4')}) {
		t.Errorf("dry run = %v, %v; want the failed pull's layer", layerDigests(dry), err)
	}
	if diff := cmp.Diff(all, p.cached()); diff != "" {
		t.Errorf("a dry run removed layers (-want +got):\n%s", diff)
	}
	got, err := f.svc.PruneLayers(ctx, false)
	if err != nil || !cmp.Equal(layerDigests(got), []string{digest('4')}) {
		t.Errorf("prune = %v, %v", layerDigests(got), err)
	}
	if diff := cmp.Diff(all[:3], p.cached()); diff != "" {
		t.Errorf("cache after the prune (-want +got):\n%s", diff)
	}

	// An image prune removes the unused pulled images and their layers.
	pruned, err := f.svc.Prune(ctx, nil, false)
	if err != nil || len(pruned) != 2 {
		t.Fatalf("Prune = %v, %v", pruned, err)
	}
	if got := p.cached(); len(got) != 0 {
		t.Errorf("layers left after pruning every image: %v", got)
	}
}
