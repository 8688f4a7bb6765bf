package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/parlance-chat/parlance/net/identity"
	"github.com/parlance-chat/parlance/net/mailbox"
	"github.com/parlance-chat/parlance/net/rendezvous"
	"github.com/parlance-chat/parlance/net/wire"
)

// The sealed mailbox, the node's side (package mailbox seals and opens;
// the bootstrap server stores). Two halves:
//
//   - Receiving: when the server says mail waits (mailbox_status, sent
//     right after each register), the node publishes its key and fetches;
//     each item is opened, its signature checked, and committed through
//     the normal receive path (the committer drops a message it already
//     has by id); once committed it is acknowledged to the server, which
//     deletes it. An item that does not open or is forged is refused
//     (with a warning) and deleted.
//   - Sending: a conversation's writer (delivery.go), finding its peer
//     offline for MailboxConfig.After, seals the pending messages to the
//     peer's verified key and leaves them at the server, once each. They
//     stay in the outbox: the peer's acknowledgement, when the two next
//     meet, makes them Delivered (the peer drops the copy it already got
//     from the mailbox).
//
// The mailbox goroutine (run, started by Node.Run) owns the reading of
// server messages; a writer goroutine seals and puts (leave). Both use
// mailboxes.mu for the shared maps.

// MailboxConfig turns on the sealed mailbox.
type MailboxConfig struct {
	// Server is the bootstrap client that carries the requests (a
	// *rendezvous.Client); its Config.OnMessage must hand the server's
	// messages to Node.ServerMessage.
	Server MailboxServer
	// Key is this node's mailbox key (mailbox.LoadOrCreateKey).
	Key *mailbox.Key
	// After is how long a peer must have been offline before its queued
	// messages are left in its mailbox (default 30 s).
	After time.Duration
	// Records keeps what was left at the server and the contacts'
	// verified keys across restarts (nil: in memory only).
	Records RecordStore
}

// MailboxServer is what the mailbox needs of the bootstrap client.
type MailboxServer interface {
	Send(ctx context.Context, m wire.ClientMessage) error
	Server() (rendezvous.ServerInfo, bool)
}

// DefaultMailboxAfter is MailboxConfig.After's default.
const DefaultMailboxAfter = 30 * time.Second

const (
	// mailboxInbox bounds the server messages waiting for the mailbox
	// goroutine; beyond it they are dropped (the next status fetches
	// again what was not acknowledged).
	mailboxInbox = 256
	// refetchWait is the pause before fetching again from a server that
	// answered a fetch with nothing but "more".
	refetchWait = time.Second
	// keyWait bounds the wait for a mailbox_key answer.
	keyWait = 5 * time.Second
	// maxMailboxed bounds the ids remembered as left at the server (the
	// record that keeps them stays under the store's 1 MiB a record).
	maxMailboxed = 8_000
	// pruneAt is how many ids left at the server are kept before the
	// delivered ones are looked for and forgotten.
	pruneAt = 1024
	// maxReceiptIDs bounds the ids confirmed to one sender at a time.
	maxReceiptIDs = 4096
	// maxKeyCache bounds the contacts' keys remembered.
	maxKeyCache = 10_000
	// mailboxRecordKind/ID name the record that keeps the state.
	mailboxRecordKind = "mailbox"
	mailboxRecordID   = "state"
)

// mailboxes is the node's side of the sealed mailbox (see the top of
// this file). Its run goroutine belongs to Node.Run.
type mailboxes struct {
	n   *Node
	cfg MailboxConfig
	id  *identity.Identity
	in  chan wire.ServerMessage

	mu        sync.Mutex
	keys      map[string]wire.MailboxKey         // last verified key per contact
	waiting   map[string][]chan *wire.MailboxKey // mailbox_key_get in flight
	mailboxed map[string]ConvID                  // ids the server stored
	tried     map[string]ConvID                  // ids put this session (stored, refused or waiting)
	stored    map[ConvID][]string                // ids stored since the last notice
	saved     []string                           // items of committed letters, to acknowledge
	receipts  map[string][]string                // ids of committed letters, by sender: to confirm
	wg        sync.WaitGroup                     // receipt senders (run waits for them)
	savedSig  chan struct{}                      // capacity 1
	kick      chan struct{}                      // fetch again; capacity 1
	warned    map[ConvID]bool                    // told the user a put was refused, this session
	dropped   int                                // server messages dropped
	outstand  int                                // letters of the last fetch not yet committed
	more      bool                               // the last fetch said more wait
	fetching  bool                               // a fetch is unanswered
}

func newMailboxes(n *Node, cfg MailboxConfig) *mailboxes {
	if cfg.After <= 0 {
		cfg.After = DefaultMailboxAfter
	}
	mb := &mailboxes{n: n, cfg: cfg, id: n.cfg.Identity, in: make(chan wire.ServerMessage, mailboxInbox),
		keys: map[string]wire.MailboxKey{}, waiting: map[string][]chan *wire.MailboxKey{},
		mailboxed: map[string]ConvID{}, tried: map[string]ConvID{}, stored: map[ConvID][]string{},
		savedSig: make(chan struct{}, 1), kick: make(chan struct{}, 1), warned: map[ConvID]bool{},
		receipts: map[string][]string{}}
	mb.load()
	return mb
}

// mailboxState is the record kept in MailboxConfig.Records.
type mailboxState struct {
	Keys      map[string]wire.MailboxKey `json:"keys"`
	Mailboxed map[string]ConvID          `json:"mailboxed"`
}

// load reads the kept state, forgetting ids no longer in the outbox.
func (mb *mailboxes) load() {
	if mb.cfg.Records == nil {
		return
	}
	recs, err := mb.cfg.Records.Records(mailboxRecordKind)
	if err != nil || len(recs) == 0 {
		if err != nil {
			mb.n.log.Warn("read mailbox state", "err", err)
		}
		return
	}
	var st mailboxState
	if err := json.Unmarshal(recs[0], &st); err != nil {
		mb.n.log.Warn("mailbox state is corrupt; starting afresh", "err", err)
		return
	}
	for id, k := range st.Keys {
		if _, err := mailbox.VerifyKey(k, identity.ID(id), mb.n.cfg.Now()); err == nil {
			mb.keys[id] = k
		}
	}
	for id, conv := range st.Mailboxed {
		if m, err := mb.n.store.Message(conv, id); err == nil && m.Outgoing && m.State.Pending() {
			mb.mailboxed[id] = conv
		}
	}
}

// saveLocked keeps the state (best effort: losing it costs a second
// copy at the server, which the recipient drops).
func (mb *mailboxes) saveLocked() {
	if mb.cfg.Records == nil {
		return
	}
	b, err := json.Marshal(mailboxState{Keys: mb.keys, Mailboxed: mb.mailboxed})
	if err == nil {
		err = mb.cfg.Records.SaveRecord(mailboxRecordKind, mailboxRecordID, b)
	}
	if err != nil {
		mb.n.log.Warn("save mailbox state", "err", err)
	}
}

// take queues a mailbox answer from the server (see Node.ServerMessage);
// what does not fit the queue is dropped.
func (mb *mailboxes) take(m wire.ServerMessage) {
	select {
	case mb.in <- m:
	default:
		mb.mu.Lock()
		mb.dropped++
		d := mb.dropped
		mb.mu.Unlock()
		if d&(d-1) == 0 {
			mb.n.log.Warn("mailbox is behind; server messages dropped", "dropped", d)
		}
	}
}

// ready reports whether the live server session keeps a mailbox.
func (mb *mailboxes) ready() bool {
	info, ok := mb.cfg.Server.Server()
	return ok && info.Has(wire.FeatureMailbox)
}

// run handles the server's mailbox messages until ctx ends.
func (mb *mailboxes) run(ctx context.Context) {
	defer mb.wg.Wait() // the receipts being sent
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-mb.in:
			mb.handle(ctx, m)
		case <-mb.savedSig:
			mb.ackSaved(ctx)
		case <-mb.kick:
			mb.fetch(ctx)
		}
	}
}

func (mb *mailboxes) send(ctx context.Context, m wire.ClientMessage) error {
	ctx, cancel := context.WithTimeout(ctx, keyWait)
	defer cancel()
	return mb.cfg.Server.Send(ctx, m)
}

func (mb *mailboxes) handle(ctx context.Context, msg wire.ServerMessage) {
	n := mb.n
	switch m := msg.(type) {
	case wire.MailboxStatus:
		// A new session (or mail arrived): publish the key, fetch, and
		// let the writers of offline peers try the mailbox again.
		mb.mu.Lock()
		mb.tried = map[string]ConvID{}
		mb.warned = map[ConvID]bool{}
		mb.outstand, mb.more, mb.fetching = 0, false, false
		mb.mu.Unlock()
		if err := mb.send(ctx, wire.MailboxKeyPut{Key: mb.cfg.Key.Publish(mb.id, n.cfg.Now())}); err != nil {
			n.log.Debug("mailbox key not published", "err", err)
		}
		if m.Count > 0 {
			mb.fetch(ctx)
		}
		n.out.pokeAll()
	case wire.MailboxItems:
		mb.receive(ctx, m)
	case wire.MailboxKeyReply:
		mb.mu.Lock()
		ws := mb.waiting[m.Identity]
		delete(mb.waiting, m.Identity)
		mb.mu.Unlock()
		for _, w := range ws {
			w <- m.Key // capacity 1
		}
	case wire.MailboxStored:
		mb.stored1(m)
	}
}

func (mb *mailboxes) fetch(ctx context.Context) {
	mb.mu.Lock()
	if mb.fetching {
		mb.mu.Unlock()
		return
	}
	mb.fetching = true
	mb.mu.Unlock()
	if err := mb.send(ctx, wire.MailboxFetch{}); err != nil {
		mb.n.log.Debug("mailbox fetch not sent", "err", err)
		mb.mu.Lock()
		mb.fetching = false
		mb.mu.Unlock()
	}
}

// receive opens fetched items and hands the good ones to the committer;
// the refused ones are acknowledged (deleted) at once.
func (mb *mailboxes) receive(ctx context.Context, m wire.MailboxItems) {
	n := mb.n
	var refused []string // and receipts: acknowledged at once
	type letter struct {
		item string
		l    mailbox.Letter
	}
	var letters []letter
	for _, it := range m.Items {
		l, err := mailbox.Open(mb.cfg.Key, mb.id.ID(), it.Sealed)
		if err == nil && l.Conv != "" {
			err = fmt.Errorf("a group message (conversation %q): not taken from the mailbox", l.Conv)
		}
		if err != nil {
			refused = append(refused, it.ID)
			n.log.Warn("mailbox item refused", "from", it.From, "err", err)
			text := fmt.Sprintf("a message left for you at the bootstrap server could not be read and was dropped: %v", err)
			if errors.Is(err, mailbox.ErrForged) {
				text = fmt.Sprintf("a message at the bootstrap server claiming to come from %s was refused: %v. The server or someone else forged it; nothing was shown.",
					identity.ID(it.From).Short(), err)
			}
			n.mu.Lock()
			n.emit(Notice{Warning: true, Text: text})
			n.mu.Unlock()
			continue
		}
		if l.IsReceipt() {
			n.receiveReceipt(l)
			refused = append(refused, it.ID)
			continue
		}
		letters = append(letters, letter{it.ID, l})
	}
	mb.mu.Lock()
	mb.fetching = false
	mb.outstand = len(letters)
	mb.more = m.More
	mb.mu.Unlock()
	if len(refused) > 0 {
		mb.ack(ctx, refused)
	}
	for _, x := range letters {
		n.receiveLetter(x.l, func() { mb.committed(x.item, x.l) })
	}
	if len(letters) == 0 && m.More {
		// The server is busy (or rate-limits us): ask again shortly.
		time.AfterFunc(refetchWait, func() {
			select {
			case mb.kick <- struct{}{}:
			default:
			}
		})
	}
}

// committed is called by the committer once the letter of item is in the
// store (or was already).
func (mb *mailboxes) committed(item string, l mailbox.Letter) {
	mb.mu.Lock()
	mb.saved = append(mb.saved, item)
	from := string(l.From)
	if len(mb.receipts[from]) < maxReceiptIDs {
		mb.receipts[from] = append(mb.receipts[from], l.ID)
	}
	mb.mu.Unlock()
	select {
	case mb.savedSig <- struct{}{}:
	default:
	}
}

// ackSaved acknowledges the committed letters, and fetches again when the
// last fetch had more and all of it is committed.
func (mb *mailboxes) ackSaved(ctx context.Context) {
	mb.mu.Lock()
	ids := mb.saved
	mb.saved = nil
	receipts := mb.receipts
	mb.receipts = map[string][]string{}
	mb.outstand -= len(ids)
	again := mb.outstand <= 0 && mb.more
	if again {
		mb.more = false
	}
	mb.mu.Unlock()
	mb.ack(ctx, ids)
	if again {
		mb.fetch(ctx)
	}
	for from, acks := range receipts {
		// Not on this goroutine: it waits for the sender's key, which
		// this goroutine hands over.
		mb.wg.Add(1)
		go func() {
			defer mb.wg.Done()
			mb.sendReceipt(ctx, from, acks)
		}()
	}
}

// sendReceipt leaves, in the mailbox of the sender from, a receipt for
// its messages acks that this node committed from the mailbox: the
// sender marks them delivered without having to reach this node directly
// (behind NATs, say). Best effort: without it they become delivered when
// the two next meet.
func (mb *mailboxes) sendReceipt(ctx context.Context, from string, acks []string) {
	n := mb.n
	key, err := mb.keyFor(ctx, from)
	if err != nil {
		n.log.Debug("no mailbox key for a receipt", "to", from, "err", err)
		return
	}
	for len(acks) > 0 {
		k := min(len(acks), wire.MaxMailboxIDs)
		l := mailbox.Letter{Nickname: n.Self().Nickname, ID: wire.NewMessageID(), Sent: n.cfg.Now(), Acks: acks[:k]}
		acks = acks[k:]
		sealed, err := mailbox.Seal(mb.id, key, l)
		if err == nil {
			err = mb.send(ctx, wire.MailboxPut{To: from, ID: l.ID, Sealed: sealed})
		}
		if err != nil {
			n.log.Debug("mailbox receipt not sent", "to", from, "err", err)
			return
		}
	}
}

func (mb *mailboxes) ack(ctx context.Context, ids []string) {
	for len(ids) > 0 {
		k := min(len(ids), wire.MaxMailboxIDs)
		if err := mb.send(ctx, wire.MailboxAck{IDs: ids[:k]}); err != nil {
			// Not deleted: fetched again next time, and dropped by id.
			mb.n.log.Debug("mailbox ack not sent", "err", err)
			return
		}
		ids = ids[k:]
	}
}

// stored1 records the server's answer to a put.
func (mb *mailboxes) stored1(m wire.MailboxStored) {
	n := mb.n
	mb.mu.Lock()
	conv, ok := mb.tried[m.ID]
	if !ok {
		mb.mu.Unlock()
		return
	}
	if m.Error != "" {
		mb.tried[m.ID] = "" // refused: not again this session, and nothing waits for it
		warned := mb.warned[conv]
		mb.warned[conv] = true
		mb.mu.Unlock()
		n.log.Info("the bootstrap server did not keep a message for an offline peer", "to", m.To, "err", m.Error)
		if warned {
			return
		}
		n.mu.Lock()
		n.emit(Notice{Peer: PeerOf(conv), Text: "the bootstrap server did not keep a message for this offline peer (" + m.Error + "); it stays queued here, for when the peer is online"})
		n.mu.Unlock()
		return
	}
	if len(mb.mailboxed) < maxMailboxed {
		mb.mailboxed[m.ID] = conv
	}
	mb.stored[conv] = append(mb.stored[conv], m.ID)
	var ids []string
	if !mb.waitingFor(conv) {
		ids = mb.stored[conv]
		delete(mb.stored, conv)
	}
	mb.mu.Unlock()
	if count := len(ids); count > 0 {
		mb.prune()
		mb.mu.Lock()
		mb.saveLocked() // once per batch: the record holds every id
		mb.mu.Unlock()
		nick := "the peer"
		if p, ok := n.Peer(PeerOf(conv)); ok {
			nick = p.Nickname
		}
		what, it := "1 message", "it"
		if count > 1 {
			what, it = fmt.Sprintf("%d messages", count), "them"
		}
		n.mu.Lock()
		n.emit(Mailboxed{Peer: PeerOf(conv), IDs: ids})
		n.emit(Notice{Peer: PeerOf(conv), Text: fmt.Sprintf("✉ %s left at the bootstrap server, sealed to %s, who gets %s on connecting (queued here until %s confirms)", what, nick, it, nick)})
		n.mu.Unlock()
	}
}

// prune forgets the ids left at the server that are no longer in the
// outbox (delivered, or failed), once there are more than pruneAt.
func (mb *mailboxes) prune() {
	mb.mu.Lock()
	if len(mb.mailboxed) <= pruneAt {
		mb.mu.Unlock()
		return
	}
	all := make(map[string]ConvID, len(mb.mailboxed))
	for id, conv := range mb.mailboxed {
		all[id] = conv
	}
	mb.mu.Unlock()
	var gone []string // looked up without the lock: a store read may take a while
	for id, conv := range all {
		if m, err := mb.n.store.Message(conv, id); err != nil || !m.Outgoing || !m.State.Pending() {
			gone = append(gone, id)
		}
	}
	mb.mu.Lock()
	for _, id := range gone {
		delete(mb.mailboxed, id)
	}
	mb.mu.Unlock()
}

// waitingFor reports whether puts to conv are unanswered. Caller holds mu.
func (mb *mailboxes) waitingFor(conv ConvID) bool {
	for id, c := range mb.tried {
		if c == conv {
			if _, done := mb.mailboxed[id]; !done {
				return true
			}
		}
	}
	return false
}

// Mailboxed reports whether the outgoing message id was left, sealed, in
// its recipient's mailbox at the bootstrap server (it is still pending:
// delivered once the recipient confirms).
func (n *Node) Mailboxed(id string) bool {
	if n.mb == nil {
		return false
	}
	n.mb.mu.Lock()
	defer n.mb.mu.Unlock()
	_, ok := n.mb.mailboxed[id]
	return ok
}

// offline is called by a conversation's writer while its peer p is
// offline with pending messages: it leaves them in p's mailbox once p has
// been offline for After, and returns how long to wait before asking
// again (0: until poked).
func (mb *mailboxes) offline(ctx context.Context, p Peer, pending []Message) time.Duration {
	if p.Identity == "" || !mb.ready() {
		return 0
	}
	if !p.LastSeen.IsZero() {
		if away := mb.n.cfg.Now().Sub(p.LastSeen); away < mb.cfg.After {
			return mb.cfg.After - away
		}
	}
	mb.leave(ctx, p, pending)
	return 0
}

// unreachable is called by a conversation's writer when its attempts to
// reach p, listed online, have failed for the time given: past After the
// pending messages go to p's mailbox too (the server tells p at once).
func (mb *mailboxes) unreachable(ctx context.Context, p Peer, pending []Message, failing time.Duration) {
	if p.Identity == "" || failing < mb.cfg.After || !mb.ready() {
		return
	}
	mb.leave(ctx, p, pending)
}

// leave seals and puts the messages of ms not yet left at the server.
func (mb *mailboxes) leave(ctx context.Context, p Peer, ms []Message) {
	n := mb.n
	conv := ConvOf(p.Key)
	mb.mu.Lock()
	todo := make([]Message, 0, len(ms))
	for _, m := range ms {
		_, done := mb.mailboxed[m.ID]
		_, tried := mb.tried[m.ID]
		if m.ID != "" && !done && !tried && len(m.Text) <= mailbox.MaxTextBytes {
			todo = append(todo, m)
		}
	}
	mb.mu.Unlock()
	if len(todo) == 0 {
		return
	}
	key, err := mb.keyFor(ctx, p.Identity)
	if err != nil {
		n.log.Debug("no mailbox key for an offline peer; messages stay queued", "peer", p.Nickname, "err", err)
		return
	}
	for _, m := range todo {
		sealed, err := mailbox.Seal(mb.id, key, mailbox.Letter{Nickname: m.From, ID: m.ID, Sent: m.Sent, Text: m.Text})
		if err != nil {
			n.log.Debug("message not sealed for the mailbox", "err", err)
			continue
		}
		mb.mu.Lock()
		mb.tried[m.ID] = conv
		mb.mu.Unlock()
		if err := mb.send(ctx, wire.MailboxPut{To: p.Identity, ID: m.ID, Sealed: sealed}); err != nil {
			n.log.Debug("mailbox put not sent", "err", err)
			mb.mu.Lock()
			delete(mb.tried, m.ID)
			mb.mu.Unlock()
			return
		}
	}
}

// keyFor returns the verified mailbox key of peer id: the one the server
// hands out if it checks, else the last one verified (kept per contact).
func (mb *mailboxes) keyFor(ctx context.Context, id string) (mailbox.PublicKey, error) {
	now := mb.n.cfg.Now()
	rec, err := mb.askKey(ctx, id)
	if err == nil && rec != nil {
		pk, verr := mailbox.VerifyKey(*rec, identity.ID(id), now)
		if verr == nil {
			mb.mu.Lock()
			if old, ok := mb.keys[id]; !ok || old.Created != rec.Created || string(old.Key) != string(rec.Key) {
				if len(mb.keys) < maxKeyCache || ok {
					mb.keys[id] = *rec
					mb.saveLocked()
				}
			}
			mb.mu.Unlock()
			return pk, nil
		}
		mb.n.log.Warn("the bootstrap server handed out a mailbox key that does not check", "peer", id, "err", verr)
		err = verr
	}
	mb.mu.Lock()
	cached, ok := mb.keys[id]
	mb.mu.Unlock()
	if ok {
		if pk, verr := mailbox.VerifyKey(cached, identity.ID(id), now); verr == nil {
			return pk, nil
		}
	}
	if err == nil {
		err = errors.New("the peer has published no mailbox key")
	}
	return mailbox.PublicKey{}, err
}

// askKey asks the server for id's key and waits for the answer.
func (mb *mailboxes) askKey(ctx context.Context, id string) (*wire.MailboxKey, error) {
	ch := make(chan *wire.MailboxKey, 1)
	mb.mu.Lock()
	mb.waiting[id] = append(mb.waiting[id], ch)
	first := len(mb.waiting[id]) == 1
	mb.mu.Unlock()
	defer func() {
		mb.mu.Lock()
		ws := mb.waiting[id]
		for i, w := range ws {
			if w == ch {
				mb.waiting[id] = append(ws[:i], ws[i+1:]...)
				break
			}
		}
		if len(mb.waiting[id]) == 0 {
			delete(mb.waiting, id)
		}
		mb.mu.Unlock()
	}()
	if first {
		if err := mb.send(ctx, wire.MailboxKeyGet{Identity: id}); err != nil {
			return nil, err
		}
	}
	t := time.NewTimer(keyWait)
	defer t.Stop()
	select {
	case k := <-ch:
		return k, nil
	case <-t.C:
		return nil, errors.New("no answer from the bootstrap server")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
