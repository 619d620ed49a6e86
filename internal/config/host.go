package config

import (
	"bufio"
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Host holds the facts about the machine that defaults and limits derive
// from. A zero field means the fact is unknown: defaults fall back to fixed
// values and the limit it sets is not enforced.
type Host struct {
	CPUs           int   // logical CPUs usable by this process
	MemoryBytes    int64 // total RAM
	StateFreeBytes int64 // space available to unprivileged users in the state directory
}

// DetectHost reads the host facts: runtime.NumCPU, MemTotal from
// /proc/meminfo, and the free space of the file system holding stateDir
// (or its nearest existing parent, as the directory may not exist yet). A
// fact it cannot read is left zero.
func DetectHost(stateDir string) Host {
	h := Host{CPUs: runtime.NumCPU()}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		h.MemoryBytes = memTotal(b)
	}
	h.StateFreeBytes = freeBytes(stateDir)
	return h
}

// memTotal returns MemTotal from the contents of /proc/meminfo, in bytes,
// or 0 when it is missing or malformed.
func memTotal(meminfo []byte) int64 {
	sc := bufio.NewScanner(bytes.NewReader(meminfo))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || kb <= 0 || kb > (1<<53) {
			return 0
		}
		return kb * 1024
	}
	return 0
}

// freeBytes returns the space available to unprivileged users on the file
// system holding dir or, when dir does not exist, its nearest existing
// parent; 0 when that cannot be found.
func freeBytes(dir string) int64 {
	if dir == "" {
		return 0
	}
	dir = filepath.Clean(dir)
	for {
		var st unix.Statfs_t
		err := unix.Statfs(dir, &st)
		if err == nil {
			free := st.Bavail * uint64(st.Bsize)
			if st.Bsize <= 0 || free/uint64(st.Bsize) != st.Bavail || free > 1<<62 {
				return 0
			}
			return int64(free)
		}
		parent := filepath.Dir(dir)
		if !errors.Is(err, fs.ErrNotExist) || parent == dir {
			return 0
		}
		dir = parent
	}
}
