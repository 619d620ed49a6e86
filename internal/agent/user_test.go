package agent

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestLookupUser: an OCI image's User resolved against the guest's
// passwd and group files, as container runtimes do.
func TestLookupUser(t *testing.T) {
	dir := t.TempDir()
	passwd := filepath.Join(dir, "passwd")
	group := filepath.Join(dir, "group")
	if err := os.WriteFile(passwd, []byte("root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(group, []byte("root:x:0:\napp:x:1000:\nwheel:x:10:app,other\nstaff:x:50:\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for spec, want := range map[string]guestUser{
		"app":       {name: "app", uid: 1000, gid: 1000, groups: []uint32{10}, home: "/home/app"},
		"1000":      {name: "app", uid: 1000, gid: 1000, groups: []uint32{10}, home: "/home/app"},
		"app:staff": {name: "app", uid: 1000, gid: 50, groups: []uint32{10}, home: "/home/app"},
		"app:7":     {name: "app", uid: 1000, gid: 7, groups: []uint32{10}, home: "/home/app"},
		"4242":      {uid: 4242, home: "/"},
		"4242:42":   {uid: 4242, gid: 42, home: "/"},
	} {
		got, err := lookupUser(spec, passwd, group)
		if err != nil {
			t.Errorf("lookupUser(%q): %v", spec, err)
			continue
		}
		if diff := cmp.Diff(want, got, cmp.AllowUnexported(guestUser{})); diff != "" {
			t.Errorf("lookupUser(%q) (-want +got):\n%s", spec, diff)
		}
	}
	for _, spec := range []string{"nobody-here", "app:nogroup", ":1", "app:"} {
		if _, err := lookupUser(spec, passwd, group); err == nil {
			t.Errorf("lookupUser(%q) succeeded, want an error", spec)
		}
	}
	env := userEnv([]string{"PATH=/bin", "HOME=/root", "USER=root"}, []string{"USER=custom"}, guestUser{name: "app", home: "/home/app"})
	if diff := cmp.Diff([]string{"PATH=/bin", "HOME=/home/app", "USER=root", "LOGNAME=app"}, env); diff != "" {
		t.Errorf("userEnv (-want +got):\n%s", diff)
	}
}
