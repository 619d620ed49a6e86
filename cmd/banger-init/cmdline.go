package main

import (
	"strings"
)

// bootConfig is what banger-init takes from the kernel command line.
type bootConfig struct {
	root      string // root=
	fstype    string // rootfstype=, "ext4" when unset
	flags     string // rootflags=
	readOnly  bool   // "ro" (the last of ro and rw wins)
	init      string // init=, "/sbin/init" when unset
	rootwait  bool   // rootwait: wait without the usual bound
	modParams map[string][]string
}

// splitCmdline splits a kernel command line into parameters as the kernel
// does: on whitespace outside double quotes; quotes are removed. Words
// after a lone "--" belong to init, not to the kernel, and are dropped.
func splitCmdline(s string) []string {
	var (
		out     []string
		cur     strings.Builder
		inQuote bool
		started bool
	)
	flush := func() {
		if started {
			out = append(out, cur.String())
		}
		cur.Reset()
		started = false
	}
	for _, r := range s {
		switch {
		case r == '"':
			inQuote = !inQuote
			started = true
		case !inQuote && (r == ' ' || r == '\t' || r == '\n'):
			flush()
		default:
			cur.WriteRune(r)
			started = true
		}
	}
	flush()
	for i, p := range out {
		if p == "--" {
			return out[:i]
		}
	}
	return out
}

// parseCmdline reads the command line banger's drivers give the kernel
// (e.g. "console=ttyS0 reboot=k panic=1 pci=off ... root=/dev/vda rw").
// "module.param=value" words become parameters of that module, as
// modprobe passes them: the kernel keeps them for modules built in and
// drops them for loadable ones.
func parseCmdline(s string) bootConfig {
	c := bootConfig{fstype: "ext4", init: "/sbin/init", modParams: map[string][]string{}}
	for _, p := range splitCmdline(s) {
		key, val, hasVal := strings.Cut(p, "=")
		switch {
		case key == "root" && hasVal:
			c.root = val
		case key == "rootfstype" && hasVal:
			c.fstype = val
		case key == "rootflags" && hasVal:
			c.flags = val
		case key == "init" && hasVal:
			c.init = val
		case p == "ro":
			c.readOnly = true
		case p == "rw":
			c.readOnly = false
		case p == "rootwait":
			c.rootwait = true
		default:
			mod, param, ok := strings.Cut(key, ".")
			if !ok || mod == "" || param == "" {
				continue
			}
			mod = strings.ReplaceAll(mod, "-", "_")
			if hasVal {
				c.modParams[mod] = append(c.modParams[mod], quoteParam(param, val))
			} else {
				c.modParams[mod] = append(c.modParams[mod], param)
			}
		}
	}
	return c
}

// quoteParam writes param=value for finit_module, quoting a value with
// spaces as the kernel's parser expects.
func quoteParam(param, val string) string {
	if strings.ContainsAny(val, " \t") {
		return param + `="` + val + `"`
	}
	return param + "=" + val
}

// moduleName turns a file name in the module list into the module's name:
// "virtio-rng.ko" is module virtio_rng.
func moduleName(file string) string {
	return strings.ReplaceAll(strings.TrimSuffix(file, ".ko"), "-", "_")
}
