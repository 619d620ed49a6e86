package mountinfo

import "testing"

func TestParse(t *testing.T) {
	tests := []struct {
		line string
		want Mount
		ok   bool
	}{
		{`36 35 7:3 / /var/lib/my\040state/cow rw,nosuid,nodev shared:1 - xfs /dev/loop3 rw,discard`,
			Mount{Dir: "/var/lib/my state/cow", FSType: "xfs", Source: "/dev/loop3"}, true},
		{`36 35 98:0 /mnt1 /a\134b rw,noatime master:1 - ext3 /dev/root rw`,
			Mount{Dir: `/a\b`, FSType: "ext3", Source: "/dev/root"}, true},
		{`22 1 0:21 / /proc rw - proc proc rw`, Mount{Dir: "/proc", FSType: "proc", Source: "proc"}, true},
		{"garbage", Mount{}, false},
		{"1 2 3 / /x rw - xfs", Mount{}, false},
		{"1 2 - / /x rw xfs /dev/x", Mount{}, false},
	}
	for _, tt := range tests {
		got, ok := Parse(tt.line)
		if ok != tt.ok || got != tt.want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v, %v", tt.line, got, ok, tt.want, tt.ok)
		}
	}
}

func TestReadFindsProc(t *testing.T) {
	ms, err := Read()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.Dir == "/proc" && m.FSType == "proc" {
			return
		}
	}
	t.Errorf("Read: no proc mounted on /proc in %d mounts", len(ms))
}
