package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"banger/internal/bytesize"
	"banger/internal/errdefs"
)

// writeConfig writes content to a config file in a fresh directory.
func writeConfig(t testing.TB, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadMissingFileGivesDefaults(t *testing.T) {
	got, err := Load(filepath.Join(t.TempDir(), "config.toml"), testHost)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Defaults(testHost), got); diff != "" {
		t.Errorf("Load of a missing file mismatch (-want +got):\n%s", diff)
	}
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name    string
		content string
		change  func(c *Config) // applied to the defaults
	}{
		{"empty file", "", func(c *Config) {}},
		{"comments only", "# nothing here\n", func(c *Config) {}},
		{"every key", `
log_level = "debug"

[vmm]
driver = "qemu"
firecracker_bin = "/usr/local/bin/firecracker"
qemu_bin = "/usr/bin/qemu-system-x86_64"
stop_timeout = "30s"
tcg_aslr = true

[vm]
vcpus = 1
memory = "512M"
disk_size = "20GiB"
image = "golden"
warm_start = false
`, func(c *Config) {
			c.LogLevel = "debug"
			c.VMM = VMM{Driver: "qemu", FirecrackerBin: "/usr/local/bin/firecracker", QemuBin: "/usr/bin/qemu-system-x86_64", StopTimeout: Duration(30 * time.Second), TCGASLR: true}
			c.VM = VMDefaults{VCPUs: 1, Memory: bytesize.Size(512 * MiB), DiskSize: bytesize.Size(20 * GiB), Image: "golden", DiskStrategy: "auto", WarmStart: false}
		}},
		{"partial file keeps other defaults", "[vm]\nmemory = \"2G\"\n", func(c *Config) {
			c.VM.Memory = bytesize.Size(2 * GiB)
		}},
		{"dotted keys", "vm.vcpus = 1\nvmm.stop_timeout = \"0s\"\n", func(c *Config) {
			c.VM.VCPUs = 1
			c.VMM.StopTimeout = 0
		}},
		{"size as a byte count", "[vm]\nmemory = 268435456\n", func(c *Config) {
			c.VM.Memory = bytesize.Size(256 * MiB)
		}},
		{"inline table", "vm = { image = \"alpine\" }\n", func(c *Config) { c.VM.Image = "alpine" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Load(writeConfig(t, tt.content), testHost)
			if err != nil {
				t.Fatal(err)
			}
			want := Defaults(testHost)
			tt.change(&want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Load mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestLoadErrorMessage checks the whole message a person reads.
func TestLoadErrorMessage(t *testing.T) {
	path := writeConfig(t, "[vm]\nvcpus = 0\nmemory = \"4KiB\"\n")
	_, err := Load(path, testHost)
	want := "config " + path + `: vm.vcpus = 0: must be between 1 and 2; vm.memory = "4KiB": must be at least 128MiB`
	if err == nil || err.Error() != want {
		t.Fatalf("error:\n got %v\nwant %s", err, want)
	}
	if k := errdefs.KindOf(err); k != errdefs.InvalidArgument {
		t.Errorf("kind = %s, want %s", k, errdefs.InvalidArgument)
	}
	var ce *Error
	if !errors.As(err, &ce) || ce.Path != path {
		t.Errorf("errors.As(*Error) = %+v, want Path %s", ce, path)
	}
}

func TestLoadProblems(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    []string
	}{
		{"syntax error reports the line", "log_level = \"info\"\n[vm]\nvcpus = \n",
			[]string{`line 3: expected value but found '\n' instead: fix the TOML syntax`}},
		{"duplicate key", "[vm]\nvcpus = 1\nvcpus = 2\n",
			[]string{`line 3: Key 'vm.vcpus' has already been defined: fix the TOML syntax`}},
		{"unknown keys with suggestions", `
log-level = "info"
memory = "1G"
[vm]
cpus = 2
disk = "10G"
colour = "blue"
[vmm]
timeout = "5s"
`, []string{
			`log-level: unknown key (did you mean log_level?)`,
			`memory: unknown key (did you mean vm.memory?)`,
			`vm.cpus: unknown key (did you mean vm.vcpus?)`,
			`vm.disk: unknown key (did you mean vm.disk_size?)`,
			`vm.colour: unknown key`,
			`vmm.timeout: unknown key (did you mean vmm.stop_timeout?)`,
		}},
		{"unknown table reported once", "[storage]\npool = \"br0\"\n[storage.dns]\nport = 53\n[VMM]\ndriver = \"firecracker\"\n",
			[]string{`storage: unknown key`, `VMM: unknown key (did you mean vmm?)`}},
		{"network and dns problems", "[network]\nbridge = \"Bad name!\"\nsubnet = \"8.8.8.0/24\"\nnat = \"yes\"\ntap_pool = 1000\n[dns]\ndomain = \"-x\"\nlisten = \"0.0.0.0:53\"\nupstreams = [\"dns.example\"]\n",
			[]string{
				`network.bridge = "Bad name!": must start with a lowercase letter`,
				`network.subnet = "8.8.8.0/24": must be a private range (10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16)`,
				`network.nat = "yes": must be true or false`,
				`network.tap_pool = 1000: must be between 0 and 64`,
				`dns.domain = "-x": "-x" is not a DNS label (letters, digits and '-', not at the ends)`,
				`dns.listen = "0.0.0.0:53": must be a loopback address: the host listener must not be reachable from other machines`,
				`dns.upstreams = ["dns.example"]: "dns.example" must be address:port such as "192.0.2.53:53"`,
			}},
		{"quoted dotted key is not a nested key", "\"vm.vcpus\" = 1\n",
			[]string{`"vm.vcpus": unknown key (did you mean vm.vcpus?)`}},
		{"wrong types", `
log_level = 3
[vmm]
stop_timeout = 10
firecracker_bin = ["a", "b"]
[vm]
vcpus = "two"
memory = "2X"
disk_size = -1
image = { name = "x" }
`, []string{
			`log_level = 3: must be a string`,
			`vmm.firecracker_bin = ["a", "b"]: must be a string`,
			`vmm.stop_timeout = 10: must be a duration such as "10s" or "1m30s"`,
			`vm.vcpus = "two": must be a whole number`,
			`vm.memory = "2X": must be a size such as "512MiB" or "2GiB"`,
			`vm.disk_size = -1: must be a size such as "512MiB" or "2GiB"`,
			`vm.image = {name = "x"}: must be a string`,
		}},
		{"table that is not a table", "vm = 3\nvmm = \"firecracker\"\n", []string{
			`vmm = "firecracker": must be a table, written [vmm]`,
			`vm = 3: must be a table, written [vm]`,
		}},
		{"setting written as a table", "[log_level]\nlevel = \"info\"\n",
			[]string{`log_level = {level = "info"}: must be a string`}},
		{"long value shortened", "[vm]\nimage = [" + strings.Repeat("1, ", 40) + "]\n",
			[]string{`vm.image = [` + strings.Repeat("1, ", 19) + `1…: must be a string`}},
		{"type, range and unknown problems together, in key order", `
bogus = 1
[vm]
image = ""
memory = "64MiB"
vcpus = 1.5
[vmm]
driver = "cloud-hypervisor"
`, []string{
			`vmm.driver = "cloud-hypervisor": must be one of: firecracker, qemu, auto`,
			`vm.vcpus = 1.5: must be a whole number`,
			`vm.memory = "64MiB": must be at least 128MiB`,
			`vm.image = "": must name an image, e.g. "default"`,
			`bogus: unknown key`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, tt.content)
			got, err := Load(path, testHost)
			if err == nil {
				t.Fatalf("Load succeeded with %+v, want problems %q", got, tt.want)
			}
			if diff := cmp.Diff(Config{}, got); diff != "" {
				t.Errorf("Load returned a config with its error (-want +got):\n%s", diff)
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %v is not an *Error", err)
			}
			if diff := cmp.Diff(tt.want, ce.Problems); diff != "" {
				t.Errorf("problems mismatch (-want +got):\n%s", diff)
			}
			if want := "config " + path + ": " + strings.Join(tt.want, "; "); err.Error() != want {
				t.Errorf("message:\n got %s\nwant %s", err, want)
			}
			if k := errdefs.KindOf(err); k != errdefs.InvalidArgument {
				t.Errorf("kind = %s, want %s", k, errdefs.InvalidArgument)
			}
		})
	}
}

func TestLoadUnreadable(t *testing.T) {
	dir := t.TempDir() // a directory where the file should be
	_, err := Load(dir, testHost)
	if err == nil {
		t.Fatal("Load of a directory succeeded")
	}
	if k := errdefs.KindOf(err); k != errdefs.FailedPrecondition {
		t.Errorf("kind = %s, want %s (%v)", k, errdefs.FailedPrecondition, err)
	}
	if !strings.Contains(err.Error(), "make "+dir+" a readable regular file") {
		t.Errorf("error %q does not say how to fix it", err)
	}
}

func TestLoadDefaultsInvalidForHost(t *testing.T) {
	// A host too small for any VM: the defaults themselves are refused.
	h := Host{CPUs: 1, MemoryBytes: 64 * MiB}
	_, err := Load(filepath.Join(t.TempDir(), "config.toml"), h)
	if err == nil || !strings.Contains(err.Error(), `vm.memory = "128MiB": must be at most 64MiB, the host's RAM`) {
		t.Errorf("Load on a 64MiB host = %v, want a memory problem", err)
	}
}

func FuzzLoad(f *testing.F) {
	for _, s := range []string{
		"", "[vm]\nvcpus = 0\nmemory = \"4KiB\"\n", "vm = 3", "[vm.vcpus]\na = 1\n",
		"log_level = \"debug\"\n[vmm]\nstop_timeout = \"1m\"\n", "[[vm]]\nimage = \"x\"\n",
		"a.b.c.d = [1, [2, {x = 3}]]\n", "\"\" = 1\n[\"\".x]\n", "vm.memory = 1e3\n",
		"vmm.stop_timeout = 1979-05-27T07:32:00Z\n", "[vm]\ndisk_size = \"9999999T\"\n",
		"[vm]\nmemory = 17592186044672\n", "[vm]\nmemory = \"16383.9999999T\"\n", "[vm]\nvcpus = 9223372036854775807\n",
		"[network]\ntap_pool = -1\n", "[vmm]\nstop_timeout = \"-1ns\"\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, content string) {
		path := writeConfig(t, content)
		c, err := Load(path, testHost)
		if err != nil {
			if k := errdefs.KindOf(err); k != errdefs.InvalidArgument {
				t.Fatalf("kind = %s, want %s: %v", k, errdefs.InvalidArgument, err)
			}
			var ce *Error
			if !errors.As(err, &ce) || len(ce.Problems) == 0 {
				t.Fatalf("error %v is not an *Error with problems", err)
			}
			return
		}
		if err := c.Validate(testHost); err != nil {
			t.Fatalf("Load accepted a config that does not validate: %v", err)
		}
		checkInRange(t, c, testHost)
	})
}

// checkInRange fails t unless every number of an accepted config is within
// its limits, so that the daemon's arithmetic on them (memory to MiB, the
// tap pool, timeouts) cannot wrap.
func checkInRange(t *testing.T, c Config, h Host) {
	t.Helper()
	if c.VM.VCPUs < 1 || c.VM.VCPUs > maxVCPUs(h) {
		t.Fatalf("accepted vm.vcpus = %d", c.VM.VCPUs)
	}
	if m := int64(c.VM.Memory); m < MinMemory || m > MaxMemory || m > h.MemoryBytes || m%MiB != 0 {
		t.Fatalf("accepted vm.memory = %d bytes", m)
	}
	if err := ValidateMemoryMiB(int(int64(c.VM.Memory)>>20), h); err != nil {
		t.Fatalf("accepted vm.memory = %d bytes that a VM may not have: %v", int64(c.VM.Memory), err)
	}
	if d := int64(c.VM.DiskSize); d < MinDiskSize || d > MaxDiskSize {
		t.Fatalf("accepted vm.disk_size = %d bytes", d)
	}
	if p := c.Network.TapPool; p < 0 || p > MaxTapPool {
		t.Fatalf("accepted network.tap_pool = %d", p)
	}
	if d := c.VMM.StopTimeout.D(); d < 0 || d > MaxStopTimeout {
		t.Fatalf("accepted vmm.stop_timeout = %v", d)
	}
}

// TestLoadHugeNumbers: numbers too large for their setting, or for 64
// bits, are refused by name with the allowed range, never wrapped.
func TestLoadHugeNumbers(t *testing.T) {
	tests := []struct{ content, want string }{
		{"[vm]\nvcpus = 9223372036854775807\n", "vm.vcpus = 9223372036854775807: must be between 1 and 32"},
		{"[vm]\nvcpus = -9223372036854775808\n", "vm.vcpus = -9223372036854775808: must be between 1 and 32"},
		{"[vm]\nmemory = \"16TiB\"\n", `vm.memory = "16TiB": must be at most 1TiB`},
		{"[vm]\nmemory = 17592186044672\n", `vm.memory = "17179869184.25KiB": must be at most 1TiB`},
		{"[vm]\nmemory = \"9999999999T\"\n", `vm.memory = "9999999999T": must be a size`},
		{"[vm]\ndisk_size = \"8589934592G\"\n", `vm.disk_size = "8589934592G": must be a size`},
		{"[vm]\ndisk_size = \"4T\"\n", `vm.disk_size = "4TiB": must be at most 2TiB`},
		{"[network]\ntap_pool = 9223372036854775807\n", "network.tap_pool = 9223372036854775807: must be between 0 and 64"},
		{"[vmm]\nstop_timeout = \"9999999999h\"\n", `vmm.stop_timeout = "9999999999h": must be a duration`},
	}
	for _, tt := range tests {
		_, err := Load(writeConfig(t, tt.content), Host{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Load(%q) = %v, want an error containing %q", tt.content, err, tt.want)
		}
	}
}
