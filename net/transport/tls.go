package transport

import (
	"crypto/ed25519"
	"crypto/tls"
	"fmt"
	"net/netip"

	"github.com/parlance-chat/parlance/net/identity"
)

// tlsConfigs builds the server and client TLS configurations of an
// identity. Both present its self-signed certificate, insist on TLS 1.3 and
// a Parlance ALPN id (parlance/2 preferred), and accept the other side's certificate only when it
// is a self-signed Ed25519 certificate; certificate authorities play no
// part. The client config checks nothing about who the server is: dial adds
// that per destination (clientFor).
func tlsConfigs(id *identity.Identity) (server, client *tls.Config, err error) {
	cert, err := id.Certificate()
	if err != nil {
		return nil, nil, fmt.Errorf("tls certificate: %w", err)
	}
	server = &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		// Any client certificate is asked for and none is checked against
		// a CA; VerifyConnection checks it is a self-signed Ed25519 one.
		ClientAuth:       tls.RequireAnyClientCert,
		NextProtos:       []string{ALPN2, ALPN},
		VerifyConnection: func(cs tls.ConnectionState) error { _, err := checkPeer(cs); return err },
		// Every connection proves the client's key afresh.
		SessionTicketsDisabled: true,
	}
	client = &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		// The server is checked by key in VerifyConnection, not by a CA
		// chain or a host name.
		InsecureSkipVerify: true,
		NextProtos:         []string{ALPN2, ALPN},
	}
	return server, client, nil
}

// clientFor returns the client configuration for a dial that must reach
// the peer want at addr. Its VerifyConnection aborts the handshake, before
// this side's Finished and so before any application data, unless the
// server's key is want's; *mismatch then holds the error.
//
// Go's client calls VerifyConnection before it has checked the server's
// CertificateVerify; a server that shows want's certificate without holding
// its key fails that check afterwards, so the handshake as a whole proves
// the key.
func (t *Transport) clientFor(addr netip.AddrPort, want string, mismatch **KeyMismatchError) *tls.Config {
	cfg := t.clientTLS.Clone()
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		got, err := checkPeer(cs)
		if err != nil {
			return err
		}
		if string(got) != want {
			*mismatch = &KeyMismatchError{Addr: addr, Want: want, Got: string(got)}
			return *mismatch
		}
		return nil
	}
	return cfg
}

// checkPeer checks the protocol and the peer's certificate of a handshake
// and returns the peer's ID.
func checkPeer(cs tls.ConnectionState) (identity.ID, error) {
	if cs.NegotiatedProtocol != ALPN && cs.NegotiatedProtocol != ALPN2 {
		return "", fmt.Errorf("peer did not negotiate ALPN %q or %q (got %q)", ALPN2, ALPN, cs.NegotiatedProtocol)
	}
	if len(cs.PeerCertificates) == 0 {
		return "", identity.ErrNoPeerKey
	}
	id, _, err := identity.PeerID([][]byte{cs.PeerCertificates[0].Raw})
	return id, err
}

// peerIDOf returns the ID of the key a completed handshake proved.
func peerIDOf(cs tls.ConnectionState) identity.ID {
	if len(cs.PeerCertificates) == 0 {
		return ""
	}
	pub, ok := cs.PeerCertificates[0].PublicKey.(ed25519.PublicKey)
	if !ok {
		return ""
	}
	return identity.IDFromPublicKey(pub)
}
