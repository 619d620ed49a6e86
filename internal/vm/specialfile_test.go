package vm

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"banger/internal/errdefs"
	"banger/internal/userfile"
)

// leaseNet is a stateful fake Network that keeps only the leases: enough
// to see whether a failed create gives its address back.
type leaseNet struct {
	mu     sync.Mutex
	leases map[string]bool
}

func (n *leaseNet) Lease(ctx context.Context, id string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.leases[id] = true
	return nil
}

func (n *leaseNet) Release(ctx context.Context, id string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.leases, id)
	return nil
}

func (n *leaseNet) Attach(ctx context.Context, vm NetVM) (NetAttachment, error) {
	return NetAttachment{}, errors.New("leaseNet does not attach")
}

func (n *leaseNet) Detach(ctx context.Context, id, name string) error { return nil }

func (n *leaseNet) held() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.leases)
}

// TestCreateFromFIFOImage: an image file swapped for a FIFO once hung vm
// create forever in the copy's open (the VM stuck "creating", its lease
// held, delete blocked). Create now fails at once with a message naming
// the file, rolls back, and leaves nothing held: the next create works.
func TestCreateFromFIFOImage(t *testing.T) {
	e := newEnv(t, envOpts{})
	ln := &leaseNet{leases: map[string]bool{}}
	e.svc.net = ln
	if err := os.Remove(e.img.RootFS); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(e.img.RootFS, 0o600); err != nil {
		t.Fatal(err)
	}

	errc := make(chan error, 1)
	go func() {
		_, err := e.svc.Create(context.Background(), "", CreateRequest{Name: "fifo"}, nil)
		errc <- err
	}()
	var err error
	select {
	case err = <-errc:
	case <-time.After(60 * time.Second): // a hang detector, not a timing check
		t.Fatal("create from a FIFO image hung")
	}
	if err == nil {
		t.Fatal("create from a FIFO image succeeded")
	}
	if !errors.Is(err, userfile.ErrNotRegular) || errdefs.KindOf(err) != errdefs.InvalidArgument {
		t.Errorf("create = %v (kind %s), want an invalid_argument error saying the file is not regular", err, errdefs.KindOf(err))
	}
	for _, s := range []string{e.img.RootFS, "named pipe"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q lacks %q", err, s)
		}
	}
	if n := ln.held(); n != 0 {
		t.Errorf("%d leases held after the failed create, want 0", n)
	}
	vms, lerr := e.svc.List(context.Background())
	if lerr != nil || len(vms) != 0 {
		t.Errorf("VMs after the failed create = %+v, %v; want none", vms, lerr)
	}

	// With the image back, the same name is free and create works.
	if err := os.Remove(e.img.RootFS); err != nil {
		t.Fatal(err)
	}
	makeExt4(t, e.img.RootFS, 16<<20)
	v := e.create("fifo")
	if v.State != StateStopped {
		t.Errorf("state = %s, want stopped", v.State)
	}
	if n := ln.held(); n != 1 {
		t.Errorf("%d leases held, want 1", n)
	}
}

// TestStartWithKernelSwappedForFIFO: the VMM opens the kernel itself, and
// a FIFO in its place would hang it. Start refuses a kernel that is no
// longer a regular file before launching anything, and the VM stays
// stopped.
func TestStartWithKernelSwappedForFIFO(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.create("k")
	if err := os.Remove(e.img.Kernel); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(e.img.Kernel, 0o600); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := e.svc.Start(context.Background(), "", "k", nil)
		errc <- err
	}()
	var err error
	select {
	case err = <-errc:
	case <-time.After(60 * time.Second): // a hang detector, not a timing check
		t.Fatal("start with a FIFO kernel hung")
	}
	if errdefs.KindOf(err) != errdefs.FailedPrecondition || !strings.Contains(err.Error(), e.img.Kernel) ||
		!strings.Contains(err.Error(), "no longer a regular file") {
		t.Fatalf("start = %v, want failed_precondition naming the kernel", err)
	}
	rec := e.record("k")
	if State(rec.State) != StateStopped {
		t.Errorf("state = %s, want stopped", rec.State)
	}
	e.assertNoVMM(rec)
}
