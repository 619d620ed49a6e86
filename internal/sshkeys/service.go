package sshkeys

import (
	"log/slog"
	"sync"
)

// Service holds banger's SSH key and known_hosts in one directory. It is
// safe for concurrent use by one daemon (the state directory's lock keeps
// a second daemon out).
type Service struct {
	dir    string
	domain string
	log    *slog.Logger
	mu     sync.Mutex
}

// New returns a Service keeping its files in dir (made 0700 on first
// use) and pinning VMs under <name>.<domain>; domain defaults to "vm".
func New(dir, domain string, log *slog.Logger) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if domain == "" {
		domain = "vm"
	}
	return &Service{dir: dir, domain: domain, log: log}
}

// Alias is the host name a VM's keys are pinned under whatever its name
// and address: it is what marks a known_hosts line as that VM's.
func Alias(vmID string) string { return "banger-vm-" + vmID }
