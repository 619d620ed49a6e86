package vm

import (
	"context"
	"strings"
	"testing"

	"banger/internal/store"
)

// The root disk's format reaches the driver: a VM whose image reads the
// identity disk gets the strategy's overlay (CloneImage), recorded as
// qcow2, and the Firecracker driver refuses to boot it, naming the qemu
// driver; the VM is left stopped, startable again once fixed.
func TestRootDiskFormatReachesTheDriver(t *testing.T) {
	e := newEnv(t, envOpts{identity: store.ImageIdentityDisk, overlays: true})
	v := e.create("overlay")
	_, err := e.svc.Start(context.Background(), "", "overlay", nil)
	if err == nil || !strings.Contains(err.Error(), "Firecracker reads raw disks only") || !strings.Contains(err.Error(), `vmm.driver = "qemu"`) {
		t.Fatalf("start of a VM on a qcow2 overlay under Firecracker: %v, want the driver's refusal naming qemu", err)
	}
	if rec := e.record(v.ID); rec.State != string(StateStopped) && rec.State != string(StateError) {
		t.Errorf("after the refusal the VM is %s", rec.State)
	}
	e.assertNoVMM(e.record(v.ID))
}

// An image that does not read the identity disk gets its identity written
// into the root disk with debugfs, which reads raw disks: its root disk is
// a copy (CloneRootDisk), never an overlay (which the fake records as
// qcow2 and Firecracker would refuse), and it boots.
func TestDebugfsImagesGetRawRootDisks(t *testing.T) {
	e := newEnv(t, envOpts{overlays: true})
	e.create("raw")
	e.start("raw")
	if n := e.disks.writeCount(); n == 0 {
		t.Error("no identity was written into the root disk")
	}
}
