package kernelbuild_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"banger/internal/errdefs"
	"banger/internal/kernelbuild"
	"banger/internal/kernelbuild/kerneltest"
)

// TestDistroRealPackage fetches Debian's cloud kernel (from the test cache
// after the first run), and checks the vmlinux is one and the initramfs
// holds banger-init and exactly the needed modules with their
// dependencies, in order, built for the kernel's release.
func TestDistroRealPackage(t *testing.T) {
	res := kerneltest.Distro(t)
	if res.Discovery != kernelbuild.DiscoveryACPI {
		t.Errorf("discovery = %q, want acpi for Debian's cloud kernel", res.Discovery)
	}
	if res.HZ != 250 {
		t.Errorf("HZ = %d, want Debian's CONFIG_HZ 250", res.HZ)
	}
	if err := kernelbuild.CheckVmlinuxForTest(res.Vmlinux); err != nil {
		t.Errorf("vmlinux: %v", err)
	}
	init, err := os.ReadFile(kerneltest.InitBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	names := kernelbuild.CheckInitramfsForTest(t, res.Initrd, res.Release, init)
	t.Logf("%s %s (%s): modules %v", res.Package, res.PackageVersion, res.Origin(), names)
}

// TestDistroMissingModule: asking for a module the package lacks is a
// clear error before anything is recorded.
func TestDistroMissingModule(t *testing.T) {
	kerneltest.Distro(t) // the package is cached
	dir, err := kerneltest.DistroCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	_, err = kernelbuild.Distro(context.Background(), kernelbuild.DistroOptions{
		WorkDir: dir, Init: kerneltest.InitBinary(t), Modules: []string{"virtio_blk", "no_such_driver"},
	}, nil)
	if !errdefs.Is(err, errdefs.FailedPrecondition) || !strings.Contains(err.Error(), "module no_such_driver is not in the kernel package") {
		t.Errorf("Distro = %v, want the missing module named", err)
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, ".distro-*"))
	if len(leftovers) != 0 {
		t.Errorf("work directories left behind: %v", leftovers)
	}
}

// TestInstalledSourceMatchesDeb: the kernel package unpacked to a
// directory, as dpkg installs it, gives the same kernel, modules and
// module order as reading the .deb itself.
func TestInstalledSourceMatchesDeb(t *testing.T) {
	kerneltest.Distro(t)
	dir, err := kerneltest.DistroCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	debs, _ := filepath.Glob(filepath.Join(dir, "debs", "*.deb"))
	if len(debs) == 0 {
		t.Skip("the package was taken from the installed system: no .deb to compare with")
	}
	root := t.TempDir()
	if out, err := exec.Command("dpkg-deb", "-x", debs[0], root).CombinedOutput(); err != nil {
		t.Skipf("dpkg-deb -x: %v %s", err, out)
	}
	fromDeb, fromTree, err := kernelbuild.CompareSourcesForTest(context.Background(), debs[0], root)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(fromDeb, fromTree); diff != "" {
		t.Errorf("installed tree vs .deb (-deb +tree):\n%s", diff)
	}
	if len(fromDeb) < 5 {
		t.Errorf("too few files compared: %v", fromDeb)
	}
}
