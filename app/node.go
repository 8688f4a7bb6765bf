package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/parlance-chat/parlance/net/discovery"
	"github.com/parlance-chat/parlance/net/identity"
	"github.com/parlance-chat/parlance/net/transport"
	"github.com/parlance-chat/parlance/net/wire"
)

// Transport is what the Node needs from net/transport, as an interface so
// tests can fake it.
type Transport interface {
	Port() uint16
	Serve(ctx context.Context, handle func(transport.Inbound)) error
	Send(ctx context.Context, d transport.Dest, m wire.Message) error
	Close() error
}

// Config configures a Node.
type Config struct {
	Nickname string
	// Identity is this node's key; nil makes a plaintext-only node (used
	// by benchmarks of the original's behaviour).
	Identity *identity.Identity
	// Instance is this run's random id; the same value must be given to
	// the sources. NewInstanceID makes one.
	Instance string
	Mode     string // "local" or "internet", for display
	// Transport carries messages; Sources find peers.
	Transport Transport
	Sources   []discovery.Source
	// Store keeps history (default: a MemoryStore).
	Store Store
	// Contacts remembers keys (default: in memory only).
	Contacts *Contacts
	// RequireEncryption refuses original (plaintext) peers both ways.
	RequireEncryption bool
	// SweepInterval is how often expired peers are looked for (default 1 s).
	SweepInterval time.Duration
	// EventBuffer is the capacity of the Events channel (default 4096).
	EventBuffer int
	// Now is the clock (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger
}

// MaxTextBytes is the longest message text Send accepts: what fits in one
// wire line with room for the other fields.
const MaxTextBytes = wire.MaxLine - 1024

// recentIDs is how many message ids per conversation are remembered to
// drop duplicates (a resend after a redial may deliver a message twice).
const recentIDs = 256

// Node is one Parlance peer: it runs discovery and transport, keeps the
// registry and history, and reports what happens on Events.
type Node struct {
	cfg    Config
	log    *slog.Logger
	events chan Event
	drops  atomic.Uint64

	mu     sync.Mutex
	self   Self
	reg    *registry
	recent map[PeerKey][]string
}

// NewInstanceID returns a random per-run instance id.
func NewInstanceID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// NewNode checks cfg and returns a Node ready to Run.
func NewNode(cfg Config) (*Node, error) {
	if err := wire.ValidateNickname(cfg.Nickname); err != nil {
		return nil, err
	}
	if cfg.Transport == nil {
		return nil, errors.New("node needs a transport")
	}
	if cfg.Instance == "" {
		cfg.Instance = NewInstanceID()
	}
	if cfg.Store == nil {
		cfg.Store = NewMemoryStore(0)
	}
	if cfg.Contacts == nil {
		cfg.Contacts, _ = OpenContacts("")
	}
	if cfg.SweepInterval <= 0 {
		cfg.SweepInterval = time.Second
	}
	if cfg.EventBuffer <= 0 {
		cfg.EventBuffer = 4096
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	n := &Node{
		cfg:    cfg,
		log:    cfg.Logger,
		events: make(chan Event, cfg.EventBuffer),
		reg:    newRegistry(),
		recent: make(map[PeerKey][]string),
	}
	n.self = Self{
		Nickname:   cfg.Nickname,
		Mode:       cfg.Mode,
		ListenAddr: fmt.Sprintf("0.0.0.0:%d", cfg.Transport.Port()),
		Encrypted:  cfg.Identity != nil,
	}
	if cfg.Identity != nil {
		n.self.Identity = cfg.Identity.ID().String()
	}
	return n, nil
}

// Events is the stream of what happens. It is closed when Run returns.
// The UI must keep reading it; when it falls behind by more than the
// buffer, events are dropped and counted (DroppedEvents), never blocking
// the network.
func (n *Node) Events() <-chan Event { return n.events }

// DroppedEvents is how many events were dropped because the reader fell
// behind.
func (n *Node) DroppedEvents() uint64 { return n.drops.Load() }

// Run serves the transport, runs every source and expires silent peers
// until ctx is cancelled. Then the sources say goodbye, the transport
// closes, and Events is closed.
func (n *Node) Run(ctx context.Context) error {
	defer close(n.events)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		err := n.cfg.Transport.Serve(gctx, n.receive)
		if err != nil && gctx.Err() == nil {
			return fmt.Errorf("serve messages: %w", err)
		}
		return nil
	})
	for _, src := range n.cfg.Sources {
		g.Go(func() error {
			err := src.Run(gctx, sourceHandler{n})
			if err != nil && gctx.Err() == nil {
				return fmt.Errorf("discovery: %w", err)
			}
			return nil
		})
	}
	g.Go(func() error {
		t := time.NewTicker(n.cfg.SweepInterval)
		defer t.Stop()
		for {
			select {
			case <-gctx.Done():
				return nil
			case <-t.C:
				n.Expire()
			}
		}
	})
	g.Go(func() error {
		<-gctx.Done()
		return n.cfg.Transport.Close()
	})
	return g.Wait()
}

// emit queues an event without ever blocking. Callers hold n.mu so events
// keep the order of the changes they report.
func (n *Node) emit(e Event) {
	select {
	case n.events <- e:
	default:
		if d := n.drops.Add(1); d&(d-1) == 0 { // log at powers of two
			n.log.Warn("event reader is behind; events dropped", "dropped", d)
		}
	}
}

// sourceHandler receives what the sources report.
type sourceHandler struct{ n *Node }

func (h sourceHandler) Sighting(s discovery.Sighting) { h.n.sighting(s) }
func (h sourceHandler) State(s discovery.State) {
	h.n.mu.Lock()
	defer h.n.mu.Unlock()
	h.n.emit(SourceState{State: s})
}

func (n *Node) sighting(s discovery.Sighting) {
	if s.Peer.Identity != "" && s.Peer.Identity == n.self.Identity {
		n.log.Debug("ignoring a peer with our own identity (same key file used twice?)", "addr", s.Peer.Addr)
		return
	}
	if s.Peer.Instance != "" && s.Peer.Instance == n.cfg.Instance {
		return
	}
	now := n.cfg.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	switch s.Kind {
	case discovery.Seen:
		isNew := n.reg.peers[KeyOf(s.Peer)] == nil
		st, what := n.reg.seen(s, now, func(nick, id string) Trust { return n.trust(nick, id, now) })
		if st == nil {
			n.log.Warn("peer registry full; ignoring a new peer", "nickname", s.Peer.Nickname)
			return
		}
		switch what {
		case joined:
			n.emit(PeerJoined{Peer: st.Peer})
			if isNew && st.Trust == TrustChanged {
				n.emit(Notice{Peer: st.Key, Warning: true, Text: fmt.Sprintf(
					"%s has a different key than the %s you knew: this may be a different person. Kept as a separate conversation; /verify %s#%s before trusting it.",
					st.Nickname, st.Nickname, st.Nickname, st.Tag())})
			}
		case updated:
			n.emit(PeerUpdated{Peer: st.Peer})
		}
	case discovery.Gone:
		if st, what := n.reg.gone(s); what == left {
			n.emit(PeerLeft{Peer: st.Peer, Reason: s.Reason})
		}
	}
}

// trust asks the contacts what a peer's key is worth. Caller holds n.mu.
func (n *Node) trust(nick, id string, now time.Time) Trust {
	t, err := n.cfg.Contacts.Observe(nick, id, now)
	if err != nil {
		n.log.Warn("remember contact", "err", err)
	}
	return t
}

// Expire takes offline the peers not heard from within their TTL. Run calls
// it every SweepInterval; tests may call it directly with a fake clock.
func (n *Node) Expire() {
	now := n.cfg.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, st := range n.reg.expire(now) {
		n.emit(PeerLeft{Peer: st.Peer, Reason: "timed out"})
	}
}

// receive handles one inbound message from the transport.
func (n *Node) receive(in transport.Inbound) {
	now := n.cfg.Now()
	m := in.Message
	n.mu.Lock()
	defer n.mu.Unlock()
	var key PeerKey
	init := Peer{Nickname: m.From, Addr: in.Remote, LastSeen: now, Source: "direct"}
	if in.Identity != "" {
		if in.Identity == n.self.Identity {
			return
		}
		key = PeerKey("id:" + in.Identity)
		init.Identity = in.Identity
		init.Addr = netip.AddrPort{} // the remote port is not where it listens
		if n.reg.peers[key] == nil {
			init.Trust = n.trust(m.From, in.Identity, now)
		}
	} else {
		if n.cfg.RequireEncryption {
			return // the transport refuses these; never deliver one
		}
		key = originalKey(m.From, in.Remote.Addr())
		init.Addr = netip.AddrPort{}
		n.warnPlaintextClaimLocked(key, m.From, in.Remote.Addr())
	}
	st := n.reg.ensure(key, init)
	if st == nil {
		n.log.Warn("peer registry full; dropping a message", "from", m.From)
		return
	}
	if m.ID != "" && n.seenIDLocked(key, m.ID) {
		n.log.Debug("duplicate message dropped", "id", m.ID)
		return
	}
	msg := Message{ID: m.ID, Peer: key, From: m.From, Text: m.Content, Sent: time.Unix(m.Timestamp, 0), At: now}
	if err := n.cfg.Store.Append(msg); err != nil {
		n.log.Warn("store message", "err", err)
	}
	n.emit(MessageReceived{Message: msg})
}

// warnPlaintextClaimLocked warns when a plaintext message uses the nickname
// of a peer that has a key at the same IP: a Parlance peer never sends
// plaintext, so this is someone else (or an original client) using the
// name. The message is kept in its own conversation.
func (n *Node) warnPlaintextClaimLocked(key PeerKey, nick string, ip netip.Addr) {
	if n.reg.peers[key] != nil {
		return // warned when the conversation started
	}
	for _, st := range n.reg.peers {
		if st.Identity != "" && st.Nickname == nick && st.Addr.Addr().Unmap() == ip.Unmap() {
			n.emit(Notice{Peer: key, Warning: true, Text: fmt.Sprintf(
				"unencrypted message using the nickname %s, who has a key: not from %s#%s; kept apart", nick, nick, st.Tag())})
			return
		}
	}
}

// seenIDLocked reports whether id was already received in this
// conversation, and remembers it.
func (n *Node) seenIDLocked(key PeerKey, id string) bool {
	ids := n.recent[key]
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	if len(ids) >= recentIDs {
		ids = ids[1:]
	}
	n.recent[key] = append(ids, id)
	return false
}

// Errors Send returns (wrapped).
var (
	ErrUnknownPeer = errors.New("no such peer")
	ErrOffline     = errors.New("peer is offline")
)

// Send sends text to a peer and records it in the conversation. It blocks
// while a connection is dialled; a UI calls it off its event loop.
func (n *Node) Send(ctx context.Context, key PeerKey, text string) (Message, error) {
	if strings.TrimSpace(text) == "" {
		return Message{}, errors.New("nothing to send")
	}
	if len(text) > MaxTextBytes {
		return Message{}, fmt.Errorf("message is %d bytes; the limit is %d", len(text), MaxTextBytes)
	}
	now := n.cfg.Now()
	n.mu.Lock()
	st := n.reg.peers[key]
	if st == nil {
		n.mu.Unlock()
		return Message{}, fmt.Errorf("send to %s: %w", key, ErrUnknownPeer)
	}
	p := st.Peer
	from := n.self.Nickname
	n.mu.Unlock()
	if !p.Online {
		return Message{}, fmt.Errorf("send to %s: %w (not delivered)", p.Nickname, ErrOffline)
	}
	if p.Original() && n.cfg.RequireEncryption {
		return Message{}, fmt.Errorf("send to %s: %w", p.Nickname, transport.ErrPlaintextRefused)
	}
	wm := wire.Message{From: from, Content: text, Timestamp: now.Unix(), ID: wire.NewMessageID()}
	dest := transport.Dest{Addr: p.Addr, AltAddr: p.AltAddr, Identity: p.Identity}
	if err := n.cfg.Transport.Send(ctx, dest, wm); err != nil {
		if errors.Is(err, transport.ErrKeyMismatch) {
			n.mu.Lock()
			n.emit(Notice{Peer: key, Warning: true, Text: fmt.Sprintf(
				"key mismatch: possible impersonation: the peer at %s is not %s#%s; nothing was delivered", p.Addr, p.Nickname, p.Tag())})
			n.mu.Unlock()
		}
		return Message{}, fmt.Errorf("send to %s: %w", p.Nickname, err)
	}
	msg := Message{ID: wm.ID, Peer: key, From: from, Text: text, Outgoing: true, Sent: time.Unix(wm.Timestamp, 0), At: now}
	if err := n.cfg.Store.Append(msg); err != nil {
		n.log.Warn("store message", "err", err)
	}
	return msg, nil
}

// Self describes this node.
func (n *Node) Self() Self {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.self
}

// SetNickname changes this node's nickname and announces it at once.
func (n *Node) SetNickname(name string) error {
	if err := wire.ValidateNickname(name); err != nil {
		return err
	}
	n.mu.Lock()
	n.self.Nickname = name
	self := n.self
	n.emit(SelfChanged{Self: self})
	n.mu.Unlock()
	for _, src := range n.cfg.Sources {
		src.SetNickname(name)
	}
	return nil
}

// Peers returns every known peer, online or not, sorted by nickname.
func (n *Node) Peers() []Peer {
	n.mu.Lock()
	out := make([]Peer, 0, len(n.reg.peers))
	for _, st := range n.reg.peers {
		out = append(out, st.Peer)
	}
	n.mu.Unlock()
	sortPeers(out)
	return out
}

func sortPeers(ps []Peer) {
	sort.Slice(ps, func(i, j int) bool {
		a, b := strings.ToLower(ps[i].Nickname), strings.ToLower(ps[j].Nickname)
		if a != b {
			return a < b
		}
		return ps[i].Key < ps[j].Key
	})
}

// Peer returns the peer with the given key.
func (n *Node) Peer(key PeerKey) (Peer, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	st := n.reg.peers[key]
	if st == nil {
		return Peer{}, false
	}
	return st.Peer, true
}

// Resolve finds peers by what a user types: a nickname, or "nickname#tag"
// where tag is the start of Peer.Tag() (case-insensitive). When some
// matches are online only those are returned; more than one result means
// the name is ambiguous.
func (n *Node) Resolve(name string) []Peer {
	nick, tag, hasTag := strings.Cut(name, "#")
	var online, all []Peer
	for _, p := range n.Peers() {
		if p.Nickname != nick {
			continue
		}
		if hasTag && !strings.HasPrefix(strings.ToUpper(p.Tag()), strings.ToUpper(tag)) {
			continue
		}
		all = append(all, p)
		if p.Online {
			online = append(online, p)
		}
	}
	if len(online) > 0 {
		return online
	}
	return all
}

// History returns the stored conversation with a peer, oldest first.
func (n *Node) History(key PeerKey) ([]Message, error) { return n.cfg.Store.History(key) }

// SafetyCode returns the code to compare with a peer out of band.
func (n *Node) SafetyCode(key PeerKey) (string, error) {
	p, ok := n.Peer(key)
	switch {
	case !ok:
		return "", fmt.Errorf("%s: %w", key, ErrUnknownPeer)
	case n.self.Identity == "":
		return "", errors.New("this node has no identity key")
	case p.Identity == "":
		return "", fmt.Errorf("%s is an original, unencrypted peer: it has no key to verify", p.Nickname)
	}
	return identity.SafetyCode(identity.ID(n.self.Identity), identity.ID(p.Identity)), nil
}

// MarkVerified records that the user compared safety codes with a peer.
func (n *Node) MarkVerified(key PeerKey) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	st := n.reg.peers[key]
	if st == nil {
		return fmt.Errorf("%s: %w", key, ErrUnknownPeer)
	}
	if st.Identity == "" {
		return fmt.Errorf("%s is an original, unencrypted peer: it has no key to verify", st.Nickname)
	}
	if err := n.cfg.Contacts.Verify(st.Identity); err != nil {
		return fmt.Errorf("remember verification: %w", err)
	}
	st.Trust = TrustVerified
	n.emit(PeerUpdated{Peer: st.Peer})
	return nil
}
