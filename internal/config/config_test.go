package config

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"banger/internal/bytesize"
)

const (
	MiB = bytesize.MiB
	GiB = bytesize.GiB
)

// testHost is a small host: 2 CPUs, 8GiB of RAM, 100GiB free.
var testHost = Host{CPUs: 2, MemoryBytes: 8 * GiB, StateFreeBytes: 100 * GiB}

func TestDefaults(t *testing.T) {
	fixed := func(vcpus int, mem, disk int64) Config {
		return Config{
			LogLevel: "info",
			VMM:      VMM{Driver: "auto", FirecrackerBin: "firecracker", QemuBin: "qemu-system-x86_64", StopTimeout: Duration(10 * time.Second)},
			VM:       VMDefaults{VCPUs: vcpus, Memory: bytesize.Size(mem), DiskSize: bytesize.Size(disk), Image: "default", DiskStrategy: "auto", WarmStart: true},
			Network:  Network{Enabled: true, Bridge: "banger0", Subnet: "10.77.0.0/24", NAT: true, TapPool: 4, HelperSocket: "/run/banger-helper/helper.sock"},
			DNS:      DNS{Domain: "vm", Listen: "127.0.0.153:53", Resolved: true},
		}
	}
	tests := []struct {
		name string
		host Host
		want Config
	}{
		{"big host", Host{CPUs: 64, MemoryBytes: 256 * GiB, StateFreeBytes: 2000 * GiB}, fixed(2, GiB, 8*GiB)},
		{"one CPU", Host{CPUs: 1, MemoryBytes: 8 * GiB, StateFreeBytes: 100 * GiB}, fixed(1, GiB, 8*GiB)},
		{"small RAM: a quarter, rounded down to MiB", Host{CPUs: 2, MemoryBytes: 2*GiB + 3, StateFreeBytes: 100 * GiB}, fixed(2, 512*MiB, 8*GiB)},
		{"odd RAM", Host{CPUs: 2, MemoryBytes: 3*GiB + 100*1024, StateFreeBytes: 100 * GiB}, fixed(2, 768*MiB, 8*GiB)},
		{"tiny RAM: at least 128MiB", Host{CPUs: 2, MemoryBytes: 256 * MiB, StateFreeBytes: 100 * GiB}, fixed(2, 128*MiB, 8*GiB)},
		{"little disk: a quarter of free space", Host{CPUs: 2, MemoryBytes: 8 * GiB, StateFreeBytes: 10*GiB + 5}, fixed(2, GiB, 2560*MiB)},
		{"almost no disk: at least 1GiB", Host{CPUs: 2, MemoryBytes: 8 * GiB, StateFreeBytes: 100 * MiB}, fixed(2, GiB, GiB)},
		{"unknown host", Host{}, fixed(2, GiB, 8*GiB)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Defaults(tt.host)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Defaults mismatch (-want +got):\n%s", diff)
			}
			if err := got.Validate(tt.host); err != nil {
				t.Errorf("defaults are invalid: %v", err)
			}
		})
	}
}

func TestDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		text string
	}{
		{"10s", 10 * time.Second, "10s"},
		{"1m30s", 90 * time.Second, "1m30s"},
		{"0s", 0, "0s"},
		{"1500ms", 1500 * time.Millisecond, "1.5s"},
	}
	for _, tt := range tests {
		var d Duration
		if err := d.UnmarshalText([]byte(tt.in)); err != nil {
			t.Errorf("UnmarshalText(%q): %v", tt.in, err)
			continue
		}
		if d.D() != tt.want {
			t.Errorf("UnmarshalText(%q) = %v, want %v", tt.in, d.D(), tt.want)
		}
		text, err := d.MarshalText()
		if err != nil || string(text) != tt.text || d.String() != tt.text {
			t.Errorf("MarshalText(%v) = %q, %v; String() = %q; want %q", d.D(), text, err, d.String(), tt.text)
		}
	}
	d := Duration(5)
	if err := d.UnmarshalText([]byte("10")); err == nil {
		t.Error(`UnmarshalText("10") succeeded, want an error: a duration needs a unit`)
	}
	if d != 5 {
		t.Errorf("failed UnmarshalText changed the duration to %v", d.D())
	}
}
