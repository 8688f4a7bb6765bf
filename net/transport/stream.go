package transport

// Streams: a second TLS connection to a peer for bulk data (file chunks),
// so that chat on the kept connection is never queued behind megabytes.
//
// A stream is an ordinary inbound connection on the same listening port,
// with the same TLS 1.3 mutual identity authentication; the ALPN protocol
// the client asks for (e.g. "parlance-file/1" instead of ALPN) tells it
// apart and picks the registered StreamHandler. The dialling side checks the
// server's key exactly as Send does (ErrKeyMismatch, nothing written).
//
// A stream can also be punched or relayed (PunchStream, AttachStream, in
// punch.go) when the peer cannot be dialed: the side that opens it gets
// it as from OpenStream, the other serves it with the handler, as here.
//
// Limits: at most StreamConfig.MaxPerPeer streams with one peer identity
// and MaxTotal in all, each way (inbound ones over the limit are closed
// right after the handshake; OpenStream fails with ErrTooManyStreams).
// Every Read and Write of a Stream runs under a deadline of
// StreamConfig.IdleTimeout from its start. Inbound streams also count
// toward MaxInbound and MaxInboundPerIP like any inbound connection.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// StreamConfig limits bulk-data streams. Zero values take defaults.
type StreamConfig struct {
	MaxPerPeer  int           // open streams with one peer, each way (default 4)
	MaxTotal    int           // open streams in all, each way (default 32)
	IdleTimeout time.Duration // deadline of each Read and Write (default 30 s)
}

// Defaults of StreamConfig's zero values.
const (
	DefaultStreamsPerPeer    = 4
	DefaultStreamsTotal      = 32
	DefaultStreamIdleTimeout = 30 * time.Second
)

func (c StreamConfig) withDefaults() StreamConfig {
	if c.MaxPerPeer <= 0 {
		c.MaxPerPeer = DefaultStreamsPerPeer
	}
	if c.MaxTotal <= 0 {
		c.MaxTotal = DefaultStreamsTotal
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultStreamIdleTimeout
	}
	return c
}

// ErrTooManyStreams: opening the stream would pass StreamConfig's limits.
var ErrTooManyStreams = errors.New("too many open streams")

// StreamHandler serves one inbound stream. It runs in the connection's
// goroutine (Serve waits for it) and owns s until it returns; the
// transport closes s afterwards. ctx ends when the transport closes.
type StreamHandler func(ctx context.Context, s *Stream)

// Stream is an authenticated bulk-data connection with one peer.
type Stream struct {
	conn    *tls.Conn
	raw     net.Conn
	peer    string
	remote  netip.AddrPort
	proto   string
	timeout atomic.Int64 // a time.Duration
	touch   func()       // inbound: marks the connection active (see admit)
	done    func()       // releases the stream's place in the limits, once

	closeOnce sync.Once
	closeErr  error
}

// Peer is the other side's peer ID, proven by the TLS handshake.
func (s *Stream) Peer() string { return s.peer }

// Remote is the other side's address.
func (s *Stream) Remote() netip.AddrPort { return s.remote }

// Proto is the negotiated ALPN protocol.
func (s *Stream) Proto() string { return s.proto }

// SetIdleTimeout changes the deadline of each later Read and Write (e.g. to
// wait longer for an answer).
func (s *Stream) SetIdleTimeout(d time.Duration) { s.timeout.Store(int64(d)) }

func (s *Stream) deadline() time.Time { return time.Now().Add(time.Duration(s.timeout.Load())) }

// Read reads with a deadline of the idle timeout.
func (s *Stream) Read(p []byte) (int, error) {
	if err := s.raw.SetReadDeadline(s.deadline()); err != nil {
		return 0, err
	}
	n, err := s.conn.Read(p)
	if n > 0 && s.touch != nil {
		s.touch()
	}
	return n, err
}

// Write writes with a deadline of the idle timeout.
func (s *Stream) Write(p []byte) (int, error) {
	if err := s.raw.SetWriteDeadline(s.deadline()); err != nil {
		return 0, err
	}
	return s.conn.Write(p)
}

// Close closes the stream (with a TLS close_notify, sent within a second).
func (s *Stream) Close() error {
	s.closeOnce.Do(func() {
		s.raw.SetWriteDeadline(time.Now().Add(time.Second))
		s.closeErr = s.conn.Close()
		if s.done != nil {
			s.done()
		}
	})
	return s.closeErr
}

// streamSet is the Transport's stream state, guarded by Transport.mu.
type streamSet struct {
	handlers map[string]StreamHandler
	in, out  streamCount
}

// streamCount counts open streams of one direction.
type streamCount struct {
	total   int
	perPeer map[string]int
}

// take counts a new stream with peer unless a limit is reached.
func (c *streamCount) take(peer string, lim StreamConfig) bool {
	if c.total >= lim.MaxTotal || c.perPeer[peer] >= lim.MaxPerPeer {
		return false
	}
	if c.perPeer == nil {
		c.perPeer = make(map[string]int)
	}
	c.total++
	c.perPeer[peer]++
	return true
}

func (c *streamCount) put(peer string) {
	c.total--
	if c.perPeer[peer]--; c.perPeer[peer] <= 0 {
		delete(c.perPeer, peer)
	}
}

// HandleStream registers h for inbound streams that negotiate the ALPN
// protocol proto. It must be called before Serve, on a transport with an
// identity.
func (t *Transport) HandleStream(proto string, h StreamHandler) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case proto == "" || proto == ALPN:
		return fmt.Errorf("transport: stream protocol %q is not allowed", proto)
	case h == nil:
		return errors.New("transport: HandleStream needs a handler")
	case t.serverTLS == nil:
		return fmt.Errorf("stream %s: %w", proto, ErrNoIdentity)
	case t.serving:
		return errors.New("transport: HandleStream must be called before Serve")
	case t.streams.handlers[proto] != nil:
		return fmt.Errorf("transport: stream protocol %q registered twice", proto)
	}
	if t.streams.handlers == nil {
		t.streams.handlers = make(map[string]StreamHandler)
	}
	t.streams.handlers[proto] = h
	// Serve has not started, so no connection reads serverTLS yet.
	cfg := t.serverTLS.Clone()
	cfg.NextProtos = append(slices.Clone(cfg.NextProtos), proto)
	t.serverTLS = cfg
	return nil
}

// serveStream hands an inbound TLS connection that negotiated a stream
// protocol to its handler, within the limits. serveConn closes tc after.
func (t *Transport) serveStream(tc *tls.Conn, raw net.Conn, ic *inConn, remote netip.AddrPort, peer, proto string) {
	lim := t.cfg.Streams.withDefaults()
	t.mu.Lock()
	h := t.streams.handlers[proto]
	ok := h != nil && t.streams.in.take(peer, lim)
	t.mu.Unlock()
	if !ok {
		t.logs.rejected.Log("inbound stream refused: too many open or no handler", "remote", remote.String(), "peer", peer, "proto", proto)
		return
	}
	s := &Stream{
		conn: tc, raw: raw, peer: peer, remote: remote, proto: proto,
		touch: func() { ic.touch(time.Now()) },
	}
	s.SetIdleTimeout(lim.IdleTimeout)
	defer func() {
		raw.SetWriteDeadline(time.Now().Add(time.Second)) // for serveConn's close_notify
		t.mu.Lock()
		t.streams.in.put(peer)
		t.mu.Unlock()
	}()
	h(t.ctx, s)
}

// OpenStream opens a stream speaking proto to the peer d names, which must
// prove d.Identity's key (else a *KeyMismatchError, ErrKeyMismatch, before
// anything is written). Addr is tried first, then AltAddr, never after a
// key mismatch. The caller closes the stream; Close of the transport
// closes it too.
func (t *Transport) OpenStream(ctx context.Context, d Dest, proto string) (*Stream, error) {
	switch {
	case proto == "" || proto == ALPN:
		return nil, fmt.Errorf("open stream: protocol %q is not allowed", proto)
	case d.Identity == "":
		return nil, fmt.Errorf("open stream to %s: %w", d.Addr, ErrPlaintextRefused)
	case t.clientTLS == nil:
		return nil, fmt.Errorf("open stream to %s: %w", d.Addr, ErrNoIdentity)
	}
	release, err := t.takeOut(d.Identity)
	if err != nil {
		return nil, fmt.Errorf("open stream to %s: %w", d.Addr, err)
	}

	c, err := t.dialDest(ctx, d, []string{proto})
	if err != nil {
		release()
		return nil, err
	}
	tc := c.(*tls.Conn) // a keyed Dest is always TLS
	return t.outStream(tc, tc.NetConn(), d.Identity, proto, release), nil
}

// takeOut takes the place of an outgoing stream with peer in the limits;
// release gives it back.
func (t *Transport) takeOut(peer string) (release func(), err error) {
	lim := t.cfg.Streams.withDefaults()
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil, net.ErrClosed
	}
	ok := t.streams.out.take(peer, lim)
	t.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%w (at most %d per peer, %d in all)", ErrTooManyStreams, lim.MaxPerPeer, lim.MaxTotal)
	}
	return func() {
		t.mu.Lock()
		t.streams.out.put(peer)
		t.mu.Unlock()
	}, nil
}

// outStream makes the outgoing Stream on tc, whose place in the limits
// release gives back when it closes (as does Close of the transport).
func (t *Transport) outStream(tc *tls.Conn, raw net.Conn, peer, proto string, release func()) *Stream {
	stop := context.AfterFunc(t.ctx, func() { raw.Close() }) // Close of the transport
	s := &Stream{
		conn: tc, raw: raw, peer: peer, remote: addrPortOf(raw.RemoteAddr()), proto: proto,
		done: func() { stop(); release() },
	}
	s.SetIdleTimeout(t.cfg.Streams.withDefaults().IdleTimeout)
	return s
}

// attachStream makes a punched or relayed connection that negotiated
// u.proto a stream: the caller's (u.open), or one served by its handler
// in a goroutine of the transport, within the limits of inbound streams
// (then it returns nil).
func (t *Transport) attachStream(d Dest, tc *tls.Conn, raw net.Conn, u use) (*Stream, error) {
	if u.open {
		release, err := t.takeOut(d.Identity)
		if err != nil {
			closeNow(tc)
			return nil, fmt.Errorf("attach stream to %s: %w", destLabel(d), err)
		}
		return t.outStream(tc, raw, d.Identity, u.proto, release), nil
	}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		closeNow(tc)
		return nil, fmt.Errorf("attach stream to %s: %w", destLabel(d), net.ErrClosed)
	}
	t.wg.Add(1)
	t.mu.Unlock()
	remote := addrPortOf(raw.RemoteAddr())
	go func() {
		defer t.wg.Done()
		stop := context.AfterFunc(t.ctx, func() { raw.Close() }) // Close of the transport
		defer stop()
		t.serveStream(tc, raw, &inConn{ip: remote.Addr()}, remote, d.Identity, u.proto)
		raw.SetWriteDeadline(time.Now().Add(time.Second))
		tc.Close() // with close_notify
	}()
	return nil, nil
}
