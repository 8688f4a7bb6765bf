package tui

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/parlance-chat/parlance/app"
	"github.com/parlance-chat/parlance/app/store"
)

// TestFloodShownInFull: 100,000 messages from one peer, far more than any
// event buffer, all reach the conversation, in order, with no warning.
func TestFloodShownInFull(t *testing.T) {
	if testing.Short() {
		t.Skip("100,000 messages")
	}
	n := threePeers()
	h := newHarness(t, n, Options{})
	const total = 100_000
	for i := range total {
		n.receive(app.Message{ID: fmt.Sprintf("%032x", i+1), Peer: string(bob.Key), From: "bob", Text: fmt.Sprint("m", i), At: testStart})
	}
	h.update(eventsMsg{changed: true}) // runs the catch-up chain to the end
	c := h.m.convs[bob.Key]
	if c.unread != total {
		t.Fatalf("unread %d, want %d", c.unread, total)
	}
	// The conversation holds the newest messages its memory budget
	// allows, in order, ending with the last; everything older is a PgUp
	// away in the store.
	var shown []string
	for _, e := range c.entries {
		if e.kind == kindIn {
			shown = append(shown, e.text)
		}
	}
	first := total - len(shown)
	for i, text := range shown {
		if want := fmt.Sprint("m", first+i); text != want {
			t.Fatalf("entry %d is %q, want %q", i, text, want)
		}
	}
	older, _ := n.History(app.ConvOf(bob.Key), c.oldestSeq, total)
	if len(older) != first || first > 0 && older[len(older)-1].Text != fmt.Sprint("m", first-1) {
		t.Fatalf("%d shown and %d older in the store; want %d in all", len(shown), len(older), total)
	}
	h.dontWantScreen("fell behind", "dropped", "missed")
}

// TestStoredHistoryOnStart: conversations in the store are listed at
// start with their unread counts, open lazily with their newest page, and
// PgUp reads older pages.
func TestStoredHistoryOnStart(t *testing.T) {
	n := threePeers()
	for i := range 450 {
		n.receive(app.Message{ID: fmt.Sprintf("%032x", i+1), Peer: string(bob.Key), From: "bob", Text: fmt.Sprintf("old %03d", i), At: testStart.Add(-time.Hour)})
	}
	h := newHarness(t, n, Options{})
	if c := h.m.convs[bob.Key]; c == nil || c.unread != 450 || len(c.entries) != 0 {
		t.Fatalf("bob's conversation at start: %+v", c)
	}
	h.wantScreen("bob", "450")
	h.key("ctrl+n", "ctrl+n") // alice, then bob
	c := h.m.convs[bob.Key]
	if msgs := c.messages; msgs != historyPage {
		t.Fatalf("opened with %d messages, want the newest page of %d", msgs, historyPage)
	}
	h.wantScreen("old 449")
	if c.unread != 0 {
		t.Fatalf("unread %d after opening", c.unread)
	}
	for i := 0; !strings.Contains(h.screen(), "old 000"); i++ {
		if i > 100 {
			t.Fatal("PgUp never reached the oldest message")
		}
		h.key("pgup")
	}
	if c.messages != 450 || !c.complete {
		t.Fatalf("after paging up: %d messages, complete %v", c.messages, c.complete)
	}
	// The order holds across pages.
	prev := ""
	for _, e := range c.entries {
		if e.kind == kindIn {
			if e.text <= prev {
				t.Fatalf("%q after %q", e.text, prev)
			}
			prev = e.text
		}
	}
	// The node was told they were read.
	if cs, _ := n.Conversations(); cs[0].Unread != 0 {
		t.Fatalf("store still counts %d unread", cs[0].Unread)
	}
}

// TestSearchJumpsToTheMessage: /search lists matches with peer, time and
// excerpt; Enter opens the conversation on the message, reading older
// pages from the store as needed.
func TestSearchJumpsToTheMessage(t *testing.T) {
	n := threePeers()
	for i := range 1000 {
		text := fmt.Sprintf("filler %04d", i)
		if i == 10 {
			text = "the needle is here"
		}
		n.receive(app.Message{ID: fmt.Sprintf("%032x", i+1), Peer: string(bob.Key), From: "bob", Text: text, At: testStart})
	}
	h := newHarness(t, n, Options{})
	h.enter("/search needle")
	h.wantScreen(`Search "needle": 1 matches`, "bob: the needle is here")
	h.key("enter")
	if h.m.search != nil || h.m.list.sel != bob.Key {
		t.Fatalf("after enter: search open %v, selected %q", h.m.search != nil, h.m.list.sel)
	}
	h.wantScreen("bob: the needle is here", "filler 0011")
	h.dontWantScreen("filler 0999")
	// Esc closes the results without jumping.
	h.enter("/search filler")
	h.key("esc")
	if h.m.search != nil {
		t.Fatal("esc did not close the results")
	}
	h.enter("/search nothing-like-this")
	c := h.m.current()
	if last := c.entries[len(c.entries)-1].text; !strings.Contains(last, "no message matches") {
		t.Fatalf("last line %q", last)
	}
}

// TestOutboxAndResend: /outbox lists what waits; a failed message is sent
// again with /resend.
func TestOutboxAndResend(t *testing.T) {
	n := threePeers()
	h := newPickedHarness(t, n, Options{})
	h.enter("hello alice")
	h.enter("/outbox")
	h.wantScreen("1 waiting for their peer:", "to alice: hello alice (queued")
	ob, _ := n.Outbox()
	n.store.SetState(app.ConvOf(alice.Key), []string{ob[0].ID}, store.Failed, "not delivered within 7 days")
	h.update(eventsMsg{changed: true})
	h.wantScreen("ada: hello alice ✗ not delivered")
	h.enter("/resend")
	h.wantScreen("1 failed message(s) queued again")
	h.update(eventsMsg{changed: true})
	h.wantScreen("ada: hello alice (queued)")
}

// TestReadMarkOnlyOnOwnMessages: a received message marked read (by
// viewing it) shows no delivery mark.
func TestReadMarkOnlyOnOwnMessages(t *testing.T) {
	n := threePeers()
	h := newPickedHarness(t, n, Options{})
	h.events(incoming(alice, "hello ada", testStart))
	h.update(eventsMsg{changed: true}) // the read mark's change comes back
	h.wantScreen("alice: hello ada ")
	h.dontWantScreen("hello ada ✓", "read")
}
