package store

import (
	"context"
	"testing"
	"time"

	"banger/internal/errdefs"

	"github.com/google/go-cmp/cmp"
)

func TestVMRoundTrip(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	img := mustCreateImage(t, s, 1)

	want := testVM(1, img.ID)
	want.State = "running"
	want.APISocket = "/run/banger/vms/1/fc.sock"
	want.PID = 4242
	want.PIDStart = 1<<63 - 1
	want.LastError = "previous start failed"
	want.NAT, want.NetGroup = true, "team"
	want.Labels = map[string]string{"banger.dev/pod-uid": "u1", "x": ""}
	want.SnapshotID = hexID('c', 9)
	want.StartedAt = t0.Add(time.Hour).In(time.FixedZone("X", 3600))
	if err := s.CreateVM(ctx, want); err != nil {
		t.Fatalf("CreateVM: %v", err)
	}
	want.UpdatedAt = t0

	for _, ref := range []string{want.ID, want.Name} {
		got, err := s.GetVM(ctx, ref)
		if err != nil {
			t.Fatalf("GetVM(%q): %v", ref, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("GetVM(%q) mismatch (-want +got):\n%s", ref, diff)
		}
		if got.CreatedAt.Location() != time.UTC || got.StartedAt.Location() != time.UTC {
			t.Errorf("GetVM(%q) times are not UTC: %v, %v", ref, got.CreatedAt, got.StartedAt)
		}
	}
}

func TestCreateVMDefaultsCreatedAt(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	img := mustCreateImage(t, s, 1)
	vm := testVM(1, img.ID)
	vm.CreatedAt = time.Time{}
	if err := s.CreateVM(ctx, vm); err != nil {
		t.Fatalf("CreateVM: %v", err)
	}
	got, err := s.GetVM(ctx, vm.ID)
	if err != nil {
		t.Fatalf("GetVM: %v", err)
	}
	if !got.CreatedAt.Equal(t0) || !got.StartedAt.IsZero() {
		t.Errorf("CreatedAt, StartedAt = %v, %v; want %v, zero", got.CreatedAt, got.StartedAt, t0)
	}
}

func TestGetVMPrefersIDOverName(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	img := mustCreateImage(t, s, 1)
	first := mustCreateVM(t, s, 1, img.ID)
	// A VM whose name is the other VM's id: the id wins.
	second := testVM(2, img.ID)
	second.Name = first.ID
	if err := s.CreateVM(ctx, second); err != nil {
		t.Fatalf("CreateVM: %v", err)
	}
	got, err := s.GetVM(ctx, first.ID)
	if err != nil {
		t.Fatalf("GetVM: %v", err)
	}
	if got.ID != first.ID {
		t.Errorf("GetVM(%q).ID = %q, want %q", first.ID, got.ID, first.ID)
	}
}

func TestListVMsOrder(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	img := mustCreateImage(t, s, 1)
	if got, err := s.ListVMs(ctx); err != nil || got == nil || len(got) != 0 {
		t.Fatalf("ListVMs on empty store = %#v, %v; want empty non-nil slice", got, err)
	}
	// vm-3 and vm-2 share a creation time; the name breaks the tie.
	v1, v2, v3 := testVM(1, img.ID), testVM(2, img.ID), testVM(3, img.ID)
	v1.CreatedAt = t0.Add(time.Hour)
	v2.CreatedAt, v3.CreatedAt = t0, t0
	for _, vm := range []VM{v1, v3, v2} {
		if err := s.CreateVM(ctx, vm); err != nil {
			t.Fatalf("CreateVM: %v", err)
		}
	}
	got, err := s.ListVMs(ctx)
	if err != nil {
		t.Fatalf("ListVMs: %v", err)
	}
	var names []string
	for _, vm := range got {
		names = append(names, vm.Name)
	}
	if diff := cmp.Diff([]string{"vm-2", "vm-3", "vm-1"}, names); diff != "" {
		t.Errorf("ListVMs order (-want +got):\n%s", diff)
	}
}

func TestUpdateVM(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	img := mustCreateImage(t, s, 1)
	img2 := mustCreateImage(t, s, 2)
	vm := mustCreateVM(t, s, 1, img.ID)

	later := t0.Add(time.Minute)
	s.now = func() time.Time { return later }
	want := vm
	want.Name = "renamed"
	want.State = "running"
	want.ImageID = img2.ID
	want.PID, want.PIDStart = 99, 12345
	want.StartedAt = later
	changed := want
	changed.CreatedAt = t0.Add(-time.Hour) // ignored: CreatedAt never changes
	if err := s.UpdateVM(ctx, changed); err != nil {
		t.Fatalf("UpdateVM: %v", err)
	}
	want.UpdatedAt = later
	got, err := s.GetVM(ctx, vm.ID)
	if err != nil {
		t.Fatalf("GetVM: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("after UpdateVM (-want +got):\n%s", diff)
	}

	// Clearing StartedAt stores "never" again.
	want.StartedAt = time.Time{}
	if err := s.UpdateVM(ctx, want); err != nil {
		t.Fatalf("UpdateVM: %v", err)
	}
	if got, _ := s.GetVM(ctx, vm.ID); !got.StartedAt.IsZero() {
		t.Errorf("StartedAt = %v, want zero", got.StartedAt)
	}
}

func TestDeleteVM(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	img := mustCreateImage(t, s, 1)
	vm := mustCreateVM(t, s, 1, img.ID)
	if err := s.DeleteVM(ctx, vm.ID); err != nil {
		t.Fatalf("DeleteVM: %v", err)
	}
	if _, err := s.GetVM(ctx, vm.ID); !errdefs.Is(err, errdefs.NotFound) {
		t.Errorf("GetVM after delete: err = %v, want NotFound", err)
	}
}

func TestVMErrors(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	img := mustCreateImage(t, s, 1)
	existing := mustCreateVM(t, s, 1, img.ID)
	other := mustCreateVM(t, s, 2, img.ID)

	sameName := testVM(3, img.ID)
	sameName.Name = existing.Name
	sameID := testVM(3, img.ID)
	sameID.ID = existing.ID
	noImage := testVM(3, hexID('f', 9))
	badID := testVM(3, img.ID)
	badID.ID = "VM-1"
	badState := testVM(3, img.ID)
	badState.State = "suspended"
	negative := testVM(3, img.ID)
	negative.VCPUs, negative.PIDStart = -1, 1<<63
	renameClash := other
	renameClash.Name = existing.Name
	gone := testVM(7, img.ID)
	danglingImage := other
	danglingImage.ImageID = hexID('f', 9)

	tests := []struct {
		name string
		op   func() error
		want errdefs.Kind
	}{
		{"create duplicate name", func() error { return s.CreateVM(ctx, sameName) }, errdefs.AlreadyExists},
		{"create duplicate id", func() error { return s.CreateVM(ctx, sameID) }, errdefs.AlreadyExists},
		{"create with missing image", func() error { return s.CreateVM(ctx, noImage) }, errdefs.NotFound},
		{"create with bad id", func() error { return s.CreateVM(ctx, badID) }, errdefs.InvalidArgument},
		{"create with bad state", func() error { return s.CreateVM(ctx, badState) }, errdefs.InvalidArgument},
		{"create with negative numbers", func() error { return s.CreateVM(ctx, negative) }, errdefs.InvalidArgument},
		{"get missing", func() error { _, err := s.GetVM(ctx, "nope"); return err }, errdefs.NotFound},
		{"update missing", func() error { return s.UpdateVM(ctx, gone) }, errdefs.NotFound},
		{"update name clash", func() error { return s.UpdateVM(ctx, renameClash) }, errdefs.AlreadyExists},
		{"update to missing image", func() error { return s.UpdateVM(ctx, danglingImage) }, errdefs.NotFound},
		{"update with bad state", func() error { return s.UpdateVM(ctx, badState) }, errdefs.InvalidArgument},
		{"delete missing", func() error { return s.DeleteVM(ctx, gone.ID) }, errdefs.NotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.op()
			if got := errdefs.KindOf(err); got != tt.want {
				t.Errorf("err = %v (kind %q), want kind %q", err, got, tt.want)
			}
		})
	}

	// The failed writes left the records alone.
	got, err := s.ListVMs(ctx)
	if err != nil {
		t.Fatalf("ListVMs: %v", err)
	}
	if diff := cmp.Diff([]VM{existing, other}, got); diff != "" {
		t.Errorf("VMs after failed writes (-want +got):\n%s", diff)
	}
}

func TestVMErrorMessages(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	img := mustCreateImage(t, s, 1)
	vm := mustCreateVM(t, s, 1, img.ID)
	dup := testVM(2, img.ID)
	dup.Name = vm.Name
	bad := testVM(3, img.ID)
	bad.ID, bad.State = "x", "suspended"

	_, errGet := s.GetVM(ctx, "x")
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"not found", errGet, `no VM named "x"; "banger vm list" shows the VMs`},
		{"name taken", s.CreateVM(ctx, dup), `a VM named "vm-1" already exists: pick another name, or remove it with "banger vm delete vm-1"`},
		{"invalid", s.CreateVM(ctx, bad), `invalid VM record "vm-3": id "x" is not 16 lowercase hex characters; state "suspended" is not one of creating, stopped, starting, running, paused, stopping, deleting, error`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.err == nil || tt.err.Error() != tt.want {
				t.Errorf("err = %v\nwant   %s", tt.err, tt.want)
			}
		})
	}
}
