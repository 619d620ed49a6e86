package agent

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"banger/internal/agent/proto"
)

func TestListeningPortsFromProcFixture(t *testing.T) {
	proc := t.TempDir()
	os.MkdirAll(filepath.Join(proc, "net"), 0o755)
	tcp := `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0
   1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1 0 100 0 0 10 0
   2: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0 100 0 0 10 0
`
	tcp6 := `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4 1 0 100 0 0 10 0
   1: 00000000000000000000000001000000:0CEA 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5 1 0 100 0 0 10 0
`
	os.WriteFile(filepath.Join(proc, "net", "tcp"), []byte(tcp), 0o644)
	os.WriteFile(filepath.Join(proc, "net", "tcp6"), []byte(tcp6), 0o644)
	got, err := listeningPorts(proc)
	if err != nil {
		t.Fatal(err)
	}
	want := []proto.Port{
		{Port: 22, Address: "0.0.0.0", Proto: "tcp"},
		{Port: 22, Address: "::", Proto: "tcp6"},
		{Port: 3306, Address: "::1", Proto: "tcp6"},
		{Port: 8080, Address: "127.0.0.1", Proto: "tcp"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("listeningPorts (-want +got):\n%s", diff)
	}

	os.WriteFile(filepath.Join(proc, "net", "tcp"), []byte("header\n 0: zz:0016 x 0A\n"), 0o644)
	if _, err := listeningPorts(proc); err == nil {
		t.Errorf("listeningPorts accepted a malformed address")
	}
}
