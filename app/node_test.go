package app

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/parlance-chat/parlance/app/store"
	"github.com/parlance-chat/parlance/net/discovery"
	"github.com/parlance-chat/parlance/net/identity"
	"github.com/parlance-chat/parlance/net/transport"
	"github.com/parlance-chat/parlance/net/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeTransport records sends and lets tests inject inbound messages.
type fakeTransport struct {
	mu       sync.Mutex
	sent     []sent
	controls []wire.Control
	fail     error
	twoWay   bool
	handle   func(transport.Inbound)
	serving  chan struct{}
	wrote    chan struct{} // a signal per SendBatch or SendFrame that wrote or failed
	frames   []byte        // the lines SendFrame wrote
}

type sent struct {
	dest transport.Dest
	msg  wire.Message
}

func newFakeTransport() *fakeTransport {
	return &fakeTransport{serving: make(chan struct{}), wrote: make(chan struct{}, 1000), twoWay: true}
}

func (f *fakeTransport) Port() uint16 { return 4242 }
func (f *fakeTransport) Serve(ctx context.Context, h func(transport.Inbound)) error {
	f.mu.Lock()
	f.handle = h
	f.mu.Unlock()
	close(f.serving)
	<-ctx.Done()
	return nil
}
func (f *fakeTransport) SendBatchOn(_ context.Context, d transport.Dest, ms []wire.Message, gen uint64) (transport.Sent, error) {
	f.mu.Lock()
	defer func() {
		f.mu.Unlock()
		select {
		case f.wrote <- struct{}{}:
		default:
		}
	}()
	if f.fail != nil {
		return transport.Sent{}, f.fail
	}
	for _, m := range ms {
		f.sent = append(f.sent, sent{d, m})
	}
	return transport.Sent{TwoWay: f.twoWay, Gen: 1}, nil
}
func (f *fakeTransport) SendFrame(_ context.Context, _ transport.Dest, lines []byte) error {
	f.mu.Lock()
	f.frames = append(f.frames, slices.Clone(lines)...)
	f.mu.Unlock()
	select {
	case f.wrote <- struct{}{}:
	default:
	}
	return nil
}

func (f *fakeTransport) SendControl(_ context.Context, d transport.Dest, c wire.Control) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.controls = append(f.controls, c)
	return nil
}

// sentCopy returns what was sent so far.
func (f *fakeTransport) sentCopy() []sent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]sent(nil), f.sent...)
}

// waitSent waits until at least k messages were sent.
func (f *fakeTransport) waitSent(t *testing.T, k int) []sent {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		if s := f.sentCopy(); len(s) >= k {
			return s
		}
		select {
		case <-f.wrote:
		case <-deadline:
			t.Fatalf("%d messages sent, want %d", len(f.sentCopy()), k)
		}
	}
}
func (f *fakeTransport) Close() error { return nil }

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type testNode struct {
	*Node
	tr    *fakeTransport
	clock *fakeClock
	seen  int64 // Version of the last change read by nextMsg
}

// nextMsg returns the next message added or changed in the store, waiting
// for Changed when there is none yet.
func (n *testNode) nextMsg(t *testing.T) Message {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		ch, err := n.Changes(n.seen, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(ch) == 1 {
			n.seen = ch[0].Version
			return ch[0]
		}
		select {
		case <-n.Changed():
		case <-deadline:
			t.Fatal("no message")
		}
	}
}

// noMsg checks that nothing was added or changed.
func (n *testNode) noMsg(t *testing.T) {
	t.Helper()
	if ch, _ := n.Changes(n.seen, 1); len(ch) > 0 {
		t.Fatalf("unexpected message %+v", ch[0])
	}
}

// run runs the node until the test ends.
func (n *testNode) run(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- n.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	<-n.tr.serving
}

func newTestNode(t *testing.T, mutate func(*Config)) *testNode {
	t.Helper()
	id, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	tr := newFakeTransport()
	clock := &fakeClock{now: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)}
	cfg := Config{Nickname: "me", Identity: id, Mode: "local", Transport: tr, Now: clock.Now, SweepInterval: time.Hour}
	if mutate != nil {
		mutate(&cfg)
	}
	n, err := NewNode(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &testNode{Node: n, tr: tr, clock: clock}
}

// next returns the next event or fails.
func next(t *testing.T, n *Node) Event {
	t.Helper()
	select {
	case e := <-n.Events():
		return e
	case <-time.After(2 * time.Second):
		t.Fatal("no event")
		return nil
	}
}

func noEvent(t *testing.T, n *Node) {
	t.Helper()
	select {
	case e := <-n.Events():
		t.Fatalf("unexpected event %#v", e)
	default:
	}
}

func lanPeer(nick, id, inst string, port uint16) discovery.Peer {
	return discovery.Peer{Nickname: nick, Identity: id, Instance: inst, Addr: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port)}
}

func seen(p discovery.Peer) discovery.Sighting {
	return discovery.Sighting{Kind: discovery.Seen, Peer: p, Source: "lan", TTL: 15 * time.Second}
}

func newID(t *testing.T) string {
	t.Helper()
	id, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return id.ID().String()
}

func TestPeerLifecycle(t *testing.T) {
	n := newTestNode(t, nil)
	h := sourceHandler{n.Node}
	alice := lanPeer("alice", newID(t), "i1", 5000)

	h.Sighting(seen(alice))
	j, ok := next(t, n.Node).(PeerJoined)
	if !ok || j.Peer.Nickname != "alice" || !j.Peer.Online || j.Peer.Trust != TrustNew {
		t.Fatalf("join event = %#v", j)
	}
	h.Sighting(seen(alice)) // a repeat announce changes nothing
	noEvent(t, n.Node)

	// The same process heard on a second interface keeps its address.
	other := alice
	other.Addr = netip.MustParseAddrPort("10.0.0.7:5000")
	h.Sighting(seen(other))
	h.Sighting(seen(alice))
	h.Sighting(seen(other))
	noEvent(t, n.Node)
	// A restart (new instance) on a new port is an update.
	alice.Addr = netip.MustParseAddrPort("127.0.0.1:5001")
	alice.Instance = "i2"
	h.Sighting(seen(alice))
	if u, ok := next(t, n.Node).(PeerUpdated); !ok || u.Peer.Addr.Port() != 5001 {
		t.Fatalf("update event = %#v", u)
	}

	// Silent for the TTL: expired.
	n.clock.Add(14 * time.Second)
	n.Expire()
	noEvent(t, n.Node)
	n.clock.Add(2 * time.Second)
	n.Expire()
	if l, ok := next(t, n.Node).(PeerLeft); !ok || l.Reason != "timed out" {
		t.Fatalf("left event = %#v", l)
	}
	// Back again: joined again, same key and trust (announces prove
	// nothing, so the key is still only new).
	h.Sighting(seen(alice))
	if j, ok := next(t, n.Node).(PeerJoined); !ok || j.Peer.Trust != TrustNew {
		t.Fatalf("rejoin event = %#v", j)
	}
	// Goodbye from an older instance is ignored; from the current one, not.
	old := alice
	old.Instance = "i1"
	h.Sighting(discovery.Sighting{Kind: discovery.Gone, Peer: old, Source: "lan", Reason: "goodbye"})
	noEvent(t, n.Node)
	h.Sighting(discovery.Sighting{Kind: discovery.Gone, Peer: alice, Source: "lan", Reason: "goodbye"})
	if l, ok := next(t, n.Node).(PeerLeft); !ok || l.Reason != "goodbye" {
		t.Fatalf("goodbye event = %#v", l)
	}
	if ps := n.Peers(); len(ps) != 1 || ps[0].Online {
		t.Fatalf("peers after goodbye = %#v; want alice kept, offline", ps)
	}
}

// A peer the bootstrap client reports unconfirmed (after a reconnection)
// stays online, marked Unconfirmed, until the source confirms it; while
// the LAN sees it, the LAN's path is in use and it is not unconfirmed.
func TestPeerUnconfirmed(t *testing.T) {
	n := newTestNode(t, nil)
	h := sourceHandler{n.Node}
	bob := lanPeer("bob", newID(t), "", 5000)
	internet := func(unconfirmed bool) discovery.Sighting {
		return discovery.Sighting{Kind: discovery.Seen, Peer: bob, Source: "internet", Unconfirmed: unconfirmed}
	}
	h.Sighting(internet(false))
	if j, ok := next(t, n.Node).(PeerJoined); !ok || j.Peer.Unconfirmed {
		t.Fatalf("join event = %#v", j)
	}
	steps := []struct {
		name        string
		sighting    discovery.Sighting
		event       bool // a PeerUpdated is expected
		unconfirmed bool
	}{
		{"the connection dropped", internet(true), true, true},
		{"reported unconfirmed again", internet(true), false, true},
		{"the server lists it again", internet(false), true, false},
		{"dropped again", internet(true), true, true},
		{"the LAN sees it: its path is in use", seen(bob), true, false},
		{"the LAN says goodbye: back to the unconfirmed path", discovery.Sighting{Kind: discovery.Gone, Peer: bob, Source: "lan"}, true, true},
	}
	for _, st := range steps {
		h.Sighting(st.sighting)
		if st.event {
			u, ok := next(t, n.Node).(PeerUpdated)
			if !ok || !u.Peer.Online || u.Peer.Unconfirmed != st.unconfirmed {
				t.Fatalf("%s: event %#v, want an update with Unconfirmed %v", st.name, u, st.unconfirmed)
			}
		} else {
			noEvent(t, n.Node)
		}
		if ps := n.Peers(); len(ps) != 1 || ps[0].Unconfirmed != st.unconfirmed {
			t.Fatalf("%s: peers %#v", st.name, ps)
		}
	}
	h.Sighting(discovery.Sighting{Kind: discovery.Gone, Peer: bob, Source: "internet", Reason: "grace ended"})
	if l, ok := next(t, n.Node).(PeerLeft); !ok || l.Peer.Online || l.Peer.Unconfirmed {
		t.Fatalf("left event = %#v", l)
	}
}

func TestSameNicknameKeptApart(t *testing.T) {
	n := newTestNode(t, nil)
	h := sourceHandler{n.Node}
	a1 := lanPeer("alice", newID(t), "i1", 5000)
	a2 := lanPeer("alice", newID(t), "i2", 5001)
	h.Sighting(seen(a1))
	j1 := next(t, n.Node).(PeerJoined)
	// Announces pin nothing: a second alice before any proof is simply
	// another new peer, shown apart by its tag, with a neutral note.
	h.Sighting(seen(a2))
	j2 := next(t, n.Node).(PeerJoined)
	if j2.Peer.Trust != TrustNew {
		t.Errorf("second alice before any proof: %v, want new", j2.Peer.Trust)
	}
	if note, ok := next(t, n.Node).(Notice); !ok || note.Warning || !strings.Contains(note.Text, "two peers use the name alice") {
		t.Errorf("want a neutral note that two peers use the name, got %#v", note)
	}
	if ps := n.Resolve("alice"); len(ps) != 2 {
		t.Fatalf("Resolve(alice) = %d peers, want 2 (ambiguous)", len(ps))
	}
	if ps := n.Resolve("alice#" + a2.Identity[:4]); len(ps) != 1 || ps[0].Identity != a2.Identity {
		t.Fatalf("Resolve(alice#tag) = %#v", ps)
	}
	// The first alice proves her key (a TLS message) but another alice
	// was heard: nothing is pinned, nobody is "key changed".
	n.receive(transport.Inbound{Identity: a1.Identity, Message: wire.Message{From: "alice", Content: "hi", Timestamp: 1}})
	n.nextMsg(t)
	for _, p := range n.Peers() {
		if p.Trust != TrustNew {
			t.Errorf("after a message from one of two alices: %s is %v, want new", p.Tag(), p.Trust)
		}
	}
	// The user sends to the first: she is alice now, the other is not.
	// (Delivery calls provenLocked so once the handshake proved the key.)
	n.mu.Lock()
	n.provenLocked(n.reg.peers[j1.Peer.Key], "alice", time.Now(), true)
	n.mu.Unlock()
	if u, ok := next(t, n.Node).(PeerUpdated); !ok || u.Peer.Key != j2.Peer.Key || u.Peer.Trust != TrustChanged {
		t.Errorf("after sending to the first alice, want the second marked key changed, got %#v", u)
	}
	if w, ok := next(t, n.Node).(Notice); !ok || !w.Warning || w.Peer != j2.Peer.Key {
		t.Errorf("want a warning about the second alice, got %#v", w)
	}
	// A third alice now is flagged and warned about, in its own conversation.
	a3 := lanPeer("alice", newID(t), "i3", 5002)
	h.Sighting(seen(a3))
	j3 := next(t, n.Node).(PeerJoined)
	if j3.Peer.Trust != TrustChanged || j3.Peer.Key == j1.Peer.Key {
		t.Errorf("third alice: trust %v, key %s; want key changed, kept apart", j3.Peer.Trust, j3.Peer.Key)
	}
	if w, ok := next(t, n.Node).(Notice); !ok || !w.Warning || w.Peer != j3.Peer.Key {
		t.Errorf("want a warning about the changed key, got %#v", w)
	}
}

// TestCyrillicLookalike: issue 11, item 4. A Cyrillic "\u0430lice" is the
// same name as a pinned alice: key changed, warned about, ambiguous.
func TestCyrillicLookalike(t *testing.T) {
	n := newTestNode(t, nil)
	h := sourceHandler{n.Node}
	alice := lanPeer("alice", newID(t), "i1", 5000)
	h.Sighting(seen(alice))
	next(t, n.Node)
	n.receive(transport.Inbound{Identity: alice.Identity, Message: wire.Message{From: "alice", Content: "hi", Timestamp: 1}})
	n.nextMsg(t)
	fake := lanPeer("\u0430lice", newID(t), "i2", 5001)
	h.Sighting(seen(fake))
	if j := next(t, n.Node).(PeerJoined); j.Peer.Trust != TrustChanged {
		t.Errorf("Cyrillic look-alike of a pinned alice: %v, want key changed", j.Peer.Trust)
	}
	if w, ok := next(t, n.Node).(Notice); !ok || !w.Warning {
		t.Errorf("want a warning, got %#v", w)
	}
	if ps := n.Resolve("alice"); len(ps) != 2 {
		t.Errorf("Resolve(alice) = %d peers, want both", len(ps))
	}
}

// TestStrangerUsingOwnNickname: issue 11, item 11.
func TestStrangerUsingOwnNickname(t *testing.T) {
	n := newTestNode(t, nil)
	h := sourceHandler{n.Node}
	me := lanPeer("Me", newID(t), "i1", 5000)
	h.Sighting(seen(me))
	next(t, n.Node)
	w, ok := next(t, n.Node).(Notice)
	if !ok || !w.Warning || !strings.Contains(w.Text, "uses your own nickname") {
		t.Fatalf("want a warning about a peer using my nickname, got %#v", w)
	}
	// Once only.
	h.Sighting(discovery.Sighting{Kind: discovery.Gone, Peer: me, Source: "lan"})
	next(t, n.Node)
	h.Sighting(seen(me))
	next(t, n.Node)
	noEvent(t, n.Node)
}

func TestOwnAnnouncesIgnored(t *testing.T) {
	n := newTestNode(t, func(c *Config) { c.Instance = "mine" })
	h := sourceHandler{n.Node}
	h.Sighting(seen(lanPeer("me", "", "mine", 4242)))
	h.Sighting(seen(lanPeer("me", n.Self().Identity, "other", 4243)))
	noEvent(t, n.Node)
}

func TestOriginalPeer(t *testing.T) {
	n := newTestNode(t, nil)
	h := sourceHandler{n.Node}
	bob := lanPeer("bob", "", "", 6000)
	h.Sighting(seen(bob))
	j := next(t, n.Node).(PeerJoined)
	if !j.Peer.Original() || j.Peer.Trust != TrustNone {
		t.Fatalf("original peer = %#v", j.Peer)
	}
	// The original's goodbye carries only the nickname; the source reports
	// the IP with port 0.
	bye := discovery.Peer{Nickname: "bob", Addr: netip.AddrPortFrom(bob.Addr.Addr(), 0)}
	h.Sighting(discovery.Sighting{Kind: discovery.Gone, Peer: bye, Source: "lan", Reason: "goodbye"})
	if _, ok := next(t, n.Node).(PeerLeft); !ok {
		t.Fatal("original goodbye did not remove bob")
	}
}

func TestSendAndReceive(t *testing.T) {
	n := newTestNode(t, nil)
	n.run(t)

	aliceID := newID(t)
	alice := lanPeer("alice", aliceID, "i1", 5000)
	sourceHandler{n.Node}.Sighting(seen(alice))
	key := next(t, n.Node).(PeerJoined).Peer.Key

	m, err := n.Send(context.Background(), key, "hello")
	if err != nil {
		t.Fatal(err)
	}
	if m.ID == "" || !m.Outgoing || m.From != "me" || m.State != store.Queued || m.Seq == 0 {
		t.Errorf("sent message = %#v", m)
	}
	got := n.tr.waitSent(t, 1)[0]
	if got.dest.Identity != aliceID || got.dest.Addr != alice.Addr || got.msg.Content != "hello" || got.msg.ID != m.ID {
		t.Errorf("transport got %#v", got)
	}
	// Queued, then Sent once written (a reader may see only the latter).
	if q := n.nextMsg(t); q.ID != m.ID || q.State != store.Queued && q.State != store.Sent {
		t.Fatalf("first change %+v", q)
	} else if q.State == store.Queued {
		if s := n.nextMsg(t); s.ID != m.ID || s.State != store.Sent {
			t.Fatalf("after the write: %+v", s)
		}
	}
	// alice acknowledges: ✓✓.
	n.tr.handle(transport.Inbound{Identity: aliceID, Control: &wire.Control{Type: wire.ControlAck, IDs: []string{m.ID}}})
	if d := n.nextMsg(t); d.ID != m.ID || d.State != store.Delivered {
		t.Fatalf("after the ack: %+v", d)
	}

	// Inbound over TLS: keyed by the proven identity, acknowledged once
	// committed.
	rep := &fakeReplier{}
	n.tr.handle(transport.Inbound{Identity: aliceID, Remote: netip.MustParseAddrPort("127.0.0.1:33333"), Reply: rep,
		Message: wire.Message{From: "alice", Content: "hi", Timestamp: 1699123456, ID: "abc"}})
	r := n.nextMsg(t)
	if r.Conv != ConvOf(key) || r.Text != "hi" || r.Sent.Unix() != 1699123456 || r.State != store.Received {
		t.Errorf("received %#v", r)
	}
	rep.waitAcks(t, 1)
	// The same id again is a duplicate: not shown again, acknowledged
	// again.
	n.tr.handle(transport.Inbound{Identity: aliceID, Reply: rep, Message: wire.Message{From: "alice", Content: "hi", Timestamp: 1699123456, ID: "abc"}})
	rep.waitAcks(t, 2)
	n.noMsg(t)

	hist, _ := n.History(ConvOf(key), 0, 10)
	if len(hist) != 2 || !hist[0].Outgoing || hist[1].Outgoing {
		t.Errorf("history = %#v", hist)
	}
}

// fakeReplier records the acknowledgements a node sends back.
type fakeReplier struct {
	mu   sync.Mutex
	acks []wire.Control
}

func (r *fakeReplier) Reply(c wire.Control) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.acks = append(r.acks, c)
	return nil
}

func (r *fakeReplier) waitAcks(t *testing.T, k int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		n := len(r.acks)
		r.mu.Unlock()
		if n >= k {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("fewer than %d acknowledgements", k)
}

func TestSendErrors(t *testing.T) {
	n := newTestNode(t, func(c *Config) { c.RequireEncryption = true })
	h := sourceHandler{n.Node}
	ctx := context.Background()
	if _, err := n.Send(ctx, "id:nobody", "x"); !errors.Is(err, ErrUnknownPeer) {
		t.Errorf("unknown peer: %v", err)
	}
	bob := lanPeer("bob", "", "", 6000)
	h.Sighting(seen(bob))
	bobKey := next(t, n.Node).(PeerJoined).Peer.Key
	if _, err := n.Send(ctx, bobKey, "x"); !errors.Is(err, transport.ErrPlaintextRefused) {
		t.Errorf("plaintext under require_encryption: %v", err)
	}
	alice := lanPeer("alice", newID(t), "i1", 5000)
	h.Sighting(seen(alice))
	aliceKey := next(t, n.Node).(PeerJoined).Peer.Key
	if _, err := n.Send(ctx, aliceKey, "   "); err == nil {
		t.Error("empty message accepted")
	}
	big := make([]byte, MaxTextBytes+1)
	for i := range big {
		big[i] = 'x'
	}
	if _, err := n.Send(ctx, aliceKey, string(big)); err == nil {
		t.Error("oversized message accepted")
	}
	// Plaintext inbound is never delivered under require_encryption.
	n.receive(transport.Inbound{Message: wire.Message{From: "bob", Content: "x", Timestamp: 1}})
	n.noMsg(t)
}

// TestOfflineQueued: a message to an offline peer is queued, not refused,
// and delivered when the peer is seen again; a key mismatch keeps it
// queued and warns.
func TestOfflineQueued(t *testing.T) {
	n := newTestNode(t, nil)
	h := sourceHandler{n.Node}
	alice := lanPeer("alice", newID(t), "i1", 5000)
	h.Sighting(seen(alice))
	aliceKey := next(t, n.Node).(PeerJoined).Peer.Key
	h.Sighting(discovery.Sighting{Kind: discovery.Gone, Peer: alice, Source: "lan", Reason: "goodbye"})
	next(t, n.Node)
	n.run(t)

	m, err := n.Send(context.Background(), aliceKey, "while you were out")
	if err != nil || m.State != store.Queued {
		t.Fatalf("send to an offline peer: %+v, %v", m, err)
	}
	if ob, _ := n.Outbox(); len(ob) != 1 {
		t.Fatalf("outbox %v", ob)
	}
	if s := n.tr.sentCopy(); len(s) != 0 {
		t.Fatalf("sent to an offline peer: %v", s)
	}
	// Back, but someone else holds the address: warned, still queued.
	n.tr.mu.Lock()
	n.tr.fail = &transport.KeyMismatchError{Addr: alice.Addr, Want: alice.Identity, Got: "X"}
	n.tr.mu.Unlock()
	h.Sighting(seen(alice))
	next(t, n.Node) // joined
	if w, ok := next(t, n.Node).(Notice); !ok || !w.Warning || w.Peer != aliceKey {
		t.Fatalf("want impersonation warning, got %#v", w)
	}
	if ob, _ := n.Outbox(); len(ob) != 1 || ob[0].State != store.Queued {
		t.Fatalf("outbox after a key mismatch %v", ob)
	}
	n.tr.mu.Lock()
	n.tr.fail = nil
	n.tr.mu.Unlock()
	h.Sighting(seen(lanPeer("alice", alice.Identity, "i2", 5001))) // a new start of alice
	if got := n.tr.waitSent(t, 1)[0]; got.msg.ID != m.ID {
		t.Fatalf("sent %+v", got)
	}
}

// TestOriginalPeerNoReceipts: messages to an original peer end "sent, no
// receipts" once written; nothing waits for an acknowledgement.
func TestOriginalPeerNoReceipts(t *testing.T) {
	n := newTestNode(t, nil)
	n.tr.twoWay = false
	n.run(t)
	sourceHandler{n.Node}.Sighting(seen(lanPeer("orig", "", "", 7000)))
	key := next(t, n.Node).(PeerJoined).Peer.Key
	m, err := n.Send(context.Background(), key, "hello")
	if err != nil {
		t.Fatal(err)
	}
	n.tr.waitSent(t, 1)
	for {
		if c := n.nextMsg(t); c.ID == m.ID && c.State == store.SentNoReceipt {
			break
		}
	}
	if ob, _ := n.Outbox(); len(ob) != 0 {
		t.Fatalf("outbox keeps %v", ob)
	}
}

// TestNoDowngradeByNickname: alice proved her key before and is offline;
// an unencrypted peer calling itself alice appears. It is flagged, warned
// about, kept apart, and "alice" alone does not resolve to it.
func TestNoDowngradeByNickname(t *testing.T) {
	n := newTestNode(t, nil)
	h := sourceHandler{n.Node}
	alice := lanPeer("alice", newID(t), "i1", 5000)
	h.Sighting(seen(alice))
	aliceKey := next(t, n.Node).(PeerJoined).Peer.Key
	n.receive(transport.Inbound{Identity: alice.Identity, Message: wire.Message{From: "alice", Content: "hi", Timestamp: 1}})
	n.nextMsg(t)
	h.Sighting(discovery.Sighting{Kind: discovery.Gone, Peer: alice, Source: "lan", Reason: "goodbye"})
	next(t, n.Node)

	fake := lanPeer("alice", "", "", 6000)
	fake.Addr = netip.MustParseAddrPort("127.0.0.9:6000")
	h.Sighting(seen(fake))
	j := next(t, n.Node).(PeerJoined)
	if j.Peer.Key == aliceKey || j.Peer.Trust != TrustChanged {
		t.Fatalf("impostor: key %s trust %v; want kept apart and flagged", j.Peer.Key, j.Peer.Trust)
	}
	if w, ok := next(t, n.Node).(Notice); !ok || !w.Warning || w.Peer != j.Peer.Key {
		t.Fatalf("want a warning, got %#v", w)
	}
	if ps := n.Resolve("alice"); len(ps) != 2 {
		t.Fatalf("Resolve(alice) = %d peers; want both (ambiguous), never the impostor alone", len(ps))
	}
	// A plaintext message using the name lands in the impostor's
	// conversation, never in alice's.
	n.receive(transport.Inbound{Remote: netip.MustParseAddrPort("127.0.0.9:40000"),
		Message: wire.Message{From: "alice", Content: "trust me", Timestamp: 1}})
	if r := n.nextMsg(t); r.Conv != ConvOf(j.Peer.Key) {
		t.Fatalf("plaintext message went to %s", r.Conv)
	}
	// From an address no source reported: a new conversation, warned too.
	n.receive(transport.Inbound{Remote: netip.MustParseAddrPort("127.0.0.8:40000"),
		Message: wire.Message{From: "alice", Content: "me again", Timestamp: 1}})
	if w, ok := next(t, n.Node).(Notice); !ok || !w.Warning {
		t.Fatalf("want a warning, got %#v", w)
	}
	if r := n.nextMsg(t); r.Conv == ConvOf(aliceKey) {
		t.Fatal("plaintext message merged into the keyed peer's conversation")
	}
}

// TestAuthenticatedRename: a keyed peer's messages carry its nickname; a
// new one is taken over (it is the same key) and flagged if the name
// belongs to someone else.
func TestAuthenticatedRename(t *testing.T) {
	n := newTestNode(t, nil)
	bob, mallory := newID(t), newID(t)
	n.receive(transport.Inbound{Identity: bob, Message: wire.Message{From: "bob", Content: "hi", Timestamp: 1}})
	if r := n.nextMsg(t); r.From != "bob" {
		t.Fatalf("from = %q", r.From)
	}
	n.receive(transport.Inbound{Identity: mallory, Message: wire.Message{From: "mallory", Content: "hi", Timestamp: 1}})
	n.nextMsg(t)
	n.receive(transport.Inbound{Identity: mallory, Message: wire.Message{From: "bob", Content: "it's me, bob", Timestamp: 2}})
	u := next(t, n.Node).(PeerUpdated)
	if u.Peer.Nickname != "bob" || u.Peer.Trust != TrustChanged {
		t.Fatalf("renamed peer = %+v; want bob, key changed", u.Peer)
	}
	if w, ok := next(t, n.Node).(Notice); !ok || !w.Warning {
		t.Fatalf("want a warning, got %#v", w)
	}
	if r := n.nextMsg(t); r.Conv != ConvOf(PeerKey("id:"+mallory)) {
		t.Fatal("the message left mallory's conversation")
	}
}

func TestNoPanicAfterRun(t *testing.T) {
	n := newTestNode(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- n.Run(ctx) }()
	<-n.tr.serving
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for range n.Events() {
	}
	if err := n.SetNickname("after"); err != nil {
		t.Fatal(err)
	}
	sourceHandler{n.Node}.Sighting(seen(lanPeer("late", newID(t), "x", 1)))
	if err := n.Run(context.Background()); err == nil {
		t.Fatal("second Run accepted")
	}
}

func TestResyncAfterDrops(t *testing.T) {
	n := newTestNode(t, func(c *Config) { c.EventBuffer = 2 })
	h := sourceHandler{n.Node}
	for i := range 5 {
		h.Sighting(seen(lanPeer(string(rune('a'+i)), newID(t), "", uint16(5000+i))))
	}
	next(t, n.Node)
	next(t, n.Node)
	h.Sighting(seen(lanPeer("z", newID(t), "", 6000)))
	if r, ok := next(t, n.Node).(Resync); !ok || r.Dropped != 3 {
		t.Fatalf("want Resync{3}, got %#v", r)
	}
	if j, ok := next(t, n.Node).(PeerJoined); !ok || j.Peer.Nickname != "z" {
		t.Fatalf("want z's join after the resync, got %#v", j)
	}
}

func TestRegistryEviction(t *testing.T) {
	n := newTestNode(t, func(c *Config) { c.EventBuffer = 1 })
	h := sourceHandler{n.Node}
	// Made-up announces, all online, none ever proving a key.
	id := func(i int) string { return "FAKE" + strconv.Itoa(i) }
	for i := range MaxPeers + 10 {
		h.Sighting(seen(lanPeer("p"+strconv.Itoa(i), id(i), "", 5000)))
		n.clock.Add(time.Millisecond)
	}
	if got := len(n.Peers()); got > MaxPeers {
		t.Fatalf("registry holds %d peers, over %d", got, MaxPeers)
	}
	if _, ok := n.Peer(PeerKey("id:" + id(MaxPeers+9))); !ok {
		t.Fatal("the newest peer was not let in")
	}
	if _, ok := n.Peer(PeerKey("id:" + id(0))); ok {
		t.Fatal("the longest-silent unproven peer was kept")
	}
}

func TestVerifyAndSafetyCode(t *testing.T) {
	n := newTestNode(t, nil)
	alice := lanPeer("alice", newID(t), "i1", 5000)
	sourceHandler{n.Node}.Sighting(seen(alice))
	key := next(t, n.Node).(PeerJoined).Peer.Key
	code, err := n.SafetyCode(key)
	if err != nil || len(code) != 23 {
		t.Fatalf("SafetyCode = %q, %v", code, err)
	}
	if err := n.MarkVerified(key); err != nil {
		t.Fatal(err)
	}
	if u := next(t, n.Node).(PeerUpdated); u.Peer.Trust != TrustVerified {
		t.Fatalf("trust after verify = %v", u.Peer.Trust)
	}
}

func TestSetNickname(t *testing.T) {
	src := &fakeSource{}
	n := newTestNode(t, func(c *Config) { c.Sources = []discovery.Source{src} })
	if err := n.SetNickname(" bad"); err == nil {
		t.Fatal("bad nickname accepted")
	}
	if err := n.SetNickname("newme"); err != nil {
		t.Fatal(err)
	}
	if e := next(t, n.Node).(SelfChanged); e.Self.Nickname != "newme" || src.nick != "newme" || n.Self().Nickname != "newme" {
		t.Fatalf("nickname change: event %#v, source %q", e, src.nick)
	}
}

type fakeSource struct {
	mu   sync.Mutex
	nick string
}

func (s *fakeSource) Run(ctx context.Context, h discovery.Handler) error {
	<-ctx.Done()
	return nil
}
func (s *fakeSource) SetNickname(name string) { s.mu.Lock(); s.nick = name; s.mu.Unlock() }

func TestEventsNeverBlock(t *testing.T) {
	n := newTestNode(t, func(c *Config) { c.EventBuffer = 2 })
	h := sourceHandler{n.Node}
	for i := range 10 {
		h.Sighting(seen(lanPeer(string(rune('a'+i)), newID(t), "", uint16(5000+i))))
	}
	if d := n.DroppedEvents(); d != 8 {
		t.Fatalf("dropped = %d, want 8", d)
	}
}

// failingStore is a store whose writes fail while fail is set, like a
// full disk.
type failingStore struct {
	*store.Memory
	mu   sync.Mutex
	fail bool
}

func (s *failingStore) Append(ms []Message) ([]Message, error) {
	s.mu.Lock()
	fail := s.fail
	s.mu.Unlock()
	if fail {
		return nil, errors.New("save messages to parlance.db: database or disk is full")
	}
	return s.Memory.Append(ms)
}

func (s *failingStore) setFail(v bool) { s.mu.Lock(); s.fail = v; s.mu.Unlock() }

// TestFullDiskKeepsRunning: when the store cannot write, the node keeps
// running, warns once that new messages are not being saved, and does not
// acknowledge what it could not save (the sender keeps it and resends);
// once writes work again it says so and acknowledges.
func TestFullDiskKeepsRunning(t *testing.T) {
	fs := &failingStore{Memory: store.NewMemory(0)}
	n := newTestNode(t, func(c *Config) { c.Store = fs })
	bob := newID(t)
	rep := &fakeReplier{}
	fs.setFail(true)
	n.receive(transport.Inbound{Identity: bob, Reply: rep, Message: wire.Message{From: "bob", Content: "one", Timestamp: 1, ID: "m1"}})
	if w, ok := next(t, n.Node).(Notice); !ok || !w.Warning || !strings.Contains(w.Text, "not being saved") || !strings.Contains(w.Text, "disk is full") {
		t.Fatalf("want the warning, got %#v", w)
	}
	n.receive(transport.Inbound{Identity: bob, Reply: rep, Message: wire.Message{From: "bob", Content: "two", Timestamp: 1, ID: "m2"}})
	noEvent(t, n.Node) // warned once
	rep.mu.Lock()
	acks := len(rep.acks)
	rep.mu.Unlock()
	if acks != 0 {
		t.Fatalf("acknowledged %d messages that were not saved", acks)
	}
	fs.setFail(false)
	n.receive(transport.Inbound{Identity: bob, Reply: rep, Message: wire.Message{From: "bob", Content: "one", Timestamp: 1, ID: "m1"}})
	if e, ok := next(t, n.Node).(Notice); !ok || e.Warning || !strings.Contains(e.Text, "saved again") {
		t.Fatalf("want the all-clear, got %#v", e)
	}
	rep.waitAcks(t, 1)
	if m := n.nextMsg(t); m.Text != "one" {
		t.Fatalf("stored %+v", m)
	}
}

// TestReadReceipts: with read receipts on, reading a conversation tells
// the peer, and a peer's read receipt marks our message read; with them
// off, neither happens.
func TestReadReceipts(t *testing.T) {
	for _, on := range []bool{true, false} {
		n := newTestNode(t, func(c *Config) { c.ReadReceipts = on })
		alice := lanPeer("alice", newID(t), "i1", 5000)
		sourceHandler{n.Node}.Sighting(seen(alice))
		key := next(t, n.Node).(PeerJoined).Peer.Key
		n.receive(transport.Inbound{Identity: alice.Identity, Message: wire.Message{From: "alice", Content: "hi", Timestamp: 1, ID: "in1"}})
		in := n.nextMsg(t)
		if err := n.MarkRead(ConvOf(key), in.Seq); err != nil {
			t.Fatal(err)
		}
		if r := n.nextMsg(t); r.State != store.Read {
			t.Fatalf("after MarkRead: %+v", r)
		}
		deadline := time.Now().Add(2 * time.Second)
		for on && time.Now().Before(deadline) {
			n.tr.mu.Lock()
			got := len(n.tr.controls)
			n.tr.mu.Unlock()
			if got > 0 {
				break
			}
			time.Sleep(time.Millisecond)
		}
		n.tr.mu.Lock()
		controls := slices.Clone(n.tr.controls)
		n.tr.mu.Unlock()
		if on && (len(controls) != 1 || controls[0].Type != wire.ControlRead || controls[0].IDs[0] != "in1") {
			t.Fatalf("read receipts on: sent %+v", controls)
		}
		if !on && len(controls) != 0 {
			t.Fatalf("read receipts off: sent %+v", controls)
		}
		// Our message, read by alice.
		m, err := n.Send(context.Background(), key, "did you read this")
		if err != nil {
			t.Fatal(err)
		}
		n.nextMsg(t)
		n.receive(transport.Inbound{Identity: alice.Identity, Control: &wire.Control{Type: wire.ControlRead, IDs: []string{m.ID}}})
		got, _ := n.store.Message(m.Conv, m.ID)
		if (got.State == store.Read) != on {
			t.Fatalf("read receipts %v: our message is %v", on, got.State)
		}
	}
}
