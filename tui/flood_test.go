package tui

import (
	"errors"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/parlance-chat/parlance/app"
)

// fakePeer is one of a flood of made-up peers: a random instance id on the
// LAN is all it takes to be a new peer.
func fakePeer(i int) app.Peer {
	return testPeer(fmt.Sprintf("fake%05d", i), fmt.Sprintf("F%05d", i))
}

// flood delivers n join+leave pairs of distinct fake peers, one event per
// Update (the worst case: a trickle, so every event is a batch of its own).
func flood(h *harness, n int) {
	for i := range n {
		p := fakePeer(i)
		h.events(app.PeerJoined{Peer: p})
		p.Online = false
		h.events(app.PeerLeft{Peer: p, Reason: "goodbye"})
	}
}

// TestFloodOfFakePeersLeavesNothing: peers that come and go without a
// message leave no conversation and no row once the node no longer lists
// them.
func TestFloodOfFakePeersLeavesNothing(t *testing.T) {
	n := threePeers()
	h := newPickedHarness(t, n, Options{})
	h.events(incoming(bob, "a real message", testStart))
	flood(h, 3000)
	if got := len(h.m.convs); got > 3 {
		t.Errorf("%d conversations after the flood, want at most alice, bob and carol", got)
	}
	if got := len(h.m.list.items); got != 3 {
		t.Errorf("%d rows after the flood, want the 3 listed peers", got)
	}
	h.wantScreen("Peers 3/3", "● bob", "1 │")
	h.key("ctrl+n")
	h.wantScreen("bob: a real message")
}

// BenchmarkPeerFlood: 10,000 join+leave pairs of distinct fake peers, then
// one keystroke (with its frame). Time, memory and what is kept must stay
// bounded.
//
//   - unlisted: the node keeps none of them (it forgets peers past its
//     limit), and every event comes alone (a trickle: one Update each);
//   - listed: the node keeps them all, offline (as app.Node does up to
//     app.MaxPeers), and events come in bursts of maxEventBatch.
//
// Run: go test ./tui -run XXX -bench PeerFlood -benchmem
func BenchmarkPeerFlood(b *testing.B) {
	const n = 10_000
	run := func(b *testing.B, flood func(*harness, *fakeNode)) {
		var convs, rows int
		var heap uint64
		for b.Loop() {
			node := threePeers()
			h := newBenchHarness(b, node)
			flood(h, node)
			step(h, keyMsg("a"))
			convs, rows = len(h.m.convs), len(h.m.list.items)
			b.StopTimer()
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			heap = ms.HeapAlloc
			runtime.KeepAlive(h)
			b.StartTimer()
		}
		b.ReportMetric(float64(convs), "convs")
		b.ReportMetric(float64(rows), "rows")
		b.ReportMetric(float64(heap)/(1<<20), "heap-MiB")
	}
	b.Run("unlisted", func(b *testing.B) {
		run(b, func(h *harness, _ *fakeNode) { flood(h, n) })
	})
	b.Run("listed", func(b *testing.B) {
		run(b, func(h *harness, node *fakeNode) { floodListed(h, node, n) })
	})
}

// floodListed delivers n join+leave pairs of fake peers that the node
// keeps, offline, in bursts of maxEventBatch events.
func floodListed(h *harness, node *fakeNode, n int) {
	var batch []any
	for i := range n {
		p := fakePeer(i)
		p.Online = false
		node.mu.Lock()
		node.peers = append(node.peers, p) // sorted: "fake…" after "carol"
		node.mu.Unlock()
		batch = append(batch, app.PeerJoined{Peer: p}, app.PeerLeft{Peer: p, Reason: "goodbye"})
		if len(batch) >= maxEventBatch || i == n-1 {
			h.events(batch...)
			batch = nil
		}
	}
}

// BenchmarkKeystrokeAfterFlood: one keystroke and its frame after 10,000
// fake peers came and went.
func BenchmarkKeystrokeAfterFlood(b *testing.B) {
	for _, listed := range []bool{false, true} {
		name := "unlisted"
		if listed {
			name = "listed"
		}
		b.Run(name, func(b *testing.B) {
			node := threePeers()
			h := newBenchHarness(b, node)
			if listed {
				floodListed(h, node, 10_000)
			} else {
				flood(h, 10_000)
			}
			keys := []tea.Msg{keyMsg("a"), keyMsg("backspace")}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				step(h, keys[i%2])
			}
		})
	}
}

// checkBudget checks the bookkeeping of the conversations: what each
// holds and what the budget says they hold.
func checkBudget(t testing.TB, m *Model) {
	t.Helper()
	total := 0
	for _, c := range append(slices.Collect(maps.Values(m.convs)), m.home) {
		bytes, msgs := 0, 0
		for i := range c.entries {
			bytes += c.entries[i].cost()
			if k := c.entries[i].kind; k == kindIn || k == kindOut {
				msgs++
			}
		}
		if bytes != c.bytes || msgs != c.messages {
			t.Fatalf("conversation %q: holds %d bytes and %d messages, counts %d and %d", c.key, bytes, msgs, c.bytes, c.messages)
		}
		for id, i := range c.pending {
			if i < 0 || i >= len(c.entries) || c.entries[i].state != sendPending {
				t.Fatalf("conversation %q: pending %d points at entry %d, not a message being sent", c.key, id, i)
			}
		}
		total += bytes
	}
	if total != m.budget.used {
		t.Fatalf("conversations hold %d bytes, the budget says %d", total, m.budget.used)
	}
}

func TestConversationLimit(t *testing.T) {
	n := threePeers()
	h := newPickedHarness(t, n, Options{})
	h.m.budget.convs = 20
	// bob's conversation was read; alice is in view.
	h.events(incoming(bob, "read long ago", testStart))
	h.key("ctrl+n", "ctrl+p")
	var strangers []app.Peer
	for i := range 30 {
		strangers = append(strangers, testPeer(fmt.Sprintf("stranger%02d", i), fmt.Sprintf("S%02d", i)))
	}
	// Listed peers that only join: conversations without messages.
	for i := range 50 {
		p := fakePeer(i)
		n.upsert(p)
		h.events(app.PeerJoined{Peer: p})
		if len(h.m.convs) > 20 {
			t.Fatalf("%d conversations after %d joins, limit 20", len(h.m.convs), i+1)
		}
	}
	if _, ok := h.m.convs[bob.Key]; !ok {
		t.Fatal("bob's conversation, which has messages, was dropped before those without")
	}
	if got := len(h.m.list.items); got != 53 {
		t.Errorf("%d rows, want every listed peer (53)", got)
	}
	// Messages from peers the node does not list: unread conversations
	// push out those without unread messages, bob's included.
	for _, p := range strangers {
		h.events(incoming(p, "hello", testStart))
		if len(h.m.convs) > 20 {
			t.Fatalf("%d conversations, limit 20", len(h.m.convs))
		}
	}
	if _, ok := h.m.convs[bob.Key]; ok {
		t.Error("bob's read conversation was kept over unread ones")
	}
	if _, ok := h.m.convs[alice.Key]; !ok {
		t.Error("the conversation in view was dropped")
	}
	// The newest unread conversations are there, with their rows; the
	// oldest were dropped with theirs.
	last := strangers[len(strangers)-1]
	if c, ok := h.m.convs[last.Key]; !ok || c.unread != 1 {
		t.Errorf("the newest stranger's conversation: %v", c)
	}
	if _, ok := h.m.list.item(last.Key); !ok {
		t.Error("the newest stranger has no row")
	}
	if _, ok := h.m.list.item(strangers[0].Key); ok {
		t.Error("the oldest stranger's row stayed without its conversation")
	}
	checkBudget(t, &h.m)
}

func TestConversationLimitKeepsMessagesBeingSent(t *testing.T) {
	n := threePeers()
	n.block = make(chan struct{})
	h := newPickedHarness(t, n, Options{})
	h.m.budget.convs = 10
	h.key("ctrl+n")
	h.typeText("are you there?")
	mm, cmd := h.m.Update(keyMsg("enter")) // pending until the node answers
	h.m = mm.(Model)
	h.key("ctrl+p")
	for i := range 30 {
		h.events(incoming(fakePeer(i), "hi", testStart))
	}
	if _, ok := h.m.convs[bob.Key]; !ok {
		t.Fatal("a conversation with a message being sent was dropped")
	}
	close(n.block)
	h.run(cmd)
	h.key("ctrl+n")
	h.wantScreen("ada: are you there?")
	h.dontWantScreen("sending", "not sent")
	checkBudget(t, &h.m)
}

func TestEntriesLimit(t *testing.T) {
	n := threePeers()
	n.block = make(chan struct{})
	h := newPickedHarness(t, n, Options{})
	h.m.budget.entries, h.m.budget.trim = 100, 10
	msg := func(i int) any { return incoming(alice, fmt.Sprintf("message %03d", i), testStart) }
	for i := range 20 {
		h.events(msg(i))
	}
	// One message is being sent while the oldest entries are dropped.
	h.typeText("still sending")
	mm, cmd := h.m.Update(keyMsg("enter"))
	h.m = mm.(Model)
	for i := 20; i < 200; i++ {
		h.events(msg(i))
		if c := h.m.convs[alice.Key]; len(c.entries) >= 110 {
			t.Fatalf("%d entries after %d messages, limit 100+10", len(c.entries), i+1)
		}
	}
	c := h.m.convs[alice.Key]
	if c.entries[0].kind != kindDay {
		t.Errorf("history does not start with its date: %+v", c.entries[0])
	}
	checkBudget(t, &h.m)
	// Scrolled up, the view stays on the same lines while older entries
	// are dropped under it.
	h.key("pgup")
	before := h.conversationText()
	for i := 200; i < 215; i++ {
		h.events(msg(i))
	}
	if got := h.conversationText(); got != before {
		t.Errorf("dropping old entries moved a scrolled view:\n%s\nwas:\n%s", got, before)
	}
	// The message being sent was dropped from the history: its outcome
	// is still reported.
	n.sendErr = errors.New("refused")
	close(n.block)
	h.run(cmd)
	for range 10 {
		h.key("pgdown")
	}
	h.wantScreen("message 214", "✗ not sent to alice (“still sending”): alice can't be reached (refused)")
	// Scrolling up past what the screen kept reads the older messages
	// back from the store, down to the first.
	for i := 0; !strings.Contains(h.screen(), "message 000"); i++ {
		if i > 100 {
			t.Fatalf("PgUp never reached the first message:\n%s", h.screen())
		}
		h.key("pgup")
	}
	h.wantScreen("Tuesday, 5 March 2024")
	checkBudget(t, &h.m)
}

func TestEntriesLimitKeepsPendingIndex(t *testing.T) {
	n := threePeers()
	n.block = make(chan struct{})
	h := newPickedHarness(t, n, Options{})
	h.m.budget.entries, h.m.budget.trim = 50, 10
	for i := range 20 {
		h.events(incoming(alice, fmt.Sprintf("message %03d", i), testStart))
	}
	h.typeText("in flight")
	mm, cmd := h.m.Update(keyMsg("enter"))
	h.m = mm.(Model)
	for i := 20; i < 60; i++ {
		h.events(incoming(alice, fmt.Sprintf("message %03d", i), testStart))
	}
	// The oldest entries went; the one being sent is still there, moved.
	if c := h.m.convs[alice.Key]; len(c.entries) > 55 || len(c.pending) != 1 {
		t.Fatalf("%d entries, %d pending: want the oldest dropped, the message being sent kept", len(c.entries), len(c.pending))
	}
	checkBudget(t, &h.m)
	close(n.block)
	h.run(cmd)
	for range 3 {
		h.key("pgup")
	}
	h.wantScreen("ada: in flight")
	h.dontWantScreen("sending", "not sent")
}

func TestConversationBytesLimit(t *testing.T) {
	n := threePeers()
	h := newPickedHarness(t, n, Options{})
	h.m.budget.convBytes, h.m.budget.totalBytes = 20_000, 50_000
	big := strings.Repeat("x", 1000)
	for range 100 {
		h.events(incoming(alice, big, testStart))
	}
	if c := h.m.convs[alice.Key]; c.bytes > 20_000 {
		t.Errorf("alice's conversation holds %d bytes, limit 20,000", c.bytes)
	}
	checkBudget(t, &h.m)
	for i := range 20 {
		for range 10 {
			h.events(incoming(fakePeer(i), big, testStart))
		}
	}
	if h.m.budget.used > 50_000 {
		t.Errorf("conversations hold %d bytes, limit 50,000", h.m.budget.used)
	}
	if _, ok := h.m.convs[alice.Key]; !ok {
		t.Error("the conversation in view was dropped")
	}
	checkBudget(t, &h.m)
}
