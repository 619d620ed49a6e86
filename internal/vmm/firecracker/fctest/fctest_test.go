package fctest

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseRecord(t *testing.T) {
	tests := []struct {
		name    string
		data    string
		want    []Request
		wantErr bool
	}{
		{"empty", "", nil, false},
		{"lines", `{"method":"GET","path":"/","body":null,"status":200}
{"method":"PUT","path":"/drives/rootfs","body":{"drive_id":"rootfs"},"status":204}

{"method":"PUT","path":"/actions","body":"not json","status":400}
`, []Request{
			{Method: "GET", Path: "/", Status: 200},
			{Method: "PUT", Path: "/drives/rootfs", Body: json.RawMessage(`{"drive_id":"rootfs"}`), Status: 204},
			{Method: "PUT", Path: "/actions", Body: json.RawMessage(`"not json"`), Status: 400},
		}, false},
		{"garbage", "{\n", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseRecord([]byte(tt.data))
			if (err != nil) != tt.wantErr {
				t.Fatalf("got error %v, want error: %t", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadRecordMissingFile(t *testing.T) {
	if got := ReadRecord(t, filepath.Join(t.TempDir(), "none")); got != nil {
		t.Errorf("got %v, want nil for a record that was never written", got)
	}
}

func TestWriteKernel(t *testing.T) {
	p := filepath.Join(t.TempDir(), "vmlinux")
	WriteKernel(t, p)
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(data[:6]), "\x7fELF\x02\x01"; got != want {
		t.Errorf("header: got %q, want %q", got, want)
	}
}

// TestBuild builds the fake (once) and runs it.
func TestBuild(t *testing.T) {
	bin := Build(t)
	if got := filepath.Base(bin); got != "firecracker" {
		t.Errorf("binary name: got %q, want firecracker", got)
	}
	if again := Build(t); again != bin {
		t.Errorf("second Build: got %q, want the same %q", again, bin)
	}
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		t.Fatalf("%s --version: %v", bin, err)
	}
	if got, want := string(out), "Firecracker v1.7.0\n\n"; got != want {
		t.Errorf("--version: got %q, want %q", got, want)
	}
}
