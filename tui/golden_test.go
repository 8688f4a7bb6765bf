package tui

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/exp/teatest"
	"github.com/muesli/termenv"

	"github.com/parlance-chat/parlance/app"
	"github.com/parlance-chat/parlance/net/discovery"
)

// TestGolden runs the whole program (teatest) at two terminal sizes and
// compares the final screen with testdata/TestGolden/*.golden. Colours are
// off and the clock and time zone fixed, so the files are plain text to
// read by eye. `go test ./tui -run TestGolden -update` rewrites them.
func TestGolden(t *testing.T) {
	lipgloss.SetColorProfile(termenv.Ascii)
	tests := []struct {
		w, h int
		help bool
	}{
		{80, 24, false},
		{120, 35, false},
		{80, 24, true},
	}
	for _, tt := range tests {
		name := fmt.Sprintf("%dx%d", tt.w, tt.h)
		if tt.help {
			name += "-help"
		}
		t.Run(name, func(t *testing.T) {
			n, msgs, evs := goldenScene()
			n.withEvents(t, len(evs))
			clock := &fixedClock{t: time.Date(2024, 3, 5, 13, 10, 0, 0, time.UTC)}
			m := New(n, Options{NoBlink: true, Now: clock.Now, Location: time.FixedZone("CET", 3600)})
			m.ctx = t.Context()
			tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(tt.w, tt.h))
			tm.Send(tea.KeyMsg{Type: tea.KeyCtrlN}) // pick alice
			waitFor(t, tm, "ALICALI · online")
			for _, m := range msgs {
				n.receive(m)
			}
			waitFor(t, tm, "the second one")
			for _, ev := range evs {
				n.events <- ev
			}
			waitFor(t, tm, "indented")
			tm.Type("/send bob see you at 3")
			tm.Send(tea.KeyMsg{Type: tea.KeyEnter})
			waitFor(t, tm, "see you at 3")
			tm.Type("see you there")
			tm.Send(tea.KeyMsg{Type: tea.KeyEnter})
			n.receive(app.Message{Peer: string(alice.Key), From: "alice", Text: "great 👍", At: clock.Now()})
			waitFor(t, tm, "great")
			if tt.help {
				tm.Send(tea.KeyMsg{Type: tea.KeyF1})
				waitFor(t, tm, "Commands")
			} else {
				tm.Type("typing a reply")
				waitFor(t, tm, "reply")
			}
			if err := tm.Quit(); err != nil {
				t.Fatal(err)
			}
			final := tm.FinalModel(t, teatest.WithFinalTimeout(5*time.Second))
			teatest.RequireEqualOutput(t, []byte(final.View()))
		})
	}
}

func waitFor(t *testing.T, tm *teatest.TestModel, s string) {
	t.Helper()
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte(s)) },
		teatest.WithDuration(5*time.Second), teatest.WithCheckInterval(5*time.Millisecond))
}

// goldenScene is a node with peers of every kind, the messages of a short
// conversation and the events after them.
func goldenScene() (*fakeNode, []app.Message, []app.Event) {
	n := newFakeNode()
	n.deliver = true
	n.self.Mode = "internet"
	n.self.ListenAddr = "203.0.113.7:7878"
	alice2 := testPeer("alice", "zed")
	alice2.Trust = app.TrustChanged
	alice2.Source = "internet"
	v := bob
	v.Trust = app.TrustVerified
	dave := testPeer("dave", "dave")
	dave.Online = false
	for _, p := range []app.Peer{alice, alice2, v, carol, dave} {
		n.upsert(p)
	}
	at := func(hm string) time.Time {
		t, _ := time.Parse("15:04", hm)
		return time.Date(2024, 3, 5, t.Hour()-1, t.Minute(), 0, 0, time.UTC) // shown in CET
	}
	msg := func(p app.Peer, hm, text string) app.Message {
		return app.Message{Peer: string(p.Key), From: p.Nickname, Text: text, At: at(hm)}
	}
	msgs := []app.Message{
		msg(alice, "14:02", "hi ada! are you coming to the meeting?"),
		msg(alice, "14:03", "it is in room 4b, 这是会议室 🙂"),
		msg(alice, "14:04", "two lines:\nthe second one"),
		msg(carol, "14:06", "\x1b[31mhey\x1b[0m"),
		msg(v, "14:05", "lunch?"),
	}
	evs := []app.Event{
		app.SourceState{State: discovery.State{Phase: discovery.Connecting}},
		app.SourceState{State: discovery.State{Phase: discovery.Online}},
		app.PeerLeft{Peer: dave, Reason: "goodbye"},
		app.Notice{Peer: alice.Key, Text: "a long notice that is wrapped to the width of the pane, with the next lines indented under the text"},
	}
	return n, msgs, evs
}

// TestTypedWordsThroughTheProgram sends the whole program (teatest) the
// messages Bubble Tea v1 makes of "press enter to continue ctrl+c see you
// up there" arriving in one read: one KeyRunes message per word. None of
// them acts as a key; the real Enter at the end sends the line whole.
func TestTypedWordsThroughTheProgram(t *testing.T) {
	lipgloss.SetColorProfile(termenv.Ascii)
	n := threePeers().withEvents(t, 4)
	m := New(n, Options{NoBlink: true, Location: time.UTC})
	m.ctx = t.Context()
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(100, 24))
	tm.Send(tea.KeyMsg{Type: tea.KeyCtrlN}) // pick alice
	waitFor(t, tm, "alice · online")
	text := "press enter to continue ctrl+c see you up there"
	for i, w := range strings.Split(text, " ") {
		if i > 0 {
			tm.Send(tea.KeyMsg{Type: tea.KeySpace, Runes: []rune{' '}})
		}
		tm.Send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(w)})
	}
	tm.Send(tea.KeyMsg{Type: tea.KeyEnter})
	waitFor(t, tm, "ada: "+text)
	// The line shows at once, but the node gets it from a command run
	// after: quitting before that command runs would drop it.
	deadline := time.Now().Add(5 * time.Second)
	for len(n.sentMessages()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the node never got the line")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := tm.Quit(); err != nil {
		t.Fatal(err)
	}
	final := tm.FinalModel(t, teatest.WithFinalTimeout(5*time.Second)).(Model)
	if final.list.sel != alice.Key {
		t.Errorf("the words moved the selection to %q", final.list.sel)
	}
	if s := n.sentMessages(); len(s) != 1 || s[0] != (sentMessage{alice.Key, text}) {
		t.Errorf("sent %v, want the whole line to alice", s)
	}
}
