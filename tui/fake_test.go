package tui

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parlance-chat/parlance/app"
	"github.com/parlance-chat/parlance/app/store"
)

// fakeNode is a Node for tests: peers and results are set by the test,
// calls are recorded.
type fakeNode struct {
	mu      sync.Mutex
	events  chan app.Event
	self    app.Self
	peers   []app.Peer
	sent    []sentMessage
	sendErr error
	nickErr error
	verify  []app.PeerKey
	// block, when set, makes Send wait for it (or the context).
	block chan struct{}

	// store holds the messages, as the node's store does; changed is
	// Node.Changed. With deliver, a message sent is stored delivered (✓✓)
	// at once, as if its peer had acknowledged it.
	store   *store.Memory
	changed chan struct{}
	deliver bool
}

// inMsg is a message arriving from the network, for harness.events: it
// is committed to the fake node's store, which then signals a change.
type inMsg struct{ msg app.Message }

// receive commits an incoming message and signals it, as the node does.
func (f *fakeNode) receive(m app.Message) {
	m.State = store.Received
	if m.Conv == "" {
		m.Conv = app.ConvID(m.Peer)
	}
	if _, err := f.store.Append([]app.Message{m}); err != nil {
		panic(err)
	}
	f.notify()
}

func (f *fakeNode) notify() {
	select {
	case f.changed <- struct{}{}:
	default:
	}
}

func (f *fakeNode) Changed() <-chan struct{} { return f.changed }
func (f *fakeNode) Changes(after int64, limit int) ([]app.Message, error) {
	return f.store.Changes(after, limit)
}
func (f *fakeNode) LastVersion() (int64, error) { return f.store.LastVersion() }
func (f *fakeNode) History(c app.ConvID, before int64, limit int) ([]app.Message, error) {
	return f.store.History(c, before, limit)
}
func (f *fakeNode) Conversations() ([]store.Conversation, error) { return f.store.Conversations() }
func (f *fakeNode) MarkRead(c app.ConvID, upTo int64) error {
	_, err := f.store.MarkRead(c, upTo)
	return err
}
func (f *fakeNode) Search(q string, limit int) ([]app.Message, error) {
	return f.store.Search(q, limit)
}

func (f *fakeNode) Outbox() ([]app.Message, error) {
	convs, _ := f.store.OutboxConvs()
	var out []app.Message
	for _, c := range convs {
		ms, _ := f.store.Outbox(c, 1000)
		out = append(out, ms...)
	}
	return out, nil
}

func (f *fakeNode) Resend(c app.ConvID, id string) (app.Message, error) {
	ch, err := f.store.SetState(c, []string{id}, store.Queued, "")
	if err != nil || len(ch) == 0 {
		return app.Message{}, errors.New("not failed")
	}
	f.notify()
	return ch[0], nil
}

type sentMessage struct {
	Key  app.PeerKey
	Text string
}

func newFakeNode() *fakeNode {
	return &fakeNode{
		store:   store.NewMemory(0),
		changed: make(chan struct{}, 1),
		self: app.Self{
			Nickname:   "ada",
			Identity:   "ADAADAADAADAADAADAADAADAADAADAADAADAADAADAADAADAADAA",
			Mode:       "local",
			ListenAddr: "192.168.1.10:7878",
			Encrypted:  true,
		},
	}
}

// withEvents gives the node an event channel, closed when the test ends.
func (f *fakeNode) withEvents(t testing.TB, size int) *fakeNode {
	f.events = make(chan app.Event, size)
	t.Cleanup(func() { close(f.events) })
	return f
}

func (f *fakeNode) Events() <-chan app.Event { return f.events }

func (f *fakeNode) Self() app.Self {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.self
}

func (f *fakeNode) Peers() []app.Peer {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.peers)
}

func (f *fakeNode) Resolve(name string) []app.Peer {
	f.mu.Lock()
	defer f.mu.Unlock()
	nick, tag, hasTag := strings.Cut(name, "#")
	var out []app.Peer
	for _, p := range f.peers {
		if !strings.EqualFold(p.Nickname, nick) {
			continue
		}
		if hasTag && !strings.HasPrefix(strings.ToUpper(p.Tag()), strings.ToUpper(tag)) {
			continue
		}
		out = append(out, p)
	}
	return out
}

func (f *fakeNode) SendWithID(ctx context.Context, key app.PeerKey, id, text string) (app.Message, error) {
	f.mu.Lock()
	block, err := f.block, f.sendErr
	f.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return app.Message{}, ctx.Err()
		}
	}
	f.mu.Lock()
	f.sent = append(f.sent, sentMessage{key, text})
	from, state := f.self.Nickname, store.Queued
	if f.deliver {
		state = store.Delivered
	}
	f.mu.Unlock()
	if err != nil {
		return app.Message{}, err
	}
	added, err := f.store.Append([]app.Message{{ID: id, Conv: app.ConvOf(key), Peer: string(key), From: from, Text: text, Outgoing: true, State: state}})
	if err != nil {
		return app.Message{}, err
	}
	f.notify()
	return added[0], nil
}

func (f *fakeNode) SetNickname(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.nickErr != nil {
		return f.nickErr
	}
	if name == "" || strings.TrimSpace(name) != name {
		return errors.New("invalid nickname")
	}
	f.self.Nickname = name
	return nil
}

func (f *fakeNode) SafetyCode(key app.PeerKey) (string, error) {
	p, ok := f.peer(key)
	if !ok || p.Identity == "" {
		return "", errors.New("no key")
	}
	return "12345 67890 13579 24680", nil
}

func (f *fakeNode) MarkVerified(key app.PeerKey) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.peers {
		if f.peers[i].Key == key {
			f.peers[i].Trust = app.TrustVerified
			f.verify = append(f.verify, key)
			return nil
		}
	}
	return errors.New("unknown peer")
}

func (f *fakeNode) peer(key app.PeerKey) (app.Peer, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range f.peers {
		if p.Key == key {
			return p, true
		}
	}
	return app.Peer{}, false
}

// upsert adds or replaces a peer, keeping the list sorted by nickname.
func (f *fakeNode) upsert(p app.Peer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := slices.IndexFunc(f.peers, func(q app.Peer) bool { return q.Key == p.Key })
	if i >= 0 {
		f.peers[i] = p
	} else {
		f.peers = append(f.peers, p)
	}
	slices.SortStableFunc(f.peers, func(a, b app.Peer) int {
		return strings.Compare(strings.ToLower(a.Nickname), strings.ToLower(b.Nickname))
	})
}

func (f *fakeNode) sentMessages() []sentMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.sent)
}

// testPeer makes an online peer with an identity derived from its name.
func testPeer(nick, idSeed string) app.Peer {
	id := strings.ToUpper(strings.Repeat(idSeed, 52/len(idSeed)+1)[:52])
	return app.Peer{
		Key:      app.PeerKey("id:" + id),
		Nickname: nick,
		Identity: id,
		Addr:     netip.MustParseAddrPort("192.168.1.20:7878"),
		Source:   "lan",
		Online:   true,
		Trust:    app.TrustKnown,
	}
}

// originalPeer makes an online original (unencrypted) peer.
func originalPeer(nick, ip string) app.Peer {
	addr := netip.MustParseAddrPort(ip + ":7878")
	return app.Peer{
		Key:      app.PeerKey("orig:" + nick + "@" + ip),
		Nickname: nick,
		Addr:     addr,
		Source:   "lan",
		Online:   true,
		Trust:    app.TrustNone,
	}
}

// fixedClock is a clock tests move by hand.
type fixedClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fixedClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fixedClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
