package discoverybench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/parlance-chat/parlance/app"
	"github.com/parlance-chat/parlance/net/discovery"
	"github.com/parlance-chat/parlance/net/identity"
	"github.com/parlance-chat/parlance/net/lan"
	"github.com/parlance-chat/parlance/net/transport"
)

// Interface is the only interface the benchmark multicasts on.
const Interface = "lo"

// behaviour is how the nodes of a round discover.
type behaviour struct {
	original bool // lan.Config.LikeOriginal
	// Timers; zero takes lan's and app's defaults.
	announce, timeout, sweep time.Duration
}

var ours = behaviour{}

// OriginalTiming is the original's announce interval, peer timeout and
// expiry sweep.
type OriginalTiming struct {
	Announce, Timeout, Sweep time.Duration
}

// DefaultOriginalTiming is the original's: announce every 5 s, drop a
// peer silent for 15 s, look for such peers every 5 s.
var DefaultOriginalTiming = OriginalTiming{Announce: 5 * time.Second, Timeout: 15 * time.Second, Sweep: 5 * time.Second}

func originalBehaviour(t OriginalTiming) behaviour {
	return behaviour{original: true, announce: t.Announce, timeout: t.Timeout, sweep: t.Sweep}
}

// node is a whole Parlance node (app.Node with LAN discovery and a
// transport) whose events are recorded by a tracker.
type node struct {
	instance string
	started  time.Time // just before its sockets were opened
	cancel   context.CancelFunc
	done     chan struct{} // closed when Run returned and every event was read
	err      error         // Run's result, once done is closed
}

// startNode opens and runs a node on the given multicast port.
func startNode(port uint16, name string, b behaviour, tr *tracker) (*node, error) {
	id, err := identity.Generate()
	if err != nil {
		return nil, err
	}
	started := time.Now()
	t, err := transport.Listen(transport.Config{Identity: id, ListenAddr: "127.0.0.1:0"})
	if err != nil {
		return nil, err
	}
	inst := app.NewInstanceID()
	d, err := lan.New(lan.Config{
		Port:             port,
		Interface:        Interface,
		LikeOriginal:     b.original,
		AnnounceInterval: b.announce,
		PeerTimeout:      b.timeout,
		Self:             discovery.Self{Nickname: name, Identity: id.ID().String(), Instance: inst, TCPPort: t.Port()},
		Identity:         id,
	})
	if err != nil {
		t.Close()
		return nil, err
	}
	n, err := app.NewNode(app.Config{
		Nickname:      name,
		Identity:      id,
		Instance:      inst,
		Mode:          "local",
		Transport:     t,
		Sources:       []discovery.Source{d},
		SweepInterval: b.sweep,
	})
	if err != nil {
		d.Close()
		t.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	bn := &node{instance: inst, started: started, cancel: cancel, done: make(chan struct{})}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ev := range n.Events() { // closed when Run returns
			tr.record(inst, ev)
		}
	}()
	go func() {
		bn.err = n.Run(ctx)
		wg.Wait()
		close(bn.done)
	}()
	return bn, nil
}

// stop ends the node (saying goodbye unless it behaves like the original)
// and waits for it.
func (n *node) stop() error {
	n.cancel()
	select {
	case <-n.done:
		return n.err
	case <-time.After(10 * time.Second):
		return errors.New("node did not stop within 10 s")
	}
}

func stopAll(nodes []*node) error {
	var errs []error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Go(func() {
			if err := n.stop(); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// pair is an observer and the peer it learned about, by instance.
type pair struct{ observer, peer string }

// tracker records when each node learned that another joined or left.
type tracker struct {
	mu      sync.Mutex
	joined  map[pair]time.Time
	left    map[pair]time.Time
	changed chan struct{}
}

func newTracker() *tracker {
	return &tracker{joined: map[pair]time.Time{}, left: map[pair]time.Time{}, changed: make(chan struct{}, 1)}
}

func (t *tracker) record(observer string, ev app.Event) {
	now := time.Now()
	var m map[pair]time.Time
	var p app.Peer
	switch ev := ev.(type) {
	case app.PeerJoined:
		m, p = t.joined, ev.Peer
	case app.PeerLeft:
		m, p = t.left, ev.Peer
	default:
		return
	}
	k := pair{observer, p.Instance}
	t.mu.Lock()
	if _, ok := m[k]; !ok {
		m[k] = now
	}
	t.mu.Unlock()
	select {
	case t.changed <- struct{}{}:
	default:
	}
}

// waitAll waits until every pair in want is in the joined (or left)
// record, and returns the latest of their times.
func (t *tracker) waitAll(ctx context.Context, want []pair, left bool, timeout time.Duration) (time.Time, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		t.mu.Lock()
		m := t.joined
		if left {
			m = t.left
		}
		var last time.Time
		missing := 0
		for _, k := range want {
			at, ok := m[k]
			if !ok {
				missing++
				continue
			}
			if at.After(last) {
				last = at
			}
		}
		t.mu.Unlock()
		if missing == 0 {
			return last, nil
		}
		select {
		case <-t.changed:
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-deadline.C:
			what := "joined"
			if left {
				what = "left"
			}
			return time.Time{}, fmt.Errorf("%d of %d pairs not %s after %v", missing, len(want), what, timeout)
		}
	}
}

// times returns the recorded times of the pairs (joined or left).
func (t *tracker) times(want []pair, left bool) []time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	m := t.joined
	if left {
		m = t.left
	}
	out := make([]time.Time, 0, len(want))
	for _, k := range want {
		if at, ok := m[k]; ok {
			out = append(out, at)
		}
	}
	return out
}

// allPairs lists every ordered pair of distinct nodes.
func allPairs(nodes []*node) []pair {
	out := make([]pair, 0, len(nodes)*(len(nodes)-1))
	for _, a := range nodes {
		for _, b := range nodes {
			if a != b {
				out = append(out, pair{a.instance, b.instance})
			}
		}
	}
	return out
}

// pairsWith lists the pairs between x and each of group, both ways.
func pairsWith(x *node, group []*node) []pair {
	out := make([]pair, 0, 2*len(group))
	for _, g := range group {
		out = append(out, pair{x.instance, g.instance}, pair{g.instance, x.instance})
	}
	return out
}

// observersOf lists the pairs (g, x) for each g in group.
func observersOf(x *node, group []*node) []pair {
	out := make([]pair, 0, len(group))
	for _, g := range group {
		out = append(out, pair{g.instance, x.instance})
	}
	return out
}
