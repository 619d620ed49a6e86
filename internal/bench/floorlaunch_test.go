package bench

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	vnl "github.com/vishvananda/netlink"

	"banger/internal/api"
	"banger/internal/network"
	"banger/internal/paths"
)

// TestFloorLaunchMatchesBanger starts a VM with the real bangerd in a
// guest world and a floor VM next to it, and compares what each really
// runs: qemu's command line read from /proc, with the per-VM names, paths,
// ids, MACs and addresses replaced by placeholders, must be the same less
// floorDropped; both qemus must be in the same network namespace, and the
// two taps on the same bridge. It fails when either side changes alone.
func TestFloorLaunchMatchesBanger(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), guestBenchTimeout)
	defer cancel()
	w := newGuestWorld(t)
	w.startDaemon(ctx)
	img := w.registerImage(ctx)
	v, err := w.client.CreateVM(ctx, api.CreateVMRequest{Name: "probe", Image: imageName, Start: true}, nil)
	if err != nil {
		t.Fatalf("create and start a VM: %v\ndaemon log:\n%s", err, w.daemonLog())
	}
	defer func() {
		if _, err := w.client.KillVM(ctx, v.Name, nil); err != nil {
			t.Errorf("kill VM %s: %v", v.Name, err)
		}
	}()
	if v.IP == "" || v.MAC == "" {
		t.Fatalf("banger's VM has no network (ip %q, mac %q): the guest world must have networking on", v.IP, v.MAC)
	}
	bangerArgv, err := cmdline(v.PID)
	if err != nil {
		t.Fatal(err)
	}

	fl := w.newGuestFloor(ctx, argAfter(bangerArgv, "-accel"), img)
	fv := fl.newVM(0)
	if err := fl.prepare(ctx, &fv); err != nil {
		t.Fatalf("prepare floor VM: %v", err)
	}
	p, err := fl.launch(fv)
	if err != nil {
		t.Fatalf("launch floor VM: %v", err)
	}
	defer p.kill()
	// The floor's argv as it was executed (read from /proc it would be
	// empty once qemu exited); a qemu that exits at once fails below.
	floorArgv := p.cmd.Args

	layout, err := paths.UserLayout(envLookup(w.env), os.Getuid())
	if err != nil {
		t.Fatal(err)
	}
	want, dropped := dropArgs(normalise(bangerArgv, vmNames{
		dir: v.Dir, runDir: layout.VMRuntimeDir(v.ID), id: v.ID,
		tap: network.TapName(v.ID), mac: v.MAC, ip: v.IP,
	}), floorDropped)
	for flag := range floorDropped {
		if !dropped[flag] {
			t.Errorf("banger's qemu has no %s any more: the floor leaves it out for a reason that is gone; update floorDropped and guestFloor's doc", flag)
		}
	}
	got := normalise(floorArgv, vmNames{
		dir: fv.rec.Dir, runDir: fv.rec.RuntimeDir, id: fv.rec.ID,
		tap: fl.net.tap, mac: fv.spec.MAC, ip: fl.net.addr.Addr().String(),
	})
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the floor's qemu command line is not banger's less -S and -qmp (-banger +floor):\n%s", diff)
	}

	select {
	case <-p.exited:
		vmmLog, _ := os.ReadFile(fv.spec.VMMLog)
		console, _ := os.ReadFile(fv.spec.ConsoleLog)
		t.Fatalf("the floor's qemu exited at once\nvmm log:\n%s\nconsole:\n%s", vmmLog, lastLines(string(console), 15))
	default:
	}
	bangerNS, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", v.PID))
	if err != nil {
		t.Fatal(err)
	}
	floorNS, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", p.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	if bangerNS != floorNS {
		t.Errorf("banger's qemu runs in network namespace %s, the floor's in %s", bangerNS, floorNS)
	}
	var masters [2]int
	err = fl.net.ns.Do(func() error {
		for i, tap := range []string{network.TapName(v.ID), fl.net.tap} {
			l, err := vnl.LinkByName(tap)
			if err != nil {
				return fmt.Errorf("find tap %s: %w", tap, err)
			}
			masters[i] = l.Attrs().MasterIndex
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if masters[0] == 0 || masters[0] != masters[1] {
		t.Errorf("banger's tap is on bridge index %d, the floor's on %d: want the same bridge", masters[0], masters[1])
	}
}

// vmNames are what differs between two VMs of the same machine.
type vmNames struct {
	dir, runDir, id, tap, mac, ip string
}

// normalise replaces n's values in argv with placeholders; an empty value
// (a VM without network has no MAC) replaces nothing.
func normalise(argv []string, n vmNames) []string {
	// At each position the first matching old string wins: the runtime
	// directory may lie inside the VM directory, and both hold the id.
	pairs := [][2]string{
		{n.runDir, "<run-dir>"},
		{n.dir, "<vm-dir>"},
		{n.ip, "<ip>"},
		{n.tap, "<tap>"},
		{n.mac, "<mac>"},
		{n.id, "<id>"},
	}
	var oldnew []string
	for _, p := range pairs {
		if p[0] == "" {
			continue
		}
		if p[1] == "<ip>" {
			p = [2]string{"banger.ip=" + p[0] + "/", "banger.ip=<ip>/"}
		}
		oldnew = append(oldnew, p[0], p[1])
	}
	r := strings.NewReplacer(oldnew...)
	out := make([]string, len(argv))
	for i, a := range argv {
		out[i] = r.Replace(a)
	}
	return out
}

// envLookup is os.Getenv over env, a list of KEY=value; the last wins.
func envLookup(env []string) func(string) string {
	return func(key string) string {
		v := ""
		for _, kv := range env {
			if k, val, ok := strings.Cut(kv, "="); ok && k == key {
				v = val
			}
		}
		return v
	}
}
