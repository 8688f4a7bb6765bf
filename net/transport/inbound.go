package transport

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/parlance-chat/parlance/net/wire"
)

// First bytes of an inbound connection.
const (
	firstTLS   = 0x16 // TLS record type "handshake"
	firstPlain = '{'  // an original peer's JSON line
)

// admit registers an accepted connection, or closes it when the transport
// is closed or MaxInbound connections are open.
func (t *Transport) admit(c net.Conn) bool {
	t.mu.Lock()
	closed, full := t.closed, len(t.inbound) >= t.cfg.MaxInbound
	if !closed && !full {
		t.inbound[c] = struct{}{}
	}
	t.mu.Unlock()
	if closed || full {
		if full {
			t.stats.overLimit.Add(1)
			t.log.Warn("inbound connection refused: too many open", "remote", c.RemoteAddr().String(), "max", t.cfg.MaxInbound)
		}
		c.Close()
		return false
	}
	t.stats.accepted.Add(1)
	return true
}

// closeInbound closes every inbound connection (Serve's ctx was cancelled).
func (t *Transport) closeInbound() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for c := range t.inbound {
		c.Close()
	}
}

// serveConn tells TLS from plaintext by the first byte and reads messages
// from the connection until it ends.
func (t *Transport) serveConn(raw net.Conn, handle func(Inbound)) {
	var closer io.Closer = raw
	defer func() {
		closer.Close()
		t.mu.Lock()
		delete(t.inbound, raw)
		t.mu.Unlock()
	}()
	remote := addrPortOf(raw.RemoteAddr())
	log := t.log.With("remote", remote.String())

	raw.SetReadDeadline(time.Now().Add(t.cfg.HandshakeTimeout))
	var first [1]byte
	if _, err := io.ReadFull(raw, first[:]); err != nil {
		log.Debug("inbound connection closed before its first byte", "err", err)
		return
	}
	conn := &prefixConn{Conn: raw, prefix: first[0], hasPrefix: true}

	switch {
	case first[0] == firstTLS && t.serverTLS != nil:
		tc := tls.Server(conn, t.serverTLS)
		raw.SetDeadline(time.Now().Add(t.cfg.HandshakeTimeout))
		if err := tc.HandshakeContext(t.ctx); err != nil {
			t.stats.handshakeFails.Add(1)
			log.Info("inbound TLS handshake failed", "err", err)
			return
		}
		raw.SetDeadline(time.Time{})
		closer = tc // sends close_notify
		t.stats.tlsConns.Add(1)
		id := string(peerIDOf(tc.ConnectionState()))
		log.Debug("inbound TLS connection", "peer", id)
		t.readMessages(tc, raw, remote, id, handle)

	case first[0] == firstTLS:
		t.stats.plainRejected.Add(1)
		log.Info("inbound TLS connection refused: this node has no identity")

	case first[0] == firstPlain && t.cfg.RequireEncryption:
		t.stats.plainRejected.Add(1)
		log.Warn("inbound plaintext connection refused: encryption is required")

	case first[0] == firstPlain:
		t.stats.plainConns.Add(1)
		log.Debug("inbound plaintext connection")
		t.readMessages(conn, raw, remote, "", handle)

	default:
		t.stats.badFirstByte.Add(1)
		log.Info("inbound connection closed: neither TLS nor a message line", "first_byte", first[0])
	}
}

// readMessages hands every message line read from r to handle until the
// connection ends, is silent for IdleTimeout, or sends a line over
// wire.MaxLine. Lines that do not parse are dropped.
func (t *Transport) readMessages(r io.Reader, raw net.Conn, remote netip.AddrPort, id string, handle func(Inbound)) {
	log := t.log.With("remote", remote.String())
	lr := newLineReader(&idleReader{r: r, conn: raw, idle: t.cfg.IdleTimeout}, wire.MaxLine)
	for {
		line, err := lr.next()
		switch {
		case err == nil:
		case errors.Is(err, io.EOF):
			log.Debug("inbound connection ended")
			return
		case errors.Is(err, errLineTooLong):
			t.stats.linesTooLong.Add(1)
			log.Warn("inbound connection closed: line over the limit", "limit", wire.MaxLine)
			return
		case errors.Is(err, os.ErrDeadlineExceeded):
			t.stats.idleClosed.Add(1)
			log.Debug("inbound connection closed: idle", "after", t.cfg.IdleTimeout)
			return
		default:
			log.Debug("inbound connection ended", "err", err)
			return
		}
		if len(line) == 0 {
			continue
		}
		m, err := wire.ParseMessage(line)
		if err != nil {
			t.stats.dropped.Add(1)
			log.Info("dropped a message line", "err", err, "bytes", len(line))
			continue
		}
		t.stats.received.Add(1)
		handle(Inbound{Message: m, Remote: remote, Identity: id})
	}
}

// idleReader pushes the read deadline IdleTimeout ahead before each read,
// so a connection silent that long fails with os.ErrDeadlineExceeded.
type idleReader struct {
	r    io.Reader
	conn net.Conn
	idle time.Duration
}

func (ir *idleReader) Read(p []byte) (int, error) {
	if err := ir.conn.SetReadDeadline(time.Now().Add(ir.idle)); err != nil {
		return 0, err
	}
	return ir.r.Read(p)
}

// prefixConn gives back the byte that was peeked before reading on.
type prefixConn struct {
	net.Conn
	prefix    byte
	hasPrefix bool
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if !c.hasPrefix || len(p) == 0 {
		return c.Conn.Read(p)
	}
	// The rest of a first line or ClientHello follows at once: read it
	// in the same call rather than return a single byte.
	p[0] = c.prefix
	c.hasPrefix = false
	n, err := c.Conn.Read(p[1:])
	return n + 1, err
}
