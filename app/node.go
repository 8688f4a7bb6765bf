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

	"github.com/parlance-chat/parlance/app/group"
	"github.com/parlance-chat/parlance/app/store"
	"github.com/parlance-chat/parlance/net/discovery"
	"github.com/parlance-chat/parlance/net/filexfer"
	"github.com/parlance-chat/parlance/net/identity"
	"github.com/parlance-chat/parlance/net/mailbox"
	"github.com/parlance-chat/parlance/net/transport"
	"github.com/parlance-chat/parlance/net/wire"
)

// Transport is what the Node needs from net/transport, as an interface so
// tests can fake it.
type Transport interface {
	Port() uint16
	Serve(ctx context.Context, handle func(transport.Inbound)) error
	// SendBatchOn writes messages in order, on the kept connection of
	// generation gen (0: any, dialing if needed; see transport's
	// SendBatchOn). Sent.TwoWay reports that the peer acknowledges them
	// (control frames come back to Serve's handler).
	SendBatchOn(ctx context.Context, d transport.Dest, ms []wire.Message, gen uint64) (transport.Sent, error)
	SendControl(ctx context.Context, d transport.Dest, c wire.Control) error
	// SendFrame writes encoded frame lines (group frames) to a peer that
	// takes them (ALPN parlance/2).
	SendFrame(ctx context.Context, d transport.Dest, lines []byte) error
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
	Mode     string // "local", "internet" or "both", for display
	// Transport carries messages; Sources find peers.
	Transport Transport
	Sources   []discovery.Source
	// Store keeps messages, the outbox and contacts (default: an
	// in-memory store). The node never closes it.
	Store store.Store
	// OutboxTTL is how long a message waits for its peer before it is
	// marked failed (default 7 days).
	OutboxTTL time.Duration
	// AckTimeout is how long a message written to a peer that
	// acknowledges waits for its acknowledgement before it is written
	// again (default 10 s). A peer seen anew is written to at once.
	AckTimeout time.Duration
	// RetryMax caps the back-off between attempts to reach a listed but
	// unreachable peer (default 1 min; it starts at 1 s).
	RetryMax time.Duration
	// ReadReceipts sends read receipts and shows the peer's (opt-in).
	ReadReceipts bool
	// Contacts remembers keys (default: in memory only).
	Contacts *Contacts
	// GroupStore keeps the groups' ops and messages for the group engine
	// (default: in memory, so groups last as long as the process).
	GroupStore group.Store
	// GroupRecords, if set, keeps what the groups must not lose beside
	// their store: the outbox of messages for offline members and the
	// invitations waiting for an answer (nil: in memory).
	GroupRecords RecordStore
	// RequireEncryption refuses original (plaintext) peers both ways.
	RequireEncryption bool
	// SweepInterval is how often expired peers are looked for (default 1 s).
	SweepInterval time.Duration
	// Reach turns on reaching internet peers behind NATs through the
	// bootstrap server (nil: off); see reach.go. The Transport must be a
	// ReachTransport.
	Reach *ReachConfig
	// Files turns on file transfer (nil: off); see files.go. A node with
	// Files must be Run: the end of Run stops the transfers.
	Files *FilesConfig
	// Mailbox turns on the sealed mailbox at the bootstrap server (nil:
	// off; it needs an Identity). See mailbox.go.
	Mailbox *MailboxConfig
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

	store   store.Store
	changed chan struct{} // level-triggered: messages were added or changed
	inbox   chan inItem   // received messages and receipts, for the committer
	out     *delivery
	runCtx  context.Context // Run's; nil before Run
	saveErr atomic.Bool     // a store write failed and was reported

	files *filexfer.Engine // nil: file transfer is off (files.go)
	reach *reach           // nil: reach is off (reach.go)
	mb    *mailboxes       // nil: the mailbox is off (mailbox.go)
	// connected holds the peers whose Peer.Path is not PathNone, for
	// refreshPaths; guarded by mu.
	connected map[PeerKey]struct{}
	grp       *groups // nil without an identity (groups.go)
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
		cfg.Store = store.NewMemory(0)
	}
	if cfg.OutboxTTL <= 0 {
		cfg.OutboxTTL = 7 * 24 * time.Hour
	}
	if cfg.AckTimeout <= 0 {
		cfg.AckTimeout = 10 * time.Second
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = time.Minute
	}
	if cfg.Contacts == nil {
		c, err := NewContacts(cfg.Store)
		if err != nil {
			return nil, err
		}
		cfg.Contacts = c
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
		cfg:     cfg,
		log:     cfg.Logger,
		events:  make(chan Event, cfg.EventBuffer),
		store:   cfg.Store,
		changed: make(chan struct{}, 1),
		inbox:   make(chan inItem, inboxSize),
	}
	n.reg = newRegistry(n.forgetLocked)
	n.connected = map[PeerKey]struct{}{}
	if cfg.Reach != nil {
		r, err := newReach(n, *cfg.Reach)
		if err != nil {
			return nil, err
		}
		n.reach = r
	}
	n.out = newDelivery(n)
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
	if err := n.loadConversations(); err != nil {
		return nil, err
	}
	if cfg.Files != nil {
		if err := n.startFiles(*cfg.Files); err != nil {
			return nil, err
		}
	}
	if cfg.Mailbox != nil {
		if cfg.Identity == nil || cfg.Mailbox.Server == nil || cfg.Mailbox.Key == nil {
			return nil, errors.New("the mailbox needs an identity, a bootstrap client and a mailbox key")
		}
		n.mb = newMailboxes(n, *cfg.Mailbox)
	}
	if cfg.Identity != nil {
		gs, err := newGroups(n, cfg.GroupStore)
		if err != nil {
			return nil, err
		}
		n.grp = gs
	}
	return n, nil
}

// loadConversations lists the peers of the stored conversations, offline,
// so that their history shows and messages to them can be queued.
func (n *Node) loadConversations() error {
	convs, err := n.store.Conversations()
	if err != nil {
		return fmt.Errorf("read conversations: %w", err)
	}
	contacts, err := n.store.Contacts()
	if err != nil {
		return fmt.Errorf("read contacts: %w", err)
	}
	nickOf := make(map[string]Contact, len(contacts))
	for _, c := range contacts {
		nickOf[c.Identity] = c
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, c := range convs {
		key := PeerOf(c.Conv)
		p := Peer{Nickname: c.Nickname, LastSeen: c.LastAt}
		switch {
		case strings.HasPrefix(string(key), "id:"):
			p.Identity = strings.TrimPrefix(string(key), "id:")
			if ct, ok := nickOf[p.Identity]; ok {
				p.Nickname = ct.Nickname
				if ct.LastSeen.After(p.LastSeen) {
					p.LastSeen = ct.LastSeen
				}
			}
			p.Trust = n.cfg.Contacts.Check(p.Nickname, p.Identity)
		case strings.HasPrefix(string(key), "orig:"):
			if p.Nickname == "" {
				p.Nickname, _, _ = strings.Cut(strings.TrimPrefix(string(key), "orig:"), "@")
			}
			p.Trust = n.cfg.Contacts.Check(p.Nickname, "")
		default:
			continue // not a one-to-one conversation
		}
		p.Source = "history"
		n.reg.ensure(key, p)
	}
	return nil
}

// Contact is what the store remembers of a peer with a key.
type Contact = store.Contact

// forgetLocked is called for a peer the registry evicted (its stored
// conversation stays: eviction only bounds memory).
func (n *Node) forgetLocked(st *peerState) {
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
	n.mu.Lock()
	n.runCtx = gctx
	n.mu.Unlock()
	if n.grp != nil {
		n.grp.start(gctx)
	}
	committed := make(chan struct{})
	g.Go(func() error {
		defer close(committed)
		n.commitLoop(gctx)
		return nil
	})
	g.Go(func() error {
		n.out.run(gctx)
		return nil
	})
	if n.mb != nil {
		g.Go(func() error {
			n.mb.run(gctx)
			return nil
		})
	}
	if n.reach != nil {
		g.Go(func() error {
			n.reach.run(gctx)
			return nil
		})
	}
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
		n.expireOutbox()
		lastOutboxSweep := n.cfg.Now()
		for {
			select {
			case <-gctx.Done():
				return nil
			case <-t.C:
				n.Expire()
				n.refreshPaths()
				if err := n.cfg.Contacts.Flush(); err != nil {
					n.log.Warn("save contacts", "err", err)
				}
				if now := n.cfg.Now(); now.Sub(lastOutboxSweep) >= time.Minute {
					lastOutboxSweep = now
					n.expireOutbox()
				}
			}
		}
	})
	g.Go(func() error {
		<-gctx.Done()
		n.closeFiles()
		if n.grp != nil {
			n.grp.wait()
		}
		return n.cfg.Transport.Close()
	})
	err := g.Wait()
	if ferr := n.cfg.Contacts.Flush(); ferr != nil {
		n.log.Warn("save contacts", "err", ferr)
	}
	return err
}

// emit queues an event without ever blocking. Callers hold n.mu so events
// keep the order of the changes they report. After drops, a Resync goes
// first once there is room again.
func (n *Node) emit(e Event) {
	if n.closed {
		return
	}
	if n.pending > 0 {
		select {
		case n.events <- Resync{Dropped: n.pending}:
			n.pending = 0
		default:
		}
	}
	if n.pending == 0 {
		select {
		case n.events <- e:
			return
		default:
		}
	}
	n.pending++
	if d := n.drops.Add(1); d&(d-1) == 0 { // log at powers of two
		n.log.Warn("event reader is behind; events dropped", "dropped", d)
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
	if s.Peer.Identity != "" && s.Peer.Identity == n.selfID {
		n.log.Debug("ignoring a peer with our own identity (same key file used twice?)", "addr", s.Peer.Addr)
		return
	}
	if s.Peer.Instance != "" && s.Peer.Instance == n.cfg.Instance {
		return
	}
	now := n.cfg.Now()
	online := "" // a keyed peer (back) online: its downloads retry, after n.mu is released
	defer func() { n.filesOnline(online) }()
	n.mu.Lock()
	defer n.mu.Unlock()
	switch s.Kind {
	case discovery.Seen:
		isNew := n.reg.peers[KeyOf(s.Peer)] == nil
		addr := ""
		if s.Peer.Addr.IsValid() {
			addr = s.Peer.Addr.String()
		}
		n.cfg.Contacts.Seen(s.Peer.Identity, s.Peer.Nickname, addr, now)
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
			online = st.Identity
			n.emit(PeerJoined{Peer: st.Peer})
			if isNew {
				n.warnChangedLocked(st)
			}
			n.out.peerSeen(ConvOf(st.Key))
			n.groupPeerSeen(st.Peer)
		case updated:
			online = st.Identity // a new address: try it now
			n.emit(PeerUpdated{Peer: st.Peer})
			n.out.peerSeen(ConvOf(st.Key))
			n.peerMoved(st.Peer)
		}
		n.noteNameLocked(st, claim)
	case discovery.Gone:
		switch st, what := n.reg.gone(s); what {
		case left:
			n.emit(PeerLeft{Peer: st.Peer, Reason: s.Reason})
		case updated:
			n.emit(PeerUpdated{Peer: st.Peer})
			n.out.peerSeen(ConvOf(st.Key))
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
	gone, moved := n.reg.expire(now)
	for _, st := range gone {
		n.emit(PeerLeft{Peer: st.Peer, Reason: "timed out"})
	}
	for _, st := range moved {
		n.emit(PeerUpdated{Peer: st.Peer})
		n.out.peerSeen(ConvOf(st.Key))
	}
}

// receive handles one inbound message or control frame from the
// transport. A message is handed to the committer, which acknowledges it
// once it is in the store; when the committer is behind, this blocks the
// sender's connection (never anyone else's), so nothing is dropped.
func (n *Node) receive(in transport.Inbound) {
	if in.Control != nil {
		n.receiveControl(in)
		return
	}
	if in.Group != nil {
		n.receiveGroup(in)
		return
	}
	m := in.Message
	key, from, ctx, ok := n.admit(m.From, in.Identity, in.Remote.Addr(), "direct")
	if !ok {
		return
	}
	msg := Message{ID: m.ID, Conv: ConvOf(key), Peer: string(key), From: from, Text: m.Content,
		Sent: time.Unix(m.Timestamp, 0), At: n.cfg.Now(), State: store.Received}
	n.toCommitter(ctx, inItem{msg: &msg, reply: in.Reply})
}

// receiveLetter hands a letter opened from the mailbox (its signature
// checked) to the committer, like a message received directly; saved is
// called once it is in the store.
func (n *Node) receiveLetter(l mailbox.Letter, saved func()) {
	key, from, ctx, ok := n.admit(l.Nickname, string(l.From), netip.Addr{}, "mailbox")
	if !ok {
		saved() // our own, or no room: nothing to keep at the server either
		return
	}
	msg := Message{ID: l.ID, Conv: ConvOf(key), Peer: string(key), From: from, Text: l.Text,
		Sent: l.Sent, At: n.cfg.Now(), State: store.Received}
	n.toCommitter(ctx, inItem{msg: &msg, saved: saved})
}

// receiveReceipt hands a receipt from the mailbox (signed by its author)
// to the committer: the author's conversation's messages it names are
// delivered.
func (n *Node) receiveReceipt(l mailbox.Letter) {
	if string(l.From) == n.selfID {
		return
	}
	n.mu.Lock()
	ctx := n.runCtx
	n.mu.Unlock()
	n.toCommitter(ctx, inItem{receipt: &receipt{conv: ConvOf(PeerKey("id:" + string(l.From))), ids: l.Acks, state: store.Delivered}})
}

// admit finds (or adds) the peer that sent a message as nick, proved as
// ident (empty: an original peer at remote), and returns its key, the
// nickname to store with the message and Run's context; ok is false when
// the message must be dropped. source names where a new peer came from.
func (n *Node) admit(nick, ident string, remote netip.Addr, source string) (key PeerKey, from string, ctx context.Context, ok bool) {
	now := n.cfg.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	// The remote port is not where the sender listens: a peer first met
	// by its message has no address until a source reports one.
	init := Peer{Nickname: nick, LastSeen: now, Source: source, Identity: ident}
	if ident != "" {
		if ident == n.selfID {
			return "", "", nil, false
		}
		key = PeerKey("id:" + ident)
	} else {
		if n.cfg.RequireEncryption {
			return "", "", nil, false // the transport refuses these; never deliver one
		}
		key = plainKey(nick, remote)
		init.Trust = n.cfg.Contacts.Check(nick, "")
	}
	isNew := n.reg.peers[key] == nil
	st := n.reg.ensure(key, init)
	if st == nil {
		n.log.Warn("peer registry full; dropping a message", "from", nick)
		return "", "", nil, false
	}
	if ident != "" {
		n.provenLocked(st, nick, now, false)
	} else if isNew {
		n.noteNameLocked(st, Observation{})
	}
	if isNew {
		n.warnChangedLocked(st)
	}
	return key, st.Nickname, n.runCtx, true
}

// toCommitter hands an item to the committer, waiting while it is behind;
// before Run (in tests) it commits at once.
func (n *Node) toCommitter(ctx context.Context, it inItem) {
	if ctx == nil {
		n.commit([]inItem{it})
		return
	}
	select {
	case n.inbox <- it:
	case <-ctx.Done():
	}
}

// receiveControl handles a control frame: a peer acknowledged our
// messages, or read them.
func (n *Node) receiveControl(in transport.Inbound) {
	if in.Identity == "" {
		return
	}
	c := in.Control
	var st store.State
	switch c.Type {
	case wire.ControlAck:
		st = store.Delivered
	case wire.ControlRead:
		if !n.cfg.ReadReceipts {
			return
		}
		st = store.Read
	default:
		return
	}
	n.mu.Lock()
	ctx := n.runCtx
	n.mu.Unlock()
	n.toCommitter(ctx, inItem{receipt: &receipt{conv: ConvOf(PeerKey("id:" + in.Identity)), ids: c.IDs, state: st}})
}

// Errors Send returns (wrapped).
var (
	ErrUnknownPeer = errors.New("no such peer")
	ErrOffline     = errors.New("peer is offline")
)

// Send commits a message to a peer to the outbox and returns it at once,
// Queued; the delivery service writes it as soon as the peer can be
// reached (at once when it is online), and its state changes (Sent,
// Delivered, Failed...) arrive through Changed/Changes. A peer that is
// offline is not an error: the message waits for it, up to OutboxTTL.
func (n *Node) Send(ctx context.Context, key PeerKey, text string) (Message, error) {
	return n.SendWithID(ctx, key, wire.NewMessageID(), text)
}

// NewMessageID returns a new random message id, for SendWithID.
func NewMessageID() string { return wire.NewMessageID() }

// SendWithID is Send with the message id chosen by the caller (a UI that
// shows the message before Send returns, and matches its state changes
// by id). The id must be new: from NewMessageID.
func (n *Node) SendWithID(ctx context.Context, key PeerKey, id, text string) (Message, error) {
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
	if p.Original() && n.cfg.RequireEncryption {
		return Message{}, fmt.Errorf("send to %s: %w", p.Nickname, transport.ErrPlaintextRefused)
	}
	msg := Message{ID: id, Conv: ConvOf(key), Peer: string(key), From: from, Text: text,
		Outgoing: true, Sent: time.Unix(now.Unix(), 0), At: now, State: store.Queued}
	added, err := n.store.Append([]Message{msg})
	if err != nil {
		return Message{}, fmt.Errorf("save the message to %s: %w (not sent)", p.Nickname, err)
	}
	if len(added) == 1 {
		msg = added[0]
	}
	n.notifyChanged()
	n.out.poke(msg.Conv)
	return msg, nil
}

// Resend queues a failed message again.
func (n *Node) Resend(conv ConvID, id string) (Message, error) {
	m, err := n.store.Message(conv, id)
	if err != nil {
		return Message{}, err
	}
	if !m.Outgoing || m.State != store.Failed {
		return Message{}, fmt.Errorf("that message is %s, not failed: nothing to resend", m.State)
	}
	ch, err := n.store.SetState(conv, []string{id}, store.Queued, "")
	if err != nil {
		return Message{}, fmt.Errorf("queue the message again: %w", err)
	}
	if len(ch) == 1 {
		m = ch[0]
	}
	n.notifyChanged()
	n.out.poke(conv)
	return m, nil
}

// Changed is signalled (never blocking, never dropped: it holds one
// pending signal) whenever messages are added or change state. Read what
// changed with Changes.
func (n *Node) Changed() <-chan struct{} { return n.changed }

func (n *Node) notifyChanged() {
	select {
	case n.changed <- struct{}{}:
	default:
	}
}

// Changes returns up to limit messages added or changed after version,
// in Version order (see store.Store.Changes).
func (n *Node) Changes(after int64, limit int) ([]Message, error) {
	return n.store.Changes(after, limit)
}

// LastVersion is the Version of the newest change in the store: a UI that
// starts reads history with History and changes after this.
func (n *Node) LastVersion() (int64, error) { return n.store.LastVersion() }

// History returns up to limit messages of a conversation older than Seq
// before (before <= 0: the newest), oldest first.
func (n *Node) History(conv ConvID, before int64, limit int) ([]Message, error) {
	return n.store.History(conv, before, limit)
}

// Conversations lists the stored conversations, the most recent first.
func (n *Node) Conversations() ([]store.Conversation, error) { return n.store.Conversations() }

// Search finds stored messages (newest first).
func (n *Node) Search(query string, limit int) ([]Message, error) {
	return n.store.Search(query, limit)
}

// Outbox lists every message waiting for its peer, oldest first per
// conversation.
func (n *Node) Outbox() ([]Message, error) {
	convs, err := n.store.OutboxConvs()
	if err != nil {
		return nil, err
	}
	var out []Message
	for _, c := range convs {
		ms, err := n.store.Outbox(c, 10_000)
		if err != nil {
			return nil, err
		}
		out = append(out, ms...)
	}
	return out, nil
}

// MarkRead records that the user saw a conversation's messages up to Seq
// upTo and, with read receipts on, tells the peer.
func (n *Node) MarkRead(conv ConvID, upTo int64) error {
	read, err := n.store.MarkRead(conv, upTo)
	if err != nil || len(read) == 0 {
		return err
	}
	n.notifyChanged()
	if !n.cfg.ReadReceipts {
		return nil
	}
	p, ok := n.Peer(PeerOf(conv))
	if !ok || p.Identity == "" || !p.Online {
		return nil
	}
	ids := make([]string, 0, len(read))
	for _, m := range read {
		if m.ID != "" {
			ids = append(ids, m.ID)
		}
	}
	go n.sendReceipts(p, ids)
	return nil
}

// sendReceipts sends read receipts, best effort.
func (n *Node) sendReceipts(p Peer, ids []string) {
	n.mu.Lock()
	ctx := n.runCtx
	n.mu.Unlock()
	if ctx == nil {
		ctx = context.Background() // before Run (tests): the timeout bounds it
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := n.connectFirst(ctx, p); err != nil {
		n.log.Debug("read receipts not sent", "peer", p.Nickname, "err", err)
		return
	}
	dest := transport.Dest{Addr: p.Addr, AltAddr: p.AltAddr, Identity: p.Identity}
	for len(ids) > 0 {
		k := min(len(ids), wire.MaxControlIDs)
		if err := n.cfg.Transport.SendControl(ctx, dest, wire.Control{Type: wire.ControlRead, IDs: ids[:k]}); err != nil {
			n.log.Debug("read receipts not sent", "peer", p.Nickname, "err", err)
			return
		}
		ids = ids[k:]
	}
}

// expireOutbox marks failed what waited longer than OutboxTTL.
func (n *Node) expireOutbox() {
	cutoff := n.cfg.Now().Add(-n.cfg.OutboxTTL)
	days := int(n.cfg.OutboxTTL.Hours()+23) / 24
	exp, err := n.store.ExpireOutbox(cutoff, fmt.Sprintf("not delivered within %d days; /resend to try again", days))
	if err != nil {
		n.log.Warn("expire outbox", "err", err)
		return
	}
	if len(exp) > 0 {
		n.notifyChanged()
	}
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
	st := n.reg.peers[key]
	switch {
	case st == nil:
		n.mu.Unlock()
		return fmt.Errorf("%s: %w", key, ErrUnknownPeer)
	case st.Identity == "":
		n.mu.Unlock()
		return fmt.Errorf("%s is an original, unencrypted peer: it has no key to verify", st.Nickname)
	}
	if err := n.cfg.Contacts.Verify(st.Nickname, st.Identity); err != nil {
		n.mu.Unlock()
		return fmt.Errorf("remember verification: %w", err)
	}
	st.Trust = TrustVerified
	n.emit(PeerUpdated{Peer: st.Peer})
	n.mu.Unlock()
	if err := n.cfg.Contacts.Flush(); err != nil {
		return fmt.Errorf("remember verification: %w", err)
	}
	return nil
}
