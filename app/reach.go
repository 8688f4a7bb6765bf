package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/parlance-chat/parlance/net/rendezvous"
	"github.com/parlance-chat/parlance/net/transport"
	"github.com/parlance-chat/parlance/net/wire"
)

// Reaching internet peers behind NATs.
//
// When something must go to a peer found through the bootstrap server
// and there is no kept connection to it, ensure connects first, in this
// order, and returns once one way worked (or all failed):
//
//  1. A direct dial (transport.Connect) to the peer's public address, or
//     its local address first when both have the same public IP (one LAN
//     behind one NAT). It keeps running in the background.
//  2. If it has not connected within HeadStart (or failed sooner), a
//     connect request to the server (wire.Connect); the server sends an
//     offer to both peers at once.
//  3. On the offer, both sides punch (transport.Punch) for PunchWindow.
//  4. If that fails and the offer carries a relay token, both dial the
//     relay with it and attach the relayed stream (transport.Attach).
//
// A peer that gets an offer it did not ask for runs 3 and 4 at once. A
// relayed connection is upgraded: every RepunchInterval, and when the
// peer's address changes, the side with the smaller identity asks the
// server again and both punch; a punched connection replaces the relayed
// one (the outbox resends what was in flight, see delivery). Connections
// end when idle like any other; the next send connects again this way.
//
// A stream (a file transfer's, see openStream) to such a peer is reached
// the same way, by an attempt of its own: the direct dial is OpenStream,
// the connect request and both offers carry the stream's protocol
// (wire.Connect.Proto), and the punched or relayed connection becomes a
// stream (transport.PunchStream, AttachStream) that the asking side
// opens and the other serves with its stream handler. Stream attempts
// to one peer run one at a time; they are never upgraded.
//
// Goroutines: run (started by Node.Run) owns the offers channel and the
// upgrade timer; each attempt has its own goroutine, at most maxAttempts,
// one per peer and purpose (the kept connection, a stream protocol),
// which runs its direct dial and its punch in goroutines
// it waits for. All end with Run's context and are waited for.

// ReachConfig turns on reaching internet peers behind NATs through the
// bootstrap server (Config.Reach; nil: internet peers are only dialed).
type ReachConfig struct {
	// Server is the bootstrap client's live session: the features it
	// granted, this node's public address, and Send for connect
	// requests (rendezvous.Client).
	Server ReachServer
	// RelayDial opens the relayed stream an offer's token names
	// (rendezvous.Client.DialRelay); nil: no relay.
	RelayDial func(ctx context.Context, token string) (net.Conn, error)
	// HeadStart is how long a direct dial runs alone before the server
	// is asked (default 400 ms).
	HeadStart time.Duration
	// OfferWait bounds the wait for the server's offer (default 2 s).
	OfferWait time.Duration
	// PunchWindow bounds a punch (default 1.5 s).
	PunchWindow time.Duration
	// RelayWait bounds dialing the relay and the handshake on it
	// (default 5 s).
	RelayWait time.Duration
	// RepunchInterval is how often a relayed connection tries to become
	// a punched one (default 60 s).
	RepunchInterval time.Duration
}

// ReachServer is what reaching needs of the bootstrap client.
type ReachServer interface {
	Server() (rendezvous.ServerInfo, bool)
	Send(ctx context.Context, m wire.ClientMessage) error
}

// ReachTransport is what reaching needs of the transport beyond
// Transport; *transport.Transport has it.
type ReachTransport interface {
	Path(id string) transport.Path
	Connect(ctx context.Context, d transport.Dest) (transport.Path, error)
	Punch(ctx context.Context, d transport.Dest) error
	Attach(ctx context.Context, d transport.Dest, raw net.Conn, path transport.Path) error
	// The same for streams (openStream).
	OpenStream(ctx context.Context, d transport.Dest, proto string) (*transport.Stream, error)
	PunchStream(ctx context.Context, d transport.Dest, proto string, open bool) (*transport.Stream, error)
	AttachStream(ctx context.Context, d transport.Dest, raw net.Conn, proto string, open bool) (*transport.Stream, error)
}

// Reach defaults.
const (
	DefaultHeadStart       = 400 * time.Millisecond
	DefaultOfferWait       = 2 * time.Second
	DefaultPunchWindow     = 1500 * time.Millisecond
	DefaultRelayWait       = 5 * time.Second
	DefaultRepunchInterval = time.Minute
	// maxAttempts bounds the connection attempts under way; offers
	// beyond it are dropped (the asking peer falls back on retrying).
	maxAttempts = 32
	// offerQueue bounds the server messages waiting for run.
	offerQueue = 64
	// lateOffer: an offer for a peer whose attempt succeeded this
	// recently, and which is still connected, is the duplicate of one it
	// used (both peers asked at once, or two servers answered), not a
	// new request.
	lateOffer = 500 * time.Millisecond
)

// ErrUnreachable: no way to the peer worked (direct, punched, relayed).
var ErrUnreachable = errors.New("peer unreachable: no direct, punched or relayed path worked")

func (c *ReachConfig) withDefaults() {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.HeadStart, DefaultHeadStart)
	def(&c.OfferWait, DefaultOfferWait)
	def(&c.PunchWindow, DefaultPunchWindow)
	def(&c.RelayWait, DefaultRelayWait)
	def(&c.RepunchInterval, DefaultRepunchInterval)
}

// reach runs the connection attempts of a Node.
type reach struct {
	n   *Node
	cfg ReachConfig
	tr  ReachTransport

	in chan wire.ServerMessage // offers and failures from the server, for run

	// mu guards what follows. It is taken after Node.mu (sighting calls
	// upgrade), never before.
	mu       sync.Mutex
	ctx      context.Context      // run's; nil before run
	attempts map[string]*attempt  // by attemptKey
	done     map[string]time.Time // when an attempt last succeeded, by identity
	wg       sync.WaitGroup
}

// attempt is one connection attempt to a peer.
type attempt struct {
	id      string
	proto   string // a stream's protocol; empty: the kept connection
	upgrade bool   // the connection is relayed: punch only
	offers  chan wire.ConnectOffer
	failed  chan string // the reason of a connect_failed
	end     chan struct{}
	path    transport.Path    // set before end is closed
	stream  *transport.Stream // the stream opened, for the side that asked
	err     error
}

// attemptKey names the attempt to the peer id for proto (empty: the
// kept connection).
func attemptKey(id, proto string) string {
	if proto == "" {
		return id
	}
	return id + " " + proto
}

func newReach(n *Node, cfg ReachConfig) (*reach, error) {
	tr, ok := n.cfg.Transport.(ReachTransport)
	if !ok {
		return nil, errors.New("reach needs a transport that punches and attaches")
	}
	if cfg.Server == nil {
		return nil, errors.New("reach needs the bootstrap client")
	}
	cfg.withDefaults()
	return &reach{n: n, cfg: cfg, tr: tr, in: make(chan wire.ServerMessage, offerQueue),
		attempts: map[string]*attempt{}, done: map[string]time.Time{}}, nil
}

// take queues a connect offer or failure from the server (see
// Node.ServerMessage); what does not fit the queue is dropped.
func (r *reach) take(m wire.ServerMessage) {
	select {
	case r.in <- m:
	default:
		r.n.log.Warn("connect offers arrive faster than they are handled; dropped one")
	}
}

// run dispatches the server's messages and upgrades relayed connections
// until ctx ends, then waits for the attempts.
func (r *reach) run(ctx context.Context) {
	r.mu.Lock()
	r.ctx = ctx
	r.mu.Unlock()
	defer r.wg.Wait()
	tick := time.NewTicker(r.cfg.RepunchInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-r.in:
			switch m := m.(type) {
			case wire.ConnectOffer:
				r.offer(m)
			case wire.ConnectFailed:
				r.mu.Lock()
				if a := r.attempts[attemptKey(m.PeerID, m.Proto)]; a != nil {
					select {
					case a.failed <- m.Reason:
					default:
					}
				}
				r.mu.Unlock()
			}
		case <-tick.C:
			for _, p := range r.n.Peers() {
				r.upgrade(p)
			}
		}
	}
}

// offer hands an offer to the attempt for its peer, or starts one.
func (r *reach) offer(o wire.ConnectOffer) {
	r.n.log.Debug("connect offer", "peer", o.PeerID, "addr", o.PublicAddr, "relay", o.Relay, "proto", o.Proto)
	// Only for a peer a source lists (the server listed it before it
	// sent the offer): a hostile server cannot make this node punch
	// towards addresses of its choosing for made-up identities.
	p, ok := r.n.Peer(PeerKey("id:" + o.PeerID))
	if !ok || !p.Online {
		r.n.log.Debug("connect offer for a peer not online here; ignored", "peer", o.PeerID)
		return
	}
	r.mu.Lock() // after n.Peer: sighting holds n.mu when it calls upgrade
	defer r.mu.Unlock()
	if a := r.attempts[attemptKey(o.PeerID, o.Proto)]; a != nil {
		select {
		case a.offers <- o:
		default:
		}
		return
	}
	if o.Proto != "" { // the peer opens a stream: serve it
		if a := r.startLocked(r.ctx, o.PeerID, o.Proto, p, false, false); a != nil {
			a.offers <- o
		}
		return
	}
	path := r.tr.Path(o.PeerID)
	if path != transport.PathNone && time.Since(r.done[o.PeerID]) < lateOffer {
		return // a duplicate of the offer just used
	}
	upgrade := path == transport.PathRelayed
	a := r.startLocked(r.ctx, o.PeerID, "", p, false, upgrade)
	if a != nil {
		a.offers <- o
	}
}

// upgrade tries to turn a relayed connection to p into a punched one;
// only the side with the smaller identity asks.
func (r *reach) upgrade(p Peer) {
	if p.Identity == "" || p.Identity > r.n.selfID || r.tr.Path(p.Identity) != transport.PathRelayed {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.attempts[p.Identity] == nil {
		r.startLocked(r.ctx, p.Identity, "", p, true, true)
	}
}

// ensure makes sure there is a connection to p before something is sent
// to it: nothing to do for a LAN peer, an original one, or one already
// connected; otherwise it joins or starts an attempt and waits for it.
func (r *reach) ensure(ctx context.Context, p Peer) error {
	if r == nil || p.Identity == "" || p.Source != rendezvous.SourceName || r.tr.Path(p.Identity) != transport.PathNone {
		return nil
	}
	r.mu.Lock()
	a := r.attempts[p.Identity]
	if a == nil {
		a = r.startLocked(r.ctx, p.Identity, "", p, true, false)
	}
	r.mu.Unlock()
	if a == nil {
		return nil // not running, or too many attempts: the send dials as before
	}
	select {
	case <-a.end:
		return a.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// openStream opens a stream speaking proto to p, an internet peer: an
// attempt of its own (see the top of the file) after any other stream
// attempt to p has ended. ctx bounds it. With reach not running, or too
// many attempts under way, it only dials.
func (r *reach) openStream(ctx context.Context, p Peer, proto string) (*transport.Stream, error) {
	key := attemptKey(p.Identity, proto)
	for {
		r.mu.Lock()
		other := r.attempts[key]
		var a *attempt
		if other == nil {
			// It ends with ctx too: nobody would take a stream it
			// opened after that.
			a = r.startLocked(ctx, p.Identity, proto, p, true, false)
		}
		r.mu.Unlock()
		switch {
		case a != nil:
			<-a.end // soon after ctx ends
			return a.stream, a.err
		case other == nil:
			info, _ := r.cfg.Server.Server()
			return r.tr.OpenStream(ctx, directDest(p, info.PublicAddr), proto)
		}
		select {
		case <-other.end:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// startLocked starts an attempt (r.mu held) that ends with ctx (run's,
// or within it); nil when reach is not running or too many attempts are
// under way.
func (r *reach) startLocked(ctx context.Context, id, proto string, p Peer, initiator, upgrade bool) *attempt {
	if r.ctx == nil || r.ctx.Err() != nil || len(r.attempts) >= maxAttempts {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(r.ctx, cancel) // a caller's ctx ends with run's too
	a := &attempt{id: id, proto: proto, upgrade: upgrade, offers: make(chan wire.ConnectOffer, 4),
		failed: make(chan string, 1), end: make(chan struct{})}
	key := attemptKey(id, proto)
	r.attempts[key] = a
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		start := time.Now()
		a.path, a.err = r.connect(ctx, a, p, initiator)
		stop()
		cancel()
		r.mu.Lock()
		delete(r.attempts, key)
		if a.err == nil && proto == "" {
			r.done[id] = time.Now()
			for k, t := range r.done {
				if time.Since(t) > lateOffer {
					delete(r.done, k)
				}
			}
		}
		r.mu.Unlock()
		close(a.end)
		r.n.log.Debug("connection attempt ended", "peer", id, "proto", proto, "path", a.path.String(), "took", time.Since(start), "err", a.err)
		if a.err == nil && proto == "" {
			r.n.notePath(PeerKey("id:" + id))
		}
	}()
	return a
}

// dialResult is the outcome of the background direct dial.
type dialResult struct {
	path   transport.Path
	stream *transport.Stream // a stream attempt's
	err    error
}

// directDial is an attempt's direct dial, running in the background
// while the server is asked and the peers punch.
type directDial struct {
	results chan dialResult   // nil: it is not running (or has reported)
	path    transport.Path    // what it connected, once it did
	stream  *transport.Stream // the stream it opened, until the attempt takes it
	err     error             // why it failed, once it did
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// startDirect starts the direct dial of an attempt that asks for a
// connection (not an upgrade: a relayed peer was dialed before).
func (r *reach) startDirect(ctx context.Context, a *attempt, p Peer, own netip.AddrPort, initiator bool) *directDial {
	dd := &directDial{}
	ctx, dd.cancel = context.WithCancel(ctx)
	if !initiator || a.upgrade {
		return dd
	}
	dd.results = make(chan dialResult, 1)
	d := directDest(p, own)
	dd.wg.Go(func() {
		if a.proto == "" {
			path, err := r.tr.Connect(ctx, d)
			dd.results <- dialResult{path: path, err: err}
			return
		}
		s, err := r.tr.OpenStream(ctx, d, a.proto)
		dd.results <- dialResult{path: transport.PathDirect, stream: s, err: err}
	})
	return dd
}

// took takes a result the dial reported: connected reports success;
// a failure is kept in err and the dial is no longer waited for.
func (dd *directDial) took(res dialResult) (connected bool) {
	dd.results = nil
	if res.err != nil {
		dd.err = res.err
		return false
	}
	dd.path, dd.stream = res.path, res.stream
	return true
}

// wait is the attempt's end when the other ways failed with err: the
// direct dial's result if it still runs, else err.
func (dd *directDial) wait(ctx context.Context, err error) (transport.Path, error) {
	if dd.err != nil {
		err = fmt.Errorf("%w; direct: %w", err, dd.err)
	}
	if dd.results == nil {
		return transport.PathNone, err
	}
	select {
	case res := <-dd.results:
		if dd.took(res) {
			return res.path, nil
		}
		return transport.PathNone, fmt.Errorf("%w; direct: %w", err, res.err)
	case <-ctx.Done():
		return transport.PathNone, ctx.Err()
	}
}

// stop ends the dial and waits for it; it closes a stream the dial
// opened that the attempt did not take.
func (dd *directDial) stop() {
	dd.cancel()
	dd.wg.Wait()
	if dd.results != nil {
		select {
		case res := <-dd.results:
			dd.took(res)
		default:
		}
	}
	if dd.stream != nil {
		dd.stream.Close()
	}
}

// connect runs one attempt (see the top of the file): the direct dial,
// then the server's offer, the punch and the relay.
func (r *reach) connect(ctx context.Context, a *attempt, p Peer, initiator bool) (path transport.Path, err error) {
	info, online := r.cfg.Server.Server()
	dd := r.startDirect(ctx, a, p, info.PublicAddr, initiator)
	defer func() {
		if err == nil && a.stream == nil { // the direct dial opened it
			a.stream, dd.stream = dd.stream, nil
		}
		if err != nil && a.stream != nil {
			a.stream.Close()
			a.stream = nil
		}
		dd.stop()
	}()
	if initiator && !(online && info.Has(wire.FeatureReach)) {
		return dd.wait(ctx, fmt.Errorf("%w: the bootstrap server does not arrange connections", ErrUnreachable))
	}
	offer := wire.ConnectOffer{}
	if initiator {
		var path transport.Path
		var err error
		if offer, path, err = r.askServer(ctx, a, dd); path != transport.PathNone || err != nil {
			return path, err
		}
	} else {
		offer = <-a.offers // the one that started the attempt
	}
	punchErr := r.punch(ctx, a, dd, offer, info.PublicAddr, initiator)
	switch {
	case punchErr == nil:
		return transport.PathPunched, nil
	case errors.Is(punchErr, errDirectWon):
		return dd.path, nil
	case ctx.Err() != nil:
		return transport.PathNone, ctx.Err()
	}
	return r.relay(ctx, a, dd, offer, punchErr, initiator)
}

// askServer gives the direct dial its head start, then asks the server
// for an offer and waits for it. It returns the offer, or the path the
// direct dial made meanwhile, or why neither came.
func (r *reach) askServer(ctx context.Context, a *attempt, dd *directDial) (wire.ConnectOffer, transport.Path, error) {
	none := wire.ConnectOffer{}
	head := time.NewTimer(r.cfg.HeadStart)
	defer head.Stop()
	if a.upgrade {
		head.Reset(0)
	}
	select {
	case res := <-dd.results:
		if dd.took(res) {
			return none, res.path, nil
		}
	case <-head.C:
	case o := <-a.offers: // the peer asked meanwhile
		return o, transport.PathNone, nil
	case <-ctx.Done():
		return none, transport.PathNone, ctx.Err()
	}
	r.n.log.Debug("asking the bootstrap server to arrange a connection", "peer", a.id, "proto", a.proto)
	if err := r.cfg.Server.Send(ctx, wire.Connect{PeerID: a.id, Proto: a.proto}); err != nil {
		path, err := dd.wait(ctx, fmt.Errorf("%w: ask the bootstrap server: %w", ErrUnreachable, err))
		return none, path, err
	}
	wait := time.NewTimer(r.cfg.OfferWait)
	defer wait.Stop()
	for {
		select {
		case res := <-dd.results:
			if dd.took(res) {
				return none, res.path, nil
			}
			continue // the offer is on its way
		case o := <-a.offers:
			return o, transport.PathNone, nil
		case reason := <-a.failed:
			path, err := dd.wait(ctx, fmt.Errorf("%w: the server could not arrange it (%s)", ErrUnreachable, reason))
			return none, path, err
		case <-wait.C:
			path, err := dd.wait(ctx, fmt.Errorf("%w: no offer from the server within %v", ErrUnreachable, r.cfg.OfferWait))
			return none, path, err
		case <-ctx.Done():
			return none, transport.PathNone, ctx.Err()
		}
	}
}

// errDirectWon: the direct dial connected while the peers punched.
var errDirectWon = errors.New("the direct dial connected first")

// punch punches to the peer of offer for PunchWindow; the direct dial
// may still connect meanwhile (errDirectWon). A stream punched is opened
// by the side that asked (initiator), served by the other.
func (r *reach) punch(ctx context.Context, a *attempt, dd *directDial, offer wire.ConnectOffer, own netip.AddrPort, initiator bool) error {
	d := transport.Dest{Addr: punchTarget(offer, own), Identity: a.id}
	pctx, cancel := context.WithTimeout(ctx, r.cfg.PunchWindow)
	defer cancel()
	punched := make(chan error, 1)
	go func() {
		if a.proto == "" {
			punched <- r.tr.Punch(pctx, d)
			return
		}
		var err error
		a.stream, err = r.tr.PunchStream(pctx, d, a.proto, initiator)
		punched <- err
	}()
	select {
	case err := <-punched:
		return err
	case res := <-dd.results:
		if !dd.took(res) {
			return <-punched
		}
		cancel()
		if err := <-punched; err == nil {
			return nil // it replaced the dialed connection
		}
		return errDirectWon
	}
}

// relay connects through the relay with the smallest token offered (both
// sides pick the same one when both asked, or two servers answered),
// after the punch failed with punchErr.
func (r *reach) relay(ctx context.Context, a *attempt, dd *directDial, offer wire.ConnectOffer, punchErr error, initiator bool) (transport.Path, error) {
	token := relayToken(offer, a.offers)
	if a.upgrade || token == "" || r.cfg.RelayDial == nil {
		return dd.wait(ctx, fmt.Errorf("%w: punch: %w; no relay", ErrUnreachable, punchErr))
	}
	rctx, cancel := context.WithTimeout(ctx, r.cfg.RelayWait)
	defer cancel()
	conn, err := r.cfg.RelayDial(rctx, token)
	switch {
	case err != nil:
	case a.proto == "":
		err = r.tr.Attach(rctx, transport.Dest{Identity: a.id}, conn, transport.PathRelayed)
	default:
		a.stream, err = r.tr.AttachStream(rctx, transport.Dest{Identity: a.id}, conn, a.proto, initiator)
	}
	if err != nil {
		return dd.wait(ctx, fmt.Errorf("%w: punch: %w; relay: %w", ErrUnreachable, punchErr, err))
	}
	return transport.PathRelayed, nil
}

// relayToken is the smallest relay token of first and the offers
// waiting in more.
func relayToken(first wire.ConnectOffer, more <-chan wire.ConnectOffer) string {
	token := ""
	consider := func(o wire.ConnectOffer) {
		if o.Relay && o.Token != "" && (token == "" || o.Token < token) {
			token = o.Token
		}
	}
	consider(first)
	for {
		select {
		case o := <-more:
			consider(o)
		default:
			return token
		}
	}
}

// sameNAT reports whether a peer whose public address is theirs sits
// behind the same public IP as this node (own): one LAN behind one NAT.
func sameNAT(theirs, own netip.AddrPort) bool {
	return own.IsValid() && theirs.IsValid() && theirs.Addr().Unmap() == own.Addr().Unmap()
}

// usableLocal reports whether a peer's own idea of its address can be
// dialed from this node's LAN.
func usableLocal(a netip.AddrPort) bool {
	return a.IsValid() && a.Port() != 0 && !a.Addr().IsUnspecified()
}

// directDest is where a direct dial to p goes: its public address, or
// its local one first when both share a public IP.
func directDest(p Peer, own netip.AddrPort) transport.Dest {
	d := transport.Dest{Addr: p.Addr, Identity: p.Identity}
	if sameNAT(p.Addr, own) && usableLocal(p.AltAddr) {
		d.Addr, d.AltAddr = p.AltAddr, p.Addr
	}
	return d
}

// punchTarget is where to punch for an offer: the other's public
// address, or its local one when both share a public IP.
func punchTarget(o wire.ConnectOffer, own netip.AddrPort) netip.AddrPort {
	if sameNAT(o.PublicAddr, own) && usableLocal(o.LocalAddr) {
		return netip.AddrPortFrom(o.LocalAddr.Addr().Unmap(), o.LocalAddr.Port())
	}
	return netip.AddrPortFrom(o.PublicAddr.Addr().Unmap(), o.PublicAddr.Port())
}

// openStream opens a stream speaking proto to p: for an internet peer
// with reach on, through an attempt that punches or relays when the
// direct dial fails (see reach.openStream); otherwise by dialing.
func (n *Node) openStream(ctx context.Context, streams Streams, p Peer, proto string) (*transport.Stream, error) {
	if n.reach != nil && p.Source == rendezvous.SourceName && p.Identity != "" {
		return n.reach.openStream(ctx, p, proto)
	}
	return streams.OpenStream(ctx, transport.Dest{Addr: p.Addr, AltAddr: p.AltAddr, Identity: p.Identity}, proto)
}

// connectFirst is called before something goes to p: with reach on, it
// connects an internet peer that has no connection (see ensure).
func (n *Node) connectFirst(ctx context.Context, p Peer) error {
	if n.reach == nil {
		return nil
	}
	return n.reach.ensure(ctx, p)
}

// peerMoved tells reach that an internet peer's address changed: a
// relayed connection to it tries to become a punched one.
func (n *Node) peerMoved(p Peer) {
	if n.reach != nil && p.Source == rendezvous.SourceName {
		n.reach.upgrade(p)
	}
}

// pathTransport is a transport that tells how its connections were made.
type pathTransport interface {
	Path(id string) transport.Path
}

// notePath records in the peer of key how its kept connection was made
// now, and reports a change (PathChanged).
func (n *Node) notePath(key PeerKey) {
	pt, ok := n.cfg.Transport.(pathTransport)
	if !ok {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	st := n.reg.peers[key]
	if st == nil || st.Identity == "" {
		return
	}
	path := pt.Path(st.Identity)
	if path == st.Path {
		return
	}
	st.Path = path
	if path != transport.PathNone {
		n.connected[key] = struct{}{}
	} else {
		delete(n.connected, key)
	}
	n.emit(PathChanged{Peer: st.Peer})
}

// refreshPaths notices the connections that ended (idle, closed by the
// peer) and reports them (PathChanged).
func (n *Node) refreshPaths() {
	n.mu.Lock()
	keys := make([]PeerKey, 0, len(n.connected))
	for k := range n.connected {
		keys = append(keys, k)
	}
	n.mu.Unlock()
	for _, k := range keys {
		n.notePath(k)
	}
}
