package agent_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"banger/internal/agent/proto"
	"banger/internal/errdefs"
)

func TestAuth(t *testing.T) {
	for _, tr := range transports {
		for _, tok := range []string{"", "wrong", token + "x", token[:len(token)-1]} {
			t.Run(tr.name+"/"+tok, func(t *testing.T) {
				srv, _ := newServer(t)
				c := tr.serve(t, srv, tok)
				_, err := c.Ready(testCtx(t))
				if errdefs.KindOf(err) != errdefs.FailedPrecondition || !contains(err.Error(), "token") {
					t.Errorf("Ready with token %q = %v, want failed_precondition about the token", tok, err)
				}
				_, err = c.Exec(testCtx(t), proto.ExecRequest{Argv: []string{"true"}}, nil, nil)
				if errdefs.KindOf(err) != errdefs.FailedPrecondition {
					t.Errorf("Exec with token %q = %v, want failed_precondition", tok, err)
				}
			})
		}
	}
}

func TestReady(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			srv, _ := newServer(t)
			c := tr.serve(t, srv, token)
			got, err := c.Ready(testCtx(t))
			if err != nil {
				t.Fatal(err)
			}
			host, _ := os.Hostname()
			if got.Version != "test" || got.Hostname != host {
				t.Errorf("Ready = %+v, want version test and hostname %q", got, host)
			}
			if age := time.Since(got.BootTime); age <= 0 || age > 10*365*24*time.Hour {
				t.Errorf("boot time %v is not in the past decade", got.BootTime)
			}
		})
	}
}

func TestPorts(t *testing.T) {
	srv, _ := newServer(t)
	c := serveUnix(t, srv, token)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	ports, err := c.Ports(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	want := proto.Port{Port: port, Address: "127.0.0.1", Proto: "tcp"}
	found := false
	for _, p := range ports {
		found = found || p == want
	}
	if !found {
		t.Errorf("Ports() = %+v, want it to contain %+v", ports, want)
	}
}

// writeEd25519Pub writes an OpenSSH public key line built by hand and
// returns the key's wire blob.
func writeEd25519Pub(t *testing.T, path string) (line string, blob []byte) {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	str := func(b []byte) []byte { return append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...) }
	blob = append(str([]byte("ssh-ed25519")), str(pub)...)
	line = "ssh-ed25519 " + base64.StdEncoding.EncodeToString(blob)
	if err := os.WriteFile(path, []byte(line+" root@guest\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return line, blob
}

func TestHostKeys(t *testing.T) {
	srv, _ := newServer(t)
	c := serveUnix(t, srv, token)
	line, blob := writeEd25519Pub(t, filepath.Join(srv.HostKeyDir, "ssh_host_ed25519_key.pub"))
	os.WriteFile(filepath.Join(srv.HostKeyDir, "ssh_host_ed25519_key"), []byte("private, not read"), 0o600)
	os.WriteFile(filepath.Join(srv.HostKeyDir, "other.pub"), []byte("ignored"), 0o644)
	sum := sha256.Sum256(blob)
	// ssh-keygen -lf prints unpadded standard base64 after "SHA256:".
	fp := "SHA256:" + base64.StdEncoding.EncodeToString(sum[:])
	fp = fp[:len(fp)-1] // a 32-byte digest has exactly one '=' of padding
	got, err := c.HostKeys(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	want := []proto.HostKey{{Type: "ssh-ed25519", PublicKey: line, Fingerprint: fp}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("HostKeys (-want +got):\n%s", diff)
	}

	os.WriteFile(filepath.Join(srv.HostKeyDir, "ssh_host_rsa_key.pub"), []byte("ssh-rsa AAAAB3NzaC1lZDI1NTE5AAAA\n"), 0o644)
	if _, err := c.HostKeys(testCtx(t)); errdefs.KindOf(err) != errdefs.Internal || !contains(err.Error(), "ssh_host_rsa_key.pub") {
		t.Errorf("HostKeys with a corrupt key = %v, want an internal error naming the file", err)
	}
}

func TestMetrics(t *testing.T) {
	srv, _ := newServer(t)
	c := serveUnix(t, srv, token)
	m, err := c.Metrics(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if m.MemTotal == 0 || m.MemAvailable == 0 || m.MemAvailable > m.MemTotal {
		t.Errorf("memory %d available of %d is not sane", m.MemAvailable, m.MemTotal)
	}
	if m.DiskTotal == 0 || m.DiskFree > m.DiskTotal {
		t.Errorf("disk %d free of %d is not sane", m.DiskFree, m.DiskTotal)
	}
	if m.Uptime <= 0 || m.Load1 < 0 || m.Load5 < 0 || m.Load15 < 0 {
		t.Errorf("uptime %v, load %v %v %v are not sane", m.Uptime, m.Load1, m.Load5, m.Load15)
	}
}

func TestShutdown(t *testing.T) {
	srv, power := newServer(t)
	c := serveUnix(t, srv, token)
	if err := c.Shutdown(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the power-off action", func() bool { return power.count() == 1 })

	srv2, _ := newServer(t)
	srv2.Poweroff = nil
	c2 := serveUnix(t, srv2, token)
	if err := c2.Shutdown(testCtx(t)); errdefs.KindOf(err) != errdefs.FailedPrecondition {
		t.Errorf("Shutdown without a power-off action = %v, want failed_precondition", err)
	}
}
