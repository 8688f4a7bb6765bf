package tui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"github.com/parlance-chat/parlance/app"
	"github.com/parlance-chat/parlance/app/store"
	"github.com/parlance-chat/parlance/net/discovery"
)

var (
	alice = testPeer("alice", "alic")
	bob   = testPeer("bob", "bobb")
	carol = originalPeer("carol", "192.168.1.33")
)

// threePeers is a node that knows alice, bob and carol (an original,
// unencrypted client), all online.
func threePeers() *fakeNode {
	n := newFakeNode()
	for _, p := range []app.Peer{alice, bob, carol} {
		n.upsert(p)
	}
	return n
}

// incoming is a message from p, for harness.events.
func incoming(p app.Peer, text string, at time.Time) inMsg {
	return inMsg{app.Message{Peer: string(p.Key), Conv: app.ConvOf(p.Key), From: p.Nickname, Text: text, At: at}}
}

func TestSelectionWithArrows(t *testing.T) {
	tests := []struct {
		name string
		keys []string
		want app.PeerKey
	}{
		{"picked the first", nil, alice.Key},
		{"ctrl+n", []string{"ctrl+n"}, bob.Key},
		{"alt+down twice", []string{"alt+down", "alt+down"}, carol.Key},
		{"ctrl+n stops at the last", []string{"ctrl+n", "ctrl+n", "ctrl+n", "ctrl+n"}, carol.Key},
		{"alt+up stops at the first", []string{"alt+up", "ctrl+p"}, alice.Key},
		{"down then up", []string{"ctrl+n", "alt+down", "alt+up"}, bob.Key},
		{"alt+3", []string{"alt+3"}, carol.Key},
		{"alt+9 past the end", []string{"alt+2", "alt+9"}, bob.Key},
		{"up and down are the input's", []string{"down", "up", "down"}, alice.Key},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newPickedHarness(t, threePeers(), Options{})
			h.key(tt.keys...)
			if h.m.list.sel != tt.want {
				t.Errorf("selected %q, want %q", h.m.list.sel, tt.want)
			}
			it, _ := h.m.list.selected()
			h.wantScreen("▸● "+it.name, "╭─ "+it.name+" · online")
		})
	}
}

// TestNothingSelectedUntilPicked: the first peer found is not selected,
// at start or when it appears, so text goes only to a peer the user
// picked (defect: "message carol" went to whoever was found first).
func TestNothingSelectedUntilPicked(t *testing.T) {
	n := threePeers()
	h := newHarness(t, n, Options{})
	if h.m.list.sel != "" {
		t.Fatalf("selected %q at start", h.m.list.sel)
	}
	h.wantScreen("Welcome to Parlance, ada.", "pick a peer with alt+↓")
	h.enter("hello")
	h.wantScreen("✗ no peer selected")
	if got := h.m.input.Value(); got != "" {
		t.Errorf("input after a refused line = %q, want it empty (the line is in the history)", got)
	}
	n.upsert(testPeer("aaron", "aaron"))
	h.events(app.PeerJoined{Peer: testPeer("aaron", "aaron")})
	if h.m.list.sel != "" {
		t.Fatalf("a peer that appeared was selected: %q", h.m.list.sel)
	}
	h.key("up") // the refused line comes back from the history
	h.key("alt+4")
	if h.m.list.sel != carol.Key || h.m.input.Value() != "hello" {
		t.Fatalf("alt+4 selected %q with input %q; want carol, and the line typed with no peer carried along", h.m.list.sel, h.m.input.Value())
	}
	h.key("enter")
	if sent := n.sentMessages(); len(sent) != 1 || sent[0] != (sentMessage{carol.Key, "hello"}) {
		t.Errorf("sent %v, want hello to carol", sent)
	}
}

func TestEnterSendsToSelectedPeer(t *testing.T) {
	n := threePeers()
	h := newPickedHarness(t, n, Options{})
	h.key("ctrl+n") // bob
	h.enter("hello bob")
	if sent := n.sentMessages(); len(sent) != 1 || sent[0] != (sentMessage{bob.Key, "hello bob"}) {
		t.Fatalf("sent %v, want one message to bob", sent)
	}
	if v := h.m.input.Value(); v != "" {
		t.Errorf("input not cleared: %q", v)
	}
	if got := h.conversationText(); !strings.Contains(got, "14:30 ada: hello bob") || strings.Contains(got, "sending") {
		t.Errorf("conversation:\n%s", got)
	}
	// An empty line sends nothing.
	h.key("enter")
	h.enter("   ")
	if len(n.sentMessages()) != 1 {
		t.Errorf("blank lines were sent: %v", n.sentMessages())
	}
}

func TestOwnMessagePendingThenFailed(t *testing.T) {
	n := threePeers()
	n.sendErr = fmt.Errorf("send to alice: dial tcp 192.168.1.20:7878: %w", syscall.ECONNREFUSED)
	h := newPickedHarness(t, n, Options{})
	h.typeText("are you there?")
	// Update alone: the message shows at once, before Send has run.
	mm, cmd := h.m.Update(keyMsg("enter"))
	h.m = mm.(Model)
	if got := h.conversationText(); !strings.Contains(got, "ada: are you there? (saving…)") {
		t.Fatalf("pending message not shown:\n%s", got)
	}
	if len(n.sentMessages()) != 0 {
		t.Fatal("Send ran inside Update")
	}
	h.run(cmd)
	got := h.conversationText()
	for _, want := range []string{"ada: are you there? ✗ not sent", "✗ not sent to alice: alice can't be reached (connection refused"} {
		if !strings.Contains(got, want) {
			t.Errorf("conversation lacks %q:\n%s", want, got)
		}
	}
}

// TestSendToPeerThatLeft: a message to an offline peer is queued in the
// outbox (it goes when the peer is back), not refused.
func TestSendToPeerThatLeft(t *testing.T) {
	n := threePeers()
	h := newPickedHarness(t, n, Options{})
	gone := alice
	gone.Online = false
	n.upsert(gone)
	h.events(app.PeerLeft{Peer: gone, Reason: "goodbye"})
	h.enter("still there?")
	if sent := n.sentMessages(); len(sent) != 1 {
		t.Errorf("not given to the node's outbox: %v", sent)
	}
	h.wantScreen("← alice left (goodbye)", "ada: still there? (queued)", "○ alice")
	h.dontWantScreen("not sent")
	// Delivered later: ✓✓.
	ob, _ := n.store.Outbox(app.ConvOf(alice.Key), 10)
	n.store.SetState(app.ConvOf(alice.Key), []string{ob[0].ID}, store.Delivered, "")
	h.update(eventsMsg{changed: true})
	h.wantScreen("ada: still there? ✓✓")
}

// TestMailboxedMark: a queued message left in the peer's mailbox at the
// server shows "✉ at server" until it is delivered.
func TestMailboxedMark(t *testing.T) {
	n := threePeers()
	h := newPickedHarness(t, n, Options{})
	gone := alice
	gone.Online = false
	n.upsert(gone)
	h.events(app.PeerLeft{Peer: gone, Reason: "goodbye"})
	h.enter("for later")
	h.wantScreen("ada: for later (queued)")
	ob, _ := n.store.Outbox(app.ConvOf(alice.Key), 10)
	h.events(app.Mailboxed{Peer: alice.Key, IDs: []string{ob[0].ID}})
	h.wantScreen("ada: for later ✉ at server")
	n.store.SetState(app.ConvOf(alice.Key), []string{ob[0].ID}, store.Delivered, "")
	h.update(eventsMsg{changed: true})
	h.wantScreen("ada: for later ✓✓")
}

func TestSendResultForAnotherConversation(t *testing.T) {
	n := threePeers()
	n.sendErr = errors.New("timeout")
	h := newPickedHarness(t, n, Options{})
	h.enter("/send bob hi")
	if h.m.list.sel != alice.Key {
		t.Fatalf("/send changed the selection to %q", h.m.list.sel)
	}
	// The error is in bob's conversation and, as it is not in view, in
	// alice's too.
	h.wantScreen("→ to bob: hi", "✗ not sent to bob: bob can't be reached (timeout)")
	h.key("ctrl+n")
	h.wantScreen("ada: hi ✗ not sent", "✗ not sent to bob: bob can't be reached (timeout)")
}

func TestSendAfterClearStillReportsFailure(t *testing.T) {
	n := threePeers()
	n.sendErr = errors.New("refused")
	h := newPickedHarness(t, n, Options{})
	h.typeText("lost words")
	mm, cmd := h.m.Update(keyMsg("enter"))
	h.m = mm.(Model)
	h.enter("/clear")
	h.run(cmd)
	h.wantScreen("✗ not sent to alice (“lost words”): alice can't be reached (refused)")
}

func TestSlashCommands(t *testing.T) {
	twoAlices := func() *fakeNode {
		n := threePeers()
		n.upsert(testPeer("alice", "zed"))
		return n
	}
	tests := []struct {
		name     string
		node     func() *fakeNode
		line     string
		want     []string // on screen
		dontWant []string
		check    func(t *testing.T, h *harness)
	}{
		{name: "peers", line: "/peers", want: []string{"· 3 peers, 3 online:", "● alice — lan, 192.168.1.20:7878, encrypted", "● carol — lan, 192.168.1.33:7878, unencrypted"}},
		{name: "peers, one not discovered", node: newFakeNode, line: "/peers", want: []string{"· 1 peer, 0 online:", "○ alice — not discovered"}},
		{name: "send", line: "/send bob hi there", want: []string{"→ to bob: hi there"}, check: func(t *testing.T, h *harness) {
			if s := h.node.sentMessages(); len(s) != 1 || s[0] != (sentMessage{bob.Key, "hi there"}) {
				t.Errorf("sent %v", s)
			}
			if h.m.list.sel != alice.Key {
				t.Errorf("selection moved to %q", h.m.list.sel)
			}
		}},
		{name: "send without text", line: "/send bob", want: []string{"✗ usage: /send <nick> <message>"}},
		{name: "send to nobody", line: "/send zoe hi", want: []string{`✗ no peer called "zoe"; /peers lists them`}},
		{name: "send ambiguous", node: twoAlices, line: "/send alice hi", want: []string{`✗ "alice" is ambiguous, say which: alice#ALICALI, alice#ZEDZEDZ`}},
		{name: "send with tag", node: twoAlices, line: "/send alice#zed hi", check: func(t *testing.T, h *harness) {
			if s := h.node.sentMessages(); len(s) != 1 || s[0].Key != testPeer("alice", "zed").Key {
				t.Errorf("sent %v", s)
			}
		}},
		{name: "msg", line: "/msg carol", check: func(t *testing.T, h *harness) {
			if h.m.list.sel != carol.Key {
				t.Errorf("selected %q", h.m.list.sel)
			}
		}},
		{name: "query", line: "/query bob", check: func(t *testing.T, h *harness) {
			if h.m.list.sel != bob.Key {
				t.Errorf("selected %q", h.m.list.sel)
			}
		}},
		{name: "msg without nick", line: "/msg", want: []string{"✗ usage: /msg <nick>"}},
		{name: "nick", line: "/nick grace", want: []string{"· you are now known as grace", " grace · local"}},
		{name: "nick refused", node: func() *fakeNode {
			n := threePeers()
			n.nickErr = errors.New("invalid nickname: 40 bytes, the limit is 32")
			return n
		}, line: "/nick " + strings.Repeat("x", 40), want: []string{"✗ cannot change nickname to xxxx", "the limit is 32"}},
		{name: "nick without name", line: "/nick", want: []string{"✗ usage: /nick <name>"}},
		{name: "clear", line: "/clear", dontWant: []string{"earlier words"}},
		{name: "help", line: "/help", want: []string{"╭─ Help", "/verify <nick> [confirm]  show the safety code"}},
		{name: "h", line: "/h", want: []string{"╭─ Help"}},
		{name: "quit", line: "/quit", check: func(t *testing.T, h *harness) {
			if !h.quit {
				t.Error("did not quit")
			}
		}},
		{name: "id", line: "/id", want: []string{"· your ID: ADAA-DAAD-AADA-ADAA-DAAD-AADA-ADAA-DAAD-AADA-ADAA-DAAD-AADA-ADAA"}},
		{name: "whois", line: "/whois bob", want: []string{"· bob", "ID: BOBB-BOBB-BOBB-", "address: 192.168.1.20:7878", "found on: lan", "trust: encrypted", "online"}},
		{name: "whois original", line: "/whois carol", want: []string{"ID: none (original client, unencrypted)", "trust: unencrypted"}},
		{name: "whois without nick", line: "/whois", want: []string{"✗ usage: /whois <nick>"}},
		{name: "whois ambiguous", node: twoAlices, line: "/whois alice", want: []string{`✗ "alice" is ambiguous`, "alice#ALICALI, alice#ZEDZEDZ"}},
		{name: "verify", line: "/verify bob", want: []string{"· safety code with bob: 12345 67890 13579 24680", "If it matches, type /verify bob"}},
		{name: "verify confirm", line: "/verify bob confirm", want: []string{"✓ bob is marked verified", "● bob ✓"}, check: func(t *testing.T, h *harness) {
			if len(h.node.verify) != 1 || h.node.verify[0] != bob.Key {
				t.Errorf("MarkVerified calls: %v", h.node.verify)
			}
		}},
		{name: "verify original", line: "/verify carol", want: []string{"✗ carol uses an original client without encryption"}},
		{name: "verify bad word", line: `/verify "bob" yes`, want: []string{"✗ usage: /verify <nick> [confirm]"}},
		{name: "unknown command", line: "/frobnicate now", want: []string{"✗ /frobnicate: unknown command; /help lists them"}},
		{name: "double slash sends a slash", line: "//shrug", check: func(t *testing.T, h *harness) {
			if s := h.node.sentMessages(); len(s) != 1 || s[0].Text != "/shrug" {
				t.Errorf("sent %v", s)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			node := threePeers
			if tt.node != nil {
				node = tt.node
			}
			h := newPickedHarness(t, node(), Options{})
			h.events(incoming(alice, "earlier words", testStart))
			h.enter(tt.line)
			h.wantScreen(tt.want...)
			h.dontWantScreen(tt.dontWant...)
			if tt.check != nil {
				tt.check(t, h)
			}
			// The input is empty after a line, whether it ran or not, and
			// ↑ brings the line back.
			if v := h.m.input.Value(); v != "" {
				t.Errorf("input after the line = %q, want it empty", v)
			}
			if !h.m.showHelp && !h.quit && h.m.list.sel == alice.Key {
				h.key("up")
				if v := h.m.input.Value(); v != tt.line {
					t.Errorf("↑ after the line gave %q", v)
				}
			}
		})
	}
}

func TestUnreadCountsAndBell(t *testing.T) {
	n := threePeers()
	h := newPickedHarness(t, n, Options{Bell: true})
	h.events(incoming(bob, "one", testStart), incoming(bob, "two", testStart), incoming(carol, "three", testStart))
	if got := h.m.convs[bob.Key].unread; got != 2 {
		t.Errorf("bob unread = %d, want 2", got)
	}
	h.wantScreen("● bob", "2 │", "● carol !", "1 │")
	if bells := strings.Count(h.out.String(), "\a"); bells != 1 {
		t.Errorf("rang %d times for one batch, want 1", bells)
	}
	// A message in view is read: no count, no bell.
	h.events(incoming(alice, "hi", testStart))
	if got := h.m.convs[alice.Key].unread; got != 0 {
		t.Errorf("alice unread = %d, want 0", got)
	}
	if bells := strings.Count(h.out.String(), "\a"); bells != 1 {
		t.Errorf("rang for a message in view")
	}
	h.key("ctrl+n")
	if got := h.m.convs[bob.Key].unread; got != 0 {
		t.Errorf("bob unread after selecting = %d, want 0", got)
	}
	h.wantScreen("bob: one", "bob: two")

	quiet := newPickedHarness(t, threePeers(), Options{})
	quiet.events(incoming(bob, "one", testStart))
	if quiet.out.String() != "" {
		t.Errorf("bell rang without Options.Bell: %q", quiet.out.String())
	}
}

func TestNicknameChangeEvents(t *testing.T) {
	n := threePeers()
	h := newPickedHarness(t, n, Options{})
	self := n.Self()
	self.Nickname = "grace"
	h.events(app.SelfChanged{Self: self})
	h.wantScreen(" grace · local · 3 online · listening on 192.168.1.10:7878", "· you are now known as grace")

	renamed := bob
	renamed.Nickname = "robert"
	n.upsert(renamed)
	h.events(app.PeerUpdated{Peer: renamed})
	h.key("ctrl+n", "ctrl+n") // the list is sorted by name: alice, carol, robert
	h.wantScreen("· bob is now known as robert", "▸● robert")
}

func TestPeersJoiningAndLeaving(t *testing.T) {
	n := threePeers()
	h := newPickedHarness(t, n, Options{})
	dave := testPeer("dave", "dave")
	n.upsert(dave)
	h.events(app.PeerJoined{Peer: dave})
	h.wantScreen("Peers 4/4", "● dave")
	if h.m.list.sel != alice.Key {
		t.Errorf("a join moved the selection to %q", h.m.list.sel)
	}

	h.enter("/msg dave")
	h.events(incoming(dave, "hello from dave", testStart))
	dave.Online = false
	n.upsert(dave)
	h.events(app.PeerLeft{Peer: dave, Reason: "timed out"})
	h.wantScreen("Peers 3/4", "▸○ dave", "dave · offline", "→ dave joined (lan, 192.168.1.20:7878)", "dave: hello from dave", "← dave left (timed out)", "3 online")

	// A message from someone the node never listed still gets a row.
	stranger := testPeer("eve", "evee")
	h.events(incoming(stranger, "psst", testStart))
	h.wantScreen("○ eve", "1 │", "Peers 3/5")
	h.enter("/msg eve")
	h.wantScreen("eve: psst")

	// An original peer joining is flagged as unencrypted.
	frank := originalPeer("frank", "192.168.1.40")
	n.upsert(frank)
	h.events(app.PeerJoined{Peer: frank})
	h.enter("/msg frank")
	h.wantScreen("→ frank joined (lan, 192.168.1.40:7878); unencrypted: an original client", "● frank !", "frank · online · lan · ! unencrypted")
}

// A peer online but unconfirmed (the bootstrap server has not listed it
// since the connection came back) shows a dimmed "?" instead of the dot,
// in the list, the title, /peers and /whois, until it is confirmed.
func TestPeerUnconfirmed(t *testing.T) {
	n := threePeers()
	h := newPickedHarness(t, n, Options{})
	doubted := bob
	doubted.Source, doubted.Unconfirmed = "internet", true
	n.upsert(doubted)
	h.events(app.PeerUpdated{Peer: doubted})
	h.wantScreen("Peers 3/3", " ? bob")
	if row := h.m.listRow(h.m.list.items[1], false); !strings.Contains(row, h.m.st.dim.Render("?")) {
		t.Errorf("the ? is not dimmed: %q", row)
	}
	h.enter("/msg bob")
	h.wantScreen("▸? bob", "bob · online? · internet")
	h.enter("/peers")
	h.wantScreen("? bob — unconfirmed: the bootstrap server has not listed it since the connection came back, internet")
	h.enter("/whois bob")
	h.wantScreen("online, unconfirmed: the bootstrap server")

	n.upsert(bob)
	h.events(app.PeerUpdated{Peer: bob})
	h.wantScreen("▸● bob", "bob · online · lan")
	h.dontWantScreen("▸? bob")
}

func TestTrustChanges(t *testing.T) {
	n := threePeers()
	h := newPickedHarness(t, n, Options{})
	changed := testPeer("alice", "evil")
	changed.Trust = app.TrustChanged
	n.upsert(changed)
	h.events(app.PeerJoined{Peer: changed})
	h.wantScreen("alice#ALICALI", "alice#EVILEVI ⚠")
	v := bob
	v.Trust = app.TrustVerified
	n.upsert(v)
	h.events(app.PeerUpdated{Peer: v})
	h.enter("/msg bob")
	h.wantScreen("✓ bob is verified", "bob · online · lan · ✓ verified")
}

func TestNoticesAndServerState(t *testing.T) {
	n := threePeers()
	n.self.Mode = "internet"
	h := newPickedHarness(t, n, Options{})
	h.wantScreen("server: connecting…")
	h.events(app.Notice{Text: "general info"}, app.Notice{Peer: alice.Key, Warning: true, Text: "alice presented a different certificate"})
	h.wantScreen("· general info", "⚠ alice presented a different certificate")

	h.events(app.SourceState{State: discovery.State{Phase: discovery.Retrying, RetryIn: 5 * time.Second, Err: fmt.Errorf("dial ws://127.0.0.1:8080: %w", syscall.ECONNREFUSED)}})
	h.wantScreen("server: retrying in 5 s (connection refused)")
	h.clock.Add(2 * time.Second)
	h.update(retryTickMsg{gen: h.m.retryN})
	h.wantScreen("server: retrying in 3 s")
	h.clock.Add(3 * time.Second)
	h.update(retryTickMsg{gen: h.m.retryN})
	h.wantScreen("server: retrying…")
	h.events(app.SourceState{State: discovery.State{Phase: discovery.Online}})
	h.wantScreen("server: online")
}

func TestRetryCountdownTicks(t *testing.T) {
	h := newPickedHarness(t, threePeers(), Options{})
	var ticks int
	h.m.tick = func(d time.Duration, fn func(time.Time) tea.Msg) tea.Cmd {
		ticks++
		return func() tea.Msg {
			h.clock.Add(d) // the second passes
			return fn(h.clock.Now())
		}
	}
	h.events(app.SourceState{State: discovery.State{Phase: discovery.Retrying, RetryIn: 3 * time.Second}})
	if ticks != 3 {
		t.Errorf("ticked %d times for a 3 s countdown, want 3", ticks)
	}
	h.wantScreen("server: retrying…")
}

func TestNetworkStopped(t *testing.T) {
	n := threePeers()
	h := newPickedHarness(t, n, Options{})
	h.update(eventsMsg{stopped: true})
	h.wantScreen("network stopped", "✗ the network stopped")
	h.enter("anyone?")
	if len(n.sentMessages()) != 0 {
		t.Error("sent after the network stopped")
	}
	h.wantScreen("✗ not sent to alice: the network stopped")
}

func TestTypingNeverScrollsOrMoves(t *testing.T) {
	n := threePeers()
	h := newPickedHarness(t, n, Options{})
	var evs []any
	for i := range 200 {
		evs = append(evs, incoming(alice, fmt.Sprintf("message %d", i), testStart))
	}
	h.events(evs...)
	for _, scrolled := range []bool{false, true} {
		if scrolled {
			h.key("pgup")
		}
		before := h.conversationText()
		sel := h.m.list.sel
		keys := "jkfbgGhlud q?/ "
		h.typeText(keys)
		if got := h.conversationText(); got != before {
			t.Errorf("typing %q changed the conversation view (scrolled=%v)", keys, scrolled)
		}
		if h.m.list.sel != sel {
			t.Errorf("typing moved the selection")
		}
		if h.m.showHelp {
			t.Errorf("? opened the help while the input was not empty")
		}
		if got := h.m.input.Value(); got != keys {
			t.Errorf("input = %q, want %q", got, keys)
		}
		h.key("esc")
		if got := h.m.input.Value(); got != "" {
			t.Errorf("esc left %q in the input", got)
		}
	}
}

func TestScrolling(t *testing.T) {
	h := newPickedHarness(t, threePeers(), Options{})
	var evs []any
	for i := range 100 {
		evs = append(evs, incoming(alice, fmt.Sprintf("message %03d", i), testStart))
	}
	h.events(evs...)
	h.wantScreen("message 099")
	h.dontWantScreen("more (pgdn)")

	h.key("pgup")
	h.dontWantScreen("message 099")
	h.wantScreen("message 075", "more (pgdn)")
	// New messages while scrolled up do not move the view.
	before := h.conversationText()
	h.events(incoming(alice, "message new", testStart))
	if h.conversationText() != before {
		t.Error("a new message moved a scrolled view")
	}
	for range 10 {
		h.key("pgup")
	}
	h.wantScreen("Tuesday, 5 March 2024", "message 000")
	lines, _ := h.m.conversationLines()
	if !strings.Contains(lines[0], "Tuesday") {
		t.Errorf("top of history is not at the top of the view: %q", lines[0])
	}
	for range 10 {
		h.key("pgdown")
	}
	h.wantScreen("message new")
	if !h.m.current().follow {
		t.Error("scrolling to the end does not follow new messages")
	}

	// The mouse wheel scrolls too.
	h.update(tea.MouseMsg{Button: tea.MouseButtonWheelUp, Action: tea.MouseActionPress, X: 50, Y: 5})
	h.dontWantScreen("message new")
	h.update(tea.MouseMsg{Button: tea.MouseButtonWheelDown, Action: tea.MouseActionPress, X: 50, Y: 5})
	h.wantScreen("message new")
}

func TestMouseClickSelectsPeer(t *testing.T) {
	h := newPickedHarness(t, threePeers(), Options{})
	h.update(tea.MouseMsg{Button: tea.MouseButtonLeft, Action: tea.MouseActionPress, X: 3, Y: 3}) // third row
	if h.m.list.sel != carol.Key {
		t.Errorf("click selected %q, want carol", h.m.list.sel)
	}
	h.update(tea.MouseMsg{Button: tea.MouseButtonLeft, Action: tea.MouseActionPress, X: 3, Y: 20}) // below the rows
	if h.m.list.sel != carol.Key {
		t.Errorf("click on an empty row selected %q", h.m.list.sel)
	}
}

func TestDayChangeLine(t *testing.T) {
	h := newPickedHarness(t, threePeers(), Options{})
	h.events(incoming(alice, "late", time.Date(2024, 3, 5, 23, 59, 0, 0, time.UTC)),
		incoming(alice, "early", time.Date(2024, 3, 6, 0, 1, 0, 0, time.UTC)))
	got := h.conversationText()
	for _, want := range []string{"Tuesday, 5 March 2024", "23:59 alice: late", "Wednesday, 6 March 2024", "00:01 alice: early"} {
		if !strings.Contains(got, want) {
			t.Errorf("lacks %q:\n%s", want, got)
		}
	}
	if strings.Index(got, "23:59") > strings.Index(got, "Wednesday") {
		t.Error("day line is not between the two days")
	}
}

func TestTabCompletion(t *testing.T) {
	n := threePeers()
	n.upsert(testPeer("alice", "zed"))
	tests := []struct {
		name  string
		typed string
		tabs  int
		want  string
	}{
		{"command", "/wh", 1, "/whois "},
		{"two commands, first", "/qu", 1, "/query "},
		{"two commands, second", "/qu", 2, "/quit "},
		{"nick after command", "/msg b", 1, "/msg bob "},
		{"nick in text", "hi c", 1, "hi carol "},
		{"ambiguous nick, first", "/whois al", 1, "/whois alice#ALICALI "},
		{"ambiguous nick, next", "/whois al", 2, "/whois alice#ZEDZEDZ "},
		{"ambiguous nick, wraps", "/whois al", 3, "/whois alice#ALICALI "},
		{"no match", "/msg zz", 1, "/msg zz"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newPickedHarness(t, n, Options{})
			h.typeText(tt.typed)
			for range tt.tabs {
				h.key("tab")
			}
			if got := h.m.input.Value(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	h := newPickedHarness(t, n, Options{})
	h.typeText("/msg a")
	h.key("tab")
	h.wantScreen("tab: alice#ALICALI  alice#ZEDZEDZ")
}

func TestHelpScreen(t *testing.T) {
	h := newPickedHarness(t, threePeers(), Options{})
	h.key("f1")
	if !h.m.showHelp {
		t.Fatal("f1 did not open the help")
	}
	h.wantScreen("/send <nick> <message>", "/msg, /query <nick>", "esc close the help")
	all := ansi.Strip(strings.Join(h.m.helpAllLines(150), "\n"))
	for _, want := range []string{"alt+1…9", "alt+a ctrl+x", "f2", "pgup", "ctrl+c", "clear the input; on an empty input, quit", "alt+enter ctrl+j"} {
		if !strings.Contains(all, want) {
			t.Errorf("help lacks %q", want)
		}
	}
	h.typeText("abc")
	if h.m.input.Value() != "" || !h.m.showHelp {
		t.Errorf("typing in the help went to the input (%q) or closed it", h.m.input.Value())
	}
	h.update(tea.WindowSizeMsg{Width: 80, Height: 12})
	for range 40 { // to the end
		h.key("pgdown")
	}
	h.wantScreen("key changed")
	h.key("pgup")
	h.dontWantScreen("key changed")
	h.key("esc")
	if h.m.showHelp {
		t.Error("esc did not close the help")
	}
	h.key("ctrl+c")
	if !h.quit {
		t.Error("ctrl+c did not quit")
	}
}

// TestResizeKeepsTheFrameExact checks, at several sizes, that the frame is
// exactly the terminal's size: every line as wide as the terminal, as many
// lines as it is high, with wide characters and long words in view.
func TestResizeKeepsTheFrameExact(t *testing.T) {
	n := threePeers()
	n.upsert(testPeer(strings.Repeat("long", 8), "long"))
	h := newPickedHarness(t, n, Options{})
	h.events(
		incoming(alice, "这是一条很长的中文消息，用来测试宽字符的换行是否正确，不会破坏对齐。", testStart),
		incoming(alice, "emoji 🙂🙂🙂 and a family 👨‍👩‍👧 and flags 🇫🇷🇩🇪", testStart),
		incoming(alice, strings.Repeat("https://example.com/very/long/path/", 8), testStart),
		app.Notice{Text: strings.Repeat("notice ", 40)},
	)
	h.enter("/id")
	sizes := []struct{ w, h int }{{80, 24}, {120, 35}, {40, 10}, {41, 11}, {200, 60}, {30, 8}, {39, 30}, {100, 9}, {80, 24}}
	for _, sz := range sizes {
		t.Run(fmt.Sprintf("%dx%d", sz.w, sz.h), func(t *testing.T) {
			h.update(tea.WindowSizeMsg{Width: sz.w, Height: sz.h})
			for _, help := range []bool{false, true} {
				h.m.showHelp = help
				frame := h.m.View()
				lines := strings.Split(frame, "\n")
				if len(lines) != sz.h {
					t.Errorf("help=%v: %d lines, want %d", help, len(lines), sz.h)
				}
				small := sz.w < minWidth || sz.h < minHeight
				for i, l := range lines {
					if w := ansi.StringWidth(l); w != sz.w && !small {
						t.Errorf("help=%v: line %d is %d wide, want %d: %q", help, i, w, sz.w, l)
					} else if w > sz.w {
						t.Errorf("help=%v: line %d is %d wide, more than %d: %q", help, i, w, sz.w, l)
					}
				}
				if small && !strings.Contains(frame, "Terminal too small") {
					t.Errorf("no notice at %dx%d:\n%s", sz.w, sz.h, frame)
				}
			}
			h.m.showHelp = false
		})
	}
}

func TestEscapeSequencesFromPeersAreSanitised(t *testing.T) {
	n := threePeers()
	evil := testPeer("mal\x1b[31mlory\x1b]0;owned\a", "mall")
	n.upsert(evil)
	h := newPickedHarness(t, n, Options{})
	h.events(
		app.PeerJoined{Peer: evil},
		incoming(evil, "clear\x1b[2J\x1b[Hscreen\x1b]52;c;Y2xpcGJvYXJk\x07 bell\a nul\x00 c1\u009b31m", testStart),
		app.Notice{Peer: evil.Key, Text: "notice \x1b[5mblink"},
	)
	h.key("ctrl+n", "ctrl+n", "ctrl+n")
	frame := h.m.View()
	if strings.ContainsAny(frame, "\x1b\a\x00\u009b") {
		t.Errorf("frame holds control characters: %q", frame)
	}
	// Message text loses its escape sequences; a nickname shows them, so
	// that it does not pass for "mallory".
	h.wantScreen("▸● mal<U+001B>[31mlory<U+001", ": clearscreen bell^G nul^@ c1", "notice <U+001B>[5mblink",
		"→ mal<U+001B>[31mlory<U+001B>]0;owned<U+0007> joined")
	h.dontWantScreen("mallory")
}

func TestWaitForEvents(t *testing.T) {
	n := threePeers().withEvents(t, 8)
	m := New(n, Options{NoBlink: true})
	cmd := m.waitForEvents()
	n.events <- app.PeerJoined{Peer: alice}
	n.events <- app.PeerLeft{Peer: alice}
	msg, ok := cmd().(eventsMsg)
	if !ok || len(msg.events) != 2 || msg.stopped {
		t.Fatalf("got %#v, want both waiting events in one batch", msg)
	}
	// A message arriving is a change of the store.
	n.receive(incoming(alice, "a", testStart).msg)
	if msg, ok := m.waitForEvents()().(eventsMsg); !ok || !msg.changed {
		t.Fatalf("got %#v, want the store's change", msg)
	}

	ch := make(chan app.Event, 1)
	ch <- app.PeerJoined{Peer: alice}
	close(ch)
	never := make(chan struct{})
	if got := receiveEvents(t.Context(), ch, never).(eventsMsg); len(got.events) != 1 || !got.stopped {
		t.Errorf("closing after an event: %#v", got)
	}
	if got := receiveEvents(t.Context(), ch, never).(eventsMsg); len(got.events) != 0 || !got.stopped {
		t.Errorf("closed channel: %#v", got)
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if got := receiveEvents(ctx, make(chan app.Event), never); got != nil {
		t.Errorf("after cancel: %#v, want nil", got)
	}
}
