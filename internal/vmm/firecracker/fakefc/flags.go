package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// options is the parsed command line. Parsing follows Firecracker's own
// argument parser: "--name value" only (no "--name=value"), a value may not
// start with "--", no argument twice, "--help" and "--version" anywhere win,
// and everything after "--" is ignored.
type options struct {
	apiSock       string
	id            string
	help          bool
	version       bool
	logPath       string
	level         string
	showLevel     bool
	showLogOrigin bool
	module        string
	metricsPath   string
	maxPayload    int64
	unsupported   string // a real flag the fake does not implement
}

// flagSpec lists every flag of Firecracker v1.7's command line and whether
// it takes a value.
var flagSpec = map[string]bool{
	"api-sock": true, "id": true, "seccomp-filter": true, "no-seccomp": false,
	"start-time-us": true, "start-time-cpu-us": true, "parent-cpu-time-us": true,
	"config-file": true, "metadata": true, "no-api": false,
	"log-path": true, "level": true, "module": true, "show-level": false, "show-log-origin": false,
	"metrics-path": true, "boot-timer": false, "version": false, "snapshot-version": false,
	"describe-snapshot": true, "http-api-max-payload-size": true, "mmds-size-limit": true,
}

// unimplementedFlags are real flags whose behaviour the fake does not
// provide; it refuses them rather than pretend.
var unimplementedFlags = []string{"config-file", "metadata", "no-api", "snapshot-version", "describe-snapshot"}

// argError is a command-line error; Firecracker exits 153 on these.
type argError struct{ msg string }

func (e *argError) Error() string { return e.msg }

func parseArgs(args []string) (options, error) {
	opts := options{apiSock: "/run/firecracker.socket", id: "anonymous-instance", maxPayload: 51200}
	if i := slices.Index(args, "--"); i >= 0 {
		args = args[:i]
	}
	if slices.Contains(args, "--help") {
		opts.help = true
		return opts, nil
	}
	if slices.Contains(args, "--version") {
		opts.version = true
		return opts, nil
	}
	values := map[string]string{}
	flags := map[string]bool{}
	for i := 0; i < len(args); i++ {
		name, ok := strings.CutPrefix(args[i], "--")
		takesValue, known := flagSpec[name]
		if !ok || !known {
			return opts, &argError{fmt.Sprintf("Found argument '%s' which wasn't expected, or isn't valid in this context.", strings.TrimPrefix(args[i], "--"))}
		}
		if _, dup := values[name]; dup || flags[name] {
			return opts, &argError{fmt.Sprintf("The argument '%s' was provided more than once.", name)}
		}
		if !takesValue {
			flags[name] = true
			continue
		}
		if i+1 >= len(args) || strings.HasPrefix(args[i+1], "--") {
			return opts, &argError{fmt.Sprintf("The argument '%s' requires a value, but none was supplied.", name)}
		}
		i++
		values[name] = args[i]
	}
	if flags["no-seccomp"] && values["seccomp-filter"] != "" {
		return opts, &argError{"Argument 'no-seccomp' cannot be used together with argument 'seccomp-filter'."}
	}
	for _, name := range unimplementedFlags {
		if _, ok := values[name]; ok || flags[name] {
			opts.unsupported = name
		}
	}
	if v, ok := values["api-sock"]; ok {
		opts.apiSock = v
	}
	if v, ok := values["id"]; ok {
		opts.id = v
	}
	if v, ok := values["http-api-max-payload-size"]; ok {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return opts, &argError{fmt.Sprintf("'http-api-max-payload-size' parameter expected to be of 'usize' type, got %q.", v)}
		}
		opts.maxPayload = n
	}
	opts.logPath = values["log-path"]
	opts.level = values["level"]
	opts.module = values["module"]
	opts.metricsPath = values["metrics-path"]
	opts.showLevel = flags["show-level"]
	opts.showLogOrigin = flags["show-log-origin"]
	return opts, nil
}

const usage = `fakefc: a stand-in for the firecracker binary that serves its API on a
unix socket without running a guest (banger's tests use it).

Arguments (as firecracker's):
  --api-sock <path>      API socket to create (default /run/firecracker.socket)
  --id <id>              instance id (letters, digits and '-'; default anonymous-instance)
  --log-path <path>      existing file or FIFO for the VMM log
  --level <level>        Error, Warning, Info, Debug, Trace or Off
  --show-level, --show-log-origin, --module <m>
  --metrics-path <path>  existing file or FIFO for metrics
  --http-api-max-payload-size <bytes>
  --boot-timer, --no-seccomp, --seccomp-filter, --start-time-us, --start-time-cpu-us,
  --parent-cpu-time-us, --mmds-size-limit: accepted and ignored
  --version, --help

Test hooks (environment):
  FAKEFC_RECORD=<file>            append one JSON line per API request
  FAKEFC_OPENED=<file>            append "given<TAB>reached" per drive file opened
  FAKEFC_FAIL="PUT /drives/x,..." answer these requests 400
  FAKEFC_START_DELAY=<duration>   wait before creating the API socket
  FAKEFC_VERSION=<x.y.z>          version to report (default 1.7.0)
  FAKEFC_IGNORE_CTRLALTDEL=1      keep running after SendCtrlAltDel
`
