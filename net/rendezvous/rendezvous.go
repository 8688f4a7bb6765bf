// Package rendezvous finds peers through a bootstrap (rendezvous) server
// over WebSocket: it registers this node's TCP port, learns the addresses
// of the other peers of its room and reports them as discovery sightings.
// It is the discovery.Source of internet mode.
//
// It works with the original Rust server and with Parlance's (package
// bootstrap). It always asks for Parlance's extensions in its register;
// an original server ignores them, so the client then polls list_peers
// every PollInterval like the original client. A Parlance server pushes
// peer_joined and peer_left instead, and checks the identity by a
// challenge the client signs (wire.AuthMessage: bound to the server URL
// dialled and the register sent).
//
// A room asked of an original server, which has none, is reported in
// the Note of the online state. A registration replaced by the same
// identity on another connection stops the client (see ErrReplaced). The
// client keeps at most Config.MaxPeers peers, whatever the server sends.
package rendezvous

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parlance-chat/parlance/net/discovery"
	"github.com/parlance-chat/parlance/net/identity"
	"github.com/parlance-chat/parlance/net/wire"
)

// SourceName is the Source of every sighting this package reports.
const SourceName = "internet"

// GoneReason is the Reason of a Gone sighting.
const GoneReason = "left the server"

// StoppedReason is the Reason of the Gone sightings of every known peer
// when the client stops for good (see ErrReplaced).
const StoppedReason = "no longer connected to the bootstrap server"

// ErrReplaced is wrapped by the Err of the Stopped state reported when the
// server replaced this registration because the same identity registered
// from another connection: another process runs with the same key. The
// client then stops for the rest of Run instead of reconnecting; two
// processes with one key would otherwise take turns replacing each other
// forever, and their room would see each turn as a leave and a join. The
// user ends one of them and restarts the other.
var ErrReplaced = errors.New("this identity is online elsewhere (another parlance with the same key?); not reconnecting")

// Defaults of Config (those of the original client).
const (
	DefaultHeartbeatInterval = 10 * time.Second
	DefaultPollInterval      = 5 * time.Second
	DefaultMinBackoff        = 1 * time.Second
	DefaultMaxBackoff        = 30 * time.Second
	DefaultWriteTimeout      = 10 * time.Second
	DefaultDialTimeout       = 10 * time.Second
	// DefaultGrace is the server's peer timeout: within it, every peer
	// still running has registered again on a restarted server.
	DefaultGrace = 30 * time.Second
)

// Config configures a Client. Zero values take the defaults.
type Config struct {
	// URL of the server, e.g. "ws://localhost:8080".
	URL string
	// URLs are several servers (of one cluster, say) to fail over
	// between: each reconnection attempt, after the same back-off, goes
	// to the next. When set, URL is ignored.
	URLs []string
	// Grace is how long a peer that a new connection's server does not
	// list stays, unconfirmed, before it is reported gone: after a
	// server restart, peers register again over several seconds, and
	// messages to them flow directly meanwhile. Peers are unconfirmed
	// from the moment the connection drops; ones no server confirms
	// within Grace (they quit while the server was down) are reported
	// gone, even while no server is reachable. A peer_left from the
	// server removes a peer at once.
	Grace time.Duration
	// Self is this node: its nickname and the TCP port it accepts
	// messages on. Self.Identity must be Identity's ID when Identity is
	// set.
	Self discovery.Self
	// Identity signs the server's challenge. nil registers without an
	// identity, like the original client.
	Identity *identity.Identity
	// Room is the room to join ("" is the default room, the only one an
	// original server has).
	Room string
	// HeartbeatInterval is how often the registration is refreshed (the
	// server drops it after 30 s without). A WebSocket ping goes with
	// every heartbeat.
	HeartbeatInterval time.Duration
	// PollInterval is how often list_peers is sent when the server does
	// not push.
	PollInterval time.Duration
	// MinBackoff and MaxBackoff bound the wait between reconnection
	// attempts: it doubles from MinBackoff up to MaxBackoff, each wait
	// drawn at random from its upper half.
	MinBackoff, MaxBackoff time.Duration
	// ReadTimeout is how long the connection may stay silent (not even a
	// pong) before it counts as lost; default 4 heartbeats.
	ReadTimeout time.Duration
	// WriteTimeout bounds every write.
	WriteTimeout time.Duration
	// DialTimeout bounds connecting and registering.
	DialTimeout time.Duration
	// MaxPeers caps the peers the client keeps (default
	// wire.MaxPeerListEntries, the most a Parlance server lists): a
	// hostile server cannot grow the set without bound. Peers beyond it
	// are ignored, with a warning at most once a minute.
	MaxPeers int
	// Features are extensions to ask the server for beyond push and
	// peers_joined (e.g. wire.FeatureReach). Server reports those the
	// server granted.
	Features []string
	// OnMessage, when set, receives each server message the client does
	// not handle itself (the extensions' messages, such as a hole-punching
	// offer), with the live session's description. It is called on the
	// session's goroutine and must not block.
	OnMessage func(ServerInfo, wire.ServerMessage)
	Logger    *slog.Logger
	// Dialer connects to the server (tests hook NetDialContext here); nil
	// means a default one.
	Dialer *websocket.Dialer
}

// Client keeps this node registered on a bootstrap server and reports the
// peers of its room. It implements discovery.Source.
type Client struct {
	cfg        Config
	log        *slog.Logger
	urls       []string
	signedURLs []string // urls normalised: what an identity proof names

	mu       sync.Mutex
	nickname string
	renamed  chan struct{} // signals SetNickname to the session, capacity 1
	live     *live         // the registered session Send writes on, or nil
}

var _ discovery.Source = (*Client)(nil)

// New checks cfg and returns a Client ready to Run.
func New(cfg Config) (*Client, error) {
	urls := cfg.URLs
	if len(urls) == 0 {
		urls = []string{cfg.URL}
	}
	signedURLs := make([]string, len(urls))
	for i, raw := range urls {
		u, err := url.Parse(raw)
		if err != nil {
			return nil, fmt.Errorf("bootstrap server URL: %w", err)
		}
		if u.Scheme != "ws" && u.Scheme != "wss" || u.Host == "" {
			return nil, fmt.Errorf("bootstrap server URL %q: want ws://host:port or wss://host:port", raw)
		}
		if signedURLs[i], err = wire.NormalizeServerURL(raw); err != nil {
			return nil, fmt.Errorf("bootstrap server URL: %w", err)
		}
	}
	if err := wire.ValidateNickname(cfg.Self.Nickname); err != nil {
		return nil, err
	}
	if cfg.Self.TCPPort == 0 {
		return nil, errors.New("rendezvous: Self.TCPPort is 0")
	}
	if err := wire.ValidateRoom(cfg.Room); err != nil {
		return nil, err
	}
	if cfg.Identity != nil {
		if cfg.Self.Identity == "" {
			cfg.Self.Identity = cfg.Identity.ID().String()
		} else if cfg.Self.Identity != cfg.Identity.ID().String() {
			return nil, errors.New("rendezvous: Self.Identity is not the ID of Identity")
		}
	} else if cfg.Self.Identity != "" {
		return nil, errors.New("rendezvous: Self.Identity set without the Identity to prove it")
	}
	setDefault(&cfg.HeartbeatInterval, DefaultHeartbeatInterval)
	setDefault(&cfg.PollInterval, DefaultPollInterval)
	setDefault(&cfg.MinBackoff, DefaultMinBackoff)
	setDefault(&cfg.MaxBackoff, DefaultMaxBackoff)
	cfg.MaxBackoff = max(cfg.MaxBackoff, cfg.MinBackoff)
	setDefault(&cfg.ReadTimeout, 4*cfg.HeartbeatInterval)
	setDefault(&cfg.WriteTimeout, DefaultWriteTimeout)
	setDefault(&cfg.DialTimeout, DefaultDialTimeout)
	setDefault(&cfg.Grace, DefaultGrace)
	if cfg.MaxPeers <= 0 {
		cfg.MaxPeers = wire.MaxPeerListEntries
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Dialer == nil {
		cfg.Dialer = &websocket.Dialer{Proxy: http.ProxyFromEnvironment, HandshakeTimeout: cfg.DialTimeout}
	}
	return &Client{
		cfg:        cfg,
		urls:       slices.Clone(urls),
		signedURLs: signedURLs,
		log:        cfg.Logger,
		nickname:   cfg.Self.Nickname,
		renamed:    make(chan struct{}, 1),
	}, nil
}

func setDefault(d *time.Duration, def time.Duration) {
	if *d <= 0 {
		*d = def
	}
}

// SetNickname registers again at once under the new nickname. On a
// Parlance server the registration is updated in place (same peer_id, the
// others get a peer_joined); on an original server the client sends
// unregister and then register, so the old name does not linger for 30 s.
// An invalid nickname is ignored (and logged).
func (c *Client) SetNickname(name string) {
	if err := wire.ValidateNickname(name); err != nil {
		c.log.Warn("nickname not changed", "err", err)
		return
	}
	c.mu.Lock()
	c.nickname = name
	c.mu.Unlock()
	select {
	case c.renamed <- struct{}{}:
	default:
	}
}

func (c *Client) currentNickname() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nickname
}

// Run connects, registers and reports peers to h until ctx is cancelled;
// then it unregisters, closes the connection with a close frame and
// returns nil. A lost connection is retried with exponential back-off;
// each change of the connection's state goes to h.State. Peers are kept
// across a reconnection, and those missing from the new server's list
// are then reported gone.
//
// When the server replaces the registration because this identity
// registered from another connection, Run reports every peer gone and a
// Stopped state whose Err wraps ErrReplaced, and then only waits for ctx:
// it does not reconnect.
func (c *Client) Run(ctx context.Context, h discovery.Handler) error {
	peers := newPeerSet(h, c.cfg.MaxPeers, c.log)
	attempt, server := 0, 0
	for ; ; server = (server + 1) % len(c.urls) {
		h.State(discovery.State{Phase: discovery.Connecting})
		online, err := c.session(ctx, h, peers, server)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, ErrReplaced) {
			c.log.Warn("identity registered again from another connection; not reconnecting", "err", err)
			peers.clear(StoppedReason)
			h.State(discovery.State{Phase: discovery.Stopped, Err: err})
			<-ctx.Done()
			return nil
		}
		peers.unconfirmAll(time.Now().Add(c.cfg.Grace))
		if online >= c.cfg.MaxBackoff {
			attempt = 0
		}
		delay := c.backoff(attempt)
		attempt++
		c.log.Info("bootstrap server connection lost; retrying", "err", err, "retry_in", delay.Round(time.Millisecond))
		h.State(discovery.State{Phase: discovery.Retrying, RetryIn: delay, Err: err})
		if !c.wait(ctx, delay, peers) {
			return nil
		}
	}
}

// wait waits for d, reporting gone the peers whose grace ends meanwhile;
// it returns false if ctx is done first.
func (c *Client) wait(ctx context.Context, d time.Duration, peers *peerSet) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		var expiry <-chan time.Time
		e := time.NewTimer(time.Hour)
		if next, ok := peers.nextExpiry(); ok {
			e.Reset(time.Until(next))
			expiry = e.C
		}
		select {
		case <-ctx.Done():
			e.Stop()
			return false
		case <-t.C:
			e.Stop()
			peers.expire(time.Now())
			return true
		case <-expiry:
			peers.expire(time.Now())
		}
	}
}

// backoff returns the wait before reconnection attempt n (from 0): it
// doubles from MinBackoff to MaxBackoff and is drawn from the upper half.
func (c *Client) backoff(n int) time.Duration {
	d := c.cfg.MaxBackoff
	if n < 32 {
		d = min(d, c.cfg.MinBackoff<<n)
	}
	if d <= 0 {
		d = c.cfg.MaxBackoff
	}
	return d/2 + rand.N(d/2+1)
}

// inbound is what the reader goroutine hands to the session.
type inbound struct {
	msg wire.ServerMessage
	err error
}

// session is one connection to the server. All of its fields belong to
// the goroutine running Run.
type session struct {
	c         *Client
	log       *slog.Logger
	signedURL string // the server's URL normalised: what an identity proof names
	url       string // the server's URL as configured
	h         discovery.Handler
	ws        *websocket.Conn
	peers     *peerSet

	registered bool            // the server confirmed a register
	awaiting   bool            // a register is not confirmed yet
	regSum     [32]byte        // SHA-256 of the last register frame sent
	push       bool            // the server pushes changes
	ownIDs     map[string]bool // peer ids the server gave this node
	ownAddr    netip.AddrPort  // public_addr the server gave this node
	sentNick   string          // nickname of the last register sent
	nickDirty  bool            // renamed while a register was pending
	note       string          // discovery.State.Note while online
	poll       *time.Ticker
	live       *live // set once registered: where Send's requests come in
}

// session runs one connection until it fails or ctx is done, and returns
// how long it was registered and why it ended.
func (c *Client) session(ctx context.Context, h discovery.Handler, peers *peerSet, server int) (time.Duration, error) {
	dctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	ws, resp, err := c.cfg.Dialer.DialContext(dctx, c.urls[server], nil)
	cancel()
	if err != nil {
		return 0, dialError(c.urls[server], resp, err)
	}
	ws.SetReadLimit(wire.MaxServerMessage)
	s := &session{c: c, h: h, ws: ws, peers: peers, ownIDs: make(map[string]bool),
		signedURL: c.signedURLs[server], url: c.urls[server], log: c.log.With("server", c.urls[server])}

	incoming := make(chan inbound)
	done := make(chan struct{})
	readerDone := make(chan struct{})
	go s.readLoop(incoming, done, readerDone)
	defer func() {
		close(done)
		_ = ws.Close()
		<-readerDone
		if s.poll != nil {
			s.poll.Stop()
		}
		c.endLive(s.live)
	}()

	var onlineSince time.Time
	online := func() time.Duration {
		if onlineSince.IsZero() {
			return 0
		}
		return time.Since(onlineSince)
	}
	if err := s.register(); err != nil {
		return 0, err
	}
	regTimeout := time.NewTimer(c.cfg.DialTimeout)
	defer regTimeout.Stop()
	heartbeat := time.NewTicker(c.cfg.HeartbeatInterval)
	defer heartbeat.Stop()

	for {
		var pollC <-chan time.Time
		if s.poll != nil {
			pollC = s.poll.C
		}
		var requests <-chan outgoing
		if s.live != nil {
			requests = s.live.out
		}
		select {
		case <-ctx.Done():
			s.goodbye(incoming)
			return online(), ctx.Err()
		case in := <-incoming:
			if in.err != nil {
				return online(), in.err
			}
			wasRegistered := s.registered
			if err := s.handle(in.msg); err != nil {
				return online(), err
			}
			if s.registered && !wasRegistered {
				regTimeout.Stop()
				onlineSince = time.Now()
				h.State(discovery.State{Phase: discovery.Online, Note: s.note})
			}
		case <-regTimeout.C:
			if !s.registered {
				return 0, fmt.Errorf("no answer to register within %v", c.cfg.DialTimeout)
			}
		case <-heartbeat.C:
			peers.expire(time.Now())
			if err := s.ping(); err != nil {
				return online(), s.writeFailed(incoming, err)
			}
			if s.registered {
				if err := s.send(wire.Heartbeat{}); err != nil {
					return online(), s.writeFailed(incoming, err)
				}
			}
		case <-pollC:
			if err := s.send(wire.ListPeers{}); err != nil {
				return online(), s.writeFailed(incoming, err)
			}
		case <-c.renamed:
			if err := s.rename(); err != nil {
				return online(), s.writeFailed(incoming, err)
			}
		case req := <-requests:
			err := s.send(req.m)
			req.done <- err
			if err != nil {
				return online(), err
			}
		}
	}
}

// writeFailed returns why the session ends after a write failed with
// err: ErrReplaced if the reader holds the server's "Replaced" error
// already (the server closes a replaced connection right after it; a
// client that took the write error for a lost connection would register
// again and replace the newer holder of its identity in turn), else err.
func (s *session) writeFailed(incoming <-chan inbound, err error) error {
	for {
		select {
		case in := <-incoming:
			if in.err != nil {
				return err
			}
			if e, ok := in.msg.(wire.Error); ok && strings.HasPrefix(e.Message, "Replaced") {
				return s.handle(e)
			}
		default:
			return err
		}
	}
}

func dialError(u string, resp *http.Response, err error) error {
	if resp == nil {
		return fmt.Errorf("connect to %s: %w", u, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	msg := strings.TrimSpace(string(body))
	if msg == "" {
		return fmt.Errorf("connect to %s: server answered %s", u, resp.Status)
	}
	return fmt.Errorf("connect to %s: server answered %s: %s", u, resp.Status, msg)
}

// readLoop reads and parses server messages and hands them over until the
// connection fails or done is closed.
func (s *session) readLoop(incoming chan<- inbound, done <-chan struct{}, readerDone chan<- struct{}) {
	defer close(readerDone)
	ws := s.ws
	timeout := s.c.cfg.ReadTimeout
	extend := func() { _ = ws.SetReadDeadline(time.Now().Add(timeout)) }
	extend()
	ws.SetPongHandler(func(string) error { extend(); return nil })
	pong := ws.PingHandler() // gorilla's: answers, ignoring a closed or slow peer
	ws.SetPingHandler(func(data string) error {
		extend()
		return pong(data)
	})
	for {
		_, data, err := ws.ReadMessage()
		var in inbound
		if err != nil {
			in.err = readError(err)
		} else {
			extend()
			msg, perr := wire.ParseServerMessage(data)
			if perr != nil {
				// A newer server may send what this client does not know.
				s.log.Debug("ignoring server message", "err", perr)
				continue
			}
			in.msg = msg
		}
		select {
		case incoming <- in:
		case <-done:
			return
		}
		if err != nil {
			return
		}
	}
}

func readError(err error) error {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		if ce.Text != "" {
			return fmt.Errorf("server closed the connection: %s (%d)", ce.Text, ce.Code)
		}
		return fmt.Errorf("server closed the connection (%d)", ce.Code)
	}
	return fmt.Errorf("read from server: %w", err)
}

// handle acts on one server message.
func (s *session) handle(msg wire.ServerMessage) error {
	switch m := msg.(type) {
	case wire.Registered:
		first := !s.registered
		s.registered, s.awaiting = true, false
		s.ownIDs[m.PeerID] = true
		s.ownAddr = m.PublicAddr
		s.push = wire.HasFeature(m.Features, wire.FeaturePush)
		if first {
			s.live = s.c.goLive(s, m.Features)
			s.log.Info("registered on the bootstrap server", "peer_id", m.PeerID, "public_addr", m.PublicAddr, "push", s.push)
			if room := s.c.cfg.Room; room != "" && len(m.Features) == 0 {
				// A Parlance server answers features with features; one
				// that names none is an original server, which has one
				// room for everybody.
				s.note = fmt.Sprintf("this server ignores rooms (an original bootstrap server?): you see everyone on it, not only room %q", room)
				s.log.Warn("room not supported by the bootstrap server", "room", room)
			}
			if !s.push {
				// Like the original: list at once, then poll.
				if err := s.send(wire.ListPeers{}); err != nil {
					return err
				}
				s.poll = time.NewTicker(s.c.cfg.PollInterval)
			}
		}
		if s.nickDirty {
			return s.rename()
		}
	case wire.Challenge:
		id := s.c.cfg.Identity
		if id == nil {
			return errors.New("server sent a challenge, but no identity is configured")
		}
		url := s.signedURL
		return s.send(wire.Auth{Signature: id.Sign(wire.AuthMessage(m.Nonce, url, s.regSum)), URL: url})
	case wire.PeerList:
		if m.Skipped > 0 {
			s.log.Debug("peer_list entries skipped as invalid", "count", m.Skipped)
		}
		s.peers.reconcile(m.Peers, s.isOwn)
	case wire.PeerJoined:
		if !s.isOwn(m.Peer) {
			s.peers.upsert(m.Peer)
		}
	case wire.PeersJoined:
		for _, p := range m.Peers {
			if !s.isOwn(p) {
				s.peers.upsert(p)
			}
		}
	case wire.PeerLeft:
		s.peers.remove(m.PeerID)
	case wire.Error:
		switch m.Message {
		case "Not registered", "Peer not registered":
			// The server dropped the registration (e.g. it missed
			// heartbeats): register again.
			s.log.Info("bootstrap server lost the registration; registering again", "reason", m.Message)
			return s.register()
		}
		if strings.HasPrefix(m.Message, "Too many list_peers") {
			s.log.Warn("bootstrap server rate-limits list_peers", "message", m.Message)
			return nil
		}
		if strings.HasPrefix(m.Message, "Replaced") {
			return fmt.Errorf("%w (server: %s)", ErrReplaced, m.Message)
		}
		return fmt.Errorf("server error: %s", m.Message)
	default:
		// An extension's message (its replies are messages of their
		// own: an error ends the session).
		if s.c.cfg.OnMessage != nil && s.live != nil {
			s.c.cfg.OnMessage(s.live.info, msg)
		}
	}
	return nil
}

// isOwn reports whether a server entry is this node: one of the peer ids
// the server gave it, its identity, or its public address and nickname (a
// stale registration of an earlier connection, which an original server
// keeps until it times out).
func (s *session) isOwn(pi wire.PeerInfo) bool {
	return s.ownIDs[pi.PeerID] ||
		pi.Identity != "" && pi.Identity == s.c.cfg.Self.Identity ||
		pi.PublicAddr == s.ownAddr && pi.Nickname == s.sentNick
}

// register sends a register with the current nickname.
func (s *session) register() error {
	c := s.c
	s.sentNick = c.currentNickname()
	reg := wire.Register{
		Nickname:  s.sentNick,
		LocalAddr: localAddr(s.ws.LocalAddr(), c.cfg.Self.TCPPort),
		Features:  c.requestedFeatures(),
		Room:      c.cfg.Room,
	}
	if c.cfg.Identity != nil {
		reg.Identity = c.cfg.Identity.ID().String()
		reg.PublicKey = c.cfg.Identity.PublicKey()
	}
	b, err := s.sendFrame(reg)
	if err != nil {
		return err
	}
	// The identity proof covers the exact frame.
	s.regSum, s.awaiting = sha256.Sum256(b), true
	return nil
}

// rename registers again after SetNickname. One register at a time: the
// server answers each with its own challenge, and a proof answers the
// latest one only.
func (s *session) rename() error {
	if !s.registered || s.awaiting {
		s.nickDirty = true // done when the pending register is confirmed
		return nil
	}
	s.nickDirty = false
	if s.c.currentNickname() == s.sentNick {
		return nil
	}
	if !s.push {
		// An original server would keep the old entry until it times out.
		if err := s.send(wire.Unregister{}); err != nil {
			return err
		}
	}
	return s.register()
}

// goodbye unregisters, sends a close frame and waits briefly for the
// server's.
func (s *session) goodbye(incoming <-chan inbound) {
	ws := s.ws
	if s.registered {
		_ = s.send(wire.Unregister{})
	}
	_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"),
		time.Now().Add(time.Second))
	t := time.NewTimer(time.Second)
	defer t.Stop()
	for {
		select {
		case in := <-incoming:
			if in.err != nil {
				return
			}
		case <-t.C:
			return
		}
	}
}

func (s *session) send(m wire.ClientMessage) error {
	_, err := s.sendFrame(m)
	return err
}

// sendFrame sends m and returns the frame sent.
func (s *session) sendFrame(m wire.ClientMessage) ([]byte, error) {
	b, err := wire.MarshalClient(m)
	if err != nil {
		return nil, err
	}
	_ = s.ws.SetWriteDeadline(time.Now().Add(s.c.cfg.WriteTimeout))
	if err := s.ws.WriteMessage(websocket.TextMessage, b); err != nil {
		return nil, fmt.Errorf("send %s: %w", m.ClientType(), err)
	}
	return b, nil
}

func (s *session) ping() error {
	if err := s.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(s.c.cfg.WriteTimeout)); err != nil {
		return fmt.Errorf("send ping: %w", err)
	}
	return nil
}

// localAddr is the local_addr this node registers: the local IP of its
// connection to the server (the address of the interface that reaches the
// server, so peers behind the same NAT can use it) with the TCP port. When
// that IP is unusable it sends "0.0.0.0:<port>" like the original.
func localAddr(conn net.Addr, port uint16) netip.AddrPort {
	if ta, ok := conn.(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(ta.IP); ok {
			ip = ip.Unmap()
			if !ip.IsUnspecified() && !ip.IsLinkLocalUnicast() && ip.Zone() == "" {
				return netip.AddrPortFrom(ip, port)
			}
		}
	}
	return netip.AddrPortFrom(netip.IPv4Unspecified(), port)
}
