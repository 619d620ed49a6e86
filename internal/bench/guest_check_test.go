package bench

import (
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestArgAfter(t *testing.T) {
	args := []string{"qemu-system-x86_64", "-M", "microvm", "-accel", "tcg", "-S"}
	tests := []struct {
		flag, want string
	}{
		{"-accel", "tcg"},
		{"-M", "microvm"},
		{"-S", ""}, // last: no value
		{"-cpu", ""},
	}
	for _, tt := range tests {
		if got := argAfter(args, tt.flag); got != tt.want {
			t.Errorf("argAfter(%s) = %q, want %q", tt.flag, got, tt.want)
		}
	}
}

func TestDropArgs(t *testing.T) {
	args := []string{"qemu", "-name", "x", "-qmp", "unix:/r/api.sock,server=on,wait=off", "-S", "-m", "512M"}
	kept, found := dropArgs(args, floorDropped)
	if diff := cmp.Diff([]string{"qemu", "-name", "x", "-m", "512M"}, kept); diff != "" {
		t.Errorf("kept (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]bool{"-S": true, "-qmp": true}, found); diff != "" {
		t.Errorf("found (-want +got):\n%s", diff)
	}
}

func TestNormalise(t *testing.T) {
	n := vmNames{dir: "/f/0", runDir: "/f/0/run", id: "abc123", tap: "bf-01", mac: "0a:01:02:03:04:05", ip: "10.77.0.2"}
	argv := []string{
		"-name", "banger-abc123",
		"-append", "console=ttyS0 banger.ip=10.77.0.2/24 banger.gw=10.77.0.1",
		"id=rootfs,file=/f/0/root.ext4",
		"socket,id=agent,path=/f/0/run/vsock.sock",
		"tap,id=net0,ifname=bf-01",
		"virtio-net-device,netdev=net0,mac=0a:01:02:03:04:05",
	}
	want := []string{
		"-name", "banger-<id>",
		"-append", "console=ttyS0 banger.ip=<ip>/24 banger.gw=10.77.0.1",
		"id=rootfs,file=<vm-dir>/root.ext4",
		"socket,id=agent,path=<run-dir>/vsock.sock",
		"tap,id=net0,ifname=<tap>",
		"virtio-net-device,netdev=net0,mac=<mac>",
	}
	if diff := cmp.Diff(want, normalise(argv, n)); diff != "" {
		t.Errorf("normalise (-want +got):\n%s", diff)
	}
	// A VM without network has no MAC, tap or address: nothing is
	// replaced for them.
	bare := []string{"-m", "512M"}
	if diff := cmp.Diff(bare, normalise(bare, vmNames{dir: "/f/0", id: "abc123"})); diff != "" {
		t.Errorf("normalise without network (-want +got):\n%s", diff)
	}
}

func TestLastHost(t *testing.T) {
	tests := []struct{ in, want string }{
		{"10.77.0.1/24", "10.77.0.254"},
		{"172.16.4.1/16", "172.16.255.254"},
		{"192.168.9.17/28", "192.168.9.30"},
	}
	for _, tt := range tests {
		if got := lastHost(netip.MustParsePrefix(tt.in)); got.String() != tt.want {
			t.Errorf("lastHost(%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestReadyTime(t *testing.T) {
	tests := []struct {
		stderr, want string
	}{
		{"banger: r1 ready in 17.5s (2 vCPU, 512 MiB memory, ...)\n", "17.5s"},
		{"creating...\nbanger: brave-otter ready in 3.0s (x)\n", "3.0s"},
		{"no such line\n", "?"},
		{"banger: x ready in ", "?"},
	}
	for _, tt := range tests {
		if got := readyTime(tt.stderr); got != tt.want {
			t.Errorf("readyTime(%q) = %q, want %q", tt.stderr, got, tt.want)
		}
	}
}

func TestFirstOutput(t *testing.T) {
	var f firstOutput
	if at, out := f.result(); !at.IsZero() || out != "" {
		t.Fatalf("empty firstOutput = %v, %q", at, out)
	}
	before := time.Now()
	f.Write(nil) // an empty write is not output
	if at, _ := f.result(); !at.IsZero() {
		t.Errorf("an empty write set the first-output time")
	}
	f.Write([]byte("h"))
	first, _ := f.result()
	f.Write([]byte("i\n"))
	at, out := f.result()
	if at.Before(before) || at != first {
		t.Errorf("first output at %v, want the time of the first write %v (after %v)", at, first, before)
	}
	if out != "hi\n" {
		t.Errorf("output = %q, want %q", out, "hi\n")
	}
}

func TestMedianOf(t *testing.T) {
	s := time.Second
	tests := []struct {
		name   string
		in     []floorSample
		want   time.Duration
		wantOK bool
	}{
		{"none", nil, 0, false},
		{"one", []floorSample{{firstByte: 4 * s}}, 4 * s, true},
		{"three unsorted", []floorSample{{firstByte: 9 * s}, {firstByte: 2 * s}, {firstByte: 5 * s}}, 5 * s, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := medianOf(tt.in, func(f floorSample) time.Duration { return f.firstByte })
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("medianOf = %v, %v; want %v, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestLastLines(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"a\nb\nc\n", 2, "b\nc"},
		{"a\nb\n", 5, "a\nb"},
		{"", 3, ""},
	}
	for _, tt := range tests {
		if got := lastLines(tt.in, tt.n); got != tt.want {
			t.Errorf("lastLines(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

func TestFileSizeOfSparseFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sparse")
	if err := makeSparse(path, 64<<20); err != nil {
		t.Fatal(err)
	}
	apparent, allocated, err := fileSize(path)
	if err != nil {
		t.Fatal(err)
	}
	if apparent != 64<<20 {
		t.Errorf("apparent size = %d, want %d", apparent, 64<<20)
	}
	if allocated >= apparent {
		t.Errorf("allocated = %d bytes for an empty sparse file of %d: blocks are not counted", allocated, apparent)
	}
}
