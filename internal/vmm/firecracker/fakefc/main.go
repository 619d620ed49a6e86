// Command fakefc stands in for the firecracker binary in banger's tests,
// where no real Firecracker (or usable /dev/kvm) is available. It takes
// firecracker's command line and serves the subset of Firecracker's v1.7
// HTTP API that banger uses on the --api-sock unix socket, with the real
// field names, required fields, status codes and fault messages, and
// rejects what the real API rejects, so that code which works against the
// fake works against the real VMM. After InstanceStart it writes a
// plausible guest boot log to stdout (the serial console) and behaves like
// a running VMM until SendCtrlAltDel or a signal ends it.
//
// It owns only its own process and the sockets and files its API is asked
// to use. It must not run a guest, touch host networking or disks beyond
// opening the files it is given, or be shipped in a banger install.
// Environment hooks (FAKEFC_RECORD, FAKEFC_OPENED, FAKEFC_FAIL,
// FAKEFC_START_DELAY, FAKEFC_VERSION, FAKEFC_IGNORE_CTRLALTDEL) let tests
// observe and steer it;
// see usage in flags.go and the fctest package.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// Exit codes Firecracker uses.
const (
	exitGenericError     = 1
	exitBadConfiguration = 152
	exitArgParsing       = 153
)

// guestShutdownDelay is how long the simulated guest takes to reset after
// CTRL+ALT+DEL before the VMM exits.
const guestShutdownDelay = 100 * time.Millisecond

func main() {
	code, sig := run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	if s, ok := sig.(syscall.Signal); ok {
		// Die of the signal, as Firecracker (which does not handle SIGTERM
		// or SIGINT) does, so the parent sees the same wait status.
		signal.Reset(s)
		syscall.Kill(os.Getpid(), s)
		time.Sleep(time.Second)
	}
	os.Exit(code)
}

// run is the whole program. It returns the exit code and, when a signal
// ended it, that signal.
func run(args []string, getenv func(string) string, stdout, stderr io.Writer) (int, os.Signal) {
	opts, err := parseArgs(args)
	if err != nil {
		fmt.Fprintf(stderr, "Error: Arguments parsing error: %v\n", err)
		return exitArgParsing, nil
	}
	h, err := loadHooks(getenv)
	if err != nil {
		fmt.Fprintf(stderr, "Error: fakefc: %v\n", err)
		return exitGenericError, nil
	}
	switch {
	case opts.help:
		fmt.Fprintf(stdout, "Firecracker v%s\n\n%s", h.version, usage)
		return 0, nil
	case opts.version:
		fmt.Fprintf(stdout, "Firecracker v%s\n\n", h.version)
		return 0, nil
	case opts.unsupported != "":
		fmt.Fprintf(stderr, "Error: fakefc does not implement --%s: drive it through the API instead\n", opts.unsupported)
		return exitGenericError, nil
	}
	if err := validInstanceID(opts.id); err != nil {
		fmt.Fprintf(stderr, "Error: %v\n", err)
		return exitGenericError, nil
	}

	out := &console{w: stdout}
	lg := newLogger(opts.id, out)
	cfg := loggerConfig{LogPath: opts.logPath, ShowLevel: &opts.showLevel, ShowLogOrigin: &opts.showLogOrigin}
	if opts.level != "" {
		if _, ok := parseLevel(opts.level); !ok {
			fmt.Fprintf(stderr, "Error: InvalidLogLevel: Failed to parse string to level filter: %s\n", opts.level)
			return exitBadConfiguration, nil
		}
		cfg.Level = &opts.level
	}
	if err := lg.update(cfg); err != nil {
		fmt.Fprintf(stderr, "Error: LoggerInitialization: %v\n", err)
		return exitGenericError, nil
	}
	m := &metrics{}
	if opts.metricsPath != "" {
		if err := m.init(opts.metricsPath); err != nil {
			lg.close()
			fmt.Fprintf(stderr, "Error: MetricsInitialization: %v\n", err)
			return exitGenericError, nil
		}
	}
	vm := &vmm{
		id: opts.id, version: h.version, log: lg, metrics: m, console: out,
		ignoreCtrlAltDel: h.ignoreCtrlAltDel, machine: defaultMachineConfig(),
		opened: &openLog{path: h.opened},
	}
	defer vm.close()
	lg.logf(levelInfo, "main", "Running Firecracker v%s", h.version)

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	if h.startDelay > 0 {
		select {
		case <-time.After(h.startDelay):
		case s := <-sigs:
			return 128 + int(s.(syscall.Signal)), s
		}
	}

	ln, err := net.Listen("unix", opts.apiSock)
	if err != nil {
		lg.logf(levelError, "main", "Failed to open the API socket at: %s. Check that it is not already used.", opts.apiSock)
		fmt.Fprintf(stderr, "Error: RunWithApi(FailedToBindSocket(%q)): Failed to open the API socket at: %s. Check that it is not already used. (%v)\n", opts.apiSock, opts.apiSock, err)
		return exitGenericError, nil
	}
	return serve(ln, vm, h, opts, sigs, stderr)
}

// serve runs the API on ln until a signal arrives or the guest resets, then
// shuts the server down, which removes the API socket.
func serve(ln net.Listener, vm *vmm, h hooks, opts options, sigs <-chan os.Signal, stderr io.Writer) (int, os.Signal) {
	exitReq := make(chan struct{})
	var once sync.Once
	vm.requestExit = func() { once.Do(func() { close(exitReq) }) }
	api := &apiServer{vm: vm, hooks: h, rec: &recorder{path: h.record}, log: vm.log, maxPayload: opts.maxPayload}
	srv := &http.Server{
		Handler:           api,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(stderr, "fakefc: http: ", 0),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	code, sig := 0, os.Signal(nil)
	serveDone := false
	select {
	case s := <-sigs:
		vm.log.logf(levelInfo, "main", "fakefc: received %v, exiting", s)
		code, sig = 128+int(s.(syscall.Signal)), s
	case <-exitReq:
		time.Sleep(guestShutdownDelay)
		vm.log.logf(levelInfo, "main", "Firecracker exiting successfully. exit_code=0")
	case err := <-served:
		serveDone = true
		fmt.Fprintf(stderr, "Error: fakefc: api server: %v\n", err)
		code = exitGenericError
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		srv.Close()
	}
	if !serveDone {
		if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(stderr, "Error: fakefc: api server: %v\n", err)
		}
	}
	// A handler Shutdown gave up waiting for may still hold the VMM.
	api.mu.Lock()
	vm.close()
	api.mu.Unlock()
	return code, sig
}
