// Package bootstrap is Parlance's rendezvous server: it keeps a registry of
// online peers, reached over WebSocket, so that peers on different networks
// learn each other's TCP addresses and then talk directly.
//
// It speaks the original Rust bootstrap-server's protocol exactly (see
// net/wire) and adds, only for clients that ask in their register:
// pushed peer_joined/peer_left messages instead of polling, rooms,
// identities proved by signing a challenge, and a sealed mailbox for
// offline peers (mailbox.go, mailstore.go).
//
// # What a connection costs
//
// Each WebSocket connection has one reader goroutine. An idle one waits
// for its socket to be readable on a fresh goroutine of its own, whose
// stack (2 KB) is half what handling a message grows it to (conn.go,
// waitinput.go; over TLS it waits in gorilla's read). A writer goroutine
// exists only while the connection has something queued, and the write
// buffer comes from a shared pool while a message is written. The read
// buffer is 257 bytes. Timers are shared: one sweep for expired
// registrations and one ping round for all connections; deadlines live in
// the runtime's poller. BenchmarkIdleConnMemory measures about 2.9 KB of
// heap and 2 KB of goroutine stack per idle registered connection
// (gorilla's defaults with a reader and a writer goroutine cost ~13 KB).
//
// # Relays
//
// Two peers that cannot reach each other directly can have their TLS
// connection carried by the server: see relay.go (the relay, its limits
// and goroutines) and relaycluster.go (across servers of a cluster).
//
// # What a room's peer list costs
//
// A peer_list is encoded outside the server's lock, once per change of the
// room, and shared: every client that asks while nothing changed gets the
// same bytes (per kind of client: original clients get the original
// fields only). Heartbeats do not count as a change; a cached list is
// reused for at most a second, so its last_seen values are never more than
// about a second staler than the original server's. Requests that arrive
// while a list is being encoded wait for the next one, so a burst of joins
// costs a few encodings, not one per joiner. Lists of fewer than
// listCacheMin entries are cheap and are not kept.
//
// # Identity takeover
//
// A register that claims an identity already online replaces the online
// registration only if it proves the key (signs the challenge); the old
// connection gets an error and is closed with 1008. The newest holder of
// the key wins, so a restarted client does not wait for its old
// connection to time out. A register that fails the proof changes
// nothing. The client that was replaced stops (package rendezvous: it
// reports the identity online elsewhere and does not reconnect), so two
// processes with one key do not take turns replacing each other.
//
// # Identity proofs
//
// The client signs wire.AuthMessage: the nonce, the server URL it dialled
// and the SHA-256 of its register frame. The server accepts the URL when it
// is one of Config.PublicURLs or, if none are set, when it is the URL the
// request names: scheme wss if the connection is TLS (or a trusted proxy
// says X-Forwarded-Proto: https), else ws; the Host header (or a trusted
// proxy's X-Forwarded-Host); and the request path. Without PublicURLs a
// hostile server could relay its clients' proofs to this one under a Host
// header naming itself: set PublicURLs for a server on the internet.
package bootstrap

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/sync/errgroup"

	"github.com/parlance-chat/parlance/net/wire"
)

// Defaults of Config.
const (
	DefaultMaxConns      = 100_000
	DefaultMaxConnsPerIP = 64
	DefaultMaxPeers      = 100_000
	DefaultPeerTimeout   = 30 * time.Second // the original's
	DefaultSweepInterval = 10 * time.Second // the original's
	DefaultPongWait      = 60 * time.Second
	DefaultWriteWait     = 10 * time.Second
	// DefaultGCPercent is the garbage collection target (GOGC) that
	// cmd/bootstrap-server sets: the server's heap is mostly long-lived
	// per-connection state, which the default 100 lets grow by as much
	// again before each collection. 50 trims about 0.3 KB of RSS per
	// idle connection for no measurable CPU at heartbeat load (see
	// README, issue 14).
	DefaultGCPercent         = 50
	DefaultSendQueue         = 256
	DefaultSendQueueBytes    = 4 << 20
	DefaultRegisterTimeout   = 30 * time.Second
	DefaultListInterval      = time.Second
	DefaultListBurst         = 10
	DefaultHeartbeatInterval = time.Second
	DefaultHeartbeatBurst    = 10
	DefaultRegisterInterval  = 2 * time.Second
	DefaultRegisterBurst     = 10
	DefaultConnectInterval   = 500 * time.Millisecond
	DefaultConnectBurst      = 20
	DefaultShutdownTimeout   = 5 * time.Second
)

// Config configures a Server. Zero values take the defaults.
type Config struct {
	// MaxConns caps open WebSocket connections (beyond it: HTTP 503).
	MaxConns int
	// MaxConnsPerIP caps connections from one source IPv4 address or
	// IPv6 /64 (one subscriber usually holds a whole /64); beyond it:
	// HTTP 429.
	MaxConnsPerIP int
	// MaxPeers caps registered peers (beyond it: error "Server full").
	MaxPeers int
	// PeerTimeout drops a registration not refreshed by a heartbeat for
	// this long; SweepInterval is how often that is checked.
	PeerTimeout   time.Duration
	SweepInterval time.Duration
	// PongWait is how long a connection may stay silent (no message, no
	// pong) before it is closed; the server pings every 9/10 of it.
	PongWait time.Duration
	// WriteWait bounds every write.
	WriteWait time.Duration
	// SendQueue is how many messages may wait for a client, and
	// SendQueueBytes how many bytes; a client that lets more pile up is
	// disconnected. One message bigger than SendQueueBytes (a big room's
	// peer_list) is let through when nothing else is waiting.
	SendQueue      int
	SendQueueBytes int
	// RegisterTimeout closes a connection that has no registration for
	// this long: from its start (original clients register at once) or
	// from the end of its registration.
	RegisterTimeout time.Duration
	// ListInterval and ListBurst rate-limit list_peers per connection
	// (a token bucket: ListBurst tokens, one more every ListInterval).
	ListInterval time.Duration
	ListBurst    int
	// HeartbeatInterval and HeartbeatBurst rate-limit heartbeat per
	// connection the same way (the original client sends one every 10 s).
	HeartbeatInterval time.Duration
	HeartbeatBurst    int
	// RegisterInterval and RegisterBurst rate-limit register per
	// connection the same way: every register (a rename, say) is pushed
	// to the whole room.
	RegisterInterval time.Duration
	RegisterBurst    int
	// ConnectInterval and ConnectBurst rate-limit connect (hole-punching
	// coordination, reach.go) per connection the same way: each one
	// sends an offer to another client too.
	ConnectInterval time.Duration
	ConnectBurst    int
	// MaxListPeers caps the entries of one peer_list. The caller is
	// always in its list: a caller that a cut list leaves out gets its
	// own entry first, in place of the list's last one.
	MaxListPeers int
	// TrustedProxies are the addresses of reverse proxies (e.g. one
	// that terminates TLS) whose X-Forwarded-For names the client: a
	// connection from one of them counts as coming from the rightmost
	// X-Forwarded-For address that is not itself a trusted proxy. Their
	// X-Forwarded-Proto and X-Forwarded-Host are believed too, for the
	// URL an identity proof must name.
	TrustedProxies []netip.Prefix
	// PublicURLs are the URLs clients use to reach the server, e.g.
	// "wss://chat.example.org". When set, an identity proof must name one
	// of them; when empty, the URL the request names (see the package
	// doc). Serve fails if one is not a ws:// or wss:// URL.
	PublicURLs []string
	// Bus, if set, shares the registry with the other servers on it
	// (see cluster.go): their peers are listed and pushed here, and
	// Deliver reaches their clients. BusPrefix starts its subjects
	// (default DefaultBusPrefix): servers with one prefix share a
	// registry.
	Bus       Bus
	BusPrefix string
	// NoRelay turns the relay off (see relay.go): issueRelay says no and
	// the relay endpoint answers 404.
	NoRelay bool
	// MaxRelays caps the relays carrying bytes on the server, and
	// MaxRelaysPerClient those of one identity; tokens waiting for their
	// ends may be four times as many (see issueRelay).
	MaxRelays          int
	MaxRelaysPerClient int
	// MaxRelaysPerIP caps relay sockets from one IPv4 address or IPv6
	// /64 (beyond it: HTTP 429).
	MaxRelaysPerIP int
	// RelayRate is the bytes per second that the relays of one identity
	// carry together, and RelayRatePerIP those that the relay sockets of
	// one address send; reading stops while a client is over.
	RelayRate      int
	RelayRatePerIP int
	// RelayTTL is how long a relay token waits for its two ends.
	RelayTTL time.Duration
	// RelayIdle ends a relay that carried no byte for this long.
	RelayIdle time.Duration
	// Mailbox, if set, keeps sealed messages for offline peers and their
	// published mailbox keys, for clients with a proved identity that
	// ask for wire.FeatureMailbox (see mailbox.go); nil turns it off.
	// The caller opens it (OpenMailStore) and owns it.
	Mailbox *MailStore
	// ShutdownTimeout bounds the close handshakes at shutdown.
	ShutdownTimeout time.Duration
	Clock           Clock
	Logger          *slog.Logger
}

func (c *Config) setDefaults() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.MaxConns, DefaultMaxConns)
	def(&c.MaxConnsPerIP, DefaultMaxConnsPerIP)
	def(&c.MaxPeers, DefaultMaxPeers)
	def(&c.SendQueue, DefaultSendQueue)
	def(&c.SendQueueBytes, DefaultSendQueueBytes)
	def(&c.ListBurst, DefaultListBurst)
	def(&c.HeartbeatBurst, DefaultHeartbeatBurst)
	def(&c.RegisterBurst, DefaultRegisterBurst)
	def(&c.ConnectBurst, DefaultConnectBurst)
	def(&c.MaxListPeers, wire.MaxPeerListEntries)
	def(&c.MaxRelays, DefaultMaxRelays)
	def(&c.MaxRelaysPerClient, DefaultMaxRelaysPerClient)
	def(&c.MaxRelaysPerIP, DefaultMaxRelaysPerIP)
	def(&c.RelayRate, DefaultRelayRate)
	def(&c.RelayRatePerIP, DefaultRelayRatePerIP)
	defDur(&c.RelayTTL, DefaultRelayTTL)
	defDur(&c.RelayIdle, DefaultRelayIdle)
	c.MaxListPeers = min(c.MaxListPeers, wire.MaxPeerListEntries)
	defDur(&c.PeerTimeout, DefaultPeerTimeout)
	defDur(&c.SweepInterval, DefaultSweepInterval)
	defDur(&c.PongWait, DefaultPongWait)
	defDur(&c.WriteWait, DefaultWriteWait)
	defDur(&c.ListInterval, DefaultListInterval)
	defDur(&c.HeartbeatInterval, DefaultHeartbeatInterval)
	defDur(&c.RegisterInterval, DefaultRegisterInterval)
	defDur(&c.ConnectInterval, DefaultConnectInterval)
	defDur(&c.ShutdownTimeout, DefaultShutdownTimeout)
	defDur(&c.RegisterTimeout, DefaultRegisterTimeout)
	if c.Clock == nil {
		c.Clock = SystemClock{}
	}
	if c.BusPrefix == "" {
		c.BusPrefix = DefaultBusPrefix
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Error texts of the original server, and Parlance's own.
const (
	errInvalidFormat    = "Invalid message format: "
	errNotRegistered    = "Not registered"
	errPeerNotFound     = "Peer not registered"
	errServerFull       = "Server full: too many registered peers"
	errRateLimited      = "Too many list_peers requests, slow down"
	errRegisterLimited  = "Too many register requests, slow down"
	errHeartbeatLimited = "Too many heartbeats, slow down"
	errIdentityMissing  = "Identity does not match public_key"
	errNoChallenge      = "No challenge pending: send register with an identity first"
	errAuthFailed       = "Authentication failed: the signature does not match the identity's key, the nonce, the server URL and the register"
	errAuthURL          = "Authentication failed: signed for server %s, but this is %s"
	errReplaced         = "Replaced: this identity registered again from another connection"
)

// Server is the bootstrap server. Create it with New and run it with Serve.
type Server struct {
	cfg      Config
	log      *slog.Logger
	warn     *logLimiter // events a client can cause: once a minute per kind
	upgrader websocket.Upgrader
	// relayUpgrader upgrades relay sockets (bigger pooled write buffer).
	relayUpgrader websocket.Upgrader
	publicURLs    []string // normalised Config.PublicURLs
	cfgErr        error    // a bad Config.PublicURLs, reported by Serve

	mu         sync.Mutex // guards everything below and conn.peer, conn.ext, conn.push
	closing    bool
	conns      map[*conn]struct{}
	nconns     int                  // TCP connections accepted and not closed
	perIP      map[netip.Prefix]int // by ipKey
	rooms      map[string]*room
	byIdentity map[string]*peer
	local      map[string]*peer         // local registrations by peer id
	remote     map[string]*remoteServer // other servers' registrations, by server id (Config.Bus)
	id         string                   // this server's id in the cluster
	// snapshotRound numbers this server's snapshots.
	snapshotRound uint64
	npeers        int
	listed        map[*room]struct{} // rooms with a cached peer_list
	relay         relayLimits
	// relayTag starts the tokens this server issues (relaycluster.go).
	relayTag      string
	relayTagBytes [6]byte
	// publishing holds this server's cluster events, in order, until
	// runCluster publishes them; published wakes it.
	publishing []clusterEvent
	published  chan struct{}

	wg sync.WaitGroup // connection goroutines (readers and writers)
}

// New returns a server ready to Serve.
func New(cfg Config) *Server {
	cfg.setDefaults()
	s := &Server{
		cfg:        cfg,
		log:        cfg.Logger,
		conns:      make(map[*conn]struct{}),
		perIP:      make(map[netip.Prefix]int),
		rooms:      make(map[string]*room),
		byIdentity: make(map[string]*peer),
		local:      make(map[string]*peer),
		remote:     make(map[string]*remoteServer),
		id:         newPeerID(),
		listed:     make(map[*room]struct{}),
		published:  make(chan struct{}, 1),
		warn:       newLogLimiter(cfg.Logger, cfg.Clock, time.Minute),
	}
	s.relay.init()
	s.relayTagBytes, s.relayTag = relayTagOf(s.id)
	s.relayUpgrader = newRelayUpgrader()
	for _, u := range cfg.PublicURLs {
		n, err := wire.NormalizeServerURL(u)
		if err != nil {
			s.cfgErr = fmt.Errorf("public URL: %w", err)
			break
		}
		s.publicURLs = append(s.publicURLs, n)
	}
	s.upgrader = websocket.Upgrader{
		HandshakeTimeout: 10 * time.Second,
		// Small buffers keep idle connections cheap: the read buffer is
		// the one upgradeWriter hands over (readBufferSize; gorilla
		// takes it only with ReadBufferSize 0), and the write buffer is
		// only borrowed from the pool while a message goes out.
		WriteBufferSize: 2048,
		WriteBufferPool: &sync.Pool{},
		// The server serves no browser session worth protecting: accept
		// any Origin (the original checks none either).
		CheckOrigin: func(*http.Request) bool { return true },
		Error: func(w http.ResponseWriter, r *http.Request, status int, reason error) {
			http.Error(w, reason.Error(), status)
		},
	}
	return s
}

// Serve accepts WebSocket connections on ln (at any path but /healthz,
// which reports health as JSON, and paths ending in wire.RelayPath, the
// relay) until ctx is cancelled. Then it stops accepting, closes every
// connection with a close frame (1001, going away), ends every relay,
// waits for them up to ShutdownTimeout, and returns nil. It returns
// an error only if serving fails or Config.PublicURLs is bad. Call it
// once. For wss:// give it a TLS listener (tls.NewListener, with
// NextProtos "http/1.1").
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if s.cfgErr != nil {
		_ = ln.Close()
		return s.cfgErr
	}
	hs := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second, // cleared on upgrade
		WriteTimeout:      30 * time.Second, // cleared on upgrade
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		ConnState:         s.onConnState,
		ConnContext: func(ctx context.Context, nc net.Conn) context.Context {
			return context.WithValue(ctx, netConnKey{}, nc)
		},
	}
	ln = flushListener{Listener: ln, stall: s.cfg.WriteWait}
	g, gctx := errgroup.WithContext(ctx)
	if s.cfg.Bus != nil {
		if err := s.startCluster(gctx); err != nil {
			_ = ln.Close()
			return err
		}
		g.Go(func() error {
			s.runCluster(gctx)
			return nil
		})
	}
	g.Go(func() error {
		if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve http: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		s.runTimers(gctx)
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		s.log.Info("shutting down")
		sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
		defer cancel()
		err := hs.Shutdown(sctx)
		s.closeAll(sctx)
		if err != nil {
			return fmt.Errorf("shut down http: %w", err)
		}
		return nil
	})
	return g.Wait()
}

// ServeHTTP serves /healthz, the relay (a path ending in wire.RelayPath)
// and WebSocket upgrades. It is exported so that Serve can hand the
// Server to net/http; use Serve.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/healthz" {
		s.health(w)
		return
	}
	if wire.IsRelayPath(r.URL.Path) {
		s.serveRelay(w, r)
		return
	}
	nc, _ := r.Context().Value(netConnKey{}).(net.Conn)
	ip, proxied := s.clientIP(r)
	if proxied {
		// The proxy's own connection was counted at accept; the client
		// behind it is counted here, by its forwarded address.
		if status, msg := s.admit(ip, false, true); status != 0 {
			s.warn.log(slog.LevelInfo, "connection refused", "ip", ip, "reason", msg)
			http.Error(w, msg, status)
			return
		}
	}
	var signedURL string // the URL an identity proof must name
	if len(s.publicURLs) == 0 {
		signedURL = requestURL(r, proxied, nc != nil && isTLS(nc))
	}
	ws, err := s.upgrader.Upgrade(upgradeWriter{w}, r, nil)
	if err != nil {
		s.mu.Lock()
		s.releaseUpgradeLocked(nc, ip, proxied)
		s.mu.Unlock()
		s.log.Debug("websocket upgrade failed", "ip", ip, "err", err)
		return
	}
	c := newConn(s, ws, ip, signedURL)
	c.proxied = proxied
	s.mu.Lock()
	if s.closing {
		s.releaseUpgradeLocked(ws.NetConn(), ip, proxied)
		s.mu.Unlock()
		_ = ws.Close()
		return
	}
	c.since = s.cfg.Clock.Now().UnixNano()
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	s.log.Debug("connected", "ip", ip)
	c.setupRead()
	// A goroutine of our own rather than the HTTP server's, whose
	// deeper stack would stay with the connection.
	go c.readLoop()
}

// netConnKey is the request context key of the request's net.Conn.
type netConnKey struct{}

// acceptSlot is what a TCP connection holds of the connection limits
// since it was accepted, before any byte of its request: a client cannot
// hold more than MaxConnsPerIP sockets by sending half a request. It is
// kept in the connection's flushConn, guarded by Server.mu.
type acceptSlot struct {
	ip       netip.Addr
	counted  bool // holds a slot (until released)
	perIP    bool // counted in perIP too (it is not from a trusted proxy)
	hijacked bool // taken over by a WebSocket: released by its conn
}

// onConnState counts connections from accept to close (net/http reports
// no close for a hijacked connection: dropConn releases those). A
// connection over a limit is answered 429 or 503 and closed at once.
func (s *Server) onConnState(nc net.Conn, state http.ConnState) {
	fc, ok := nc.(*flushConn)
	if !ok {
		return // not from Serve's listener (cannot happen)
	}
	switch state {
	case http.StateNew:
		ip := addrIP(nc.RemoteAddr())
		perIP := !s.trusted(ip)
		status, msg := s.admit(ip, true, perIP)
		if status == 0 {
			s.mu.Lock()
			fc.slot = acceptSlot{ip: ip, counted: true, perIP: perIP}
			s.mu.Unlock()
			return
		}
		s.warn.log(slog.LevelInfo, "connection refused", "ip", ip, "reason", msg)
		refuse(fc.Conn, status, msg)
	case http.StateHijacked:
		s.mu.Lock()
		fc.slot.hijacked = true
		s.mu.Unlock()
	case http.StateClosed:
		s.mu.Lock()
		s.releaseAcceptedLocked(nc)
		s.mu.Unlock()
	}
}

// refuse answers a connection that was not admitted with an HTTP error,
// if it is plain TCP (a TLS client would need a handshake first), and
// closes it. The write goes to a fresh socket's empty send buffer: the
// short deadline is never reached but by a broken socket.
func refuse(nc net.Conn, status int, msg string) {
	if !isTLS(nc) {
		_ = nc.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
		_, _ = fmt.Fprintf(nc, "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s\n",
			status, http.StatusText(status), len(msg)+1, msg)
	}
	_ = nc.Close()
}

// releaseAcceptedLocked gives back the slots of an accepted connection;
// it does nothing for one not counted or already released.
func (s *Server) releaseAcceptedLocked(nc net.Conn) {
	fc, ok := nc.(*flushConn)
	if !ok || !fc.slot.counted {
		return
	}
	fc.slot.counted = false
	s.releaseLocked(fc.slot.ip, true, fc.slot.perIP)
}

// releaseUpgradeLocked gives back what a connection that will not become
// a conn holds: its forwarded address's slot, and its accept slot once
// it is hijacked (net/http no longer reports its close).
func (s *Server) releaseUpgradeLocked(nc net.Conn, ip netip.Addr, proxied bool) {
	if proxied {
		s.releaseLocked(ip, false, true)
	}
	if fc, ok := nc.(*flushConn); ok && fc.slot.hijacked {
		s.releaseAcceptedLocked(nc)
	}
}

func addrIP(a net.Addr) netip.Addr {
	if a == nil {
		return netip.Addr{}
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap().WithZone("")
}

// admit counts a connection from ip, or says why not (an HTTP status and
// text): conn counts a TCP connection (MaxConns), perIP one from ip
// (MaxConnsPerIP).
func (s *Server) admit(ip netip.Addr, conn, perIP bool) (int, string) {
	key := ipKey(ip)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closing:
		return http.StatusServiceUnavailable, "server shutting down"
	case conn && s.nconns >= s.cfg.MaxConns:
		return http.StatusServiceUnavailable, "too many connections, try again later"
	case perIP && s.perIP[key] >= s.cfg.MaxConnsPerIP:
		from := ip.String()
		if key.Bits() == 64 {
			from = key.String()
		}
		return http.StatusTooManyRequests, fmt.Sprintf("too many connections from %s (limit %d)", from, s.cfg.MaxConnsPerIP)
	}
	if conn {
		s.nconns++
	}
	if perIP {
		s.perIP[key]++
	}
	return 0, ""
}

// ipKey is what MaxConnsPerIP counts: an IPv4 address, or the /64 of an
// IPv6 address.
func ipKey(ip netip.Addr) netip.Prefix {
	if ip.Is4() {
		return netip.PrefixFrom(ip, 32)
	}
	p, _ := ip.Prefix(64) // the zero Prefix for the zero Addr: one key for all unknown
	return p
}

// release gives back what admit counted.
func (s *Server) release(ip netip.Addr, conn, perIP bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.releaseLocked(ip, conn, perIP)
}

func (s *Server) releaseLocked(ip netip.Addr, conn, perIP bool) {
	if conn {
		s.nconns--
	}
	if !perIP {
		return
	}
	key := ipKey(ip)
	if s.perIP[key]--; s.perIP[key] <= 0 {
		delete(s.perIP, key)
	}
}

// Stats is a snapshot of the server's counters.
type Stats struct {
	Connections int `json:"connections"`
	Peers       int `json:"peers"`
	Rooms       int `json:"rooms"`
	// RemotePeers are the registrations of other servers (Config.Bus).
	RemotePeers int `json:"remote_peers,omitempty"`
	// Relays carry bytes now; RelaysWaiting were issued and wait for
	// their ends; RelaysDone have ended (carried or expired).
	Relays        int    `json:"relays,omitempty"`
	RelaysWaiting int    `json:"relays_waiting,omitempty"`
	RelaysDone    uint64 `json:"relays_done,omitempty"`
	// RelaysRefused counts relays not issued and relay sockets refused
	// (bad, used or expired token, limits).
	RelaysRefused uint64 `json:"relays_refused,omitempty"`
	// RelayThrottled counts the times a relay end was not read for a
	// while because a client was over its rate.
	RelayThrottled uint64 `json:"relay_throttled,omitempty"`
	// RelayBytes is what relays have carried, both ways.
	RelayBytes int64 `json:"relay_bytes,omitempty"`
}

// Stats returns the current counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{Connections: len(s.conns), Peers: s.npeers, Rooms: len(s.rooms)}
	s.relayStatsLocked(&st)
	for _, rs := range s.remote {
		st.RemotePeers += len(rs.peers)
	}
	return st
}

func (s *Server) health(w http.ResponseWriter) {
	s.mu.Lock()
	closing := s.closing
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if closing {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"status":"shutting down"}` + "\n"))
		return
	}
	_ = json.NewEncoder(w).Encode(struct {
		Status string `json:"status"`
		Stats
	}{"ok", s.Stats()})
}

// runTimers expires silent registrations and pings every connection until
// ctx is done.
func (s *Server) runTimers(ctx context.Context) {
	sweep := s.cfg.Clock.NewTicker(s.cfg.SweepInterval)
	defer sweep.Stop()
	ping := s.cfg.Clock.NewTicker(s.cfg.PongWait * 9 / 10)
	defer ping.Stop()
	lists := s.cfg.Clock.NewTicker(listMaxAge)
	defer lists.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-sweep.C():
			s.sweep(now)
			s.warn.flush(now)
		case <-ping.C():
			s.pingAll()
		case now := <-lists.C():
			s.expireLists(now)
		}
	}
}

// sweep drops registrations not refreshed since PeerTimeout before now,
// and closes connections without a registration for RegisterTimeout.
// Connections whose registration expired stay open until then; a
// heartbeat on them gets "Peer not registered", as from the original.
func (s *Server) sweep(now time.Time) {
	if s.cfg.Mailbox != nil {
		s.cfg.Mailbox.Sweep(now)
	}
	cutoff := now.Add(-s.cfg.PeerTimeout).UnixNano()
	idleCutoff := now.Add(-s.cfg.RegisterTimeout).UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.rooms {
		for _, p := range r.peers {
			switch {
			case p.c == nil:
				if p.heard >= cutoff {
					continue
				}
				// Its server has not mentioned it for a peer timeout
				// (three snapshots): the server died.
				s.warn.log(slog.LevelInfo, "registration of another server expired", "server", p.remote, "peer_id", p.id)
				if rs := s.remote[p.remote]; rs != nil {
					s.removeRemote(rs, p)
				}
			case p.lastSeen.Load() >= cutoff:
			default:
				s.warn.log(slog.LevelInfo, "registration expired", "peer_id", p.id, "nickname", p.nickname)
				s.removePeer(p)
			}
		}
	}
	for c := range s.conns {
		if c.peer.Load() == nil && c.since <= idleCutoff {
			s.warn.log(slog.LevelInfo, "closing a connection that did not register", "ip", c.ip, "timeout", s.cfg.RegisterTimeout)
			c.closeWith(websocket.ClosePolicyViolation, "no register within "+s.cfg.RegisterTimeout.String())
		}
	}
}

func (s *Server) pingAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.ping()
	}
}

// closeAll sends every connection a close frame and waits for the
// connection goroutines until ctx is done, then cuts what is left.
func (s *Server) closeAll(ctx context.Context) {
	s.mu.Lock()
	s.closing = true
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	s.log.Info("closing connections", "count", len(conns))
	s.stopRelays()
	for _, c := range conns {
		c.closeWith(websocket.CloseGoingAway, "server shutting down")
	}
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		for _, c := range conns {
			c.kill()
		}
		<-done
	}
}

// dropConn forgets a connection whose reader has stopped: its
// registration goes at once.
func (s *Server) dropConn(c *conn) {
	s.mu.Lock()
	if p := c.peer.Load(); p != nil {
		s.removePeer(p)
	}
	delete(s.conns, c)
	if c.proxied {
		s.releaseLocked(c.ip, false, true)
	}
	s.releaseAcceptedLocked(c.ws.NetConn())
	s.mu.Unlock()
	c.kill()
}
