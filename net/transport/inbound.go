package transport

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parlance-chat/parlance/internal/ratelog"
	"github.com/parlance-chat/parlance/net/wire"
)

// First bytes of an inbound connection.
const (
	firstTLS   = 0x16 // TLS record type "handshake"
	firstPlain = '{'  // an original peer's JSON line
)

// inConn is an inbound connection being served.
type inConn struct {
	ip netip.Addr
	// active is when the connection was accepted or last delivered a
	// message (Unix nanoseconds): the idle timeout counts from it, and
	// the least recently active connection is the first to be evicted.
	active atomic.Int64
}

func (ic *inConn) touch(now time.Time) { ic.active.Store(now.UnixNano()) }

func (ic *inConn) lastActive() time.Time { return time.Unix(0, ic.active.Load()) }

// admit registers an accepted connection, or closes it and returns nil
// when the transport is closed or MaxInboundPerIP connections from its IP
// are open. When MaxInbound connections are open, it closes the least
// recently active one to make room: whoever holds connections open
// without delivering messages cannot lock others out.
func (t *Transport) admit(c net.Conn) *inConn {
	ic := &inConn{ip: addrPortOf(c.RemoteAddr()).Addr()}
	ic.touch(time.Now())

	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		c.Close()
		return nil
	}
	if t.perIP[ic.ip] >= t.cfg.MaxInboundPerIP {
		t.mu.Unlock()
		// Count and log before closing, so whoever sees the close sees them.
		t.stats.overIPLimit.Add(1)
		t.logs.overIPLimit.Log("inbound connection refused: too many open from its address",
			"remote", c.RemoteAddr().String(), "max_per_ip", t.cfg.MaxInboundPerIP)
		c.Close()
		return nil
	}
	var victim net.Conn
	var victimIdle time.Duration
	if len(t.inbound) >= t.cfg.MaxInbound {
		victim = t.leastActiveLocked()
		victimIdle = time.Since(t.inbound[victim].lastActive())
		t.releaseLocked(victim)
	}
	t.inbound[c] = ic
	t.perIP[ic.ip]++
	t.mu.Unlock()

	t.stats.accepted.Add(1)
	if victim != nil {
		t.stats.evicted.Add(1)
		t.logs.evicted.Log("closed the least recently active inbound connection to make room: too many open",
			"closed", victim.RemoteAddr().String(), "inactive", victimIdle.Round(time.Millisecond),
			"for", c.RemoteAddr().String(), "max", t.cfg.MaxInbound)
		victim.Close() // its goroutine ends; release finds it gone
	}
	return ic
}

// leastActiveLocked returns the inbound connection that delivered a
// message longest ago (or never, and was accepted first). t.inbound must
// not be empty; t.mu is held.
func (t *Transport) leastActiveLocked() net.Conn {
	var (
		oldest net.Conn
		at     int64
	)
	for c, ic := range t.inbound {
		if a := ic.active.Load(); oldest == nil || a < at {
			oldest, at = c, a
		}
	}
	return oldest
}

// release forgets an inbound connection that ended; it may have been
// evicted (and so forgotten) already.
func (t *Transport) release(c net.Conn) {
	t.mu.Lock()
	t.releaseLocked(c)
	t.mu.Unlock()
}

func (t *Transport) releaseLocked(c net.Conn) {
	ic, ok := t.inbound[c]
	if !ok {
		return
	}
	delete(t.inbound, c)
	if t.perIP[ic.ip]--; t.perIP[ic.ip] <= 0 {
		delete(t.perIP, ic.ip)
	}
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
func (t *Transport) serveConn(raw net.Conn, ic *inConn, handle func(Inbound)) {
	var closer io.Closer = raw
	defer func() {
		closer.Close()
		t.release(raw)
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
			t.logs.handshake.Log("inbound TLS handshake failed", "remote", remote.String(), "err", err)
			return
		}
		raw.SetDeadline(time.Time{})
		closer = tc // sends close_notify
		t.stats.tlsConns.Add(1)
		cs := tc.ConnectionState()
		id := string(peerIDOf(cs))
		if proto := cs.NegotiatedProtocol; proto != ALPN && proto != ALPN2 {
			t.serveStream(tc, raw, ic, remote, id, proto) // a bulk-data stream (stream.go)
			return
		}
		log.Debug("inbound TLS connection", "peer", id, "alpn", cs.NegotiatedProtocol)
		var reply Replier
		if cs.NegotiatedProtocol == ALPN2 {
			reply = &replier{conn: tc, raw: raw, timeout: t.cfg.WriteTimeout}
		}
		t.readMessages(tc, raw, ic, remote, id, reply, handle)

	case first[0] == firstTLS:
		t.stats.plainRejected.Add(1)
		t.logs.rejected.Log("inbound TLS connection refused: this node has no identity", "remote", remote.String())

	case first[0] == firstPlain && t.cfg.RequireEncryption:
		t.stats.plainRejected.Add(1)
		t.logs.plainRefused.Log("inbound plaintext connection refused: encryption is required", "remote", remote.String())

	case first[0] == firstPlain:
		t.stats.plainConns.Add(1)
		log.Debug("inbound plaintext connection")
		t.readMessages(conn, raw, ic, remote, "", nil, handle)

	default:
		t.stats.badFirstByte.Add(1)
		t.logs.rejected.Log("inbound connection closed: neither TLS nor a message line", "remote", remote.String(), "first_byte", first[0])
	}
}

// readMessages hands every message line read from r to handle until the
// connection ends, delivers nothing for IdleTimeout, leaves a line
// unfinished for LineTimeout, or sends a line over wire.MaxLine. Lines
// that do not parse are dropped.
func (t *Transport) readMessages(r io.Reader, raw net.Conn, ic *inConn, remote netip.AddrPort, id string, reply Replier, handle func(Inbound)) {
	log := t.log.With("remote", remote.String())
	dr := &deadlineReader{r: r, conn: raw, ic: ic, idle: t.cfg.IdleTimeout, line: t.cfg.LineTimeout}
	lr := newLineReader(dr, wire.MaxLine)
	for {
		line, err := lr.next()
		switch {
		case err == nil:
		case errors.Is(err, io.EOF):
			log.Debug("inbound connection ended")
			return
		case errors.Is(err, errLineTooLong):
			t.stats.linesTooLong.Add(1)
			t.logs.tooLong.Log("inbound connection closed: line over the limit", "remote", remote.String(), "limit", wire.MaxLine)
			return
		case errors.Is(err, os.ErrDeadlineExceeded) && dr.lineCut:
			t.stats.lineTimeouts.Add(1)
			t.logs.lineTimeout.Log("inbound connection closed: line not finished in time", "remote", remote.String(), "limit", t.cfg.LineTimeout)
			return
		case errors.Is(err, os.ErrDeadlineExceeded):
			t.stats.idleClosed.Add(1)
			log.Debug("inbound connection closed: no message", "for", t.cfg.IdleTimeout)
			return
		default:
			log.Debug("inbound connection ended", "err", err)
			return
		}
		if len(line) == 0 {
			continue
		}
		var f wire.Frame
		if reply != nil {
			f, err = wire.ParseFrame(line)
		} else {
			f.Message, err = wire.ParseMessage(line)
		}
		if err != nil {
			t.stats.dropped.Add(1)
			t.logs.dropped.Log("dropped a message line", "remote", remote.String(), "err", err, "bytes", len(line))
			continue
		}
		ic.touch(time.Now())
		t.stats.received.Add(1)
		handle(Inbound{Message: f.Message, Control: f.Control, Group: f.Group, Remote: remote, Identity: id, Reply: reply})
	}
}

// deadlineReader sets the read deadline before each read: IdleTimeout
// after the connection last delivered a message, or, while a line is
// unfinished, LineTimeout after its first byte if that is sooner. Reads
// past it fail with os.ErrDeadlineExceeded.
type deadlineReader struct {
	r          io.Reader
	conn       net.Conn // whose deadline is set
	ic         *inConn
	idle, line time.Duration

	lineStart time.Time // when the unfinished line began; zero between lines
	lineCut   bool      // the deadline set last is the line's
}

func (dr *deadlineReader) Read(p []byte) (int, error) {
	deadline := dr.ic.lastActive().Add(dr.idle)
	dr.lineCut = false
	if !dr.lineStart.IsZero() {
		if end := dr.lineStart.Add(dr.line); end.Before(deadline) {
			deadline, dr.lineCut = end, true
		}
	}
	if err := dr.conn.SetReadDeadline(deadline); err != nil {
		return 0, err
	}
	n, err := dr.r.Read(p)
	if n > 0 {
		// The bytes after the last '\n' begin a line (or go on with one).
		switch i := bytes.LastIndexByte(p[:n], '\n'); {
		case i == n-1:
			dr.lineStart = time.Time{}
		case i >= 0 || dr.lineStart.IsZero():
			dr.lineStart = time.Now()
		}
	}
	return n, err
}

// replier writes control frames back on an inbound two-way connection.
type replier struct {
	mu      sync.Mutex
	conn    net.Conn // the TLS connection
	raw     net.Conn // whose write deadline is set
	timeout time.Duration
}

// Reply implements Replier. A failed write closes the connection: its
// sender redials and resends what was not acknowledged.
func (r *replier) Reply(c wire.Control) error {
	line, err := c.AppendLine(nil)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.raw.SetWriteDeadline(time.Now().Add(r.timeout))
	if _, err := r.conn.Write(line); err != nil {
		r.raw.Close()
		return fmt.Errorf("reply %s: %w", c.Type, err)
	}
	return nil
}

// inboundLogs rate-limits the log lines a remote can cause: one a minute
// of each kind at its level, the rest at Debug.
type inboundLogs struct {
	overIPLimit, evicted, plainRefused, tooLong *ratelog.Limiter
	handshake, rejected, lineTimeout, dropped   *ratelog.Limiter
}

func newInboundLogs(log *slog.Logger) inboundLogs {
	at := func(level slog.Level) *ratelog.Limiter { return ratelog.New(log, level, ratelog.DefaultEvery) }
	return inboundLogs{
		overIPLimit:  at(slog.LevelWarn),
		evicted:      at(slog.LevelWarn),
		plainRefused: at(slog.LevelWarn),
		tooLong:      at(slog.LevelWarn),
		handshake:    at(slog.LevelInfo),
		rejected:     at(slog.LevelInfo),
		lineTimeout:  at(slog.LevelInfo),
		dropped:      at(slog.LevelInfo),
	}
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
	// The byte alone, without waiting for more: it starts a line, whose
	// time runs from now (see deadlineReader).
	p[0] = c.prefix
	c.hasPrefix = false
	return 1, nil
}
