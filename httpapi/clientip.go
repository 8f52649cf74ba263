package httpapi

import (
	"net/netip"
	"strings"
)

// clientIP returns the client's address: the connection's peer address
// unless the peer is a trusted proxy, and then the rightmost
// X-Forwarded-For entry that is not a trusted proxy. An entry that is not
// an address (such as "unknown", or empty) stops the walk and the peer is
// the client: a trusted proxy wrote it in place of the address it saw, so
// the entries left of it are the client's own words. If every entry is
// trusted, the leftmost one is the client. The result has no zone and
// IPv4-mapped IPv6 addresses are unmapped; it is the zero Addr if the peer
// address cannot be parsed.
func clientIP(remoteAddr string, xff []string, trusted []netip.Prefix) netip.Addr {
	peer := parseAddr(remoteAddr)
	if !peer.IsValid() || !isTrusted(peer, trusted) || len(xff) == 0 {
		return peer
	}
	leftmost := netip.Addr{}
	for i := len(xff) - 1; i >= 0; i-- {
		if strings.TrimSpace(xff[i]) == "" {
			continue // a header line without entries
		}
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
				return peer
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

// clientKey returns the key of a's rate limit and session: the address
// itself for IPv4, its /bits prefix for IPv6, since one IPv6 client
// commonly holds a whole /64 and could otherwise take a new bucket with
// every address. "" for the zero Addr.
func clientKey(a netip.Addr, bits int) string {
	switch {
	case !a.IsValid():
		return ""
	case !a.Is6() || bits >= 128:
		return a.String()
	}
	return netip.PrefixFrom(a, bits).Masked().String()
}
