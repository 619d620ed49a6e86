package agent

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"time"

	"golang.org/x/sys/unix"

	"banger/internal/errdefs"
)

func (h *handler) handleShutdown(w http.ResponseWriter, r *http.Request) {
	if h.Poweroff == nil {
		writeError(w, errdefs.FailedPreconditionf("this banger-agent was started without a power-off action"))
		return
	}
	if !h.tr.add() {
		writeError(w, errdefs.Unavailablef("banger-agent is shutting down"))
		return
	}
	writeJSON(w, http.StatusAccepted, struct{}{})
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	go func() {
		defer h.tr.done()
		if err := h.Poweroff(); err != nil {
			h.logger().Error("power off failed", "err", err)
		}
	}()
}

// PowerOff syncs filesystems and ends the machine cleanly. It asks for a
// reboot, not a power-off: banger's VMMs have no ACPI, so a power-off only
// halts the CPUs and leaves the VMM running, while a reboot makes
// Firecracker exit, and qemu too (it runs with -no-reboot). It goes
// through `systemctl reboot` when PID 1 is systemd (services stop in
// order), otherwise the reboot system call. After the system call it does
// not return; with systemd it returns nil once systemd has accepted the
// request.
func PowerOff() error {
	unix.Sync()
	if SystemdRunning("/proc") {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, "systemctl", "reboot").CombinedOutput()
		if err != nil {
			return fmt.Errorf("systemctl reboot: %w: %s", err, out)
		}
		return nil
	}
	if err := unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART); err != nil {
		return fmt.Errorf("reboot(RESTART): %w: the agent must run as root", err)
	}
	return nil
}
