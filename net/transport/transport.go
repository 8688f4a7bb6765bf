// Package transport carries chat messages directly between peers over TCP.
//
// One listening port serves both worlds: a connection whose first byte
// starts a TLS handshake is Parlance-to-Parlance (TLS 1.3, both sides
// authenticated by their identity keys); one whose first byte is '{' is an
// original peer's plaintext line. Outgoing, the transport keeps one
// connection per peer open and reuses it for every message.
//
// Inside both, a message is one wire.Message JSON line ending in "\n".
//
// Authentication: both sides present a self-signed certificate of their
// Ed25519 identity key (identity.Certificate). No certificate authority
// plays a part: the sender derives the peer ID from the key the server
// proved in the handshake and aborts, before any message byte is written,
// unless it is the ID the message is meant for (ErrKeyMismatch). The
// receiver accepts any key and reports the proven ID in Inbound.Identity.
//
// Inbound limits: at most MaxInboundPerIP connections from one address
// (more are refused) and MaxInbound in all (then a new one closes the
// least recently active); a line must end within LineTimeout of its first
// byte and hold at most wire.MaxLine bytes; a connection that delivers no
// message for IdleTimeout is closed. What a remote can make the transport
// log is rate-limited: one line a minute of each kind, the rest at Debug.
//
// Two-way connections: both sides offer ALPN parlance/2. On a connection
// that negotiated it, the receiver sends control frames (wire.Control:
// acknowledgements, read receipts) back on the connection a message came
// on (Inbound.Reply), and the sender's watcher reads them and hands them to
// Serve's handler with the peer's proven identity. With a peer that speaks
// only parlance/1, or in plaintext, outgoing connections are read solely to
// notice when the peer closes (so the next Send redials); anything the peer
// sends on them is discarded.
//
// Goroutines: Serve runs the accept loop in the caller's goroutine and one
// goroutine per inbound connection, all ended before Serve returns; Listen
// starts a janitor that closes idle outgoing connections; every kept
// outgoing connection has a watcher goroutine. Close ends them all and
// waits for them.
//
// A Send that returns nil means the line was handed to the operating
// system, not that the peer read it: a message written in the instant
// between a peer closing the kept connection and the transport noticing
// can be lost without an error. The layer above (app's outbox) resends what
// was not acknowledged; receivers drop duplicates by message ID.
package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
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

	// MaxInbound bounds the open inbound connections (default 256). When
	// they are all open, a new one closes the least recently active: the
	// one that delivered a message longest ago (or never, and was
	// accepted first).
	MaxInbound int
	// MaxInboundPerIP bounds the open inbound connections from one IP
	// address, loopback included (default 16); more are refused.
	MaxInboundPerIP int
	// IdleTimeout closes an outgoing connection not written to this long,
	// and an inbound one that delivered no message this long (default 5 min).
	IdleTimeout time.Duration
	// LineTimeout closes an inbound connection whose line has not ended
	// this long after its first byte (default 30 s).
	LineTimeout      time.Duration
	DialTimeout      time.Duration // TCP connect (default 5 s)
	HandshakeTimeout time.Duration // TLS handshake, and the first byte of an inbound connection (default 5 s)
	WriteTimeout     time.Duration // one message write (default 10 s)

	// ConnPerMessage makes Send dial a new connection for every message
	// and close it after the line, as the original sender does. It exists
	// to compare the two methods in benchmarks; leave it off.
	ConnPerMessage bool

	Logger *slog.Logger // nil: discard
}

// Defaults of Config's zero values.
const (
	DefaultMaxInbound       = 256
	DefaultMaxInboundPerIP  = 16
	DefaultIdleTimeout      = 5 * time.Minute
	DefaultLineTimeout      = 30 * time.Second
	DefaultDialTimeout      = 5 * time.Second
	DefaultHandshakeTimeout = 5 * time.Second
	DefaultWriteTimeout     = 10 * time.Second
)

// ALPN ids of the peer protocol. Both sides offer ALPN2 first: a
// connection that negotiated it is two-way (the receiver sends control
// frames such as acknowledgements back on it, see wire.Control). ALPN is
// the first Parlance's protocol, where connections carry messages one way
// only; peers that speak only it get no control frames and send none.
const (
	ALPN  = "parlance/1"
	ALPN2 = "parlance/2"
)

func (c Config) withDefaults() Config {
	if c.ListenAddr == "" {
		c.ListenAddr = ":0"
	}
	if c.MaxInbound <= 0 {
		c.MaxInbound = DefaultMaxInbound
	}
	if c.MaxInboundPerIP <= 0 {
		c.MaxInboundPerIP = DefaultMaxInboundPerIP
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.LineTimeout <= 0 {
		c.LineTimeout = DefaultLineTimeout
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Dest says where a message goes and who must be at the other end.
type Dest struct {
	Addr    netip.AddrPort
	AltAddr netip.AddrPort // tried when Addr cannot be reached; may be zero
	// Identity is the peer ID the other side must prove. Empty means an
	// original peer: plaintext (refused under RequireEncryption).
	Identity string
}

// Inbound is a message or a control frame that arrived, on an inbound
// connection or (control frames only) on a kept outgoing one.
type Inbound struct {
	Message wire.Message
	// Control is set, and Message empty, for a control frame.
	Control *wire.Control
	Remote  netip.AddrPort
	// Identity is the sender's peer ID, proven by its TLS handshake, or
	// empty for a plaintext (original) connection.
	Identity string
	// Reply writes control frames back on the connection the message came
	// on; nil when that connection cannot carry them (plaintext, or a
	// peer that speaks only ALPN parlance/1).
	Reply Replier
}

// Replier sends control frames back to the peer on one connection.
type Replier interface {
	Reply(c wire.Control) error
}

// Errors Send can return (wrapped).
var (
	// ErrKeyMismatch: the peer at the address proved a different key than
	// the one expected: possible impersonation. Nothing was sent.
	ErrKeyMismatch = errors.New("key mismatch: possible impersonation")
	// ErrPlaintextRefused: the destination has no identity and
	// RequireEncryption is set.
	ErrPlaintextRefused = errors.New("refused: peer is unencrypted and encryption is required")
	// ErrNoIdentity: the destination has an identity but this node has
	// none (Config.Identity is nil), so it cannot speak TLS. A keyed peer
	// is never sent plaintext.
	ErrNoIdentity = errors.New("this node has no identity and cannot send encrypted")
	// ErrNotTwoWay: the peer speaks a protocol without control frames
	// (an original peer, or a Parlance that offers only parlance/1).
	ErrNotTwoWay = errors.New("peer does not take control frames")
)

// Send and Serve wrap net.ErrClosed once the transport is closed.

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
type Transport struct {
	cfg       Config
	log       *slog.Logger
	ln        net.Listener
	port      uint16
	serverTLS *tls.Config // nil without an identity
	clientTLS *tls.Config // cloned per dial to add the peer check

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // Serve, the janitor and every outgoing reader

	mu       sync.Mutex
	closed   bool
	serving  bool
	inbound  map[net.Conn]*inConn  // raw conns being served
	perIP    map[netip.Addr]int    // inbound conns per remote IP
	outgoing map[net.Conn]struct{} // kept-open conns to peers
	peers    map[peerKey]*peer

	stats counters
	logs  inboundLogs

	// handle is Serve's handler, also given the control frames read on
	// kept outgoing connections. Set once by Serve.
	handle atomic.Pointer[func(Inbound)]
}

// Listen opens the listening socket.
func Listen(cfg Config) (*Transport, error) {
	cfg = cfg.withDefaults()
	if cfg.RequireEncryption && cfg.Identity == nil {
		return nil, errors.New("transport: RequireEncryption needs an identity")
	}
	t := &Transport{
		cfg:      cfg,
		log:      cfg.Logger,
		inbound:  make(map[net.Conn]*inConn),
		perIP:    make(map[netip.Addr]int),
		logs:     newInboundLogs(cfg.Logger),
		outgoing: make(map[net.Conn]struct{}),
		peers:    make(map[peerKey]*peer),
	}
	if cfg.Identity != nil {
		var err error
		t.serverTLS, t.clientTLS, err = tlsConfigs(cfg.Identity)
		if err != nil {
			return nil, err
		}
	}
	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return nil, fmt.Errorf("listen tcp %s: %w", cfg.ListenAddr, err)
	}
	t.ln = ln
	t.port = ln.Addr().(*net.TCPAddr).AddrPort().Port()
	t.ctx, t.cancel = context.WithCancel(context.Background())
	t.wg.Add(1)
	go t.janitor()
	return t, nil
}

// Port is the TCP port the transport listens on (to announce).
func (t *Transport) Port() uint16 { return t.port }

// Serve accepts connections and calls handle for every message received,
// until ctx is cancelled or Close is called. handle is called from the
// connection's goroutine and must not block for long (a slow handle slows
// that sender down, nobody else) and must not call Close.
//
// Cancelling ctx closes the listener and the inbound connections; Send
// keeps working until Close. Serve returns nil after a clean stop, when
// every inbound connection has ended: handle is never called after Serve
// returns. Serve may be called once.
func (t *Transport) Serve(ctx context.Context, handle func(Inbound)) error {
	if handle == nil {
		return errors.New("transport: Serve needs a handler")
	}
	t.mu.Lock()
	switch {
	case t.closed:
		t.mu.Unlock()
		return fmt.Errorf("serve: %w", net.ErrClosed)
	case t.serving:
		t.mu.Unlock()
		return errors.New("transport: Serve called twice")
	}
	t.serving = true
	t.handle.Store(&handle)
	t.wg.Add(1)
	t.mu.Unlock()
	defer t.wg.Done()

	stop := context.AfterFunc(ctx, func() { t.ln.Close() })
	defer stop()

	var conns sync.WaitGroup
	var backoff time.Duration
	for {
		c, err := t.ln.Accept()
		if err != nil {
			if ctx.Err() != nil || t.isClosed() || errors.Is(err, net.ErrClosed) {
				t.closeInbound()
				conns.Wait()
				return nil
			}
			// Out of file descriptors and the like: wait and try again.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			t.log.Warn("accept failed; retrying", "err", err, "in", backoff)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
			case <-t.ctx.Done():
			}
			continue
		}
		backoff = 0
		ic := t.admit(c)
		if ic == nil {
			continue
		}
		conns.Add(1)
		go func() {
			defer conns.Done()
			t.serveConn(c, ic, handle)
		}()
	}
}

// Close closes the listener and every connection, and waits for the
// transport's goroutines to end.
func (t *Transport) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		t.wg.Wait()
		return nil
	}
	t.closed = true
	conns := make([]net.Conn, 0, len(t.inbound)+len(t.outgoing))
	for c := range t.inbound {
		conns = append(conns, c)
	}
	for c := range t.outgoing {
		conns = append(conns, c)
	}
	t.mu.Unlock()

	t.cancel()
	err := t.ln.Close()
	if errors.Is(err, net.ErrClosed) { // Serve's ctx closed it already
		err = nil
	}
	for _, c := range conns {
		closeNow(c)
	}
	t.wg.Wait()
	if err != nil {
		return fmt.Errorf("close listener: %w", err)
	}
	return nil
}

func (t *Transport) isClosed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closed
}

// addrPortOf returns a connection address as a netip.AddrPort, with an
// IPv4-mapped IPv6 address turned back into IPv4.
func addrPortOf(a net.Addr) netip.AddrPort {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return netip.AddrPort{}
	}
	ap := ta.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
