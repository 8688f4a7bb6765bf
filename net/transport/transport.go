// Package transport carries chat messages directly between peers over TCP.
//
// One listening port serves both worlds: a connection whose first byte
// starts a TLS handshake is Parlance-to-Parlance (TLS 1.3, both sides
// authenticated by their identity keys); one whose first byte is '{' is an
// original peer's plaintext line. Outgoing, the transport keeps one
// connection per peer open and reuses it for every message.
package transport

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"time"

	"github.com/parlance-chat/parlance/net/identity"
	"github.com/parlance-chat/parlance/net/wire"
)

// Config configures a Transport. Zero durations and limits take defaults.
type Config struct {
	// Identity authenticates this node in TLS. Nil means no TLS at all:
	// the node only speaks the original plaintext protocol.
	Identity *identity.Identity
	// ListenAddr is the TCP address to listen on; "" means ":0" (all
	// addresses, a port the OS picks).
	ListenAddr string
	// RequireEncryption refuses plaintext both ways: nothing is sent to,
	// and nothing accepted from, a peer without an identity.
	RequireEncryption bool

	MaxInbound       int           // open inbound connections (default 256)
	IdleTimeout      time.Duration // close a connection silent this long (default 5 min)
	DialTimeout      time.Duration // TCP connect (default 5 s)
	HandshakeTimeout time.Duration // TLS handshake (default 5 s)
	WriteTimeout     time.Duration // one message write (default 10 s)

	Logger *slog.Logger // nil: discard
}

// Dest says where a message goes and who must be at the other end.
type Dest struct {
	Addr    netip.AddrPort
	AltAddr netip.AddrPort // tried when Addr cannot be reached; may be zero
	// Identity is the peer ID the other side must prove. Empty means an
	// original peer: plaintext (refused under RequireEncryption).
	Identity string
}

// Inbound is a message that arrived.
type Inbound struct {
	Message wire.Message
	Remote  netip.AddrPort
	// Identity is the sender's peer ID, proven by its TLS handshake, or
	// empty for a plaintext (original) connection.
	Identity string
}

// Errors Send can return (wrapped).
var (
	// ErrKeyMismatch: the peer at the address proved a different key than
	// the one expected: possible impersonation. Nothing was sent.
	ErrKeyMismatch = errors.New("key mismatch: possible impersonation")
	// ErrPlaintextRefused: the destination has no identity and
	// RequireEncryption is set.
	ErrPlaintextRefused = errors.New("refused: peer is unencrypted and encryption is required")
)

// KeyMismatchError details an ErrKeyMismatch.
type KeyMismatchError struct {
	Addr      netip.AddrPort
	Want, Got string
}

func (e *KeyMismatchError) Error() string {
	return "key mismatch at " + e.Addr.String() + ": expected " + e.Want + ", got " + e.Got + ": possible impersonation"
}

func (e *KeyMismatchError) Unwrap() error { return ErrKeyMismatch }

// Transport is a listening socket plus the outgoing connections to peers.
type Transport struct{}

// Listen opens the listening socket.
func Listen(cfg Config) (*Transport, error) { panic("unimplemented") }

// Port is the TCP port the transport listens on (to announce).
func (t *Transport) Port() uint16 { panic("unimplemented") }

// Serve accepts connections and calls handle for every message received,
// until ctx is cancelled or Close is called. handle is called from the
// connection's goroutine and must not block for long.
func (t *Transport) Serve(ctx context.Context, handle func(Inbound)) error {
	panic("unimplemented")
}

// Send writes m to the destination over the kept-open connection, dialing
// (and for a keyed peer, handshaking) first when there is none, and
// redialing once when a write on an old connection fails.
func (t *Transport) Send(ctx context.Context, d Dest, m wire.Message) error { panic("unimplemented") }

// Close closes the listener and every connection, and waits for the
// transport's goroutines to end.
func (t *Transport) Close() error { panic("unimplemented") }
