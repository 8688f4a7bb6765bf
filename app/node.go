package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
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

// Node is one Parlance peer: it runs discovery and transport, keeps the
// registry and history, and reports what happens on Events.
type Node struct {
	cfg     Config
	log     *slog.Logger
	selfID  string // this node's peer ID; never changes
	events  chan Event
	drops   atomic.Uint64
	running atomic.Bool

	// nickMu serialises nickname changes, so the sources always announce
	// the name Self reports.
	nickMu sync.Mutex

	mu      sync.Mutex
	self    Self
	reg     *registry
	closed  bool   // events is closed; guarded by mu
	pending uint64 // events dropped since the last Resync; guarded by mu
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
	}
	n.reg = newRegistry(n.forgetLocked)
	n.self = Self{
		Nickname:   cfg.Nickname,
		Mode:       cfg.Mode,
		ListenAddr: fmt.Sprintf("0.0.0.0:%d", cfg.Transport.Port()),
		Encrypted:  cfg.Identity != nil,
	}
	if cfg.Identity != nil {
		n.selfID = cfg.Identity.ID().String()
		n.self.Identity = n.selfID
	}
	return n, nil
}

// forgetLocked drops what is kept about a peer the registry evicted.
func (n *Node) forgetLocked(st *peerState) {
	if err := n.cfg.Store.Forget(st.Key); err != nil {
		n.log.Warn("forget history", "err", err)
	}
	if st.Online {
		n.emit(PeerLeft{Peer: st.Peer, Reason: "forgotten: too many peers"})
	}
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
	if !n.running.CompareAndSwap(false, true) {
		return errors.New("node already ran")
	}
	defer func() {
		n.mu.Lock()
		n.closed = true
		close(n.events)
		n.mu.Unlock()
	}()
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
// keep the order of the changes they report. After drops, a Resync goes
// first once there is room again. A message or a warning is not dropped
// for a full channel while older, lesser events wait there: those are
// dropped instead (see makeRoomLocked), so a flood of announces cannot
// keep a message from the UI.
func (n *Node) emit(e Event) {
	if n.closed {
		return
	}
	if n.pending > 0 && n.trySendLocked(Resync{Dropped: n.pending}) {
		n.pending = 0
	}
	if n.pending == 0 && n.trySendLocked(e) {
		return
	}
	if important(e) && n.makeRoomLocked(e) {
		return
	}
	n.dropLocked()
}

func (n *Node) trySendLocked(e Event) bool {
	select {
	case n.events <- e:
		return true
	default:
		return false
	}
}

// dropLocked counts one dropped event.
func (n *Node) dropLocked() {
	n.pending++
	if d := n.drops.Add(1); d&(d-1) == 0 { // log at powers of two
		n.log.Warn("event reader is behind; events dropped", "dropped", d)
	}
}

// important reports the events a UI must not miss: messages and warnings.
func important(e Event) bool {
	switch e := e.(type) {
	case MessageReceived:
		return true
	case Notice:
		return e.Warning
	}
	return false
}

// maxRoomScan bounds the waiting events makeRoomLocked looks at.
const maxRoomScan = 64

// makeRoomLocked takes the oldest waiting events off the channel, drops
// those that are not important and queues again, in order, those that
// are, then a Resync for what was dropped, then e. It reports false (and
// changes nothing that matters) when the oldest maxRoomScan events are all
// important.
func (n *Node) makeRoomLocked(e Event) bool {
	var held []Event
	dropped := false
scan:
	for len(held) < maxRoomScan && cap(n.events)-len(n.events) < len(held)+2 {
		select {
		case old := <-n.events:
			if important(old) {
				held = append(held, old)
			} else {
				n.dropLocked()
				dropped = true
			}
		default: // empty: the reader took them meanwhile
			break scan
		}
	}
	if dropped || n.pending > 0 {
		if n.trySendLocked(Resync{Dropped: n.pending}) {
			n.pending = 0
		}
	}
	for _, old := range held {
		if !n.trySendLocked(old) {
			n.dropLocked()
		}
	}
	return n.pending == 0 && n.trySendLocked(e)
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
	if s.Peer.Identity != "" && s.Peer.Identity == n.selfID {
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
		var claim Observation
		st, what := n.reg.seen(s, now, func(nick, id string) Trust {
			claim = n.cfg.Contacts.Claim(nick, id)
			return claim.Trust
		})
		if st == nil {
			n.log.Warn("peer registry full; ignoring a new peer", "nickname", s.Peer.Nickname)
			return
		}
		switch what {
		case joined:
			n.emit(PeerJoined{Peer: st.Peer})
			if isNew {
				n.warnChangedLocked(st)
			}
		case updated:
			n.emit(PeerUpdated{Peer: st.Peer})
		}
		n.noteNameLocked(st, claim)
	case discovery.Gone:
		if st, what := n.reg.gone(s); what == left {
			n.emit(PeerLeft{Peer: st.Peer, Reason: s.Reason})
		}
	}
}

// warnChangedLocked tells the user, in the peer's conversation, that a peer
// uses the nickname of a contact known with another key (or with a key,
// when it has none).
func (n *Node) warnChangedLocked(st *peerState) {
	if st.Trust != TrustChanged {
		return
	}
	text := fmt.Sprintf("%s has a different key than the %s you knew: this may be a different person. Kept as a separate conversation; /verify %s#%s before trusting it.",
		st.Nickname, st.Nickname, st.Nickname, st.Tag())
	if st.Identity == "" {
		text = fmt.Sprintf("%s#%s is unencrypted and uses the nickname of a contact you know with a key: it is not that contact. Kept as a separate conversation.",
			st.Nickname, st.Tag())
	}
	n.emit(Notice{Peer: st.Key, Warning: true, Text: text})
}

// noteNameLocked tells the user, once, what is odd about a peer's name: a
// second key using a nickname nobody is pinned to yet (a neutral note:
// which one is "carol" is the user's choice), or a stranger using this
// node's own nickname (a warning). Caller holds n.mu.
func (n *Node) noteNameLocked(st *peerState, claim Observation) {
	if claim.Contested {
		n.emit(Notice{Peer: st.Key, Text: fmt.Sprintf(
			"two peers use the name %s: this one is %s#%s. Neither is your %s yet: the one you message or /verify becomes it.",
			st.Nickname, st.Nickname, st.Tag(), st.Nickname)})
	}
	if !st.warnedSelfName && st.Nickname != "" && wire.FoldNickname(st.Nickname) == wire.FoldNickname(n.self.Nickname) {
		st.warnedSelfName = true
		n.emit(Notice{Peer: st.Key, Warning: true, Text: fmt.Sprintf(
			"%s#%s uses your own nickname: messages from it are not from you.", st.Nickname, st.Tag())})
	}
}

// provenLocked records that a peer proved its key while using nickname
// nick: chosen when the user sent to it (the handshake proved the key),
// else an authenticated message arrived. Contacts decides whether that
// pins the nickname (Choose, Observe); a changed nickname is taken over.
// When a pin settles a nickname other peers also claimed, their trust is
// looked at again. Caller holds n.mu.
func (n *Node) provenLocked(st *peerState, nick string, now time.Time, chosen bool) {
	if st.proven && st.Nickname == nick && (!chosen || st.Trust != TrustNew) {
		return
	}
	st.proven = true
	var o Observation
	var err error
	if chosen {
		o, err = n.cfg.Contacts.Choose(nick, st.Identity, now)
	} else {
		o, err = n.cfg.Contacts.Observe(nick, st.Identity, now)
	}
	if err != nil {
		n.log.Warn("remember contact", "err", err)
	}
	if o.Pinned && o.Others {
		n.retrustLocked(nick, st.Key)
	}
	renamed := st.Nickname != "" && st.Nickname != nick
	st.Nickname, st.Trust = nick, o.Trust
	if renamed {
		n.emit(PeerUpdated{Peer: st.Peer})
		n.warnChangedLocked(st)
	}
	n.noteNameLocked(st, o)
}

// retrustLocked asks Contacts again for the trust of the peers other than
// except that use nickname nick (folded), after nick was pinned. It scans
// the registry: it runs only when a pin settles a contested name, which
// at most maxClaims keys can make.
func (n *Node) retrustLocked(nick string, except PeerKey) {
	fold := wire.FoldNickname(nick)
	for _, st := range n.reg.peers {
		if st.Key == except || wire.FoldNickname(st.Nickname) != fold {
			continue
		}
		if t := n.cfg.Contacts.Check(st.Nickname, st.Identity); t != st.Trust {
			st.Trust = t
			n.emit(PeerUpdated{Peer: st.Peer})
			n.warnChangedLocked(st)
		}
	}
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
	// The remote port is not where the sender listens: a peer first met
	// by its message has no address until a source reports one.
	init := Peer{Nickname: m.From, LastSeen: now, Source: "direct", Identity: in.Identity}
	var key PeerKey
	if in.Identity != "" {
		if in.Identity == n.selfID {
			return
		}
		key = PeerKey("id:" + in.Identity)
	} else {
		if n.cfg.RequireEncryption {
			return // the transport refuses these; never deliver one
		}
		key = plainKey(m.From, in.Remote.Addr())
		init.Trust = n.cfg.Contacts.Check(m.From, "")
	}
	isNew := n.reg.peers[key] == nil
	st := n.reg.ensure(key, init)
	if st == nil {
		n.log.Warn("peer registry full; dropping a message", "from", m.From)
		return
	}
	if in.Identity != "" {
		n.provenLocked(st, m.From, now, false)
	} else if isNew {
		n.noteNameLocked(st, Observation{})
	}
	if isNew {
		n.warnChangedLocked(st)
	}
	if m.ID != "" && st.seenID(m.ID) {
		n.log.Debug("duplicate message dropped", "id", m.ID)
		return
	}
	msg := Message{ID: m.ID, Peer: key, From: st.Nickname, Text: m.Content, Sent: time.Unix(m.Timestamp, 0), At: now}
	if err := n.cfg.Store.Append(msg); err != nil {
		n.log.Warn("store message", "err", err)
	}
	n.emit(MessageReceived{Message: msg})
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
	if p.Identity != "" { // the handshake proved the key
		n.mu.Lock()
		if st := n.reg.peers[key]; st != nil {
			n.provenLocked(st, st.Nickname, now, true)
		}
		n.mu.Unlock()
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
	n.nickMu.Lock()
	defer n.nickMu.Unlock()
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
// where tag is the start of Peer.Tag() (case-insensitive). Nicknames
// compare folded (wire.FoldNickname), so look-alikes ("alice" and
// "alice\u200b") are all returned and must be told apart by tag. When some
// matches are online only those are returned, except that a peer marked
// "key changed" never stands alone for a nickname another known peer uses
// (so a message meant for a known contact cannot silently go to an
// impostor while the contact is offline). More than one result means the
// name is ambiguous.
func (n *Node) Resolve(name string) []Peer {
	nick, tag, hasTag := strings.Cut(name, "#")
	want := wire.FoldNickname(nick)
	var online, all []Peer
	changedOnline := false
	n.mu.Lock()
	for _, st := range n.reg.peers {
		p := st.Peer
		if wire.FoldNickname(p.Nickname) != want {
			continue
		}
		if hasTag && !strings.HasPrefix(strings.ToUpper(p.Tag()), strings.ToUpper(tag)) {
			continue
		}
		all = append(all, p)
		if p.Online {
			online = append(online, p)
			changedOnline = changedOnline || p.Trust == TrustChanged
		}
	}
	n.mu.Unlock()
	out := all
	if len(online) > 0 && !(changedOnline && len(all) > len(online)) {
		out = online
	}
	sortPeers(out)
	return out
}

// History returns the stored conversation with a peer, oldest first.
func (n *Node) History(key PeerKey) ([]Message, error) { return n.cfg.Store.History(key) }

// SafetyCode returns the code to compare with a peer out of band.
func (n *Node) SafetyCode(key PeerKey) (string, error) {
	p, ok := n.Peer(key)
	switch {
	case !ok:
		return "", fmt.Errorf("%s: %w", key, ErrUnknownPeer)
	case n.selfID == "":
		return "", errors.New("this node has no identity key")
	case p.Identity == "":
		return "", fmt.Errorf("%s is an original, unencrypted peer: it has no key to verify", p.Nickname)
	}
	return identity.SafetyCode(identity.ID(n.selfID), identity.ID(p.Identity)), nil
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
	if err := n.cfg.Contacts.Verify(st.Nickname, st.Identity); err != nil {
		return fmt.Errorf("remember verification: %w", err)
	}
	st.Trust = TrustVerified
	n.emit(PeerUpdated{Peer: st.Peer})
	return nil
}
