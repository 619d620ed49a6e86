package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"banger/internal/store"
	"banger/internal/vm"
)

// floorBootArgs is the kernel command line banger sends a VM without
// network, from banger's own spec-building code.
var floorBootArgs = vm.VMMSpec(store.VM{}, store.Image{}).BootArgs

// floor is the least a client must do to run a VM's lifecycle on the fake
// Firecracker: start the process, wait for its socket, configure it, boot
// it, press CTRL+ALT+DEL and wait for the exit. It uses plain net/http and
// no banger code but the boot arguments, and does no disk work: every floor VM is given the same
// existing root and work disks.
type floor struct {
	bin    string // the fake firecracker
	dir    string // runtime directories of floor VMs
	kernel string
	rootfs string
	work   string
}

// lifecycle runs VM i of the floor and returns the time of each phase.
func (f floor) lifecycle(ctx context.Context, i int) (t timing, err error) {
	dir := filepath.Join(f.dir, strconv.Itoa(i))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, &phaseError{"launch", err}
	}
	defer os.RemoveAll(dir)
	console, err := os.Create(filepath.Join(dir, "console.log"))
	if err != nil {
		return nil, &phaseError{"launch", err}
	}
	defer console.Close()
	sock := filepath.Join(dir, "api.sock")

	t0 := time.Now()
	mark := func(name string, since time.Time) time.Time {
		now := time.Now()
		t = append(t, span{name, now.Sub(since)})
		return now
	}
	cmd := exec.Command(f.bin, "--api-sock", sock, "--id", "floor-"+strconv.Itoa(i))
	cmd.Stdout, cmd.Stderr = console, console
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, &phaseError{"launch", err}
	}
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	defer func() { // whatever happened, the process is gone on return
		select {
		case <-exited:
		default:
			_ = cmd.Process.Kill()
			<-exited
		}
	}()
	if err := waitSocket(ctx, sock, exited); err != nil {
		return t, &phaseError{"launch", err}
	}
	at := mark("launch", t0)

	hc := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}}
	defer hc.CloseIdleConnections()
	config := []struct {
		path string
		body any
	}{
		{"/machine-config", map[string]any{"vcpu_count": 1, "mem_size_mib": vmMemory, "smt": false}},
		{"/boot-source", map[string]any{"kernel_image_path": f.kernel, "boot_args": floorBootArgs}},
		{"/drives/rootfs", map[string]any{"drive_id": "rootfs", "path_on_host": f.rootfs, "is_root_device": true, "is_read_only": false}},
		{"/drives/work", map[string]any{"drive_id": "work", "path_on_host": f.work, "is_root_device": false, "is_read_only": false}},
	}
	for _, c := range config {
		if err := put(ctx, hc, c.path, c.body); err != nil {
			return t, &phaseError{"configure", err}
		}
	}
	at = mark("configure", at)
	if err := put(ctx, hc, "/actions", map[string]string{"action_type": "InstanceStart"}); err != nil {
		return t, &phaseError{"boot", err}
	}
	at = mark("boot", at)
	if err := put(ctx, hc, "/actions", map[string]string{"action_type": "SendCtrlAltDel"}); err != nil {
		return t, &phaseError{"stop", err}
	}
	select {
	case <-exited:
	case <-ctx.Done():
		return t, &phaseError{"stop", ctx.Err()}
	}
	if waitErr != nil {
		return t, &phaseError{"stop", fmt.Errorf("firecracker exited: %w", waitErr)}
	}
	mark("stop", at)
	mark("total", t0)
	return t, nil
}

// waitSocket polls every millisecond until sock accepts a connection.
func waitSocket(ctx context.Context, sock string, exited <-chan struct{}) error {
	for {
		c, err := net.Dial("unix", sock)
		if err == nil {
			return c.Close()
		}
		select {
		case <-exited:
			return errors.New("firecracker exited before its API socket answered")
		case <-ctx.Done():
			return fmt.Errorf("wait for %s: %w", sock, ctx.Err())
		case <-time.After(time.Millisecond):
		}
	}
}

// put sends one Firecracker API request and expects 204 No Content.
func put(ctx context.Context, hc *http.Client, path string, body any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, "http://localhost"+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("PUT %s: %w", path, err)
	}
	defer resp.Body.Close()
	reply, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("PUT %s: %s: %s", path, resp.Status, bytes.TrimSpace(reply))
	}
	return nil
}
