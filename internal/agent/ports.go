package agent

import (
	"bufio"
	"encoding/hex"
	"errors"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"banger/internal/agent/proto"
	"banger/internal/errdefs"
)

func (h *handler) handlePorts(w http.ResponseWriter, r *http.Request) {
	ports, err := listeningPorts(h.procDir())
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, ports)
}

// listeningPorts reads the TCP sockets in state LISTEN (0A) from
// net/tcp and net/tcp6, sorted by port, address and protocol.
func listeningPorts(procDir string) ([]proto.Port, error) {
	ports := []proto.Port{}
	seen := map[proto.Port]bool{}
	for _, name := range []string{"tcp", "tcp6"} {
		f, err := os.Open(filepath.Join(procDir, "net", name))
		if errors.Is(err, fs.ErrNotExist) {
			continue // no IPv6 in this kernel
		}
		if err != nil {
			return nil, errdefs.Internalf("read listening ports: %w", err)
		}
		found, err := parseProcNetTCP(f, name)
		f.Close()
		if err != nil {
			return nil, err
		}
		for _, p := range found {
			if !seen[p] {
				seen[p] = true
				ports = append(ports, p)
			}
		}
	}
	sort.Slice(ports, func(i, j int) bool {
		a, b := ports[i], ports[j]
		if a.Port != b.Port {
			return a.Port < b.Port
		}
		if a.Address != b.Address {
			return a.Address < b.Address
		}
		return a.Proto < b.Proto
	})
	return ports, nil
}

func parseProcNetTCP(f *os.File, protoName string) ([]proto.Port, error) {
	var out []proto.Port
	sc := bufio.NewScanner(f)
	sc.Scan() // header line
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || fields[3] != "0A" {
			continue
		}
		addrHex, portHex, ok := strings.Cut(fields[1], ":")
		if !ok {
			return nil, errdefs.Internalf("malformed local address %q in %s", fields[1], f.Name())
		}
		port, err := strconv.ParseUint(portHex, 16, 16)
		if err != nil {
			return nil, errdefs.Internalf("malformed port %q in %s: %w", portHex, f.Name(), err)
		}
		ip, err := procIP(addrHex)
		if err != nil {
			return nil, errdefs.Internalf("malformed address %q in %s: %w", addrHex, f.Name(), err)
		}
		out = append(out, proto.Port{Port: uint16(port), Address: ip.String(), Proto: protoName})
	}
	if err := sc.Err(); err != nil {
		return nil, errdefs.Internalf("read %s: %w", f.Name(), err)
	}
	return out, nil
}

// procIP decodes an address of /proc/net/tcp{,6}: 4 or 16 bytes in hex,
// each 32-bit word in host (little-endian) byte order.
func procIP(s string) (net.IP, error) {
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, err
	}
	if len(b) != 4 && len(b) != 16 {
		return nil, errors.New("address is neither 4 nor 16 bytes")
	}
	for i := 0; i < len(b); i += 4 {
		b[i], b[i+1], b[i+2], b[i+3] = b[i+3], b[i+2], b[i+1], b[i]
	}
	return net.IP(b), nil
}
