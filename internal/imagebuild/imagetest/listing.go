package imagetest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path"
	"strconv"
	"strings"
	"testing"
)

// Listing lists every path of the ext4 image img with debugfs (no
// mounting), for comparing two builds: "type+mode uid:gid" (mode in
// octal, setuid bits included), plus the target of a symlink and the
// numbers of a device node. Time stamps, sizes, contents and inode
// numbers are left out: they differ between any two builds.
func Listing(t testing.TB, img string) map[string]string {
	t.Helper()
	out := map[string]string{}
	var special []string // symlinks and device nodes
	level := []string{"/"}
	for len(level) > 0 {
		var script strings.Builder
		for _, d := range level {
			fmt.Fprintf(&script, "ls -p %q\n", d)
		}
		var next []string
		cur := ""
		for _, line := range debugfsScript(t, img, script.String()) {
			if cmdline, ok := strings.CutPrefix(line, "debugfs: ls -p "); ok {
				cur, _ = strconv.Unquote(cmdline)
				continue
			}
			// /ino/mode/uid/gid/name/size/
			f := strings.Split(line, "/")
			if len(f) < 7 || f[0] != "" || cur == "" {
				continue
			}
			name := strings.Join(f[5:len(f)-2], "/")
			if name == "." || name == ".." {
				continue
			}
			p := path.Join(cur, name)
			mode, err := strconv.ParseUint(f[2], 8, 32)
			if err != nil {
				t.Fatalf("debugfs ls -p %s: line %q", cur, line)
			}
			out[p] = fmt.Sprintf("%07o %s:%s", mode, f[3], f[4])
			switch mode & 0o170000 {
			case 0o040000:
				next = append(next, p)
			case 0o120000, 0o020000, 0o060000:
				special = append(special, p)
			}
		}
		level = next
	}
	var script strings.Builder
	for _, p := range special {
		fmt.Fprintf(&script, "stat %q\n", p)
	}
	cur := ""
	for _, line := range debugfsScript(t, img, script.String()) {
		if cmdline, ok := strings.CutPrefix(line, "debugfs: stat "); ok {
			cur, _ = strconv.Unquote(cmdline)
			continue
		}
		if dest, ok := strings.CutPrefix(line, "Fast link dest: "); ok && cur != "" {
			out[cur] += " -> " + dest
		}
		if dev, ok := strings.CutPrefix(line, "Device major/minor number: "); ok && cur != "" {
			out[cur] += " dev " + strings.Fields(dev)[0]
		}
	}
	for _, p := range special { // symlinks too long for the inode
		if strings.HasPrefix(out[p], "012") && !strings.Contains(out[p], " -> ") {
			dest, err := exec.Command("debugfs", "-R", fmt.Sprintf("cat %q", p), img).Output()
			if err != nil {
				t.Fatalf("debugfs cat %s: %v", p, err)
			}
			out[p] += fmt.Sprintf(" -> %q", dest)
		}
	}
	return out
}

// debugfsScript runs the commands in script against img read-only and
// returns the output lines (debugfs echoes each command as "debugfs: ").
func debugfsScript(t testing.TB, img, script string) []string {
	t.Helper()
	f, err := os.CreateTemp("", "debugfs-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(script); err != nil {
		t.Fatal(err)
	}
	f.Close()
	cmd := exec.Command("debugfs", "-f", f.Name(), img)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	if err := cmd.Run(); err != nil {
		t.Fatalf("debugfs -f on %s: %v", img, err)
	}
	return strings.Split(stdout.String(), "\n")
}
