package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"banger/internal/api"
	"banger/internal/client"
	"banger/internal/errdefs"
)

// exitNotRunning is the status of `banger daemon status` when no daemon
// runs, as LSB status commands use it.
const exitNotRunning = 3

// daemonStopTimeout bounds the wait for a daemon to exit after it agreed
// to: its own shutdown waits at most 30s for requests in flight.
const daemonStopTimeout = 60 * time.Second

func (a *app) daemonCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "daemon",
		Short: "See and stop the banger daemon (bangerd)",
		Long:  "See and stop bangerd. Unlike every other command, these never start a daemon.",
	}
	cmd.AddCommand(a.daemonStatusCommand(), a.daemonStopCommand())
	return cmd
}

// daemonStatus is what `banger daemon status --json` prints.
type daemonStatus struct {
	Running       bool       `json:"running"`
	Socket        string     `json:"socket"`
	PID           int        `json:"pid,omitempty"`
	Version       string     `json:"version,omitempty"`
	StateDir      string     `json:"state_dir,omitempty"`
	StartedAt     *time.Time `json:"started_at,omitempty"`
	UptimeSeconds int64      `json:"uptime_seconds,omitempty"`
	VMs           int        `json:"vms"`
	VMsRunning    int        `json:"vms_running"`
}

func (a *app) daemonStatusCommand() *cobra.Command {
	var json bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show whether bangerd runs, and its pid, version, socket, state directory, uptime and VMs",
		Long: "Show whether bangerd runs, and its pid, version, socket, state directory, uptime and VMs. " +
			"Exits 3 when no daemon runs, without starting one.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, socket, err := a.running(cmd.Context())
			if err != nil {
				return err
			}
			st := daemonStatus{Socket: socket}
			if cl != nil {
				in, err := cl.Info(cmd.Context())
				if err != nil {
					return err
				}
				st = statusOf(in, time.Now())
			}
			if json {
				if err := writeJSON(a.env.Stdout, st); err != nil {
					return err
				}
			} else {
				printStatus(a.env.Stdout, st)
			}
			if !st.Running {
				return exitCode(exitNotRunning)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&json, "json", false, "print JSON")
	return cmd
}

func (a *app) daemonStopCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "stop",
		Short: "Stop bangerd cleanly and wait until it has exited; VMs keep running",
		Long: "Ask bangerd to shut down as SIGTERM does (requests in flight finish, VMs keep running) " +
			"and wait until it has exited. Does nothing, successfully, when no daemon runs.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			cl, socket, err := a.running(ctx)
			if err != nil {
				return err
			}
			if cl == nil {
				fmt.Fprintf(a.env.Stdout, "bangerd is not running (no daemon answers on %s): nothing to stop\n", socket)
				return nil
			}
			in, err := cl.Info(ctx)
			if err != nil {
				return err
			}
			// Held from before the request, so the wait cannot follow a
			// reused pid.
			pidfd, pidErr := unix.PidfdOpen(in.PID, 0)
			if pidErr == nil {
				defer unix.Close(pidfd)
			}
			if _, err := cl.Shutdown(ctx); err != nil {
				return err
			}
			if err := a.waitStopped(ctx, pidfd, pidErr); err != nil {
				return fmt.Errorf("bangerd (pid %d) agreed to stop but %w", in.PID, err)
			}
			fmt.Fprintf(a.env.Stdout, "stopped bangerd (pid %d); VMs keep running\n", in.PID)
			return nil
		},
	}
}

// running returns a client of the daemon that answers, or a nil client
// when none runs; it never starts one. The socket is the one it tried.
func (a *app) running(ctx context.Context) (*client.Client, string, error) {
	cl, layout, err := a.connect(ctx)
	socket := a.socket
	if socket == "" {
		socket = layout.Socket()
	}
	switch {
	case err == nil:
		return cl, socket, nil
	case errdefs.Is(err, errdefs.Unavailable):
		return nil, socket, nil
	default:
		return nil, socket, err
	}
}

// waitStopped waits until the daemon has exited: its pidfd becomes
// readable, or, where it could not be opened (the daemon's pid is not
// visible here), until nothing answers on its socket.
func (a *app) waitStopped(ctx context.Context, pidfd int, pidErr error) error {
	ctx, cancel := context.WithTimeout(ctx, daemonStopTimeout)
	defer cancel()
	if pidErr == nil {
		for {
			fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
			n, err := unix.Poll(fds, 100)
			if err != nil && !errors.Is(err, unix.EINTR) {
				return fmt.Errorf("cannot wait for it to exit: %w", err)
			}
			if n > 0 {
				return nil
			}
			if ctx.Err() != nil {
				return fmt.Errorf("has not exited after %v: see its log", daemonStopTimeout)
			}
		}
	}
	for {
		if _, _, err := a.connect(ctx); errdefs.Is(err, errdefs.Unavailable) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("still answers after %v: see its log", daemonStopTimeout)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// statusOf is the status of the daemon that answered with in, at now.
func statusOf(in api.SystemInfo, now time.Time) daemonStatus {
	st := daemonStatus{
		Running: true, Socket: in.Socket, PID: in.PID, Version: in.Version, StateDir: in.StateDir,
		VMs: in.VMs, VMsRunning: in.Running,
	}
	if !in.StartedAt.IsZero() {
		started := in.StartedAt
		st.StartedAt = &started
		st.UptimeSeconds = int64(now.Sub(started) / time.Second)
	}
	return st
}

func printStatus(w io.Writer, st daemonStatus) {
	if !st.Running {
		fmt.Fprintf(w, "bangerd is not running (no daemon answers on %s)\n", st.Socket)
		return
	}
	uptime := "unknown"
	if st.StartedAt != nil {
		uptime = (time.Duration(st.UptimeSeconds) * time.Second).String()
	}
	printFields(w, [][2]string{
		{"Status:", "running"}, {"PID:", fmt.Sprint(st.PID)}, {"Version:", st.Version},
		{"Socket:", st.Socket}, {"State dir:", st.StateDir}, {"Uptime:", uptime},
		{"VMs:", fmt.Sprintf("%d (%d running)", st.VMs, st.VMsRunning)},
	})
}
