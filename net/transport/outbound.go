package transport

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parlance-chat/parlance/net/wire"
)

// peer is the kept-open connection to one destination.
type peer struct {
	key peerKey
	// sem is held (one token) by the Send using the connection, or by the
	// janitor: Sends to one peer take turns, Sends to different peers do
	// not wait for each other. A channel rather than a mutex so that a
	// waiting Send can give up when its ctx ends.
	sem chan struct{}

	// Guarded by sem.
	conn   net.Conn // nil: not connected
	gen    uint64   // conn's generation (see SendBatchOn)
	twoWay bool     // conn negotiated ALPN2: the peer acknowledges
	path   Path     // how conn was made
	// shown is path and dead as Transport.Path reads them without sem
	// (set with them).
	shown   atomic.Pointer[shownPath]
	dead    <-chan struct{} // closed once conn's watcher saw it end
	lastUse time.Time
	removed bool // the janitor dropped it from Transport.peers
}

func (p *peer) release() { <-p.sem }

func (p *peer) isDead() bool {
	select {
	case <-p.dead:
		return true
	default:
		return false
	}
}

// drop closes the connection, if any.
func (p *peer) drop() {
	if p.conn != nil {
		p.conn.Close()
		p.conn, p.dead, p.twoWay, p.path = nil, nil, false, PathNone
		p.shown.Store(nil)
	}
}

// peerKey names the kept connection a Dest uses: by identity when it has
// one (wherever the peer is now), else by address.
type peerKey struct {
	identity      string
	addr, altAddr netip.AddrPort // only without identity
}

func keyOf(d Dest) peerKey {
	if d.Identity != "" {
		return peerKey{identity: d.Identity}
	}
	return peerKey{addr: d.Addr, altAddr: d.AltAddr}
}

// linePool recycles the buffers message lines are encoded into.
var linePool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// Send writes m to the destination over the kept-open connection, dialing
// (and for a keyed peer, handshaking) first when there is none, and
// redialing once when a write on an old connection fails.
//
// A Dest with an Identity is only ever sent over TLS to a server that
// proves that identity's key; otherwise Send fails with a
// *KeyMismatchError (ErrKeyMismatch) and nothing is sent. Addr is dialed
// first, AltAddr when Addr cannot be reached or its TLS handshake fails,
// but never after a key mismatch (someone else holds the address).
// A write cut short may have delivered part of a line or, on a redial,
// the same line twice; receivers de-duplicate by message ID.
// Send honours ctx while waiting its turn, dialing and writing. After Close
// it fails with net.ErrClosed.
func (t *Transport) Send(ctx context.Context, d Dest, m wire.Message) error {
	_, err := t.SendBatch(ctx, d, []wire.Message{m})
	return err
}

// SendBatch is Send for several messages, written to the connection in
// one go, in order. twoWay reports whether the connection they went on
// negotiated ALPN parlance/2, i.e. whether the peer will acknowledge them
// (wire.Control "ack" frames reach Serve's handler). On an error any
// prefix of the messages may have been delivered.
func (t *Transport) SendBatch(ctx context.Context, d Dest, ms []wire.Message) (twoWay bool, err error) {
	sent, err := t.SendBatchOn(ctx, d, ms, 0)
	return sent.TwoWay, err
}

// Sent says how a batch went out: on a two-way connection (the peer
// acknowledges), and on which generation of the kept connection.
type Sent struct {
	TwoWay bool
	Gen    uint64
}

// SendBatchOn is SendBatch for a sender that keeps messages in flight
// and must keep them in order (the outbox): with gen 0 it writes on the
// kept connection or a new one, like SendBatch; with the generation a
// previous call returned, it writes only on that same connection, and
// fails with ErrConnChanged, writing nothing more, when that connection is
// gone (what was in flight on it may be lost: send again from the first
// message not acknowledged, with gen 0).
func (t *Transport) SendBatchOn(ctx context.Context, d Dest, ms []wire.Message, gen uint64) (Sent, error) {
	var err error
	bp := linePool.Get().(*[]byte)
	lines := (*bp)[:0]
	defer func() {
		if cap(lines) <= 64<<10 {
			*bp = lines[:0]
			linePool.Put(bp)
		}
	}()
	for _, m := range ms {
		if lines, err = m.AppendLine(lines); err != nil {
			return Sent{}, fmt.Errorf("send: %w", err)
		}
	}
	return t.sendLines(ctx, d, lines, len(ms), gen)
}

// SendControl sends a control frame to a Parlance peer over the kept
// connection. It fails with ErrNotTwoWay when the peer speaks only
// parlance/1 (the frame is not sent).
func (t *Transport) SendControl(ctx context.Context, d Dest, c wire.Control) error {
	line, err := c.AppendLine(nil)
	if err != nil {
		return fmt.Errorf("send: %w", err)
	}
	if err := t.SendFrame(ctx, d, line); err != nil {
		return fmt.Errorf("send %s: %w", c.Type, err)
	}
	return nil
}

// SendFrame writes one already encoded frame line (a control or group
// frame, "\n" included) to a Parlance peer over the kept connection,
// dialing if there is none. It fails with ErrNotTwoWay, sending nothing,
// when the peer has no identity or speaks only parlance/1: such a peer's
// parser would drop the frame anyway.
func (t *Transport) SendFrame(ctx context.Context, d Dest, line []byte) error {
	if d.Identity == "" {
		return fmt.Errorf("send to %s: %w", d.Addr, ErrNotTwoWay)
	}
	if len(line) == 0 || line[len(line)-1] != '\n' || len(line) > wire.MaxLine {
		return fmt.Errorf("send to %s: a frame must be one line of at most %d bytes", d.Addr, wire.MaxLine)
	}
	p, err := t.connected(ctx, d)
	if err != nil {
		return err
	}
	defer p.release()
	if !p.twoWay {
		return fmt.Errorf("send to %s: %w", d.Addr, ErrNotTwoWay)
	}
	keep, err := t.write(ctx, p.conn, line, 0)
	if !keep {
		p.drop()
	}
	if err != nil {
		return fmt.Errorf("send to %s: %w", d.Addr, err)
	}
	p.lastUse = time.Now()
	return nil
}

// connected returns the peer of d, holding its sem, with a live
// connection: the kept one, or a new one.
func (t *Transport) connected(ctx context.Context, d Dest) (*peer, error) {
	if err := t.checkDest(ctx, d); err != nil {
		return nil, err
	}
	p, err := t.acquire(ctx, keyOf(d))
	if err != nil {
		return nil, fmt.Errorf("send to %s: %w", d.Addr, err)
	}
	if p.conn != nil && !p.isDead() {
		return p, nil
	}
	if err := t.connect(ctx, p, d); err != nil {
		p.release()
		return nil, err
	}
	return p, nil
}

// connect dials d for p (whose sem is held).
func (t *Transport) connect(ctx context.Context, p *peer, d Dest) error {
	p.drop() // a connection the peer closed
	c, err := t.dialDest(ctx, d, nil)
	if err != nil {
		return err
	}
	return t.install(p, d, c)
}

// install makes c, a connection dialed to d, p's kept connection (p's sem
// is held).
func (t *Transport) install(p *peer, d Dest, c net.Conn) error {
	twoWay := false
	if tc, ok := c.(*tls.Conn); ok {
		twoWay = tc.ConnectionState().NegotiatedProtocol == ALPN2
	}
	dead, err := t.keep(c, twoWay, d.Identity)
	if err != nil {
		return fmt.Errorf("send to %s: %w", d.Addr, err)
	}
	p.conn, p.dead, p.twoWay, p.gen = c, dead, twoWay, t.gens.Add(1)
	p.setPath(PathDirect)
	return nil
}

func (t *Transport) checkDest(ctx context.Context, d Dest) error {
	switch {
	case !d.Addr.IsValid() && !d.AltAddr.IsValid():
		return errors.New("send: destination has no address")
	case d.Identity == "" && t.cfg.RequireEncryption:
		t.stats.plainRefused.Add(1)
		return fmt.Errorf("send to %s: %w", d.Addr, ErrPlaintextRefused)
	case d.Identity != "" && t.clientTLS == nil:
		return fmt.Errorf("send to %s: %w", d.Addr, ErrNoIdentity)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("send to %s: %w", d.Addr, err)
	}
	return nil
}

// sendLines writes n message lines over the kept-open connection. With gen
// 0 it dials when there is none and redials once when a write on an old
// connection fails; with a generation, it writes only on that connection
// (see SendBatchOn).
func (t *Transport) sendLines(ctx context.Context, d Dest, lines []byte, n int, gen uint64) (Sent, error) {
	if err := t.checkDest(ctx, d); err != nil {
		return Sent{}, err
	}
	if t.cfg.ConnPerMessage {
		return Sent{}, t.sendOnce(ctx, d, lines)
	}
	p, err := t.acquire(ctx, keyOf(d))
	if err != nil {
		return Sent{}, fmt.Errorf("send to %s: %w", d.Addr, err)
	}
	defer p.release()
	if gen != 0 && (p.conn == nil || p.isDead() || p.gen != gen) {
		return Sent{}, fmt.Errorf("send to %s: %w", d.Addr, ErrConnChanged)
	}
	if p.conn != nil && !p.isDead() {
		keep, err := t.write(ctx, p.conn, lines, n)
		if !keep {
			p.drop()
		}
		if err == nil {
			p.lastUse = time.Now()
			return Sent{TwoWay: p.twoWay, Gen: p.gen}, nil
		}
		if t.isClosed() {
			return Sent{}, fmt.Errorf("send to %s: %w", d.Addr, net.ErrClosed)
		}
		if ctx.Err() != nil {
			return Sent{}, fmt.Errorf("send to %s: %w", d.Addr, err)
		}
		if gen != 0 {
			return Sent{}, fmt.Errorf("send to %s: %w: %w", d.Addr, ErrConnChanged, err)
		}
		t.stats.redials.Add(1)
		t.log.Info("write on kept connection failed; redialing", "remote", d.Addr.String(), "err", err)
	}
	if err := t.connect(ctx, p, d); err != nil {
		return Sent{}, err
	}
	keep, err := t.write(ctx, p.conn, lines, n)
	sent := Sent{TwoWay: p.twoWay, Gen: p.gen}
	if !keep {
		p.drop()
	}
	if err != nil {
		return Sent{}, fmt.Errorf("send to %s: %w", d.Addr, err)
	}
	p.lastUse = time.Now()
	return sent, nil
}

// sendOnce is Send for ConnPerMessage: for each line, dial, write it,
// close.
func (t *Transport) sendOnce(ctx context.Context, d Dest, lines []byte) error {
	for len(lines) > 0 {
		end := bytes.IndexByte(lines, '\n') + 1
		if end == 0 {
			end = len(lines)
		}
		c, err := t.dialDest(ctx, d, nil)
		if err != nil {
			return err
		}
		_, err = t.write(ctx, c, lines[:end], 1)
		c.Close()
		if err != nil {
			return fmt.Errorf("send to %s: %w", d.Addr, err)
		}
		lines = lines[end:]
	}
	return nil
}

// acquire returns the peer for key, holding its sem.
func (t *Transport) acquire(ctx context.Context, key peerKey) (*peer, error) {
	for {
		t.mu.Lock()
		if t.closed {
			t.mu.Unlock()
			return nil, net.ErrClosed
		}
		p := t.peers[key]
		if p == nil {
			p = &peer{key: key, sem: make(chan struct{}, 1)}
			t.peers[key] = p
		}
		t.mu.Unlock()

		select {
		case p.sem <- struct{}{}:
		default:
			select {
			case p.sem <- struct{}{}:
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-t.ctx.Done():
				return nil, net.ErrClosed
			}
		}
		if !p.removed {
			return p, nil
		}
		p.release() // the janitor retired it meanwhile: look again
	}
}

// write writes lines (n of them are messages, for the counters) with a
// deadline of WriteTimeout (or ctx's, if sooner), and gives up when ctx
// ends. keep is false when the connection must be closed: after an error
// (a line may have been cut short), or when ctx ended during the write and
// its deadline is no longer ours.
func (t *Transport) write(ctx context.Context, c net.Conn, line []byte, n int) (keep bool, err error) {
	deadline := time.Now().Add(t.cfg.WriteTimeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	if err := c.SetWriteDeadline(deadline); err != nil {
		return false, fmt.Errorf("write: %w", err)
	}
	var stop func() bool
	if ctx.Done() != nil {
		stop = context.AfterFunc(ctx, func() { c.SetWriteDeadline(time.Unix(1, 0)) })
	}
	_, err = c.Write(line)
	interrupted := stop != nil && !stop()
	if err != nil {
		if interrupted {
			err = ctx.Err()
		}
		return false, fmt.Errorf("write: %w", err)
	}
	t.stats.sent.Add(uint64(n))
	return !interrupted, nil
}

// dialDest connects to d.Addr, or to d.AltAddr when Addr cannot be
// reached, and for a keyed Dest completes a TLS handshake proving its key.
func (t *Transport) dialDest(ctx context.Context, d Dest, protos []string) (net.Conn, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(t.ctx, cancel) // Close aborts the dial
	defer stop()

	addrs := make([]netip.AddrPort, 0, 2)
	for _, a := range []netip.AddrPort{d.Addr, d.AltAddr} {
		if a.IsValid() && !slices.Contains(addrs, a) {
			addrs = append(addrs, a)
		}
	}
	var errs []error
	for _, a := range addrs {
		c, err := t.dial(ctx, a, d.Identity, protos)
		if err == nil {
			t.stats.dials.Add(1)
			return c, nil
		}
		t.stats.dialErrors.Add(1)
		var km *KeyMismatchError
		if errors.As(err, &km) {
			return nil, km // never try elsewhere: someone holds the address
		}
		if t.ctx.Err() != nil {
			return nil, fmt.Errorf("send to %s: %w", d.Addr, net.ErrClosed)
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("send to %s: %w", d.Addr, ctx.Err())
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("send to %s: %w", d.Addr, errors.Join(errs...))
}

// dial connects to addr; when want is set, it also completes a TLS
// handshake in which the server proves the key of peer ID want.
func (t *Transport) dial(ctx context.Context, addr netip.AddrPort, want string, protos []string) (net.Conn, error) {
	dialer := net.Dialer{Timeout: t.cfg.DialTimeout}
	raw, err := dialer.DialContext(ctx, "tcp", addr.String())
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	if want == "" {
		return raw, nil
	}
	var mismatch *KeyMismatchError
	cfg := t.clientFor(addr, want, &mismatch)
	if protos != nil {
		cfg.NextProtos = protos
	}
	tc := tls.Client(raw, cfg)
	raw.SetDeadline(time.Now().Add(t.cfg.HandshakeTimeout))
	err = tc.HandshakeContext(ctx)
	if mismatch != nil {
		raw.Close()
		t.stats.keyMismatches.Add(1)
		t.log.Warn("peer proved another key: possible impersonation; nothing sent, no stream opened",
			"remote", addr.String(), "want", want, "got", mismatch.Got)
		return nil, mismatch
	}
	if err != nil {
		raw.Close()
		return nil, fmt.Errorf("tls handshake with %s: %w", addr, err)
	}
	raw.SetDeadline(time.Time{})
	return tc, nil
}

// keep registers a new outgoing connection and starts its watcher; the
// returned channel is closed when the connection has ended. On a two-way
// connection the watcher hands the control frames it reads to Serve's
// handler as coming from peer id.
func (t *Transport) keep(c net.Conn, twoWay bool, id string) (<-chan struct{}, error) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		c.Close()
		return nil, net.ErrClosed
	}
	t.outgoing[c] = struct{}{}
	t.wg.Add(1)
	t.mu.Unlock()
	dead := make(chan struct{})
	if twoWay {
		go t.readReplies(c, id, dead)
	} else {
		go t.watch(c, dead)
	}
	return dead, nil
}

// watch reads a kept outgoing connection until it ends, so that the peer
// closing it is noticed and the next Send redials instead of writing into a
// dead socket. Whatever the peer sends on it is discarded.
func (t *Transport) watch(c net.Conn, dead chan<- struct{}) {
	defer t.wg.Done()
	var buf [512]byte
	discarded := 0
	var err error
	for err == nil {
		var n int
		n, err = c.Read(buf[:])
		discarded += n
	}
	t.ended(c, dead)
	t.log.Debug("outgoing connection ended", "remote", c.RemoteAddr().String(), "err", err, "discarded_bytes", discarded)
}

// ended forgets an outgoing connection whose watcher saw it end.
func (t *Transport) ended(c net.Conn, dead chan<- struct{}) {
	c.Close()
	close(dead)
	t.mu.Lock()
	delete(t.outgoing, c)
	t.mu.Unlock()
	t.stats.outgoingClosed.Add(1)
}

// readReplies is watch for a two-way connection: it reads the control
// frames the peer sends back (acknowledgements, read receipts) and the
// group frames it sends on our connection, and hands
// them to Serve's handler, until the connection ends. Lines over
// wire.MaxLine end it; lines that do not parse, or chat messages (which
// belong on the peer's own connection), are dropped.
func (t *Transport) readReplies(c net.Conn, id string, dead chan<- struct{}) {
	defer t.wg.Done()
	remote := addrPortOf(c.RemoteAddr())
	if tc, ok := c.(*tls.Conn); ok {
		remote = addrPortOf(tc.NetConn().RemoteAddr())
	}
	lr := newLineReader(c, wire.MaxLine)
	var err error
	for {
		var line []byte
		if line, err = lr.next(); err != nil {
			break
		}
		if len(line) == 0 {
			continue
		}
		f, perr := wire.ParseFrame(line)
		if perr != nil || (f.Control == nil && f.Group == nil) {
			t.stats.dropped.Add(1)
			t.logs.dropped.Log("dropped a line on an outgoing connection", "remote", remote.String(), "err", perr)
			continue
		}
		if h := t.handle.Load(); h != nil {
			t.stats.controls.Add(1)
			(*h)(Inbound{Control: f.Control, Group: f.Group, Remote: remote, Identity: id})
		}
	}
	t.ended(c, dead)
	t.log.Debug("outgoing connection ended", "remote", remote.String(), "err", err)
}

// janitor closes idle outgoing connections and forgets peers without a
// connection, until Close.
//
// It closes a connection idle for between half and three quarters of
// IdleTimeout (with the default, 2.5 to 3.75 minutes): well before a peer
// with the same IdleTimeout closes it from its end, even on a loaded
// machine. The side that writes should be the one that closes, or a
// message written just as the reader closes is lost.
func (t *Transport) janitor() {
	defer t.wg.Done()
	every := t.sweepInterval()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-t.ctx.Done():
			return
		case now := <-tick.C:
			t.sweep(now, t.cfg.IdleTimeout/2)
		}
	}
}

func (t *Transport) sweepInterval() time.Duration {
	return min(max(t.cfg.IdleTimeout/4, 10*time.Millisecond), time.Minute)
}

// sweep closes the connections idle for idle or longer.
func (t *Transport) sweep(now time.Time, idle time.Duration) {
	t.mu.Lock()
	peers := slices.Collect(maps.Values(t.peers))
	t.mu.Unlock()
	for _, p := range peers {
		select {
		case p.sem <- struct{}{}:
		default:
			continue // in use
		}
		if p.conn == nil || p.isDead() || now.Sub(p.lastUse) >= idle {
			if p.conn != nil && !p.isDead() {
				t.log.Debug("closing idle outgoing connection", "remote", p.conn.RemoteAddr().String())
			}
			p.drop()
			p.removed = true
			t.mu.Lock()
			if t.peers[p.key] == p {
				delete(t.peers, p.key)
			}
			t.mu.Unlock()
		}
		p.release()
	}
}

// closeNow closes a connection without a TLS close_notify, which could
// wait for a peer that does not read.
func closeNow(c net.Conn) {
	if tc, ok := c.(*tls.Conn); ok {
		tc.NetConn().Close()
		return
	}
	c.Close()
}
