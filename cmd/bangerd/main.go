// Command bangerd is the banger daemon: it owns all state and VMs and serves
// the API on a unix socket. main only calls run.
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
	"banger/internal/daemon"
	"banger/internal/paths"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "bangerd: %v\n", err)
		os.Exit(exitStatus(err))
	}
}

func run(args []string, stderr io.Writer) error {
	// Sockets (ours and the VMMs') must be private from birth.
	syscall.Umask(0o077)
	if isRootHelper(args) {
		return runHelper(args, stderr)
	}

	fs := flag.NewFlagSet("bangerd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configFile := fs.String("config", "", "config file (default: $XDG_CONFIG_HOME/banger/config.toml)")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *showVersion {
		fmt.Fprintf(stderr, "bangerd %s\n", version)
		return nil
	}
	uid := os.Getuid()
	layout, err := paths.UserLayout(os.Getenv, uid)
	if err != nil {
		return err
	}
	if *configFile == "" {
		*configFile = layout.ConfigFile()
	}
	host := config.DetectHost(layout.StateDir)
	cfg, err := config.Load(*configFile, host)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level(cfg.LogLevel)}))
	defer startProfile()()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	d, err := daemon.New(ctx, daemon.Options{
		Layout:     layout,
		Config:     cfg,
		ConfigFile: *configFile,
		Host:       host,
		Logger:     log,
		Version:    version,
		UID:        uid,
		Hooks:      testHooks(),
	})
	if err != nil {
		return err
	}
	defer d.Close()
	ln, err := d.Listen()
	if err != nil {
		return err
	}
	if err := d.Serve(ctx, ln); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// exitStatus is 3 when another bangerd already runs on the same state or
// runtime directory (a CLI that started this one then talks to that one),
// 1 for every other failure.
func exitStatus(err error) int {
	var running *daemon.AlreadyRunningError
	if errors.As(err, &running) {
		return 3
	}
	return 1
}

func level(s string) slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return slog.LevelInfo
	}
	return l
}
