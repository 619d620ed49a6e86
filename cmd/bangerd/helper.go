package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"banger/internal/config"
	"banger/internal/privileged"
)

// isRootHelper reports whether args ask for the root helper mode.
func isRootHelper(args []string) bool {
	for _, a := range args {
		switch a {
		case "--root-helper", "-root-helper", "--root-helper=true", "-root-helper=true":
			return true
		case "--":
			return false
		}
	}
	return false
}

// runHelper is `bangerd --root-helper`: the root helper that does host
// networking for a bangerd running as --allow-uid, until SIGTERM or
// SIGINT.
func runHelper(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("bangerd --root-helper", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Bool("root-helper", true, "serve as banger's root helper")
	socket := fs.String("socket", config.DefaultHelperSocket, "unix socket to serve on (bangerd's network.helper_socket)")
	allowUID := fs.Int("allow-uid", -1, "uid of the user bangerd runs as (required); root may always call")
	bridge := fs.String("bridge", "banger0", "the only bridge the helper manages (bangerd's network.bridge)")
	cowDir := fs.String("cow-dir", "", "bangerd's state directory, whose XFS file (vm.disk_strategy = \"loop-xfs\", or \"auto\" when the directory cannot clone files) the helper may mount and over whose disks it may make device-mapper devices (\"dm\"); empty: none")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q: the root helper takes only flags", fs.Args())
	}
	if *allowUID < 0 {
		return errors.New("--allow-uid is required: give the uid bangerd runs as (id -u of its user)")
	}
	if euid := os.Geteuid(); euid != 0 {
		return fmt.Errorf("the root helper must run as root, not euid %d: start it from the system service or with sudo", euid)
	}
	policy := privileged.Policy{UID: *allowUID, Bridge: *bridge, CowDir: *cowDir}
	if err := policy.Validate(); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level(*logLevel)}))

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	// Nothing the helper makes is for other users: the socket is given to
	// --allow-uid with mode 0600 right after it is made.
	syscall.Umask(0o077)
	ln, err := privileged.Listen(*socket, *allowUID)
	if err != nil {
		return err
	}
	log.Info("root helper serving", "socket", *socket, "allow_uid", *allowUID, "bridge", *bridge, "cow_dir", *cowDir)
	if err := privileged.Serve(ctx, ln, policy, privileged.NewLocal(), log); err != nil {
		return err
	}
	log.Info("root helper stopped")
	return nil
}
