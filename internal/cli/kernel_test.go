package cli

import (
	"bytes"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"banger/internal/api"
)

func TestKernelTable(t *testing.T) {
	now := time.Unix(1700000000, 0)
	ks := []api.Kernel{
		{Name: "default", ID: "0123456789abcdef", Version: "6.1.0-57-cloud-amd64", Source: "distro", Size: 53243444, CreatedAt: now.Add(-3 * time.Hour),
			Origin: "distro package linux-image-6.1.0-57-cloud-amd64 6.1.192-3 (downloaded)"},
		{Name: "fc-ci", ID: "fedcba9876543210", Source: "imported", Size: 1 << 20, CreatedAt: now.Add(-90 * time.Second)},
	}
	var buf bytes.Buffer
	if err := table(&buf, kernelHeader, kernelRows(now, ks)); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"NAME      ID                 VERSION                SOURCE     SIZE       CREATED   ORIGIN\n" +
		"default   0123456789abcdef   6.1.0-57-cloud-amd64   distro     50.77MiB   3h        distro package linux-image-6.1.0-57-cloud-amd64 6.1.192-3 (downloaded)\n" +
		"fc-ci     fedcba9876543210   -                      imported   1MiB       1m        -\n"
	if diff := cmp.Diff(want, buf.String()); diff != "" {
		t.Errorf("kernel table (-want +got):\n%s", diff)
	}
}
