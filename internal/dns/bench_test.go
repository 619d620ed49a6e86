package dns

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

// benchRecords are the 100 names both servers serve.
func benchRecords() map[string]string {
	recs := map[string]string{}
	for i := range 100 {
		recs[fmt.Sprintf("vm%d", i)] = fmt.Sprintf("10.77.%d.%d", i/250, 1+i%250)
	}
	return recs
}

// BenchmarkQueries compares banger's server with dnsmasq serving the same
// records on loopback, driven by the same client loop. Both servers run in
// processes of their own, so neither shares the client's CPU scheduler.
func BenchmarkQueries(b *testing.B) {
	recs := benchRecords()
	b.Run("banger", func(b *testing.B) {
		runQueries(b, startBangerServer(b), recs)
	})
	b.Run("dnsmasq", func(b *testing.B) {
		addr := startDnsmasq(b, recs)
		runQueries(b, addr, recs)
	})
}

// runQueries sends A queries for the records from parallel goroutines, one
// UDP socket each, and reports queries per second.
func runQueries(b *testing.B, addr string, recs map[string]string) {
	var queries [][]byte
	for name := range recs {
		raw, err := new(mdns.Msg).SetQuestion(name+".vm.", mdns.TypeA).Pack()
		if err != nil {
			b.Fatal(err)
		}
		queries = append(queries, raw)
	}
	b.SetParallelism(4)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		c, err := net.Dial("udp", addr)
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		buf := make([]byte, 512)
		q := make([]byte, 512)
		for i := 0; pb.Next(); i++ {
			raw := queries[i%len(queries)]
			q = append(q[:0], raw...)
			id := uint16(i)
			binary.BigEndian.PutUint16(q, id)
			if _, err := c.Write(q); err != nil {
				b.Error(err)
				return
			}
			for {
				_ = c.SetReadDeadline(time.Now().Add(time.Second))
				n, err := c.Read(buf)
				if err != nil {
					b.Errorf("no reply: %v", err)
					return
				}
				if n < headerLen || binary.BigEndian.Uint16(buf) != id {
					continue // a late reply to an earlier query
				}
				if buf[3]&0xf != 0 || binary.BigEndian.Uint16(buf[6:]) != 1 {
					b.Errorf("reply to %x: rcode %d, %d answers", raw, buf[3]&0xf, binary.BigEndian.Uint16(buf[6:]))
					return
				}
				break
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "queries/s")
}

// serverEnv makes the test binary a bare banger DNS server (see init).
const serverEnv = "BANGER_DNS_BENCH_SERVER"

// init turns a test binary started by startBangerServer into a DNS server
// with the benchmark's records: it prints its address and serves until its
// stdin closes.
func init() {
	if os.Getenv(serverEnv) == "" {
		return
	}
	s, err := NewServer(Config{Domain: "vm"})
	if err == nil {
		err = s.SetRecords(addrs(benchRecords()))
	}
	var l Listener
	if err == nil {
		l, err = s.Listen(context.Background(), "127.0.0.1:0", false)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(l.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

// startBangerServer runs banger's server in a child process and returns
// its address.
func startBangerServer(b *testing.B) string {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), serverEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stdin.Close()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatalf("the server process did not say where it listens: %v", err)
	}
	return strings.TrimSpace(line)
}

// startDnsmasq runs dnsmasq serving recs from a hosts file on a free
// loopback port and returns its address; it is killed when b ends.
func startDnsmasq(b *testing.B, recs map[string]string) string {
	bin, err := exec.LookPath("dnsmasq")
	if err != nil {
		b.Skip("needs dnsmasq for the comparison: apt-get install dnsmasq-base")
	}
	var hosts strings.Builder
	for name, ip := range recs {
		fmt.Fprintf(&hosts, "%s %s.vm\n", ip, name)
	}
	file := filepath.Join(b.TempDir(), "hosts")
	if err := os.WriteFile(file, []byte(hosts.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	port := pc.LocalAddr().(*net.UDPAddr).Port
	_ = pc.Close()
	cmd := exec.Command(bin, "--no-daemon", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
		"--addn-hosts="+file, "--listen-address=127.0.0.1", fmt.Sprintf("--port=%d", port),
		"--bind-interfaces", "--pid-file=")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		b.Fatalf("start dnsmasq: %v", err)
	}
	b.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for deadline := time.Now().Add(5 * time.Second); ; {
		r, err := exchange("udp", addr, "vm0.vm.", mdns.TypeA, 200*time.Millisecond)
		if err == nil && len(r.Answer) == 1 {
			return addr
		}
		if time.Now().After(deadline) {
			b.Fatalf("dnsmasq did not answer on %s: %v\n%s", addr, err, stderr.String())
		}
	}
}

// BenchmarkAnswer measures the answer path alone, without sockets; a local
// answer must not allocate.
func BenchmarkAnswer(b *testing.B) {
	s, err := NewServer(Config{Domain: "vm"})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.SetRecords(addrs(benchRecords())); err != nil {
		b.Fatal(err)
	}
	m := new(mdns.Msg).SetQuestion("vm42.vm.", mdns.TypeA)
	m.SetEdns0(1232, false)
	raw, err := m.Pack()
	if err != nil {
		b.Fatal(err)
	}
	out := make([]byte, 0, maxLocalReply)
	var q query
	b.ReportAllocs()
	for b.Loop() {
		if _, v := s.answer(out, raw, &q, false, true); v != send {
			b.Fatal("no answer")
		}
	}
}
