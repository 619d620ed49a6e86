package agent

import (
	"encoding/hex"
	"net"
	"net/http"
	"net/netip"
	"regexp"
	"time"

	"banger/internal/agent/proto"
	"banger/internal/errdefs"
)

// Limits of an identity request.
const (
	minTokenLen   = 32
	maxTokenLen   = 128
	minEntropy    = 16
	maxEntropy    = 512
	maxClockSkew  = 100 * 365 * 24 * time.Hour
	machineIDLen  = 32
	maxHostLabel  = 63
	identityRoute = "/v1/identity"
)

var (
	tokenRE    = regexp.MustCompile(`^[0-9A-Za-z]+$`)
	hostnameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)
)

// currentToken is the secret requests must present: Token until an
// identity request replaced it.
func (s *Server) currentToken() string {
	s.tokenMu.RLock()
	defer s.tokenMu.RUnlock()
	if s.newToken != "" {
		return s.newToken
	}
	return s.Token
}

// handleIdentity serves POST /v1/identity: the request is checked in full,
// Reidentify applies it to the guest, and only then does the agent take
// the new token. Requests are serialized.
func (h *handler) handleIdentity(w http.ResponseWriter, r *http.Request) {
	if h.Reidentify == nil {
		writeError(w, errdefs.FailedPreconditionf("this banger-agent was started without re-identification"))
		return
	}
	var id proto.Identity
	if err := decodeJSON(w, r, &id); err != nil {
		writeError(w, err)
		return
	}
	if err := CheckIdentity(id); err != nil {
		writeError(w, err)
		return
	}
	h.identityMu.Lock()
	defer h.identityMu.Unlock()
	if err := h.Reidentify(r.Context(), id); err != nil {
		writeError(w, errdefs.Internalf("re-identify the guest: %w", err))
		return
	}
	h.tokenMu.Lock()
	h.newToken = id.Token
	h.tokenMu.Unlock()
	h.logger().Info("re-identified", "hostname", id.Hostname, "address", id.Address)
	writeJSON(w, http.StatusOK, struct{}{})
}

// CheckIdentity refuses a malformed identity request, saying what is
// wrong with it.
func CheckIdentity(id proto.Identity) error {
	switch {
	case len(id.Token) < minTokenLen || len(id.Token) > maxTokenLen || !tokenRE.MatchString(id.Token):
		return errdefs.InvalidArgumentf("token: want %d to %d letters and digits", minTokenLen, maxTokenLen)
	case len(id.Hostname) > maxHostLabel || !hostnameRE.MatchString(id.Hostname):
		return errdefs.InvalidArgumentf("hostname %q: want a DNS label (lowercase letters, digits and inner dashes, at most %d)", id.Hostname, maxHostLabel)
	case !validMachineID(id.MachineID):
		return errdefs.InvalidArgumentf("machine_id %q: want %d lowercase hex digits, not all zero", id.MachineID, machineIDLen)
	case len(id.Entropy) < minEntropy || len(id.Entropy) > maxEntropy:
		return errdefs.InvalidArgumentf("entropy: want %d to %d bytes, got %d", minEntropy, maxEntropy, len(id.Entropy))
	case id.Time.IsZero() || id.Time.Before(time.Unix(0, 0)) || time.Until(id.Time) > maxClockSkew:
		return errdefs.InvalidArgumentf("time %v: want the host's current time", id.Time)
	}
	if id.MAC == "" && id.Address == "" && id.Gateway == "" && id.DNS == "" {
		return nil // no network
	}
	mac, err := net.ParseMAC(id.MAC)
	if err != nil || len(mac) != 6 || mac[0]&1 != 0 {
		return errdefs.InvalidArgumentf("mac %q: want a unicast Ethernet address", id.MAC)
	}
	addr, err := netip.ParsePrefix(id.Address)
	if err != nil || !addr.Addr().Is4() {
		return errdefs.InvalidArgumentf("address %q: want an IPv4 address with prefix length", id.Address)
	}
	if id.Gateway != "" {
		gw, err := netip.ParseAddr(id.Gateway)
		if err != nil || !gw.Is4() || !addr.Contains(gw) {
			return errdefs.InvalidArgumentf("gateway %q: want an IPv4 address inside %s", id.Gateway, addr.Masked())
		}
	}
	if id.DNS != "" {
		if _, err := netip.ParseAddr(id.DNS); err != nil {
			return errdefs.InvalidArgumentf("dns %q: want an IP address", id.DNS)
		}
	}
	return nil
}

func validMachineID(s string) bool {
	if len(s) != machineIDLen {
		return false
	}
	b, err := hex.DecodeString(s)
	if err != nil || hex.EncodeToString(b) != s {
		return false // upper case
	}
	for _, c := range b {
		if c != 0 {
			return true
		}
	}
	return false
}
