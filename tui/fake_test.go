package tui

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parlance-chat/parlance/app"
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
}

type sentMessage struct {
	Key  app.PeerKey
	Text string
}

func newFakeNode() *fakeNode {
	return &fakeNode{
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

func (f *fakeNode) Send(ctx context.Context, key app.PeerKey, text string) (app.Message, error) {
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
	defer f.mu.Unlock()
	f.sent = append(f.sent, sentMessage{key, text})
	if err != nil {
		return app.Message{}, err
	}
	return app.Message{ID: fmt.Sprint(len(f.sent)), Peer: key, From: f.self.Nickname, Text: text, Outgoing: true}, nil
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
