package tui

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/muesli/termenv"

	"github.com/parlance-chat/parlance/app"
)

// The cost of one keystroke or one incoming message, including drawing the
// frame, must not grow with the length of the history or the number of
// peers. Run: go test ./tui -run XXX -bench . -benchmem

var benchTexts = []string{
	"ok",
	"are you coming to the meeting at three?",
	"this one is long enough to wrap over two or three lines in a pane of a usual width, with some more words after it",
	"这是一条很长的中文消息，用来测试宽字符的换行。🙂",
}

// newBenchHarness is a harness drawing in true colour, as a modern
// terminal would (styles cost more than plain text).
func newBenchHarness(b *testing.B, n *fakeNode) *harness {
	h := newPickedHarness(b, n, Options{})
	h.m.st.r.SetColorProfile(termenv.TrueColor)
	return h
}

// benchHarness is a 120×35 screen with alice selected and n messages in
// her conversation, all drawn once.
func benchHarness(b *testing.B, n int) *harness {
	h := newBenchHarness(b, threePeers())
	h.update(tea.WindowSizeMsg{Width: 120, Height: 35})
	evs := make([]any, n)
	for i := range evs {
		evs[i] = incoming(alice, fmt.Sprintf("%d %s", i, benchTexts[i%len(benchTexts)]), testStart.Add(time.Duration(i)*time.Second))
	}
	h.events(evs...)
	_ = h.m.View()
	return h
}

var sink string

// step is one Update and the frame after it, as Bubble Tea does it.
func step(h *harness, msg tea.Msg) {
	mm, _ := h.m.Update(msg)
	h.m = mm.(Model)
	sink = h.m.View()
}

var historySizes = []int{1_000, 10_000, 100_000}

func BenchmarkKeystroke(b *testing.B) {
	for _, n := range historySizes {
		b.Run(fmt.Sprintf("history=%d", n), func(b *testing.B) {
			h := benchHarness(b, n)
			keys := []tea.Msg{keyMsg("a"), keyMsg("backspace")}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				step(h, keys[i%2])
			}
		})
	}
}

func BenchmarkIncomingMessage(b *testing.B) {
	for _, n := range historySizes {
		for _, inView := range []bool{true, false} {
			name := fmt.Sprintf("history=%d/in_view", n)
			to := alice
			if !inView {
				name = fmt.Sprintf("history=%d/other_peer", n)
				to = bob
			}
			b.Run(name, func(b *testing.B) {
				h := benchHarness(b, n)
				in := incoming(to, benchTexts[2], testStart)
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					h.node.receive(in.msg)
					step(h, eventsMsg{changed: true})
				}
			})
		}
	}
}

func BenchmarkScrollPage(b *testing.B) {
	h := benchHarness(b, 100_000)
	keys := []tea.Msg{keyMsg("pgup"), keyMsg("pgup"), keyMsg("pgdown"), keyMsg("pgdown")}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		step(h, keys[i%len(keys)])
	}
}

func BenchmarkResize(b *testing.B) {
	h := benchHarness(b, 100_000)
	sizes := []tea.Msg{tea.WindowSizeMsg{Width: 120, Height: 35}, tea.WindowSizeMsg{Width: 100, Height: 30}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		step(h, sizes[i%2])
	}
}

// benchPeers is a screen with 100 peers in the list and 100 messages with
// each.
func benchPeers(b *testing.B) (*harness, *fakeNode) {
	n := newFakeNode()
	for i := range 100 {
		n.upsert(testPeer(fmt.Sprintf("peer%03d", i), fmt.Sprintf("P%03d", i)))
	}
	h := newBenchHarness(b, n)
	h.update(tea.WindowSizeMsg{Width: 120, Height: 35})
	var evs []any
	for _, p := range n.Peers() {
		for j := range 100 {
			evs = append(evs, incoming(p, benchTexts[j%len(benchTexts)], testStart))
		}
	}
	h.events(evs...)
	_ = h.m.View()
	return h, n
}

func BenchmarkPeers100(b *testing.B) {
	b.Run("keystroke", func(b *testing.B) {
		h, _ := benchPeers(b)
		keys := []tea.Msg{keyMsg("a"), keyMsg("backspace")}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; b.Loop(); i++ {
			step(h, keys[i%2])
		}
	})
	b.Run("arrow", func(b *testing.B) {
		h, _ := benchPeers(b)
		// Walk down and up the whole list.
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; b.Loop(); i++ {
			k := "ctrl+n"
			if (i/99)%2 == 1 {
				k = "ctrl+p"
			}
			step(h, keyMsg(k))
		}
	})
	b.Run("incoming_message", func(b *testing.B) {
		h, n := benchPeers(b)
		p := n.Peers()[50]
		in := incoming(p, "hello", testStart)
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			h.node.receive(in.msg)
			step(h, eventsMsg{changed: true})
		}
	})
	b.Run("peer_updated", func(b *testing.B) {
		// Rebuilds the list from node.Peers().
		h, n := benchPeers(b)
		p := n.Peers()[50]
		msg := eventsMsg{events: []app.Event{app.PeerUpdated{Peer: p}}}
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			step(h, msg)
		}
	})
}

func TestBenchHelpersBuildTheScreen(t *testing.T) {
	// The benchmarks measure what they claim: a full frame with the
	// history in view.
	h := newPickedHarness(t, threePeers(), Options{})
	h.events(incoming(alice, benchTexts[2], testStart))
	step(h, keyMsg("a"))
	if !strings.Contains(sink, "wrap over two") || !strings.Contains(sink, "> a") {
		t.Errorf("frame:\n%s", sink)
	}
}

// BenchmarkGroupBatch: a catch-up batch of 2,000 group messages reaching
// a conversation that shows 20,000: "late" ones (each belongs among the
// shown ones, every 10th place of the newest 20,000) are merged into place
// in one pass; "in-order" ones (the baseline) go at the end. Run: go test
// ./tui -run XXX -bench GroupBatch -benchmem
func BenchmarkGroupBatch(b *testing.B) {
	const shown, batch = 20_000, 2_000
	key := app.PeerKey(app.GroupKeyPrefix + strings.Repeat("0", 32))
	at := func(i int) time.Time { return testStart.Add(time.Duration(i) * time.Millisecond) }
	base := func() *conversation {
		c := newConversation(key, "#team", newBudget())
		for i := range shown {
			c.add(entry{kind: kindIn, at: at(10 * i), text: benchTexts[i%len(benchTexts)], id: fmt.Sprintf("s%06d", i), seq: int64(i + 1)}, time.UTC)
		}
		return c
	}
	for _, tc := range []struct {
		name string
		late bool
	}{{"in-order", false}, {"late", true}} {
		b.Run(tc.name, func(b *testing.B) {
			es := make([]entry, batch)
			for i := range es {
				t := at(10*shown + i) // after all
				if tc.late {
					t = at(10*(shown-batch+i) + 5) // between two shown
				}
				es[i] = entry{kind: kindIn, at: t, text: "late", id: fmt.Sprintf("l%06d", i), seq: int64(shown + i + 1)}
			}
			for b.Loop() {
				b.StopTimer()
				c := base()
				b.StartTimer()
				if tc.late {
					c.merge(slices.Clone(es), time.UTC)
				} else {
					for _, e := range es {
						c.add(e, time.UTC)
					}
				}
			}
		})
	}
}
