package client

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"banger/internal/api"
	"banger/internal/errdefs"
)

func TestKernelCalls(t *testing.T) {
	k := api.Kernel{ID: "0123456789abcdef", Name: "my kernel", Vmlinux: "/s/k/vmlinux", Source: "imported",
		SHA256: "ab", Size: 10, CreatedAt: time.Unix(100, 0).UTC()}
	var seen []string
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/kernels", func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, "list")
		writeJSON(w, []api.Kernel{k})
	})
	mux.HandleFunc("GET /v1/kernels/{ref}", func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, "get "+r.PathValue("ref"))
		writeJSON(w, k)
	})
	mux.HandleFunc("DELETE /v1/kernels/{ref}", func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, "rm "+r.PathValue("ref"))
		writeError(w, http.StatusConflict, "failed_precondition", "kernel is used by images img", "op-9")
	})
	mux.HandleFunc("POST /v1/kernels", func(w http.ResponseWriter, r *http.Request) {
		var req api.ImportKernelRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		seen = append(seen, "import "+req.Path+" "+req.Initrd)
		writeJSON(w, k)
	})
	mux.HandleFunc("POST /v1/kernels/build", func(w http.ResponseWriter, r *http.Request) {
		var req api.BuildKernelRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		seen = append(seen, "build "+req.Name+" "+r.Header.Get("Accept"))
		result, _ := json.Marshal(k)
		streamLines(w,
			eventLine(t, api.Event{Type: api.EventStep, Step: "compile", Index: 5, Total: 7, Fraction: 0.5, Detail: "  CC x.o"}),
			eventLine(t, api.Event{Type: api.EventResult, Result: result}))
	})
	c := newServer(t, mux)
	ctx := context.Background()

	list, err := c.ListKernels(ctx)
	if err != nil || len(list) != 1 || !cmp.Equal(list[0], k) {
		t.Errorf("ListKernels = %+v, %v", list, err)
	}
	if got, err := c.GetKernel(ctx, "my kernel"); err != nil || !cmp.Equal(got, k) {
		t.Errorf("GetKernel = %+v, %v", got, err)
	}
	if got, err := c.ImportKernel(ctx, api.ImportKernelRequest{Path: "/x/bzImage", Initrd: "/x/initrd"}); err != nil || !cmp.Equal(got, k) {
		t.Errorf("ImportKernel = %+v, %v", got, err)
	}
	var events []api.Event
	got, err := c.BuildKernel(ctx, api.BuildKernelRequest{Name: "default"}, func(e api.Event) { events = append(events, e) })
	if err != nil || !cmp.Equal(got, k) {
		t.Errorf("BuildKernel = %+v, %v", got, err)
	}
	if len(events) != 1 || events[0].Step != "compile" || events[0].Fraction != 0.5 {
		t.Errorf("build progress = %+v", events)
	}
	if err := c.RemoveKernel(ctx, "my kernel"); !errdefs.Is(err, errdefs.FailedPrecondition) {
		t.Errorf("RemoveKernel = %v, want FailedPrecondition", err)
	}
	want := []string{"list", "get my kernel", "import /x/bzImage /x/initrd", "build default " + api.NDJSON, "rm my kernel"}
	if diff := cmp.Diff(want, seen); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}
