package tui

import (
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/parlance-chat/parlance/app"
)

// throttledTick replaces tea.Tick in a harness: it remembers that a
// rebuild was scheduled and never fires by itself.
type throttledTick struct{ scheduled int }

func (tt *throttledTick) tick(time.Duration, func(time.Time) tea.Msg) tea.Cmd {
	tt.scheduled++
	return nil
}

// listedFlood: n new peers that the node keeps, in batches of
// maxEventBatch, the clock moving by gap per batch; then a message from
// alice. It returns how many times the list was rebuilt.
func listedFlood(h *harness, node *fakeNode, n int, gap time.Duration) (rebuilds int) {
	var batch []any
	last := h.m.lastRefresh
	for i := range n {
		p := fakePeer(i)
		node.mu.Lock()
		node.peers = append(node.peers, p) // sorted: "fake…" after "carol"
		node.mu.Unlock()
		batch = append(batch, app.PeerJoined{Peer: p})
		if len(batch) >= maxEventBatch || i == n-1 {
			h.clock.Add(gap)
			h.events(batch...)
			batch = nil
			if h.m.lastRefresh != last {
				rebuilds++
				last = h.m.lastRefresh
			}
		}
	}
	return rebuilds
}

// TestLargeListRebuiltAtMostEveryGap: issue 11, item 5. Past smallList
// rows, a flood of new peers rebuilds the list at most once per
// listRefreshGap; changes to listed peers are patched at once; the
// scheduled rebuild brings the list up to date.
func TestLargeListRebuiltAtMostEveryGap(t *testing.T) {
	node := threePeers()
	h := newHarness(t, node, Options{})
	tt := &throttledTick{}
	h.m.tick = tt.tick
	listedFlood(h, node, smallList, time.Millisecond) // up to the threshold: rebuilt per batch
	rebuilds := listedFlood(h, node, 50*maxEventBatch, time.Millisecond)
	// 50 batches over 50 ms: at most one rebuild (the first, if the gap
	// had passed) within listRefreshGap.
	if rebuilds > 1 {
		t.Errorf("%d rebuilds in 50 ms of flood, want at most 1", rebuilds)
	}
	if tt.scheduled != 1 {
		t.Errorf("%d rebuilds scheduled, want one pending", tt.scheduled)
	}
	// A listed peer going offline shows at once (patched).
	p := fakePeer(3)
	p.Online = false
	h.events(app.PeerLeft{Peer: p, Reason: "goodbye"})
	if it, _ := h.m.list.item(p.Key); it.peer.Online {
		t.Error("a listed peer that left is still shown online")
	}
	// The scheduled rebuild lists everyone.
	h.update(refreshListMsg{})
	if got, want := len(h.m.list.items), 3+smallList+50*maxEventBatch; got != want {
		t.Errorf("after the scheduled rebuild: %d rows, want %d", got, want)
	}
}

// BenchmarkListedFlood: 100,000 new peers the node keeps arrive in
// batches of maxEventBatch, 8 ms apart (32,000 a second), then a message;
// the figure is the time per event. "rebuild-per-batch" is how the TUI
// worked before (the baseline, same run); "throttled" rebuilds a large
// list at most every listRefreshGap.
//
// Run: go test ./tui -run XXX -bench ListedFlood
func BenchmarkListedFlood(b *testing.B) {
	const n = 100_000
	for _, throttled := range []bool{false, true} {
		name := "rebuild-per-batch"
		if throttled {
			name = "throttled"
		}
		b.Run(name, func(b *testing.B) {
			var rebuilds int
			for b.Loop() {
				node := threePeers()
				h := newBenchHarness(b, node)
				if throttled {
					h.m.tick = (&throttledTick{}).tick
				}
				rebuilds = listedFlood(h, node, n, 8*time.Millisecond)
				h.events(incoming(alice, "the real message", testStart))
				if throttled {
					h.update(refreshListMsg{})
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/event")
			b.ReportMetric(float64(rebuilds), "rebuilds")
		})
	}
}
