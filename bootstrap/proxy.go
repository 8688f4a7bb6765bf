package bootstrap

import (
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"github.com/parlance-chat/parlance/net/wire"
)

// clientIP returns the IP a request comes from, and whether it came
// through a trusted proxy. A connection from a trusted proxy counts as
// coming from the rightmost X-Forwarded-For address that is not itself a
// trusted proxy (the addresses left of it are whatever the client wrote).
// When the header is missing or unreadable, the proxy's own address is
// used.
func (s *Server) clientIP(r *http.Request) (netip.Addr, bool) {
	peer := remoteIP(r)
	if !s.trusted(peer) {
		return peer, false
	}
	ip := peer
	values := r.Header.Values("X-Forwarded-For")
	for i := len(values) - 1; i >= 0; i-- {
		hops := strings.Split(values[i], ",")
		for j := len(hops) - 1; j >= 0; j-- {
			a, ok := parseForwarded(hops[j])
			if !ok {
				return ip, true
			}
			ip = a
			if !s.trusted(a) {
				return ip, true
			}
		}
	}
	return ip, true
}

func (s *Server) trusted(ip netip.Addr) bool {
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// parseForwarded reads one X-Forwarded-For entry: an IP, possibly with a
// port ("203.0.113.7:4711", "[2001:db8::1]:4711").
func parseForwarded(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			return netip.Addr{}, false
		}
		a = ap.Addr()
	}
	return a.Unmap().WithZone(""), true
}

func remoteIP(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap().WithZone("")
}

// requestURL is the server URL a request names, normalised as the client
// normalises the URL it dialled (wire.NormalizeServerURL): wss if the
// connection is TLS, or if a trusted proxy says X-Forwarded-Proto https
// (or wss); the Host header, or a trusted proxy's X-Forwarded-Host; the
// path. It is "" when the Host is not usable, and then no identity proof
// is accepted on the connection.
func requestURL(r *http.Request, proxied, tls bool) string {
	scheme, host := "ws", r.Host
	if tls || r.TLS != nil {
		scheme = "wss"
	}
	if proxied {
		switch strings.ToLower(firstValue(r.Header.Get("X-Forwarded-Proto"))) {
		case "https", "wss":
			scheme = "wss"
		case "http", "ws":
			scheme = "ws"
		}
		if h := firstValue(r.Header.Get("X-Forwarded-Host")); h != "" {
			host = h
		}
	}
	if host == "" || strings.ContainsAny(host, "/?#@") {
		return ""
	}
	u, err := wire.NormalizeServerURL(scheme + "://" + host + r.URL.EscapedPath())
	if err != nil {
		return ""
	}
	return u
}

// firstValue is the first of a comma-separated header value (proxies
// append theirs).
func firstValue(v string) string {
	v, _, _ = strings.Cut(v, ",")
	return strings.TrimSpace(v)
}

// urlAccepted reports whether an identity proof on c may name signed.
func (s *Server) urlAccepted(c *conn, signed string) bool {
	if len(s.publicURLs) == 0 {
		return c.signedURL != "" && signed == c.signedURL
	}
	return slices.Contains(s.publicURLs, signed)
}

// wantURL describes the URLs an identity proof on c may name, for an
// error message.
func (s *Server) wantURL(c *conn) string {
	switch {
	case len(s.publicURLs) > 0:
		return strings.Join(s.publicURLs, " or ")
	case c.signedURL == "":
		return "a server whose Host header is not usable"
	}
	return c.signedURL
}
