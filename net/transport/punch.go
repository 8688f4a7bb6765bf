package transport

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/parlance-chat/parlance/net/internal/sockopt"
)

// DefaultPunchWindow bounds Punch when its ctx has no deadline: about
// the time after which a relay should take over.
const DefaultPunchWindow = 2 * time.Second

// punchRetry is the pause between two tries of a punch whose SYN was
// answered with a reset (a router that rejects rather than drops).
const punchRetry = 25 * time.Millisecond

// ErrPunchFailed: Punch found no direct path within its window (a NAT
// that maps every connection to a new port, or a peer that did not punch
// back in time). The peer has to be reached another way, such as a relay.
var ErrPunchFailed = errors.New("hole punching failed")

// Punch opens a direct two-way connection to a peer that may sit behind
// a NAT or a firewall that drops unsolicited connections. Both peers call
// it at about the same moment, each with the other's public address (as
// a rendezvous server observed it): each dials from its own listening
// port, so the first SYN to leave each NAT opens the mapping that lets
// the other side's SYN in, and the two connects meet (TCP simultaneous
// open). A try answered with a reset is repeated; a SYN that reaches the
// listener instead of the dialing socket is taken over by Punch.
//
// Punch keeps trying until ctx ends, or for DefaultPunchWindow when ctx
// has no deadline; then it fails with ErrPunchFailed. The TLS handshake
// on top may take HandshakeTimeout more.
//
// TLS runs on the connection as for Send, with the pinned identity: the
// peer must prove d.Identity's key, else Punch fails with a
// *KeyMismatchError (ErrKeyMismatch) and nothing is sent. Neither side
// of a simultaneous open is the one that accepted, so first each sends
// the other a punch hello (a tag and 16 random bytes): the side with the
// larger bytes is the TLS client. Both must negotiate parlance/2.
//
// On success the connection becomes the kept connection to d.Identity,
// used both ways: Send, SendBatch and SendControl to the peer write on
// it, and what the peer sends on it (messages with a Reply for their
// acknowledgements, and control frames) reaches Serve's handler. It ends
// like any kept connection (idle, closed by the peer, Close); the next
// Send then dials d.Addr directly. Serve must be running. Punch needs
// Unix (SO_REUSEPORT).
func (t *Transport) Punch(ctx context.Context, d Dest) error {
	_, err := t.punchFor(ctx, d, use{})
	return err
}

// PunchStream is Punch for a stream speaking proto (see OpenStream)
// instead of the kept connection. Both peers call it at about the same
// moment, one with open set: that side gets the stream, as from
// OpenStream; the other gets nil, and the stream goes to proto's
// StreamHandler (in a goroutine of the transport) as an inbound one
// would. The stream limits apply on both sides.
func (t *Transport) PunchStream(ctx context.Context, d Dest, proto string, open bool) (*Stream, error) {
	return t.punchFor(ctx, d, use{proto: proto, open: open})
}

// use is what a punched or attached connection becomes: the kept
// connection (proto empty), or a stream speaking proto that this side
// opens (open) or serves.
type use struct {
	proto string
	open  bool
}

// punchFor is Punch or PunchStream.
func (t *Transport) punchFor(ctx context.Context, d Dest, u use) (*Stream, error) {
	if err := t.checkPunch(d); err != nil {
		return nil, err
	}
	accepted, unexpect, err := t.punches.expect(d.Addr)
	if err != nil {
		return nil, err
	}
	defer unexpect()
	return t.punchAs(ctx, d, accepted, u)
}

func (t *Transport) checkPunch(d Dest) error {
	if !d.Addr.IsValid() {
		return errors.New("punch: destination has no address")
	}
	return t.checkAttach(d)
}

// checkAttach checks that d can be the peer of a connection that neither
// side dialed (Punch, Attach).
func (t *Transport) checkAttach(d Dest) error {
	switch {
	case d.Identity == "":
		return fmt.Errorf("attach to %s: a peer without identity cannot be attached to", destLabel(d))
	case t.serverTLS == nil:
		return fmt.Errorf("attach to %s: %w", destLabel(d), ErrNoIdentity)
	case d.Identity == string(t.cfg.Identity.ID()):
		return fmt.Errorf("attach to %s: that is this node's own identity", destLabel(d))
	}
	return nil
}

// destLabel names d in errors: its address, else (a relayed peer) its
// identity.
func destLabel(d Dest) string {
	if d.Addr.IsValid() {
		return d.Addr.String()
	}
	return "peer " + d.Identity
}

// Attach makes raw, a byte stream to the peer d.Identity that this node
// neither dialed nor accepted (a relayed stream, say), the kept two-way
// connection to that peer, as Punch does with a punched socket: both
// sides swap punch hellos (which picks the TLS client), TLS runs with the
// pinned identity (a peer that proves another key fails it with a
// *KeyMismatchError), and the connection then carries messages,
// acknowledgements and control frames both ways. path says how raw was
// made (PathRelayed for a relay), for Path. The peer must Attach (or
// Punch) the other end at about the same time. raw must honour
// deadlines (they bound the handshake, the writes and the idle timeout,
// as on a socket). raw is closed on failure; on success the transport
// owns it. Serve must be running.
func (t *Transport) Attach(ctx context.Context, d Dest, raw net.Conn, path Path) error {
	_, err := t.attachFor(ctx, d, raw, path, use{})
	return err
}

// AttachStream is Attach for a stream speaking proto instead of the kept
// connection; open, the return and the limits are as for PunchStream.
// The peer must AttachStream (or PunchStream) the other end with the
// other open.
func (t *Transport) AttachStream(ctx context.Context, d Dest, raw net.Conn, proto string, open bool) (*Stream, error) {
	return t.attachFor(ctx, d, raw, PathRelayed, use{proto: proto, open: open})
}

// attachFor is Attach or AttachStream.
func (t *Transport) attachFor(ctx context.Context, d Dest, raw net.Conn, path Path, u use) (*Stream, error) {
	if err := t.checkAttach(d); err != nil {
		raw.Close()
		return nil, err
	}
	if err := t.checkUse(d, u); err != nil {
		raw.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(t.ctx, cancel) // Close aborts the handshake
	defer stop()
	return t.attachAs(ctx, d, raw, path, u)
}

// checkUse checks that what a punched or attached connection is for can
// be served here: Serve's handler for the kept connection, proto's
// StreamHandler for a stream served.
func (t *Transport) checkUse(d Dest, u use) error {
	switch {
	case u.proto == "" && t.handle.Load() == nil:
		return fmt.Errorf("attach to %s: Serve is not running", destLabel(d))
	case u.proto == ALPN || u.proto == ALPN2:
		return fmt.Errorf("attach to %s: stream protocol %q is not allowed", destLabel(d), u.proto)
	case u.proto != "" && !u.open:
		t.mu.Lock()
		h := t.streams.handlers[u.proto]
		t.mu.Unlock()
		if h == nil {
			return fmt.Errorf("attach to %s: no handler for stream protocol %q", destLabel(d), u.proto)
		}
	}
	return nil
}

// attachAs runs the hello and TLS on raw and adopts the connection (u
// the kept connection), or makes it a stream (see attachStream).
func (t *Transport) attachAs(ctx context.Context, d Dest, raw net.Conn, path Path, u use) (*Stream, error) {
	tc, err := t.punchHandshake(ctx, raw, d, u)
	if err != nil {
		t.stats.dialErrors.Add(1)
		return nil, err
	}
	t.stats.dials.Add(1)
	if u.proto != "" {
		return t.attachStream(d, tc, raw, u)
	}
	return nil, t.adopt(ctx, d, tc, raw, path, *t.handle.Load())
}

// punch is Punch once its expectation is registered: accepted gets the
// connection the listener takes from d.Addr, if it does.
func (t *Transport) punch(ctx context.Context, d Dest, accepted <-chan net.Conn) error {
	_, err := t.punchAs(ctx, d, accepted, use{})
	return err
}

// punchAs is punch for u.
func (t *Transport) punchAs(ctx context.Context, d Dest, accepted <-chan net.Conn, u use) (*Stream, error) {
	if err := t.checkUse(d, u); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(t.ctx, cancel) // Close aborts the punch
	defer stop()

	window := ctx
	if _, ok := ctx.Deadline(); !ok {
		var cancelWindow context.CancelFunc
		window, cancelWindow = context.WithTimeout(ctx, DefaultPunchWindow)
		defer cancelWindow()
	}
	raw, err := t.simultaneousOpen(window, d.Addr, accepted)
	if err != nil {
		if t.ctx.Err() != nil {
			return nil, fmt.Errorf("punch %s: %w", d.Addr, net.ErrClosed)
		}
		t.stats.dialErrors.Add(1)
		return nil, fmt.Errorf("punch %s: %w: %w", d.Addr, ErrPunchFailed, err)
	}
	return t.attachAs(ctx, d, raw, PathPunched, u)
}

// simultaneousOpen dials addr from the listening port until a connection
// stands, from the dial or from the listener (accepted), or ctx ends.
func (t *Transport) simultaneousOpen(ctx context.Context, addr netip.AddrPort, accepted <-chan net.Conn) (net.Conn, error) {
	local := &net.TCPAddr{Port: int(t.port)}
	if ip := addrPortOf(t.ln.Addr()).Addr(); !ip.IsUnspecified() {
		local.IP = ip.AsSlice()
	}
	dialer := net.Dialer{LocalAddr: local, Control: sockopt.ControlReuse}
	type result struct {
		conn net.Conn
		err  error
	}
	var lastErr error
	for {
		// One connect stays in SYN-SENT (the kernel resends the SYN) until
		// it meets the peer's, is refused, or ctx ends.
		try, cancelTry := context.WithCancel(ctx)
		dialed := make(chan result, 1)
		go func() {
			c, err := dialer.DialContext(try, "tcp", addr.String())
			dialed <- result{c, err}
		}()
		var r result
		select {
		case r = <-dialed:
		case c := <-accepted:
			cancelTry()
			if r := <-dialed; r.err == nil {
				r.conn.Close()
			}
			return c, nil
		}
		cancelTry()
		if r.err == nil {
			return r.conn, nil
		}
		lastErr = r.err
		if ctx.Err() != nil {
			return nil, lastErr
		}
		select {
		case <-time.After(punchRetry):
		case c := <-accepted:
			return c, nil
		case <-ctx.Done():
			return nil, lastErr
		}
	}
}

// Punch hellos start the bytes each side of a punched (or relayed)
// connection sends before TLS (see Punch). Both sides of the kept
// connection send punchHello; on a stream, the side that opens it sends
// streamHello and the side that serves it punchHello, so a stream both
// sides (or neither) think they open fails before TLS. Neither is TLS's
// first byte nor '{': a listener that is not punching closes a
// connection that starts with one.
const (
	punchHello  = 'P'
	streamHello = 'S'
)

// hellos are the punch hellos this side sends and wants for u.
func (u use) hellos() (mine, theirs byte) {
	switch {
	case u.proto == "":
		return punchHello, punchHello
	case u.open:
		return streamHello, punchHello
	}
	return punchHello, streamHello
}

// punchHandshake swaps punch hellos, then runs TLS on a punched (or
// relayed) connection and checks the peer proves d.Identity and
// negotiates what u is for: parlance/2, or the stream's protocol.
func (t *Transport) punchHandshake(ctx context.Context, raw net.Conn, d Dest, u use) (*tls.Conn, error) {
	raw.SetDeadline(time.Now().Add(t.cfg.HandshakeTimeout))
	mine, want := u.hellos()
	client, err := swapHellos(ctx, raw, mine, want)
	if err != nil {
		raw.Close()
		return nil, fmt.Errorf("attach to %s: %w", destLabel(d), err)
	}
	var mismatch *KeyMismatchError
	pinned := t.clientFor(d.Addr, d.Identity, &mismatch)
	var tc *tls.Conn
	if client {
		if u.proto != "" {
			pinned.NextProtos = []string{u.proto}
		}
		tc = tls.Client(raw, pinned)
	} else {
		cfg := t.serverTLS.Clone()
		cfg.VerifyConnection = pinned.VerifyConnection
		if u.proto != "" {
			cfg.NextProtos = []string{u.proto}
		}
		tc = tls.Server(raw, cfg)
	}
	err = tc.HandshakeContext(ctx)
	if mismatch != nil {
		raw.Close()
		t.stats.keyMismatches.Add(1)
		t.log.Warn("punched or relayed peer proved another key: possible impersonation; nothing sent",
			"remote", addrPortOf(raw.RemoteAddr()).String(), "want", d.Identity, "got", mismatch.Got)
		return nil, mismatch
	}
	if err != nil {
		raw.Close()
		return nil, fmt.Errorf("attach to %s: tls handshake: %w", destLabel(d), err)
	}
	raw.SetDeadline(time.Time{})
	alpn := tc.ConnectionState().NegotiatedProtocol
	switch {
	case u.proto == "" && alpn != ALPN2:
		closeNow(tc)
		return nil, fmt.Errorf("attach to %s: peer negotiated %q: %w", destLabel(d), alpn, ErrNotTwoWay)
	case u.proto != "" && alpn != u.proto:
		closeNow(tc)
		return nil, fmt.Errorf("attach to %s: peer negotiated %q, not the stream's %q", destLabel(d), alpn, u.proto)
	}
	return tc, nil
}

// swapHellos sends this side's punch hello (tagged mine) and reads the
// peer's, which must be tagged want; client reports whether this side's
// random bytes are the larger. It writes while it reads, so a stream
// without buffering (a pipe) works too.
func swapHellos(ctx context.Context, raw net.Conn, mine, want byte) (client bool, err error) {
	stop := context.AfterFunc(ctx, func() { raw.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	var hello, theirs [17]byte
	hello[0] = mine
	rand.Read(hello[1:])
	wrote := make(chan error, 1)
	go func() {
		_, err := raw.Write(hello[:])
		wrote <- err
	}()
	_, rerr := io.ReadFull(raw, theirs[:])
	if rerr != nil {
		raw.SetDeadline(time.Unix(1, 0)) // the write cannot block longer
	}
	if werr := <-wrote; werr != nil {
		return false, fmt.Errorf("send punch hello: %w", werr)
	}
	if rerr != nil {
		return false, fmt.Errorf("read punch hello: %w", rerr)
	}
	switch {
	case theirs[0] == want:
	case theirs[0] == streamHello && want == punchHello:
		return false, errors.New("peer opens a stream where this side does not serve one (both asked for one at once?)")
	case theirs[0] == punchHello && want == streamHello:
		return false, errors.New("peer does not open the stream this side serves")
	default:
		return false, fmt.Errorf("peer sent %#x, not a punch hello", theirs[0])
	}
	switch bytes.Compare(hello[1:], theirs[1:]) {
	case 1:
		return true, nil
	case -1:
		return false, nil
	}
	return false, errors.New("punch hellos are equal: the connection loops back to this node")
}

// adopt makes a punched (or relayed: path) connection the kept connection
// of d's peer, of a new generation, and reads what arrives on it:
// messages (answered through a Reply) and control frames, both for
// handle.
func (t *Transport) adopt(ctx context.Context, d Dest, tc *tls.Conn, raw net.Conn, path Path, handle func(Inbound)) error {
	p, err := t.acquire(ctx, keyOf(d))
	if err != nil {
		closeNow(tc)
		return fmt.Errorf("attach to %s: %w", destLabel(d), err)
	}
	defer p.release()
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		closeNow(tc)
		return fmt.Errorf("attach to %s: %w", destLabel(d), net.ErrClosed)
	}
	t.outgoing[tc] = struct{}{}
	t.wg.Add(1)
	t.mu.Unlock()

	p.drop() // a dialed connection, if any: the punched one replaces it
	dead := make(chan struct{})
	p.conn, p.dead, p.twoWay, p.lastUse, p.gen = tc, dead, true, time.Now(), t.gens.Add(1)
	p.setPath(path)
	remote := addrPortOf(raw.RemoteAddr())
	ic := &inConn{ip: remote.Addr()}
	ic.touch(time.Now())
	reply := &replier{conn: tc, raw: raw, timeout: t.cfg.WriteTimeout}
	go func() {
		defer t.wg.Done()
		t.readMessages(tc, raw, ic, remote, d.Identity, reply, handle)
		t.ended(tc, dead)
	}()
	t.log.Debug("adopted a connection", "path", path.String(), "remote", remote.String(), "peer", d.Identity)
	return nil
}

// punchWaiters routes a connection the listener accepted from an address
// a Punch is dialing to that Punch.
type punchWaiters struct {
	mu sync.Mutex
	m  map[netip.AddrPort]chan net.Conn
}

// expect registers a Punch to addr; unexpect ends it, closing a
// connection handed over too late.
func (w *punchWaiters) expect(addr netip.AddrPort) (accepted <-chan net.Conn, unexpect func(), err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil {
		w.m = make(map[netip.AddrPort]chan net.Conn)
	}
	if w.m[addr] != nil {
		return nil, nil, fmt.Errorf("punch %s: another punch to it is under way", addr)
	}
	ch := make(chan net.Conn, 1)
	w.m[addr] = ch
	return ch, func() {
		w.mu.Lock()
		if w.m[addr] == ch {
			delete(w.m, addr)
		}
		w.mu.Unlock()
		select {
		case c := <-ch:
			c.Close()
		default:
		}
	}, nil
}

// handOver gives c to the Punch dialing its remote address, if any.
func (w *punchWaiters) handOver(c net.Conn) bool {
	addr := addrPortOf(c.RemoteAddr())
	w.mu.Lock()
	defer w.mu.Unlock()
	ch := w.m[addr]
	if ch == nil {
		return false
	}
	delete(w.m, addr)
	ch <- c // buffered, and only one is ever sent
	return true
}
