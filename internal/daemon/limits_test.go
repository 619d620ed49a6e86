package daemon

import (
	"strings"
	"testing"

	"banger/internal/api"
	"banger/internal/errdefs"
)

// TestCreateRefusesOverflowingSizes: memory_mib 17592186044672 (2^44 MiB
// plus 256) was accepted and the VMM got that number, because it was
// shifted to bytes (wrapping to 256MiB) before the range check. Every size
// out of range, however large, is now refused by name with its range, and
// nothing is created.
func TestCreateRefusesOverflowingSizes(t *testing.T) {
	td := startDaemon(t, daemonOpts{})
	img := td.registerImage("base")
	tests := []struct{ name, body, want string }{
		{"issue 9's memory", `{"name":"big","image":"` + img.Name + `","memory_mib":17592186044672}`,
			"memory_mib = 17592186044672: must be between 128 and 1048576 MiB (128MiB to 1TiB)"},
		{"memory max int64", `{"name":"big","image":"` + img.Name + `","memory_mib":9223372036854775807}`,
			"memory_mib = 9223372036854775807: must be between 128 and 1048576 MiB"},
		{"memory just over", `{"name":"big","image":"` + img.Name + `","memory_mib":1048577}`,
			"memory_mib = 1048577 (1048577MiB): must be between 128 and 1048576 MiB"},
		{"memory negative", `{"name":"big","image":"` + img.Name + `","memory_mib":-17592186044672}`,
			"memory_mib = -17592186044672: must be positive"},
		{"memory beyond int64", `{"name":"big","image":"` + img.Name + `","memory_mib":18446744073709551616}`,
			"memory_mib"},
		{"vcpus max int64", `{"name":"big","image":"` + img.Name + `","vcpus":9223372036854775807}`,
			"vcpus = 9223372036854775807: must be between 1 and 32"},
		{"vcpus wraps to 1 in 32 bits", `{"name":"big","image":"` + img.Name + `","vcpus":4294967297}`,
			"vcpus = 4294967297: must be between 1 and 32"},
		{"disk max int64", `{"name":"big","image":"` + img.Name + `","disk_bytes":9223372036854775807}`,
			"disk_bytes = 9223372036854775807 (8388607.99TiB): must be between 268435456 and 2199023255552 bytes (256MiB to 2TiB)"},
		{"every problem at once", `{"name":"big","image":"` + img.Name + `","vcpus":-1,"memory_mib":17592186044672,"disk_bytes":1}`,
			"vcpus = -1: must be positive\nmemory_mib = 17592186044672: must be between 128 and 1048576 MiB (128MiB to 1TiB)\ndisk_bytes = 1 (1B): must be between"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			td := td.sub(t)
			resp, body := td.do("POST", "/v1/vms", tt.body)
			e := td.checkAPIError(resp, body, errdefs.InvalidArgument)
			if !strings.Contains(e.Message, tt.want) {
				t.Errorf("message %q lacks %q", e.Message, tt.want)
			}
			_, body = td.do("GET", "/v1/vms", "")
			var vms []api.VM
			decodeStrict(t, body, &vms)
			if len(vms) != 0 {
				t.Fatalf("a VM was created: %+v", vms)
			}
		})
	}
}
