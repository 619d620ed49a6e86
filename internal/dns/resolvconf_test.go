package dns

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"banger/internal/errdefs"
)

func TestUpstreamsFromResolvConf(t *testing.T) {
	tests := []struct {
		name    string
		conf    string
		skip    []string
		want    []string
		wantErr errdefs.Kind
	}{
		{"plain", "nameserver 192.0.2.1\nnameserver 192.0.2.2\n", nil, []string{"192.0.2.1:53", "192.0.2.2:53"}, ""},
		{"comments and options",
			"# generated\n; other comment\nsearch example.com\noptions edns0 trust-ad\nnameserver 192.0.2.1 # primary\n  nameserver\t192.0.2.3\n",
			nil, []string{"192.0.2.1:53", "192.0.2.3:53"}, ""},
		{"ipv6 and zone", "nameserver 2001:db8::1\nnameserver fe80::1%eth0\n", nil, []string{"[2001:db8::1]:53", "[fe80::1%eth0]:53"}, ""},
		{"skips own listeners", "nameserver 127.0.0.153\nnameserver 10.99.0.1\nnameserver 192.0.2.1\n",
			[]string{"127.0.0.153:53", "10.99.0.1"}, []string{"192.0.2.1:53"}, ""},
		{"duplicates and junk", "nameserver 192.0.2.1\nnameserver 192.0.2.1\nnameserver dns.example\nnameserver\nnameserver 0.0.0.0\nnameservers 192.0.2.9\n",
			nil, []string{"192.0.2.1:53"}, ""},
		{"mapped v4", "nameserver ::ffff:192.0.2.1\n", nil, []string{"192.0.2.1:53"}, ""},
		{"resolved stub kept", "nameserver 127.0.0.53\n", nil, []string{"127.0.0.53:53"}, ""},
		{"only own listener", "nameserver 127.0.0.153\n", []string{"127.0.0.153:53"}, nil, errdefs.FailedPrecondition},
		{"empty", "", nil, nil, errdefs.FailedPrecondition},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "resolv.conf")
			if err := os.WriteFile(path, []byte(tt.conf), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := UpstreamsFromResolvConf(path, tt.skip...)
			if errdefs.KindOf(err) != tt.wantErr && !(err == nil && tt.wantErr == "") {
				t.Fatalf("err = %v, want kind %q", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("upstreams (-want +got):\n%s", diff)
			}
		})
	}
	_, err := UpstreamsFromResolvConf(filepath.Join(t.TempDir(), "missing"))
	if !errdefs.Is(err, errdefs.FailedPrecondition) {
		t.Errorf("missing file: err = %v, want FailedPrecondition", err)
	}
}
