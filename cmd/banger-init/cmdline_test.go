package main

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSplitCmdline(t *testing.T) {
	got := splitCmdline(`console=ttyS0  a="b c" "d e"=f x="" -- init args` + "\n")
	want := []string{"console=ttyS0", "a=b c", "d e=f", "x="}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("splitCmdline (-want +got):\n%s", diff)
	}
}

func TestParseCmdline(t *testing.T) {
	got := parseCmdline(`console=ttyS0 reboot=k panic=1 pci=off virtio_mmio.device=4K@0xd0000000:5 virtio-mmio.device=4K@0xd0001000:6 ` +
		`vsock.x="a b" virtio_net.napi_tx banger.ip=10.0.0.2 root=/dev/vda rootfstype=ext4 rootflags=noatime ro rw init=/sbin/banger-agent -- ro`)
	want := bootConfig{
		root: "/dev/vda", fstype: "ext4", flags: "noatime", readOnly: false, init: "/sbin/banger-agent",
		modParams: map[string][]string{
			"virtio_mmio": {"device=4K@0xd0000000:5", "device=4K@0xd0001000:6"},
			"vsock":       {`x="a b"`},
			"virtio_net":  {"napi_tx"},
			"banger":      {"ip=10.0.0.2"},
		},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(bootConfig{})); diff != "" {
		t.Errorf("parseCmdline (-want +got):\n%s", diff)
	}
	def := parseCmdline("root=/dev/vdb ro rootwait .x=1 y.=2")
	if def.fstype != "ext4" || def.init != "/sbin/init" || !def.readOnly || !def.rootwait || len(def.modParams) != 0 {
		t.Errorf("defaults = %+v", def)
	}
}

func TestModuleName(t *testing.T) {
	for in, want := range map[string]string{"virtio-rng.ko": "virtio_rng", "vsock.ko": "vsock", "a_b": "a_b"} {
		if got := moduleName(in); got != want {
			t.Errorf("moduleName(%q) = %q, want %q", in, got, want)
		}
	}
}
