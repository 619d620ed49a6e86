package vm

import (
	"slices"
	"strings"
	"testing"

	"banger/internal/store"
)

// TestBootArgsSkipCryptoSelfTests: a distribution kernel with the crypto
// manager would otherwise spend most of its boot to /init testing its
// crypto algorithms (kernels.md).
func TestBootArgsSkipCryptoSelfTests(t *testing.T) {
	spec := VMMSpec(store.VM{ID: "0123456789abcdef", Dir: "/s/vms/x", RuntimeDir: "/r/vms/x"}, store.Image{Kernel: "/k/vmlinux"})
	words := strings.Fields(spec.BootArgs)
	for _, w := range []string{"console=ttyS0", "cryptomgr.notests"} {
		if !slices.Contains(words, w) {
			t.Errorf("boot args %q lack %s", spec.BootArgs, w)
		}
	}
}
