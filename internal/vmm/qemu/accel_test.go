package qemu

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"banger/internal/errdefs"
)

// fakeKVM is a stand-in for the host's KVM: whether /dev/kvm opens, what
// a probe boot returns, and how many probe boots ran.
type fakeKVM struct {
	openErr error
	bootErr error
	boots   int
	kernels []string
}

func (f *fakeKVM) install(d *Driver) {
	d.kvmOpen = func() error { return f.openErr }
	d.kvmBoot = func(_ context.Context, _, kernel string) error {
		f.boots++
		f.kernels = append(f.kernels, kernel)
		return f.bootErr
	}
}

func TestAcceleratorChoice(t *testing.T) {
	noKVM := errors.New("/dev/kvm: no such file or directory")
	crawls := kvmBootError("a probe boot of /k printed nothing within 3s under KVM")
	tests := []struct {
		name      string
		accel     string
		kvm       fakeKVM
		kernel    string
		want      string // accelChoice.String()
		wantBoots int
		wantKind  errdefs.Kind // when an error is expected
	}{
		{"tcg as configured", AccelTCG, fakeKVM{}, "/k", "tcg: set in the config", 0, ""},
		{"kvm as configured", AccelKVM, fakeKVM{}, "/k", "kvm: set in the config", 0, ""},
		{"kvm configured but unusable", AccelKVM, fakeKVM{openErr: noKVM}, "/k", "", 0, errdefs.FailedPrecondition},
		{"auto without /dev/kvm", AccelAuto, fakeKVM{openErr: noKVM}, "/k", "tcg: " + noKVM.Error(), 0, ""},
		{"auto where kvm runs the kernel", AccelAuto, fakeKVM{}, "/k", "kvm", 1, ""},
		{"auto where kvm cannot run the kernel", AccelAuto, fakeKVM{bootErr: crawls}, "/k", "tcg: " + crawls.Error(), 1, ""},
		{"auto without a kernel to probe", AccelAuto, fakeKVM{}, "", "tcg: /dev/kvm creates VMs, but whether it runs a kernel is probed at the first VM launch", 0, ""},
		{"unknown accelerator", "hvf", fakeKVM{}, "/k", "", 0, errdefs.InvalidArgument},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := New(Config{Accel: tc.accel})
			kvm := tc.kvm
			kvm.install(d)
			got, err := d.accelerator(context.Background(), "/usr/bin/qemu-system-x86_64", tc.kernel)
			if tc.wantKind != "" {
				if k := errdefs.KindOf(err); k != tc.wantKind {
					t.Fatalf("accelerator error = %v (kind %q), want kind %q", err, k, tc.wantKind)
				}
				return
			}
			if err != nil {
				t.Fatalf("accelerator: %v", err)
			}
			if got.String() != tc.want {
				t.Errorf("choice = %q, want %q", got, tc.want)
			}
			if kvm.boots != tc.wantBoots {
				t.Errorf("probe boots = %d, want %d", kvm.boots, tc.wantBoots)
			}
		})
	}
}

func TestAcceleratorCachesDefiniteAnswers(t *testing.T) {
	tests := []struct {
		name      string
		bootErr   error
		wantBoots int // after three launches
	}{
		{"kvm works", nil, 1},
		{"kvm broken", kvmBootError("qemu failed the probe guest: KVM internal error"), 1},
		{"probe inconclusive", fmt.Errorf("%w: qemu exited before the kernel printed anything: bad kernel", errProbeInconclusive), 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := New(Config{})
			kvm := fakeKVM{bootErr: tc.bootErr}
			kvm.install(d)
			// Check without a kernel decides nothing.
			if _, err := d.accelerator(context.Background(), "qemu", ""); err != nil {
				t.Fatal(err)
			}
			for range 3 {
				if _, err := d.accelerator(context.Background(), "qemu", "/k"); err != nil {
					t.Fatal(err)
				}
			}
			if kvm.boots != tc.wantBoots {
				t.Errorf("probe boots = %d, want %d", kvm.boots, tc.wantBoots)
			}
		})
	}
}

// On a host without /dev/kvm (or where this process may not open it) the
// real probe says why, and auto picks TCG without a probe boot.
func TestOpenKVMExplains(t *testing.T) {
	err := openKVM()
	if err == nil {
		t.Skip("/dev/kvm is usable here; nothing to explain")
	}
	if !strings.Contains(err.Error(), kvmDevice) {
		t.Errorf("openKVM error %q does not name %s", err, kvmDevice)
	}
}
