package netlink

import (
	"fmt"
	"net/netip"
	"os/exec"
	"strconv"
	"testing"

	"banger/internal/netnstest"
)

// benchBridge makes the bridge the benchmarks attach taps to.
func benchBridge(b *testing.B) string {
	b.Helper()
	if err := EnsureBridge(Bridge{Name: "banger0", Addr: netip.MustParsePrefix("10.77.0.1/24")}); err != nil {
		b.Fatal(err)
	}
	return "banger0"
}

// deleteAll removes the named links, outside the timer.
func deleteAll(b *testing.B, names []string) {
	b.Helper()
	b.StopTimer()
	defer b.StartTimer()
	for _, n := range names {
		if err := DeleteLink(n); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTapCreate compares making, attaching and deleting a tap through
// netlink with doing the same through ip(8) commands.
func BenchmarkTapCreate(b *testing.B) {
	b.Run("netlink", func(b *testing.B) {
		if !netnstest.Isolate(b) {
			return
		}
		br := benchBridge(b)
		b.ResetTimer()
		for range b.N {
			if err := CreateTap("bb-tap", nobody, nobody); err != nil {
				b.Fatal(err)
			}
			if err := AttachTap("bb-tap", br); err != nil {
				b.Fatal(err)
			}
			if err := DeleteLink("bb-tap"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ip-commands", func(b *testing.B) {
		if !netnstest.Isolate(b) {
			return
		}
		ip, err := exec.LookPath("ip")
		if err != nil {
			b.Skip("needs ip (iproute2) for the baseline")
		}
		br := benchBridge(b)
		cmds := [][]string{
			{"tuntap", "add", "dev", "bb-tap", "mode", "tap", "user", strconv.Itoa(nobody), "vnet_hdr"},
			{"link", "set", "bb-tap", "master", br, "up"},
			{"link", "del", "bb-tap"},
		}
		b.ResetTimer()
		for range b.N {
			for _, args := range cmds {
				if out, err := exec.Command(ip, args...).CombinedOutput(); err != nil {
					b.Fatalf("ip %v: %v\n%s", args, err, out)
				}
			}
		}
	})
}

// BenchmarkTapPool compares taking a pre-made tap from the pool (rename
// and attach) with making one on demand (create and attach).
func BenchmarkTapPool(b *testing.B) {
	b.Run("hit", func(b *testing.B) {
		if !netnstest.Isolate(b) {
			return
		}
		br := benchBridge(b)
		b.StopTimer()
		names := make([]string, b.N)
		for i := range b.N {
			if err := CreateTap(fmt.Sprintf("bp-%d", i), nobody, nobody); err != nil {
				b.Fatal(err)
			}
			names[i] = fmt.Sprintf("bt-%d", i)
		}
		b.StartTimer()
		for i := range b.N {
			if err := RenameLink(fmt.Sprintf("bp-%d", i), names[i]); err != nil {
				b.Fatal(err)
			}
			if err := AttachTap(names[i], br); err != nil {
				b.Fatal(err)
			}
		}
		deleteAll(b, names)
	})
	b.Run("miss", func(b *testing.B) {
		if !netnstest.Isolate(b) {
			return
		}
		br := benchBridge(b)
		names := make([]string, b.N)
		for i := range b.N {
			names[i] = fmt.Sprintf("bt-%d", i)
		}
		b.ResetTimer()
		for i := range b.N {
			if err := CreateTap(names[i], nobody, nobody); err != nil {
				b.Fatal(err)
			}
			if err := AttachTap(names[i], br); err != nil {
				b.Fatal(err)
			}
		}
		deleteAll(b, names)
	})
}
