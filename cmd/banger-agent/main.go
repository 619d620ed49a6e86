// Command banger-agent runs inside every banger guest as root and serves
// the agent protocol (package banger/internal/agent) to the host. main only
// parses flags, opens the transport and runs the server; it must not grow
// protocol logic. "banger-agent identity" (identity.go), run at boot by
// banger-identity.service, installs the VM's identity from its identity
// disk (package identdisk). In an image without an init it is PID 1 (pid1.go): it
// mounts the basic filesystems, supervises the agent proper as its child,
// reaps orphans and reboots the VM on request.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"banger/internal/agent"
	"banger/internal/agent/guestnet"
	"banger/internal/agent/proto"
	"banger/internal/agent/vsock"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if os.Getpid() == 1 {
		// No init in this image: be one, and run the agent as a child.
		if err := runInit(os.Args[1:], os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, "banger-agent (init):", err)
		}
		select {} // PID 1 must never exit
	}
	if len(os.Args) > 1 && os.Args[1] == "identity" {
		if err := runIdentity(os.Args[2:], unix.Sethostname, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "banger-agent:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "banger-agent:", err)
		os.Exit(1)
	}
}

// run parses args and serves until ctx is done.
func run(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("banger-agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "auto",
		"where to serve: auto (vsock port "+strconv.Itoa(proto.VsockPort)+" and the virtio-serial port, whichever the VMM provides), "+
			"vsock:PORT, unix:PATH or serial:DEVICE (e.g. serial:"+serialDevice+")")
	tokenFile := fs.String("token-file", "/etc/banger/agent-token", "file holding the per-VM token")
	hostKeyDir := fs.String("hostkey-dir", "/etc/ssh", "directory of ssh_host_*_key.pub")
	netFrom := fs.String("net-from", "/proc/cmdline", "file whose banger.ip, banger.gw and banger.dns settings configure the network at start; \"\" to leave the network alone")
	resolvConf := fs.String("resolv-conf", "/etc/resolv.conf", "resolv.conf to point at banger.dns")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q: banger-agent takes only flags", fs.Args())
	}
	token, err := readToken(*tokenFile)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	if *netFrom != "" {
		// A network problem must not cost the host its agent: log it.
		from := *netFrom
		if _, err := os.Stat(agent.NetOverride); err == nil && from == "/proc/cmdline" {
			// Re-identified since this boot: /proc/cmdline still has
			// the saved machine's settings.
			from = agent.NetOverride
		}
		if err := configureNetwork(from, *resolvConf); err != nil {
			log.Error("configure the network", "err", err)
		}
	}
	poweroff := agent.PowerOff
	if os.Getenv(childEnv) == "1" && os.Getppid() == 1 {
		// Under banger-agent's own init, let it stop everything in order.
		poweroff = func() error { return syscall.Kill(1, syscall.SIGTERM) }
	}
	srv := &agent.Server{Token: token, HostKeyDir: *hostKeyDir, Poweroff: poweroff, Version: version, Log: log,
		Reidentify: agent.SystemIdentity{TokenFile: *tokenFile, HostKeyDir: *hostKeyDir, ResolvConf: *resolvConf}.Apply}
	scheme, where, _ := strings.Cut(*listen, ":")
	switch {
	case *listen == "auto":
		return serveAuto(ctx, srv, log)
	case scheme == "vsock":
		port, err := strconv.ParseUint(where, 10, 32)
		if err != nil {
			return fmt.Errorf("--listen %q: vsock port must be a number: %w", *listen, err)
		}
		ln, err := vsock.Listen(uint32(port))
		if err != nil {
			return err
		}
		log.Info("serving", "listen", ln.Addr().String(), "version", version)
		return srv.Serve(ctx, ln)
	case scheme == "unix" && where != "":
		ln, err := listenUnix(where)
		if err != nil {
			return err
		}
		defer os.Remove(where)
		log.Info("serving", "listen", *listen, "version", version)
		return srv.Serve(ctx, ln)
	case scheme == "serial" && where != "":
		log.Info("serving", "listen", *listen, "version", version)
		return serveSerial(ctx, srv, where, log)
	}
	return fmt.Errorf("--listen %q: want vsock:PORT, unix:PATH or serial:DEVICE", *listen)
}

// configureNetwork applies the network settings banger put in the file
// (the kernel command line), if any.
func configureNetwork(from, resolvConf string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	cfg, ok, err := guestnet.FromCmdline(string(b))
	if err != nil || !ok {
		return err
	}
	return guestnet.Apply(cfg, resolvConf)
}

func readToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read agent token: %w: banger writes it into the VM's disk at create; pass --token-file", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("agent token file %s is empty: recreate the VM or write its token there", path)
	}
	return tok, nil
}

// listenUnix listens on path with mode 0600, replacing a stale socket.
func listenUnix(path string) (net.Listener, error) {
	if st, err := os.Lstat(path); err == nil {
		if st.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("listen on %s: a non-socket file is in the way: remove it", path)
		}
		os.Remove(path)
	}
	old := syscall.Umask(0o077)
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("restrict %s to its owner: %w", path, err)
	}
	return ln, nil
}

// serialDevice is where udev links the agent's virtio-serial port.
const serialDevice = "/dev/virtio-ports/" + proto.SerialPortName

// findSerialPort returns the device of the agent's virtio-serial port:
// udev's link when there is one, else the /dev/vportNpM whose name in
// sysfs is the agent's (there is no udev when the agent is PID 1).
func findSerialPort(sysDir string) string {
	if _, err := os.Stat(serialDevice); err == nil {
		return serialDevice
	}
	ports, _ := os.ReadDir(sysDir)
	for _, p := range ports {
		name, err := os.ReadFile(filepath.Join(sysDir, p.Name(), "name"))
		if err == nil && strings.TrimSpace(string(name)) == proto.SerialPortName {
			return "/dev/" + p.Name()
		}
	}
	return serialDevice
}

// serveAuto serves on every channel a VMM may give the guest: vsock
// (Firecracker) and the virtio-serial port (qemu without vhost-vsock). The
// serial side waits for its device to appear; a vsock socket that cannot
// be made is logged, not fatal.
func serveAuto(ctx context.Context, srv *agent.Server, log *slog.Logger) error {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = serveSerial(ctx, srv, "", log)
	}()
	ln, err := vsock.Listen(proto.VsockPort)
	if err != nil {
		log.Info("no vsock; serving the virtio-serial port only", "err", err)
	} else {
		log.Info("serving", "listen", ln.Addr().String(), "version", version)
		if err := srv.Serve(ctx, ln); err != nil {
			log.Warn("vsock listener ended", "err", err)
		}
	}
	wg.Wait()
	return nil
}

// serveSerial serves the virtio-serial port, reopening it whenever the
// stream breaks (the host reconnected, or it was not there yet), with a
// backoff capped at 2 s, until ctx is done.
func serveSerial(ctx context.Context, srv *agent.Server, device string, log *slog.Logger) error {
	backoff := 100 * time.Millisecond
	for {
		path := device
		if path == "" {
			path = findSerialPort("/sys/class/virtio-ports")
		}
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err == nil {
			start := time.Now()
			err = srv.ServeStream(ctx, f)
			f.Close()
			if time.Since(start) > 10*time.Second {
				backoff = 100 * time.Millisecond
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			log.Info("serial stream ended; reopening", "device", device, "err", err, "retry_in", backoff)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}
