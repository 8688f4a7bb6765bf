package tui

import (
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/parlance-chat/parlance/app"
	"github.com/parlance-chat/parlance/net/discovery"
)

// runes is what Bubble Tea v1 delivers for characters that arrive in one
// read without bracketed paste: one KeyRunes message, whose String() is
// the text itself ("up", "enter", ...).
func runes(s string) tea.KeyMsg { return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(s)} }

// rawPaste feeds text the way Bubble Tea v1 splits one read without
// bracketed paste: runs of characters as KeyRunes, each space as KeySpace.
func (h *harness) rawPaste(s string) {
	h.t.Helper()
	for i, w := range strings.Split(s, " ") {
		if i > 0 {
			h.update(tea.KeyMsg{Type: tea.KeySpace, Runes: []rune{' '}})
		}
		if w != "" {
			h.update(runes(w))
		}
	}
}

// TestTypedWordsAreText: words that read like key names, arriving as one
// rune message each, go to the input and never act as keys (defect 1).
func TestTypedWordsAreText(t *testing.T) {
	for _, word := range []string{"up", "down", "enter", "esc", "tab", "ctrl+c", "pgup", "f1", "ctrl+n", "alt+1", "?"} {
		t.Run(word, func(t *testing.T) {
			n := threePeers()
			h := newPickedHarness(t, n, Options{})
			h.update(runes(word))
			if h.quit || h.m.showHelp || h.m.list.sel != alice.Key || len(n.sentMessages()) != 0 {
				t.Fatalf("%q acted as a key: quit %v, help %v, selected %q, sent %v", word, h.quit, h.m.showHelp, h.m.list.sel, n.sentMessages())
			}
			if got := h.m.input.Value(); got != word {
				t.Fatalf("input = %q, want %q", got, word)
			}
		})
	}
}

// TestRawPastedSentences: the exact inputs that broke (defect 1).
func TestRawPastedSentences(t *testing.T) {
	tests := []struct{ text string }{
		{"press enter to continue"}, // sent "press"
		{"type ctrl+c to quit"},     // quit the program
		{"see you up there"},        // moved the selection to another peer
		{"esc tab down pgdown ctrl+x alt+a"},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			n := threePeers()
			h := newPickedHarness(t, n, Options{})
			h.rawPaste(tt.text)
			if h.quit {
				t.Fatal("the text quit the program")
			}
			if h.m.list.sel != alice.Key {
				t.Fatalf("the text moved the selection to %q", h.m.list.sel)
			}
			if got := h.m.input.Value(); got != tt.text {
				t.Fatalf("input = %q", got)
			}
			h.key("enter")
			if s := n.sentMessages(); len(s) != 1 || s[0] != (sentMessage{alice.Key, tt.text}) {
				t.Fatalf("sent %v, want %q to alice", s, tt.text)
			}
		})
	}
}

// TestBracketedPasteIsText: a bracketed paste is text too, and keeps its
// line breaks.
func TestBracketedPasteIsText(t *testing.T) {
	n := threePeers()
	h := newPickedHarness(t, n, Options{})
	h.update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("first line\nup\nctrl+c"), Paste: true})
	if h.quit || h.m.list.sel != alice.Key {
		t.Fatal("a paste acted as keys")
	}
	if h.m.inputH != 3 {
		t.Errorf("input height %d for three lines, want 3", h.m.inputH)
	}
	h.wantScreen("> first line", "  up", "  ctrl+c")
	h.key("enter")
	if s := n.sentMessages(); len(s) != 1 || s[0].Text != "first line\nup\nctrl+c" {
		t.Fatalf("sent %v", s)
	}
	if h.m.inputH != 1 {
		t.Errorf("input height %d after sending, want 1", h.m.inputH)
	}
	if got := h.conversationText(); !strings.Contains(got, "14:30 ada: first line\n           up\n           ctrl+c") {
		t.Errorf("conversation:\n%s", got)
	}
}

// TestQuestionMarkIsAReply: "?" on an empty input is text (defect 3).
func TestQuestionMarkIsAReply(t *testing.T) {
	n := threePeers()
	h := newPickedHarness(t, n, Options{})
	h.key("?")
	if h.m.showHelp {
		t.Fatal("? opened the help")
	}
	h.key("enter")
	if s := n.sentMessages(); len(s) != 1 || s[0] != (sentMessage{alice.Key, "?"}) {
		t.Fatalf("sent %v", s)
	}
}

// TestFailedCommandLeavesInputClean: the next command does not run into a
// failed one (defect 4: "/whois bob/send dave …").
func TestFailedCommandLeavesInputClean(t *testing.T) {
	n := threePeers()
	h := newPickedHarness(t, n, Options{})
	h.enter("/whois zoe")
	h.wantScreen(`✗ no peer called "zoe"`, "↑ brings the line back")
	if v := h.m.input.Value(); v != "" {
		t.Fatalf("input after a failed command = %q", v)
	}
	h.enter("/send bob hi")
	if s := n.sentMessages(); len(s) != 1 || s[0] != (sentMessage{bob.Key, "hi"}) {
		t.Fatalf("sent %v, want hi to bob", s)
	}
	h.key("up", "up")
	if v := h.m.input.Value(); v != "/whois zoe" {
		t.Errorf("↑↑ = %q, want the failed line back", v)
	}
}

// TestHistoryPerConversation: ↑/↓ recall the lines sent in the
// conversation in view, and come back to what was being typed.
func TestHistoryPerConversation(t *testing.T) {
	n := threePeers()
	h := newPickedHarness(t, n, Options{})
	h.enter("one")
	h.enter("two")
	h.key("ctrl+n") // bob
	h.key("up")
	if v := h.m.input.Value(); v != "" {
		t.Fatalf("bob's history holds alice's lines: %q", v)
	}
	h.enter("for bob")
	h.key("ctrl+p") // alice
	h.typeText("half")
	steps := []struct{ key, want string }{
		{"up", "two"}, {"up", "one"}, {"up", "one"}, {"down", "two"}, {"down", "half"}, {"down", "half"},
	}
	for _, s := range steps {
		h.key(s.key)
		if v := h.m.input.Value(); v != s.want {
			t.Fatalf("after %s: input %q, want %q", s.key, v, s.want)
		}
	}
}

// TestPeerKeysKeepTheDraft: ↑ never changes the recipient while typing
// (defect 2), and each conversation keeps its draft.
func TestPeerKeysKeepTheDraft(t *testing.T) {
	n := threePeers()
	h := newPickedHarness(t, n, Options{})
	h.key("alt+3") // carol
	h.typeText("draft for carol")
	h.key("up")
	if h.m.list.sel != carol.Key {
		t.Fatalf("↑ while typing selected %q", h.m.list.sel)
	}
	h.key("alt+up") // bob
	if v := h.m.input.Value(); v != "" {
		t.Fatalf("bob's input shows %q", v)
	}
	h.typeText("for bob")
	h.key("alt+down") // carol again
	if v := h.m.input.Value(); v != "draft for carol" {
		t.Fatalf("carol's draft is %q", v)
	}
	h.key("enter")
	h.key("ctrl+p")
	h.key("enter")
	want := []sentMessage{{carol.Key, "draft for carol"}, {bob.Key, "for bob"}}
	if s := n.sentMessages(); len(s) != 2 || s[0] != want[0] || s[1] != want[1] {
		t.Fatalf("sent %v, want %v", s, want)
	}
}

// TestMultiLineInput: Alt+Enter and Ctrl+J insert a newline; ↑/↓ move
// between the lines of the input before they reach the history.
func TestMultiLineInput(t *testing.T) {
	n := threePeers()
	h := newPickedHarness(t, n, Options{})
	h.enter("older")
	h.typeText("line one")
	h.key("alt+enter")
	h.typeText("line two")
	h.key("ctrl+j")
	h.typeText("three")
	h.key("up") // to line two
	if v := h.m.input.Value(); v != "line one\nline two\nthree" {
		t.Fatalf("↑ inside a multi-line input replaced it: %q", v)
	}
	h.key("down") // back on the last line
	h.key("enter")
	if s := n.sentMessages(); len(s) != 2 || s[1].Text != "line one\nline two\nthree" {
		t.Fatalf("sent %v", s)
	}
	if got := h.conversationText(); !strings.Contains(got, "14:30 ada: line one\n           line two\n           three") {
		t.Errorf("conversation:\n%s", got)
	}
}

// TestMultiLineMessageReceived: a message with newlines is shown as
// several lines, indented under the text.
func TestMultiLineMessageReceived(t *testing.T) {
	h := newPickedHarness(t, threePeers(), Options{})
	h.events(incoming(alice, "roses are red\nviolets are blue", testStart))
	if got := h.conversationText(); !strings.Contains(got, "14:30 alice: roses are red\n             violets are blue") {
		t.Errorf("conversation:\n%s", got)
	}
}

// TestInputLimitIsAnnounced: text past the limit is not cut silently
// (defect 5).
func TestInputLimitIsAnnounced(t *testing.T) {
	h := newPickedHarness(t, threePeers(), Options{})
	h.update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(strings.Repeat("x", inputLimit+10)), Paste: true})
	if got := len(h.m.input.Value()); got != inputLimit {
		t.Fatalf("input holds %d bytes, want %d", got, inputLimit)
	}
	h.wantScreen("10 bytes not added: a message holds at most")
	h.typeText("y")
	h.dontWantScreen("10 bytes not added")
	h.wantScreen("1 byte not added")
}

func TestCtrlC(t *testing.T) {
	t.Run("clears a draft first", func(t *testing.T) {
		h := newPickedHarness(t, threePeers(), Options{})
		h.typeText("half a thought")
		h.key("ctrl+c")
		if h.quit || h.m.input.Value() != "" {
			t.Fatalf("quit %v, input %q", h.quit, h.m.input.Value())
		}
		h.wantScreen("input cleared")
		h.key("up")
		if v := h.m.input.Value(); v != "half a thought" {
			t.Fatalf("↑ after ctrl+c = %q", v)
		}
		h.key("ctrl+c", "ctrl+c")
		if !h.quit {
			t.Fatal("ctrl+c on an empty input did not quit")
		}
	})
	t.Run("asks while sending", func(t *testing.T) {
		n := threePeers()
		n.block = make(chan struct{})
		h := newPickedHarness(t, n, Options{})
		h.typeText("slow")
		mm, _ := h.m.Update(keyMsg("enter")) // the send command is not run: still sending
		h.m = mm.(Model)
		h.key("ctrl+c")
		if h.quit {
			t.Fatal("quit with a message being sent, without asking")
		}
		h.wantScreen("1 message not delivered yet (they go when you are back): ctrl+c again quits")
		h.key("ctrl+c")
		if h.quit {
			t.Fatal("the second ctrl+c quit before the message was saved")
		}
		h.wantScreen("saving 1 message, then quitting (ctrl+c quits now)")
		h.key("ctrl+c")
		if !h.quit {
			t.Fatal("the third ctrl+c did not quit")
		}
	})
}

// TestQuitWaitsForSaves: a line shows at once and is saved by a command
// run after it; /quit (or Ctrl+C) in the same burst as its Enter waits
// for that save, then quits.
func TestQuitWaitsForSaves(t *testing.T) {
	for _, tc := range []struct {
		name string
		quit func(h *harness)
	}{
		{"/quit", func(h *harness) { h.enter("/quit") }},
		{"ctrl+c twice", func(h *harness) { h.key("ctrl+c", "ctrl+c") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := threePeers()
			h := newPickedHarness(t, n, Options{})
			h.typeText("last words")
			mm, send := h.m.Update(keyMsg("enter")) // the send command is held back
			h.m = mm.(Model)
			tc.quit(h)
			if h.quit {
				t.Fatal("quit before the message was saved")
			}
			h.run(send)
			if !h.quit {
				t.Fatal("did not quit once the message was saved")
			}
			if got := n.sentMessages(); len(got) != 1 {
				t.Fatalf("the node got %v; want the last words", got)
			}
		})
	}
}

// TestHotlistAndNextUnread: the status line lists the conversations with
// unread messages; Alt+A / Ctrl+X go to them in turn.
func TestHotlistAndNextUnread(t *testing.T) {
	h := newPickedHarness(t, threePeers(), Options{})
	h.events(incoming(bob, "one", testStart), incoming(bob, "two, ada?", testStart), incoming(carol, "three", testStart))
	h.wantScreen("unread: 2 bob (2@), 3 carol (1)")
	h.key("alt+a")
	if h.m.list.sel != bob.Key {
		t.Fatalf("alt+a selected %q, want bob", h.m.list.sel)
	}
	h.wantScreen("unread: 3 carol (1)")
	h.key("ctrl+x")
	if h.m.list.sel != carol.Key {
		t.Fatalf("ctrl+x selected %q, want carol", h.m.list.sel)
	}
	h.dontWantScreen("unread:")
	h.key("alt+a")
	h.wantScreen("no unread messages")
}

// TestUnreadOutOfViewInTheList: an unread peer scrolled out of the list
// still shows, at the list's edge.
func TestUnreadOutOfViewInTheList(t *testing.T) {
	n := newFakeNode()
	var last app.Peer
	for _, name := range []string{"p01", "p02", "p03", "p04", "p05", "p06", "p07", "p08", "p09", "p10", "p11", "p12"} {
		last = testPeer(name, name)
		n.upsert(last)
	}
	h := newPickedHarness(t, n, Options{})
	h.update(tea.WindowSizeMsg{Width: 80, Height: 12})
	h.events(incoming(last, "hello", testStart))
	h.wantScreen("↓1 unread")
}

// TestReadMarker: a line shows where the messages that came while the
// conversation was out of view start; it goes once it has been read.
func TestReadMarker(t *testing.T) {
	h := newPickedHarness(t, threePeers(), Options{})
	h.events(incoming(bob, "seen", testStart))
	h.key("ctrl+n") // bob
	h.key("ctrl+p") // alice: bob's conversation is read
	h.events(incoming(bob, "new one", testStart), incoming(bob, "new two", testStart))
	h.key("ctrl+n")
	got := h.conversationText()
	if !strings.Contains(got, "bob: seen\n") || !strings.Contains(got, " new ") || strings.Index(got, " new ") > strings.Index(got, "new one") || strings.Index(got, " new ") < strings.Index(got, "seen") {
		t.Fatalf("no read marker between the read and the unread messages:\n%s", got)
	}
	h.key("ctrl+p", "ctrl+n")
	if got := h.conversationText(); strings.Contains(got, "── new ──") {
		t.Fatalf("the marker stayed after reading:\n%s", got)
	}
}

func TestScrollTopAndBottom(t *testing.T) {
	h := newPickedHarness(t, threePeers(), Options{})
	for i := range 100 {
		h.events(incoming(alice, strings.Repeat("m", 3)+string(rune('a'+i%26))+" "+strings.Repeat("0", i/26)+"#"+itoa(i), testStart))
	}
	h.key("home")
	h.wantScreen("mmma #0 ", "more (pgdn)")
	h.key("end")
	h.wantScreen("#99")
	h.typeText("abc")
	h.key("home") // in the input: the cursor moves, the view stays
	h.wantScreen("#99")
	h.key("ctrl+home")
	h.wantScreen("mmma #0 ")
	h.key("ctrl+end")
	h.wantScreen("#99")
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

func TestMeIgnoreClose(t *testing.T) {
	n := threePeers()
	h := newPickedHarness(t, n, Options{})
	h.enter("/me waves")
	if s := n.sentMessages(); len(s) != 1 || s[0].Text != "/me waves" {
		t.Fatalf("sent %v", s)
	}
	h.wantScreen("14:30 * ada waves")
	h.events(incoming(alice, "/me waves back", testStart))
	h.wantScreen("14:30 * alice waves back")

	h.enter("/ignore bob")
	h.wantScreen("· bob is ignored")
	h.events(incoming(bob, "spam", testStart), incoming(bob, "more spam", testStart))
	if c, ok := h.m.convs[bob.Key]; ok && (c.unread != 0 || c.messages != 0) {
		t.Fatalf("an ignored peer's messages were kept: %d unread", c.unread)
	}
	h.enter("/ignore")
	h.wantScreen("bob (2 messages dropped)")
	h.enter("/unignore bob")
	h.wantScreen("· bob is no longer ignored (2 messages dropped meanwhile)")
	h.events(incoming(bob, "hello again", testStart))
	if h.m.convs[bob.Key].unread != 1 {
		t.Fatal("bob's message after /unignore was not counted")
	}

	h.enter("/close carol")
	h.dontWantScreen("● carol")
	h.wantScreen("closed the conversation with carol")
	h.events(incoming(carol, "I'm back", testStart))
	h.wantScreen("● carol !")
	h.enter("/close")
	if h.m.list.sel == alice.Key {
		t.Fatal("/close left alice's conversation in view")
	}
	h.dontWantScreen("● alice ")
	h.enter("/msg alice")
	if h.m.list.sel != alice.Key {
		t.Fatalf("/msg alice after /close selected %q", h.m.list.sel)
	}
}

// TestCompletionPrefersRecentPeers: "/msg " + Tab lists every peer, those
// talked to most recently first.
func TestCompletionPrefersRecentPeers(t *testing.T) {
	h := newPickedHarness(t, threePeers(), Options{})
	h.events(incoming(carol, "hi", testStart))
	h.typeText("/msg ")
	h.key("tab")
	if v := h.m.input.Value(); v != "/msg carol " {
		t.Fatalf("first completion %q, want carol (the most recent)", v)
	}
	h.wantScreen("tab: carol  alice  bob")
}

func TestNotifications(t *testing.T) {
	h := newPickedHarness(t, threePeers(), Options{Bell: true, Desktop: []string{NotifyOSC777, NotifyOSC9}})
	h.events(incoming(bob, "hi; there\x07", testStart))
	want := "\x1b]777;notify;Parlance;bob: hi, there^G\x07\x1b]9;Parlance: bob: hi, there^G\x07\a"
	if got := h.out.String(); !strings.Contains(got, want) {
		t.Fatalf("output %q lacks %q", got, want)
	}
	before := h.out.String()
	h.events(incoming(alice, "in view", testStart))
	if h.out.String() != before {
		t.Fatal("notified of a message in view while focused")
	}
	h.update(tea.BlurMsg{})
	h.events(incoming(alice, "in view, unfocused", testStart))
	if !strings.Contains(h.out.String(), "alice: in view, unfocused") {
		t.Fatal("no notification while the terminal is not focused")
	}
}

func TestMouseToggle(t *testing.T) {
	h := newPickedHarness(t, threePeers(), Options{NoMouse: true})
	if h.m.mouse {
		t.Fatal("NoMouse started with the mouse on")
	}
	h.key("f2")
	if !h.m.mouse {
		t.Fatal("f2 did not turn the mouse on")
	}
	h.wantScreen("mouse on")
	h.key("f2")
	h.wantScreen("mouse off: select and copy text")
}

func TestStatusLineRoomAndServer(t *testing.T) {
	n := newFakeNode()
	n.self.Mode = "internet"
	h := newHarness(t, n, Options{Room: "friends"})
	h.wantScreen("ada · internet room friends", "not connected to the")
	h.dontWantScreen("no peers on the server yet")
	h.events(app.SourceState{State: discovery.State{Phase: discovery.Online}})
	h.wantScreen("no peers on the server yet")
}

// TestTrustLabelsAreTheSameEverywhere: a pinned key that was never
// compared is "encrypted, not verified" wherever it is named, never a bare
// "encrypted".
func TestTrustLabelsAreTheSameEverywhere(t *testing.T) {
	for _, tr := range []app.Trust{app.TrustNew, app.TrustKnown} {
		if got := trustText(tr); got != "encrypted, not verified" {
			t.Errorf("trustText(%v) = %q", tr, got)
		}
	}
	known := bob
	known.Trust = app.TrustKnown
	n := newFakeNode()
	n.upsert(known)
	h := newPickedHarness(t, n, Options{})
	h.wantScreen("bob · online · lan · encrypted, not verified")
	h.enter("/whois bob")
	h.wantScreen("trust: encrypted, not verified")
}

// TestHotlistNamesTheFirstFive: the hotlist names the first five rows
// with unread messages, in the list's order, and counts the rest.
func TestHotlistNamesTheFirstFive(t *testing.T) {
	n := newFakeNode()
	var peers []app.Peer
	for _, name := range []string{"p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8"} {
		p := testPeer(name, name)
		peers = append(peers, p)
		n.upsert(p)
	}
	h := newPickedHarness(t, n, Options{}) // p1 in view
	var evs []any
	for _, i := range []int{7, 2, 5, 1, 6, 3, 4} { // all but p1, out of order
		evs = append(evs, incoming(peers[i], "hi", testStart))
	}
	h.events(evs...)
	h.wantScreen("unread: 2 p2 (1), 3 p3 (1), 4 p4 (1), 5 p5 (1), 6 p6 (1) +2 more")
}
