package bench

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// makeSparse creates path as a sparse file of size bytes.
func makeSparse(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// statusKiB reads a "Name:   123 kB" field of /proc/<pid>/status.
func statusKiB(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read status of pid %d: %w", pid, err)
	}
	return parseStatus(string(b), field)
}

// parseStatus returns the value in KiB of field in a /proc status text.
func parseStatus(status, field string) (int64, error) {
	for _, line := range strings.Split(status, "\n") {
		if v, ok, err := statusLine(line, field); ok {
			return v, err
		}
	}
	return 0, fmt.Errorf("%s: not in /proc status", field)
}

// statusLine parses line when it is the field's line.
func statusLine(line, field string) (int64, bool, error) {
	name, rest, ok := strings.Cut(line, ":")
	if !ok || name != field {
		return 0, false, nil
	}
	num, unit, _ := strings.Cut(strings.TrimSpace(rest), " ")
	v, err := strconv.ParseInt(num, 10, 64)
	if err != nil || unit != "kB" {
		return 0, true, fmt.Errorf("%s: cannot parse %q", field, rest)
	}
	return v, true, nil
}

// clockTick is USER_HZ, the unit of utime and stime in /proc/<pid>/stat:
// 100 on every Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

// cpuTime returns the user plus system CPU time pid has used, including
// that of its threads that have exited.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read stat of pid %d: %w", pid, err)
	}
	return parseCPUTime(string(b))
}

// treeCPUTime returns the user plus system CPU time pid and its children
// that it has waited for (and theirs, recursively) have used.
func treeCPUTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read stat of pid %d: %w", pid, err)
	}
	return statTicks(string(b), 4)
}

// parseCPUTime reads utime and stime (fields 14 and 15) of a /proc stat
// line.
func parseCPUTime(stat string) (time.Duration, error) { return statTicks(stat, 2) }

// statTicks sums n clock-tick fields of a /proc stat line from field 14:
// utime and stime (n = 2), then cutime and cstime, the CPU time of waited
// for children (n = 4). The command name (field 2) may hold spaces and
// parentheses, so fields are counted from the last ')'.
func statTicks(stat string, n int) (time.Duration, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("cannot parse /proc stat %q", stat)
	}
	f := strings.Fields(stat[i+1:]) // f[0] is field 3, the state
	if len(f) < 11+n {
		return 0, fmt.Errorf("cannot parse /proc stat %q: too few fields", stat)
	}
	var ticks int64
	for _, s := range f[11 : 11+n] {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("cannot parse /proc stat %q: %w", stat, err)
		}
		ticks += v
	}
	return time.Duration(ticks) * clockTick, nil
}

// processesUnder returns the pids of live processes with an argument
// that contains dir, e.g. the fake VMMs whose API sockets lie under a
// world root.
func processesUnder(dir string) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || !bytes.Contains(cmdline, []byte(dir)) {
			continue
		}
		if alive(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}

// waitGone waits up to timeout for every pid to be gone.
func waitGone(pids []int, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		left := false
		for _, pid := range pids {
			if alive(pid) {
				left = true
				break
			}
		}
		if !left {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}
