package daemon

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"banger/internal/api"
	"banger/internal/errdefs"
	"banger/internal/store"
)

func TestBuildImageRefusedBeforeBuilding(t *testing.T) {
	td := startDaemon(t, daemonOpts{})

	// No kernel yet: the stream ends with NotFound saying how to get one.
	resp := td.open("POST", "/v1/images/build", `{}`, "Accept", api.NDJSON)
	evs := readEvents(t, resp.Body)
	resp.Body.Close()
	if len(evs) != 1 || evs[0].Type != api.EventError || evs[0].Error.Code != string(errdefs.NotFound) ||
		!strings.Contains(evs[0].Error.Message, "banger kernel build") {
		t.Fatalf("events = %+v, want one not_found error naming \"banger kernel build\"", evs)
	}

	// With a kernel but the name taken: AlreadyExists, as plain JSON.
	img := td.registerImage("default")
	k := store.Kernel{ID: "00000000000000aa", Name: "default", Vmlinux: img.Kernel, Source: "imported",
		SHA256: strings.Repeat("0", 64), Size: 1}
	if err := td.d.store.CreateKernel(context.Background(), k); err != nil {
		t.Fatal(err)
	}
	r, body := td.do("POST", "/v1/images/build", `{"name":"default"}`)
	if r.StatusCode != http.StatusConflict || !strings.Contains(string(body), "already exists") {
		t.Errorf("POST /v1/images/build = %d %s, want 409 already exists", r.StatusCode, body)
	}
	r, body = td.do("POST", "/v1/images/build", `{"name":"x","bogus":1}`)
	if r.StatusCode != http.StatusBadRequest {
		t.Errorf("unknown field: %d %s, want 400", r.StatusCode, body)
	}
	if _, err := os.Stat(filepath.Join(td.layout.StateDir, "images")); err == nil {
		t.Errorf("a refused build created the image store")
	}
}

func TestAgentBinary(t *testing.T) {
	t.Setenv(AgentBinEnv, "rel/agent")
	got, err := agentBinary()
	if want, _ := filepath.Abs("rel/agent"); err != nil || got != want {
		t.Errorf("agentBinary with %s = %q, %v; want %q", AgentBinEnv, got, err, want)
	}
	t.Setenv(AgentBinEnv, "")
	exe, _ := os.Executable()
	exe, _ = filepath.EvalSymlinks(exe)
	_, err = agentBinary()
	if _, serr := os.Stat(filepath.Join(filepath.Dir(exe), "banger-agent")); serr != nil &&
		(errdefs.KindOf(err) != errdefs.FailedPrecondition || !strings.Contains(err.Error(), "make build")) {
		t.Errorf("agentBinary without one next to the executable = %v, want FailedPrecondition naming make build", err)
	}
}
