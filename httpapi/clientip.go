package httpapi

import (
	"net/netip"
	"strings"
)

// clientIP returns the client's address: the connection's peer address
// unless the peer is a trusted proxy, and then the rightmost
// X-Forwarded-For entry that is not a trusted proxy. Malformed entries are
// skipped. If every valid entry is trusted, the leftmost one is the client.
// The result has no zone and IPv4-mapped IPv6 addresses are unmapped; it is
// the zero Addr if the peer address cannot be parsed.
func clientIP(remoteAddr string, xff []string, trusted []netip.Prefix) netip.Addr {
	peer := parseAddr(remoteAddr)
	if !peer.IsValid() || !isTrusted(peer, trusted) || len(xff) == 0 {
		return peer
	}
	leftmost := netip.Addr{}
	for i := len(xff) - 1; i >= 0; i-- {
		entries := xff[i]
		for entries != "" {
			var e string
			if j := strings.LastIndexByte(entries, ','); j >= 0 {
				entries, e = entries[:j], entries[j+1:]
			} else {
				entries, e = "", entries
			}
			a := parseAddr(strings.TrimSpace(e))
			if !a.IsValid() {
				continue
			}
			if !isTrusted(a, trusted) {
				return a
			}
			leftmost = a
		}
	}
	if leftmost.IsValid() {
		return leftmost
	}
	return peer
}

// parseAddr parses "ip", "ip:port" or "[ipv6]:port" and returns the address
// without zone, unmapped; the zero Addr if s is none of those.
func parseAddr(s string) netip.Addr {
	if s == "" || len(s) > 64 {
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			return netip.Addr{}
		}
		a = ap.Addr()
	}
	return a.WithZone("").Unmap()
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
