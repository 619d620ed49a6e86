package store

import (
	"context"
	"fmt"
	"net/netip"
	"testing"

	"banger/internal/errdefs"
)

func TestLeasesAreUniqueStableAndReleasedWithTheVM(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	img := mustCreateImage(t, s, 1)
	subnet := netip.MustParsePrefix("10.9.0.0/29") // .1 gateway, .2-.6 usable, .7 broadcast
	gw := netip.MustParseAddr("10.9.0.1")
	var got []string
	for n := 1; n <= 5; n++ {
		vm := mustCreateVM(t, s, n, img.ID)
		l, err := s.AllocateLease(ctx, vm.ID, subnet, gw, fmt.Sprintf("0a:b6:00:00:00:%02x", n))
		if err != nil {
			t.Fatalf("AllocateLease %d: %v", n, err)
		}
		got = append(got, l.IP.String())
	}
	want := []string{"10.9.0.2", "10.9.0.3", "10.9.0.4", "10.9.0.5", "10.9.0.6"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("leases = %v, want %v", got, want)
	}
	// Asking again returns the same lease, whatever MAC is offered.
	again, err := s.AllocateLease(ctx, hexID('b', 2), subnet, gw, "0a:b6:ff:ff:ff:ff")
	if err != nil || again.IP.String() != "10.9.0.3" || again.MAC != "0a:b6:00:00:00:02" {
		t.Fatalf("second AllocateLease = %+v, %v; want the first lease", again, err)
	}
	// The subnet is full.
	vm6 := mustCreateVM(t, s, 6, img.ID)
	if _, err := s.AllocateLease(ctx, vm6.ID, subnet, gw, "0a:b6:00:00:00:06"); !errdefs.Is(err, errdefs.FailedPrecondition) {
		t.Fatalf("AllocateLease on a full subnet: %v, want FailedPrecondition", err)
	}
	// Deleting a VM record frees its address; the lowest free one is reused.
	if err := s.DeleteVM(ctx, hexID('b', 3)); err != nil {
		t.Fatal(err)
	}
	l, err := s.AllocateLease(ctx, vm6.ID, subnet, gw, "0a:b6:00:00:00:06")
	if err != nil || l.IP.String() != "10.9.0.4" {
		t.Fatalf("AllocateLease after delete = %v, %v; want 10.9.0.4", l.IP, err)
	}
	// A MAC held by another VM is refused.
	vm7 := mustCreateVM(t, s, 7, img.ID)
	if err := s.ReleaseLease(ctx, vm6.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AllocateLease(ctx, vm7.ID, subnet, gw, "0a:b6:00:00:00:01"); !errdefs.Is(err, errdefs.AlreadyExists) {
		t.Fatalf("duplicate MAC: %v, want AlreadyExists", err)
	}
	if _, err := s.AllocateLease(ctx, hexID('b', 99), subnet, gw, "0a:b6:00:00:00:99"); !errdefs.Is(err, errdefs.NotFound) {
		t.Fatalf("lease for a missing VM: %v, want NotFound", err)
	}
	leases, err := s.ListLeases(ctx)
	if err != nil || len(leases) != 4 {
		t.Fatalf("ListLeases = %d leases, %v; want 4", len(leases), err)
	}
	if _, err := s.GetLease(ctx, vm6.ID); !errdefs.Is(err, errdefs.NotFound) {
		t.Fatalf("GetLease after release: %v, want NotFound", err)
	}
}

func TestForwards(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	img := mustCreateImage(t, s, 1)
	a, b := mustCreateVM(t, s, 1, img.ID), mustCreateVM(t, s, 2, img.ID)
	for _, f := range []Forward{
		{HostAddr: "127.0.0.1", HostPort: 8080, VMID: a.ID, GuestPort: 80},
		{HostAddr: "127.0.0.1", HostPort: 2222, VMID: a.ID, GuestPort: 22},
		{HostAddr: "127.0.0.1", HostPort: 9000, VMID: b.ID, GuestPort: 9000},
	} {
		if err := s.AddForward(ctx, f); err != nil {
			t.Fatalf("AddForward %+v: %v", f, err)
		}
	}
	if err := s.AddForward(ctx, Forward{HostAddr: "127.0.0.1", HostPort: 8080, VMID: b.ID, GuestPort: 1}); !errdefs.Is(err, errdefs.AlreadyExists) {
		t.Fatalf("taken host port: %v, want AlreadyExists", err)
	}
	if err := s.AddForward(ctx, Forward{HostAddr: "127.0.0.1", HostPort: 0, VMID: b.ID, GuestPort: 1}); !errdefs.Is(err, errdefs.InvalidArgument) {
		t.Fatalf("port 0: %v, want InvalidArgument", err)
	}
	fa, err := s.ListForwards(ctx, a.ID)
	if err != nil || len(fa) != 2 || fa[0].HostPort != 2222 {
		t.Fatalf("ListForwards(a) = %+v, %v", fa, err)
	}
	if err := s.RemoveForward(ctx, "127.0.0.1", 2222); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveForward(ctx, "127.0.0.1", 2222); !errdefs.Is(err, errdefs.NotFound) {
		t.Fatalf("second RemoveForward: %v, want NotFound", err)
	}
	if err := s.DeleteVM(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	all, err := s.ListForwards(ctx, "")
	if err != nil || len(all) != 1 || all[0].VMID != b.ID {
		t.Fatalf("forwards after deleting a = %+v, %v; want only b's", all, err)
	}
}

func TestHostFacts(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	if v, err := s.HostFact(ctx, "k"); err != nil || v != "" {
		t.Fatalf("missing fact = %q, %v", v, err)
	}
	for _, v := range []string{"1", "2"} {
		if err := s.SetHostFact(ctx, "k", v); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.HostFact(ctx, "k"); got != v {
			t.Fatalf("fact = %q, want %q", got, v)
		}
	}
	if err := s.SetHostFact(ctx, "k", ""); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.HostFact(ctx, "k"); got != "" {
		t.Fatalf("fact after delete = %q", got)
	}
}
