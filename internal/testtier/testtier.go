// Package testtier decides, in one place, which tier of tests may run
// here. banger's tests live in plain go test in three tiers:
//
//   - unit: needs nothing; always runs, also under -short.
//   - root: needs root (network namespaces, other uids, taps, chroots)
//     and is skipped under -short.
//   - guest: boots real guests or builds a kernel or image; needs root
//     and qemu, and is skipped under -short.
//
// Every test that needs more than the unit tier calls Root or Guest
// first, so that go test -short is fast and unprivileged everywhere. A
// skipped test says which tier it is and what is missing. Only tests may
// import this package.
package testtier

import (
	"os"
	"os/exec"
	"testing"
)

// Root skips tb unless root tests may run: not -short, and running as
// root.
func Root(tb testing.TB) {
	tb.Helper()
	if why := rootMissing(); why != "" {
		tb.Skip("root tier: " + why)
	}
}

// Guest skips tb unless guest tests may run: not -short, running as root,
// and qemu-system-x86_64 on PATH.
func Guest(tb testing.TB) {
	tb.Helper()
	if why := guestMissing(); why != "" {
		tb.Skip("guest tier: " + why)
	}
}

// Slow skips tb under -short only: for unprivileged tests that run whole
// programs or take seconds, but need no root and no guest.
func Slow(tb testing.TB) {
	tb.Helper()
	if testing.Short() {
		tb.Skip("slow tier: skipped in -short mode")
	}
}

func rootMissing() string {
	if testing.Short() {
		return "skipped in -short mode"
	}
	if os.Geteuid() != 0 {
		return "needs root"
	}
	return ""
}

func guestMissing() string {
	if why := rootMissing(); why != "" {
		return why
	}
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		return "needs qemu-system-x86_64 to boot guests: apt-get install qemu-system-x86"
	}
	return ""
}
