// Package lan finds peers on the local network by UDP multicast, speaking
// the original's announce/goodbye datagrams (see net/wire).
//
// A Discovery joins the group on each chosen interface, announces this node
// at start and every AnnounceInterval, and reports every valid announce it
// hears as a discovery.Sighting. When it hears a peer it did not know, it
// announces again at once (at most once per ReannounceGap), so two nodes see
// each other within milliseconds rather than an interval. On shutdown it
// sends a goodbye, which the original parses but never sends.
//
// Only IPv4 is used, like the original.
package lan

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parlance-chat/parlance/internal/ratelog"
	"github.com/parlance-chat/parlance/net/discovery"
	"github.com/parlance-chat/parlance/net/identity"
	"github.com/parlance-chat/parlance/net/wire"
)

// Defaults of the original.
var (
	DefaultGroup = netip.MustParseAddr("239.255.255.250")
)

const (
	DefaultPort             = 6789
	DefaultAnnounceInterval = 5 * time.Second
	DefaultPeerTimeout      = 15 * time.Second
	// DefaultReannounceGap is the default minimum time between two
	// immediate re-announces triggered by new peers.
	DefaultReannounceGap = 100 * time.Millisecond
)

// SourceName is the Source of every Sighting a Discovery reports.
const SourceName = "lan"

// MaxKnownPeers bounds the set of peers remembered to decide whether a
// peer is new (and so worth an immediate re-announce).
const MaxKnownPeers = 4096

// writeTimeout bounds every send; goodbyeTimeout bounds the goodbye sent
// at shutdown.
const (
	writeTimeout   = time.Second
	goodbyeTimeout = 200 * time.Millisecond
)

// Config configures LAN discovery. Zero values take the defaults.
type Config struct {
	Group netip.Addr // multicast group (IPv4)
	Port  uint16
	// Interface pins discovery to one interface by name ("lo" in tests);
	// "" means every up, multicast-capable interface with an IPv4 address.
	// A pinned interface is used even without the MULTICAST flag, and
	// announces leave it from its own IPv4 address.
	Interface        string
	AnnounceInterval time.Duration
	// PeerTimeout is how long a peer stays online without an announce
	// (reported as each sighting's TTL).
	PeerTimeout time.Duration
	// ReannounceGap is the minimum time between two immediate
	// re-announces triggered by new peers (default 100 ms).
	ReannounceGap time.Duration
	// LikeOriginal makes discovery behave as the original did: announce
	// only at start and every AnnounceInterval (no immediate re-announce
	// when a new peer appears) and send no goodbye at shutdown. It exists
	// to measure against the original in benchmarks; leave it off.
	LikeOriginal bool
	// Self is what this node announces. An empty Instance is replaced by
	// a random one (it is how a node recognises its own announces).
	Self discovery.Self
	// Identity, when set, signs every announce and goodbye (see
	// verify.go); Self.Identity must be its ID. Without it datagrams go
	// unsigned, as before signing existed.
	Identity *identity.Identity
	// SignatureWindow is how far a signed datagram's time may be from
	// this node's clock (default DefaultSignatureWindow).
	SignatureWindow time.Duration
	Logger          *slog.Logger
}

// withDefaults fills in zero values and checks the rest.
func (c Config) withDefaults() (Config, error) {
	if !c.Group.IsValid() {
		c.Group = DefaultGroup
	}
	if !c.Group.Is4() || !c.Group.IsMulticast() {
		return c, fmt.Errorf("group %v is not an IPv4 multicast address", c.Group)
	}
	if c.Port == 0 {
		c.Port = DefaultPort
	}
	if c.AnnounceInterval <= 0 {
		c.AnnounceInterval = DefaultAnnounceInterval
	}
	if c.PeerTimeout <= 0 {
		c.PeerTimeout = DefaultPeerTimeout
	}
	if c.ReannounceGap <= 0 {
		c.ReannounceGap = DefaultReannounceGap
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.SignatureWindow <= 0 {
		c.SignatureWindow = DefaultSignatureWindow
	}
	if c.Identity != nil && c.Self.Identity != c.Identity.ID().String() {
		return c, fmt.Errorf("announced identity %q is not the signing key's %s", c.Self.Identity, c.Identity.ID())
	}
	if c.Self.Instance == "" {
		c.Self.Instance = randomInstance()
	}
	// Check what we announce now, so a bad nickname or port fails at start.
	if _, err := announceOf(c.Self).Marshal(); err != nil {
		return c, fmt.Errorf("announce: %w", err)
	}
	return c, nil
}

func randomInstance() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}

// receiver is the multicast socket that hears the group.
type receiver interface {
	// Receive reads one datagram into b and returns its length and its
	// source address. It returns net.ErrClosed once Close was called.
	Receive(b []byte) (int, netip.Addr, error)
	Close() error
}

// sender sends datagrams to the group on one interface.
type sender interface {
	Send(b []byte, deadline time.Time) error
	Close() error
	String() string // the interface, for logs
	// Source is the address datagrams leave from (what receivers see as
	// their source, and what signatures cover); invalid when unknown.
	Source() netip.Addr
}

// Discovery announces this node and reports the peers it hears. It
// implements discovery.Source.
type Discovery struct {
	cfg     Config
	log     *slog.Logger
	recv    receiver
	senders []sender

	mu       sync.Mutex
	nickname string

	// limiter bounds signature checks and refused logs datagrams the
	// checks refused (rate-limited); only the reader uses them.
	limiter *verifyLimiter
	refused *ratelog.Limiter

	renamed   chan struct{} // a SetNickname waits to be announced
	ran       atomic.Bool
	closeOnce sync.Once
}

// New opens the multicast sockets (so errors show at start) and returns a
// Discovery ready to Run. Call Close if Run is never called.
func New(cfg Config) (*Discovery, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("lan discovery: %w", err)
	}
	recv, senders, err := openSockets(cfg)
	if err != nil {
		return nil, fmt.Errorf("lan discovery: %w", err)
	}
	return newDiscovery(cfg, recv, senders), nil
}

// newDiscovery builds a Discovery on given sockets; cfg has its defaults.
func newDiscovery(cfg Config, recv receiver, senders []sender) *Discovery {
	log := cfg.Logger.With("component", "lan")
	return &Discovery{
		cfg:      cfg,
		log:      log,
		recv:     recv,
		senders:  senders,
		nickname: cfg.Self.Nickname,
		limiter:  newVerifyLimiter(),
		refused:  ratelog.New(log, slog.LevelInfo, ratelog.DefaultEvery),
		renamed:  make(chan struct{}, 1),
	}
}

// Instance returns the instance id this Discovery announces (the
// configured one, or the random one New chose).
func (d *Discovery) Instance() string { return d.cfg.Self.Instance }

// Run announces at start and every AnnounceInterval, re-announces at once
// (rate-limited) when a peer it did not know appears, reports sightings to
// h, and on ctx cancellation sends a goodbye, closes its sockets and
// returns nil. Run may be called once.
//
// h's methods are called from a goroutine of Run, one at a time, and never
// after Run returns. While one runs, datagrams wait in the socket's buffer
// and the kernel drops them if it fills: h must return quickly (hand the
// sighting to a buffered channel, for example). It may call SetNickname.
func (d *Discovery) Run(ctx context.Context, h discovery.Handler) error {
	if !d.ran.CompareAndSwap(false, true) {
		return errors.New("lan discovery: Run called twice")
	}
	defer d.Close()

	kick := make(chan struct{}, 1) // a new peer asks for a re-announce
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		d.readLoop(ctx, h, kick)
	}()

	select { // the first announce carries any earlier SetNickname
	case <-d.renamed:
	default:
	}
	d.announce()
	ticker := time.NewTicker(d.cfg.AnnounceInterval)
	defer ticker.Stop()

	// At most one immediate re-announce per gap: a kick within the gap
	// after the last one schedules a single re-announce at its end, and
	// the kicks that follow coalesce into it.
	var (
		lastReannounce time.Time
		gapTimer       *time.Timer
		gapC           <-chan time.Time
	)
	reannounce := func() {
		d.announce()
		lastReannounce = time.Now()
	}
	for {
		select {
		case <-ctx.Done():
			if gapTimer != nil {
				gapTimer.Stop()
			}
			if !d.cfg.LikeOriginal {
				d.sayGoodbye()
			}
			_ = d.recv.Close() // unblocks the reader
			<-readerDone
			return nil
		case <-ticker.C:
			d.announce()
		case <-d.renamed:
			d.announce()
		case <-kick:
			if gapC != nil {
				continue // one is already scheduled
			}
			if wait := d.cfg.ReannounceGap - time.Since(lastReannounce); wait > 0 {
				gapTimer = time.NewTimer(wait)
				gapC = gapTimer.C
				continue
			}
			reannounce()
		case <-gapC:
			gapTimer, gapC = nil, nil
			reannounce()
		}
	}
}

// SetNickname changes the announced nickname and announces at once (if
// Run is running; otherwise Run's first announce carries it). An invalid
// nickname is logged and ignored. It is safe to call from any goroutine.
func (d *Discovery) SetNickname(name string) {
	if err := wire.ValidateNickname(name); err != nil {
		d.log.Warn("not announcing new nickname", "nickname", name, "err", err)
		return
	}
	d.mu.Lock()
	d.nickname = name
	d.mu.Unlock()
	select {
	case d.renamed <- struct{}{}:
	default: // an announce is already pending; it will read the new name
	}
}

// Close closes the sockets. Run closes them when it returns; Close is for
// a Discovery that is not run. It is safe to call more than once.
func (d *Discovery) Close() error {
	var errs []error
	keep := func(err error) {
		if err != nil && !isClosed(err) { // Run closed the receiver already
			errs = append(errs, err)
		}
	}
	d.closeOnce.Do(func() {
		keep(d.recv.Close())
		for _, s := range d.senders {
			keep(s.Close())
		}
	})
	return errors.Join(errs...)
}

func (d *Discovery) self() discovery.Self {
	s := d.cfg.Self
	d.mu.Lock()
	s.Nickname = d.nickname
	d.mu.Unlock()
	return s
}

func announceOf(s discovery.Self) wire.Datagram {
	return wire.Datagram{
		Type:     wire.TypeAnnounce,
		Nickname: s.Nickname,
		TCPPort:  s.TCPPort,
		Instance: s.Instance,
		Identity: s.Identity,
	}
}

// announce sends this node's announce on every interface.
func (d *Discovery) announce() {
	d.send(announceOf(d.self()), writeTimeout)
}

// sayGoodbye sends this node's goodbye on every interface.
func (d *Discovery) sayGoodbye() {
	s := d.self()
	d.send(wire.Datagram{
		Type:     wire.TypeGoodbye,
		Nickname: s.Nickname,
		Instance: s.Instance,
		Identity: s.Identity,
	}, goodbyeTimeout)
}

// send sends dg on every interface; with an identity key, each copy is
// signed for the address it leaves from.
func (d *Discovery) send(dg wire.Datagram, timeout time.Duration) {
	now := time.Now()
	deadline := now.Add(timeout)
	var b []byte
	for _, s := range d.senders {
		if d.cfg.Identity != nil {
			dg.Sign(d.cfg.Identity.PrivateKey(), s.Source(), now)
			b = nil
		}
		if b == nil {
			var err error
			if b, err = dg.Marshal(); err != nil {
				d.log.Error("encode datagram", "type", dg.Type, "err", err)
				return
			}
		}
		if err := s.Send(b, deadline); err != nil {
			d.log.Warn("send datagram", "type", dg.Type, "interface", s.String(), "err", err)
		}
	}
}

// readLoop reads datagrams until the receiver is closed.
func (d *Discovery) readLoop(ctx context.Context, h discovery.Handler, kick chan<- struct{}) {
	// One byte over the limit, so an oversized datagram shows as such
	// (an IPv4 UDP payload can't reach it anyway).
	buf := make([]byte, wire.MaxDatagram+1)
	known := d.newKnownSet()
	// One Warn a minute, the rest at Debug: a noisy network can't flood
	// the log.
	drops := ratelog.New(d.log, slog.LevelWarn, ratelog.DefaultEvery)
	for {
		n, src, err := d.recv.Receive(buf)
		if err != nil {
			if ctx.Err() != nil || isClosed(err) {
				return
			}
			d.log.Warn("receive datagram", "err", err)
			select { // don't spin on a persistent error
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		// ParseDatagram copies what it keeps (strings), so buf is free to
		// be reused by the next read.
		dg, err := wire.ParseDatagram(buf[:n])
		if err != nil {
			drops.Log("dropped bad datagram", "from", src, "bytes", n, "err", err)
			continue
		}
		d.handle(dg, src, time.Now(), known, h, kick)
	}
}

// newKnownSet makes the set of peers heard lately: a peer heard signed is
// remembered for as long as a replay of its datagrams could pass.
func (d *Discovery) newKnownSet() *peerSet {
	return newPeerSet(MaxKnownPeers, d.cfg.PeerTimeout, d.cfg.PeerTimeout+2*d.cfg.SignatureWindow)
}

// handle reports one valid datagram from src to h, and asks for a
// re-announce when it comes from a peer not known. A goodbye counts only
// from the IP and instance of the peer's last announce. Signed datagrams
// are checked first (checkSignature).
func (d *Discovery) handle(dg wire.Datagram, src netip.Addr, now time.Time, known *peerSet, h discovery.Handler, kick chan<- struct{}) {
	if dg.Instance != "" && dg.Instance == d.cfg.Self.Instance {
		return // our own, looped back
	}
	src = src.Unmap()
	if !src.Is4() {
		return
	}
	peer := discovery.Peer{
		Nickname: dg.Nickname,
		Identity: dg.Identity,
		Instance: dg.Instance,
	}
	key := keyOf(peer, src, 0, "")
	if dg.Identity != "" {
		last, hasLast := known.get(key.id)
		switch v, why := d.checkSignature(dg, src, now, last, hasLast); v {
		case rejected, throttled:
			d.refused.Log("ignored datagram", "why", why, "peer", key.id, "from", src)
			return
		case accepted:
			key.signedMs, key.signature = dg.Time, dg.Signature
		}
	}
	switch dg.Type {
	case wire.TypeAnnounce:
		peer.Addr = netip.AddrPortFrom(src, dg.TCPPort)
		if known.seen(key, now) && !d.cfg.LikeOriginal {
			select {
			case kick <- struct{}{}:
			default: // a re-announce is already asked for
			}
		}
		h.Sighting(discovery.Sighting{Kind: discovery.Seen, Peer: peer, Source: SourceName, TTL: d.cfg.PeerTimeout})
	case wire.TypeGoodbye:
		peer.Addr = netip.AddrPortFrom(src, 0)
		if !known.goodbye(key) {
			// The instance and identity are in every announce: anyone
			// can copy them, but not the peer's IP.
			d.log.Debug("ignored goodbye: not from where the peer announced", "peer", key.id, "instance", key.instance, "from", src)
			return
		}
		h.Sighting(discovery.Sighting{Kind: discovery.Gone, Peer: peer, Source: SourceName, Reason: "goodbye"})
	}
}

var _ discovery.Source = (*Discovery)(nil)
