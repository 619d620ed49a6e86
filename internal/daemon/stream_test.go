package daemon

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"

	"banger/internal/api"
	"banger/internal/errdefs"
)

// readEvents reads an NDJSON body to its end, one strictly decoded event a
// line.
func readEvents(t *testing.T, r io.Reader) []api.Event {
	t.Helper()
	var evs []api.Event
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			t.Errorf("blank line in NDJSON stream")
			continue
		}
		var ev api.Event
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ev); err != nil {
			t.Fatalf("stream line is not an event: %v: %s", err, sc.Text())
		}
		evs = append(evs, ev)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read stream: %v", err)
	}
	return evs
}

// stepOf is the part of a step event that does not vary between runs.
type stepOf struct {
	Type, OpID, Kind, Target, Step string
	Index, Total                   int
}

func TestCreateStreamsProgress(t *testing.T) {
	td := startDaemon(t, daemonOpts{})
	img := td.registerImage("base")

	resp := td.open("POST", "/v1/vms", smallVM("streamed", img.Name, false), "Accept", api.NDJSON)
	defer resp.Body.Close()
	if got, want := resp.StatusCode, http.StatusOK; got != want {
		t.Errorf("status = %d, want %d", got, want)
	}
	if got, want := resp.Header.Get("Content-Type"), api.NDJSON; got != want {
		t.Errorf("Content-Type = %q, want %q", got, want)
	}
	opID := resp.Header.Get(api.OpIDHeader)
	evs := readEvents(t, resp.Body)
	if len(evs) == 0 {
		t.Fatal("empty stream")
	}

	plan := []string{"record", "make-dir", "copy-root-disk", "write-identity", "create-work-disk", "finish"}
	var want, got []stepOf
	for i, s := range plan {
		want = append(want, stepOf{Type: api.EventStep, OpID: opID, Kind: "vm.create", Target: "streamed",
			Step: s, Index: i + 1, Total: len(plan)})
	}
	for _, ev := range evs[:len(evs)-1] {
		got = append(got, stepOf{Type: ev.Type, OpID: ev.OpID, Kind: ev.Kind, Target: ev.Target,
			Step: ev.Step, Index: ev.Index, Total: ev.Total})
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("step events (-want +got):\n%s", diff)
	}
	for i := 1; i < len(evs); i++ {
		if evs[i].Time.Before(evs[i-1].Time) {
			t.Errorf("event %d (%s) is older than the one before it", i, evs[i].Step)
		}
	}

	last := evs[len(evs)-1]
	if last.Type != api.EventResult || last.OpID != opID || last.Error != nil || last.VM == nil {
		t.Fatalf("final event = %+v, want one result with the VM and op id %s", last, opID)
	}
	if last.VM.Name != "streamed" || last.VM.State != api.StateStopped || last.VM.Image != img.Name {
		t.Errorf("result VM = %+v, want streamed, stopped, image %s", *last.VM, img.Name)
	}

	// The streamed VM is the one the daemon now has.
	_, body := td.do("GET", "/v1/vms/streamed", "")
	var stored api.VM
	decodeStrict(t, body, &stored)
	if diff := cmp.Diff(*last.VM, stored); diff != "" {
		t.Errorf("result VM differs from GET (-result +get):\n%s", diff)
	}
	// And the operation record carries the stream's op id.
	_, body = td.do("GET", "/v1/operations/"+opID, "")
	var op api.Operation
	decodeStrict(t, body, &op)
	if op.Kind != "vm.create" || op.State != "succeeded" || op.Target != stored.ID {
		t.Errorf("operation %s = %+v, want a succeeded vm.create of %s", opID, op, stored.ID)
	}
}

func TestCreateStreamFailure(t *testing.T) {
	td := startDaemon(t, daemonOpts{})
	resp := td.open("POST", "/v1/vms", smallVM("orphan", "missing", false), "Accept", api.NDJSON)
	defer resp.Body.Close()
	if got, want := resp.StatusCode, http.StatusOK; got != want {
		t.Errorf("status = %d, want %d once streaming began", got, want)
	}
	opID := resp.Header.Get(api.OpIDHeader)
	evs := readEvents(t, resp.Body)
	if len(evs) != 1 {
		t.Fatalf("want exactly one (error) event, got %d: %+v", len(evs), evs)
	}
	ev := evs[0]
	if ev.Type != api.EventError || ev.OpID != opID || ev.VM != nil || ev.Error == nil {
		t.Fatalf("event = %+v, want an error event for %s", ev, opID)
	}
	if got, want := *ev.Error, (api.Error{Code: string(errdefs.NotFound), Message: ev.Error.Message, OpID: opID}); got != want {
		t.Errorf("error = %+v, want %+v", got, want)
	}
	if recs := td.logs.find(t, map[string]any{"msg": "operation failed", "op_id": opID, "code": "not_found"}); len(recs) != 1 {
		t.Errorf("want one \"operation failed\" log record for %s, got %d", opID, len(recs))
	}
}

// TestStreamFailureAfterSteps fails a create in its middle: the stream
// shows the steps that ran, then one error event, and nothing is left.
func TestStreamFailureAfterSteps(t *testing.T) {
	td := startDaemon(t, daemonOpts{})
	img := td.registerImage("base")
	// Without its root filesystem the image still validates, but the
	// copy-root-disk step fails after two steps ran.
	if err := os.Remove(img.RootFS); err != nil {
		t.Fatal(err)
	}
	resp := td.open("POST", "/v1/vms", smallVM("half", img.Name, false), "Accept", api.NDJSON)
	defer resp.Body.Close()
	evs := readEvents(t, resp.Body)
	var types, steps []string
	for _, ev := range evs {
		types = append(types, ev.Type)
		steps = append(steps, ev.Step)
	}
	wantTypes := []string{api.EventStep, api.EventStep, api.EventStep, api.EventError}
	wantSteps := []string{"record", "make-dir", "copy-root-disk", ""}
	if diff := cmp.Diff(wantTypes, types); diff != "" {
		t.Fatalf("event types (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantSteps, steps); diff != "" {
		t.Errorf("event steps (-want +got):\n%s", diff)
	}
	if got, want := evs[3].Error.Code, string(errdefs.NotFound); got != want {
		t.Errorf("error code = %q, want %q (%s)", got, want, evs[3].Error.Message)
	}
	if r, _ := td.do("GET", "/v1/vms/half", ""); r.StatusCode != http.StatusNotFound {
		t.Errorf("GET the failed VM: status %d, want 404", r.StatusCode)
	}
}
