package agent

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"banger/internal/agent/proto"
	"banger/internal/errdefs"
)

func (h *handler) handleReady(w http.ResponseWriter, r *http.Request) {
	ready, err := h.ready()
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, ready)
}

func (h *handler) ready() (proto.Ready, error) {
	host, err := os.Hostname()
	if err != nil {
		return proto.Ready{}, errdefs.Internalf("read hostname: %w", err)
	}
	boot, err := bootTime(h.procDir())
	if err != nil {
		return proto.Ready{}, err
	}
	version := h.Version
	if version == "" {
		version = "dev"
	}
	return proto.Ready{Version: version, Hostname: host, BootTime: boot, Systemd: SystemdRunning(h.procDir())}, nil
}

// SystemdRunning reports whether PID 1 is systemd.
func SystemdRunning(procDir string) bool {
	comm, err := os.ReadFile(filepath.Join(procDir, "1", "comm"))
	return err == nil && strings.TrimSpace(string(comm)) == "systemd"
}

func bootTime(procDir string) (time.Time, error) {
	data, err := os.ReadFile(filepath.Join(procDir, "stat"))
	if err != nil {
		return time.Time{}, errdefs.Internalf("read boot time: %w: is /proc mounted?", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "btime "); ok {
			secs, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return time.Time{}, errdefs.Internalf("parse btime %q in %s/stat: %w", v, procDir, err)
			}
			return time.Unix(secs, 0).UTC(), nil
		}
	}
	return time.Time{}, errdefs.Internalf("no btime line in %s/stat", procDir)
}

func (h *handler) handleMetrics(w http.ResponseWriter, r *http.Request) {
	m, err := metrics(h.procDir(), "/")
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, m)
}

func metrics(procDir, disk string) (proto.Metrics, error) {
	var m proto.Metrics
	load, err := os.ReadFile(filepath.Join(procDir, "loadavg"))
	if err != nil {
		return m, errdefs.Internalf("read load average: %w", err)
	}
	if _, err := fmt.Sscanf(string(load), "%g %g %g", &m.Load1, &m.Load5, &m.Load15); err != nil {
		return m, errdefs.Internalf("parse %s/loadavg: %w", procDir, err)
	}
	up, err := os.ReadFile(filepath.Join(procDir, "uptime"))
	if err != nil {
		return m, errdefs.Internalf("read uptime: %w", err)
	}
	if _, err := fmt.Sscanf(string(up), "%g", &m.Uptime); err != nil {
		return m, errdefs.Internalf("parse %s/uptime: %w", procDir, err)
	}
	if m.MemTotal, m.MemAvailable, err = memInfo(procDir); err != nil {
		return m, err
	}
	var st unix.Statfs_t
	if err := unix.Statfs(disk, &st); err != nil {
		return m, errdefs.Internalf("statfs %s: %w", disk, err)
	}
	m.DiskTotal = st.Blocks * uint64(st.Bsize)
	m.DiskFree = st.Bavail * uint64(st.Bsize)
	return m, nil
}

func memInfo(procDir string) (total, avail uint64, err error) {
	data, err := os.ReadFile(filepath.Join(procDir, "meminfo"))
	if err != nil {
		return 0, 0, errdefs.Internalf("read memory info: %w", err)
	}
	found := 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		var dst *uint64
		switch fields[0] {
		case "MemTotal:":
			dst = &total
		case "MemAvailable:":
			dst = &avail
		default:
			continue
		}
		kb, err := strconv.ParseUint(fields[1], 10, 64)
		if err != nil {
			return 0, 0, errdefs.Internalf("parse %s in %s/meminfo: %w", fields[0], procDir, err)
		}
		*dst = kb * 1024
		found++
	}
	if found != 2 {
		return 0, 0, errdefs.Internalf("%s/meminfo lacks MemTotal or MemAvailable", procDir)
	}
	return total, avail, nil
}
