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
		{Name: "default", ID: "0123456789abcdef", Version: "6.1.192-banger", Source: "built", Size: 21583392, CreatedAt: now.Add(-3 * time.Hour)},
		{Name: "fc-ci", ID: "fedcba9876543210", Source: "imported", Size: 1 << 20, CreatedAt: now.Add(-90 * time.Second)},
	}
	var buf bytes.Buffer
	if err := table(&buf, kernelHeader, kernelRows(now, ks)); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"NAME      ID                 VERSION          SOURCE     SIZE       CREATED\n" +
		"default   0123456789abcdef   6.1.192-banger   built      20.58MiB   3h\n" +
		"fc-ci     fedcba9876543210   -                imported   1MiB       1m\n"
	if diff := cmp.Diff(want, buf.String()); diff != "" {
		t.Errorf("kernel table (-want +got):\n%s", diff)
	}
}
