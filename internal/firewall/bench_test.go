package firewall

import (
	"testing"

	"banger/internal/netnstest"
)

// BenchmarkApply measures one atomic replace of banger's tables for specs
// of 1, 50 and 200 VMs (half with NAT, in groups of 5).
func BenchmarkApply(b *testing.B) {
	for _, n := range []int{1, 50, 200} {
		b.Run("vms="+itoa(n), func(b *testing.B) {
			if !netnstest.Isolate(b) {
				return
			}
			var vms []VM
			for i := range n {
				vms = append(vms, vmN(i+2, i%2 == 0, "g"+itoa(i/5)))
			}
			spec := specOf(vms...)
			for b.Loop() {
				if err := Apply(spec); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
