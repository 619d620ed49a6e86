package firewall

import (
	"testing"

	"banger/internal/netnstest"
)

// BenchmarkApply measures one update of banger's rules with 1, 50 and 200
// VMs (half with NAT, in groups of 5). "replace" replaces the tables whole
// in one batch (package Apply: the baseline, the cost of any change made
// that way); "start" and "stop" are what the daemon's Applier pays when
// one VM is added to or removed from that many.
func BenchmarkApply(b *testing.B) {
	for _, n := range []int{1, 50, 200} {
		for _, mode := range []string{"replace", "start", "stop"} {
			b.Run(mode+"/vms="+itoa(n), func(b *testing.B) {
				if !netnstest.Isolate(b) {
					return
				}
				var vms []VM
				for i := range n + 1 {
					vms = append(vms, vmN(i+2, i%2 == 0, "g"+itoa(i/5)))
				}
				small, big := specOf(vms[:n]...), specOf(vms...)
				if mode == "replace" {
					for b.Loop() {
						if err := Apply(big); err != nil {
							b.Fatal(err)
						}
					}
					return
				}
				var a Applier
				from, to := small, big
				if mode == "stop" {
					from, to = big, small
				}
				b.StopTimer()
				for i := 0; i < b.N; i++ {
					if err := a.Apply(from); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
					if err := a.Apply(to); err != nil {
						b.Fatal(err)
					}
					b.StopTimer()
				}
			})
		}
	}
}
