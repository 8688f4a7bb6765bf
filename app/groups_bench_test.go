package app_test

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parlance-chat/parlance/app"
	"github.com/parlance-chat/parlance/app/group"
	"github.com/parlance-chat/parlance/app/store"
	"github.com/parlance-chat/parlance/net/discovery"
	"github.com/parlance-chat/parlance/net/identity"
	"github.com/parlance-chat/parlance/net/transport"
)

// staticSource reports a fixed set of peers once, online until it ends:
// benchmarks of many nodes skip multicast.
type staticSource struct{ peers []discovery.Peer }

func (s staticSource) Run(ctx context.Context, h discovery.Handler) error {
	for _, p := range s.peers {
		h.Sighting(discovery.Sighting{Kind: discovery.Seen, Peer: p, Source: "lan"})
	}
	<-ctx.Done()
	return nil
}
func (staticSource) SetNickname(string) {}

// benchNode is a node of a benchmark mesh.
type benchNode struct {
	*app.Node
	id     *identity.Identity
	cancel context.CancelFunc
	done   chan error
}

// startMesh starts n nodes on loopback that all know each other. keep
// holds the stores of node i to reuse (nil: new).
func startMesh(b testing.TB, n int) []*benchNode {
	b.Helper()
	ids := make([]*identity.Identity, n)
	trs := make([]*transport.Transport, n)
	peers := make([]discovery.Peer, n)
	for i := range n {
		var err error
		if ids[i], err = identity.Generate(); err != nil {
			b.Fatal(err)
		}
		// Every node dials from 127.0.0.1: lift the per-IP limit that
		// would refuse the 17th member.
		if trs[i], err = transport.Listen(transport.Config{Identity: ids[i], ListenAddr: "127.0.0.1:0", MaxInboundPerIP: 256}); err != nil {
			b.Fatal(err)
		}
		peers[i] = discovery.Peer{Nickname: fmt.Sprintf("n%02d", i), Identity: ids[i].ID().String(), Instance: app.NewInstanceID(),
			Addr: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), trs[i].Port())}
	}
	nodes := make([]*benchNode, n)
	for i := range n {
		others := slices.Concat(peers[:i], peers[i+1:])
		nd, err := app.NewNode(app.Config{Nickname: peers[i].Nickname, Identity: ids[i], Instance: peers[i].Instance,
			Transport: trs[i], Sources: []discovery.Source{staticSource{others}}})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		bn := &benchNode{Node: nd, id: ids[i], cancel: cancel, done: make(chan error, 1)}
		go func() { bn.done <- nd.Run(ctx) }()
		nodes[i] = bn
	}
	b.Cleanup(func() {
		for _, nd := range nodes {
			nd.cancel()
		}
		for _, nd := range nodes {
			<-nd.done
		}
	})
	return nodes
}

// waitNode waits, reading events and changes, until ok holds.
func waitNode(b testing.TB, n *benchNode, what string, ok func() bool) {
	b.Helper()
	deadline := time.After(60 * time.Second)
	for !ok() {
		select {
		case <-n.Events():
		case <-n.Changed():
		case <-deadline:
			b.Fatalf("no %s within 60 s", what)
		}
	}
}

// arrivals records when each member first stored each message text.
type arrivals struct {
	mu   sync.Mutex
	at   map[string][]time.Time
	want map[string]int // receivers per message
	all  map[string]chan struct{}
}

func (a *arrivals) watch(ctx context.Context, n *benchNode, wg *sync.WaitGroup) {
	defer wg.Done()
	v, _ := n.LastVersion()
	for {
		ch, _ := n.Changes(v, 1000)
		now := time.Now()
		for _, m := range ch {
			v = m.Version
			if !m.Outgoing && m.Seq > 0 && m.Version == m.Seq {
				a.arrived(m.Text, now)
			}
		}
		if len(ch) > 0 {
			continue
		}
		select {
		case <-n.Changed():
		case <-n.Events():
		case <-ctx.Done():
			return
		}
	}
}

func (a *arrivals) expect(text string, want int) chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := make(chan struct{})
	a.all[text] = c
	a.want[text] = want
	return c
}

func (a *arrivals) arrived(text string, at time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.at[text] = append(a.at[text], at)
	if len(a.at[text]) == a.want[text] {
		if c, ok := a.all[text]; ok {
			close(c)
		}
	}
}

func percentile(d []time.Duration, p float64) time.Duration {
	slices.Sort(d)
	return d[min(int(float64(len(d))*p), len(d)-1)]
}

// BenchmarkGroupLoopback50 posts to a 50-member group of real nodes on
// loopback and measures when each of the 49 others has stored it (p50,
// p99 over every member and message), beside the same run's one-to-one
// message to one peer (baseline). go test ./app -run '^$' -bench GroupLoopback -benchtime 200x
func BenchmarkGroupLoopback50(b *testing.B) {
	size := benchSize
	nodes := startMesh(b, size)
	alice := nodes[0]
	var keys []app.PeerKey
	for _, nd := range nodes[1:] {
		keys = append(keys, app.PeerKey("id:"+nd.id.ID().String()))
	}
	waitNode(b, alice, "every peer", func() bool { return len(alice.Peers()) == size-1 })
	g, err := alice.CreateGroup("bench", keys)
	if err != nil {
		b.Fatal(err)
	}
	for _, nd := range nodes[1:] {
		waitNode(b, nd, "the invitation", func() bool { return len(nd.Invitations()) == 1 })
		if _, err := nd.JoinGroup("bench"); err != nil {
			b.Fatal(err)
		}
	}
	for _, nd := range nodes {
		waitNode(b, nd, "all members", func() bool {
			gi, ok := nd.Group(g.Key)
			if !ok || !gi.Joined || len(gi.Members) != size {
				b.Logf("%s: joined %v, %d members", nd.Self().Nickname, gi.Joined, len(gi.Members))
				return false
			}
			return true
		})
	}

	a := &arrivals{at: map[string][]time.Time{}, all: map[string]chan struct{}{}, want: map[string]int{}}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, nd := range nodes[1:] {
		wg.Add(1)
		go a.watch(ctx, nd, &wg)
	}
	defer func() { cancel(); wg.Wait() }()

	// Baseline: a one-to-one message to one peer, same nodes, same run.
	var base []time.Duration
	for i := range 100 {
		text := fmt.Sprintf("one-to-one %d", i)
		done := a.expect(text, 1)
		start := time.Now()
		if _, err := alice.Send(ctx, keys[0], text); err != nil {
			b.Fatal(err)
		}
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			b.Fatal("the one-to-one message did not arrive")
		}
		a.mu.Lock()
		base = append(base, a.at[text][0].Sub(start))
		a.mu.Unlock()
	}

	var lat []time.Duration
	var call time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		text := fmt.Sprintf("group %d", i)
		done := a.expect(text, size-1)
		start := time.Now()
		if _, err := alice.SendToGroup(g.Key, text); err != nil {
			b.Fatal(err)
		}
		call += time.Since(start)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			b.Fatalf("message %d reached %d of %d members", i, len(a.at[text]), size-1)
		}
		a.mu.Lock()
		for _, at := range a.at[text] {
			lat = append(lat, at.Sub(start))
		}
		a.mu.Unlock()
	}
	b.StopTimer()
	b.ReportMetric(float64(percentile(lat, 0.50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(percentile(lat, 0.99).Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(call.Microseconds())/1000/float64(b.N), "send-call-ms")
	b.ReportMetric(float64(percentile(base, 0.50).Microseconds())/1000, "baseline-1to1-p50-ms")
	b.ReportMetric(float64(percentile(base, 0.99).Microseconds())/1000, "baseline-1to1-p99-ms")
}

// BenchmarkGroupCatchUp10k: carol is offline while alice posts 10,000
// messages to their group; the time from carol's restart until she has
// stored all of them, beside the same run's time for bob, online, to get
// them (baseline). go test ./app -run '^$' -bench GroupCatchUp -benchtime 1x
func BenchmarkGroupCatchUp10k(b *testing.B) {
	const n = 10_000
	for i := 0; i < b.N; i++ {
		port := uint16(nextPort.Add(1))
		alice := startNode(b, "alice", port)
		bob := startNode(b, "bob", port)
		opts := nodeOpts{store: store.NewMemory(0), groups: group.NewMemoryStore()}
		var err error
		if opts.id, err = identity.Generate(); err != nil {
			b.Fatal(err)
		}
		carol := startNodeWith(b, "carol", port, opts)
		key := team(b, alice, bob, carol)
		carol.stop()
		waitFor(b, alice, "carol's goodbye", func(e app.PeerLeft) bool { return e.Peer.Nickname == "carol" })

		start := time.Now()
		for j := range n {
			if _, err := alice.SendToGroup(key, fmt.Sprintf("m%05d %s", j, strings.Repeat("x", 40))); err != nil {
				b.Fatal(err)
			}
		}
		waitUntilN(b, bob, key, n+0)
		online := time.Since(start)

		start = time.Now()
		carol = startNodeWith(b, "carol", port, opts)
		waitUntilN(b, carol, key, n)
		b.ReportMetric(float64(time.Since(start).Milliseconds()), "catchup-ms")
		b.ReportMetric(float64(online.Milliseconds()), "baseline-online-ms")
		alice.stop()
		bob.stop()
		carol.stop()
	}
}

func waitUntilN(b testing.TB, n *realNode, key app.PeerKey, want int) {
	b.Helper()
	deadline := time.After(120 * time.Second)
	count := func() int {
		c := 0
		ms, _ := n.History(app.ConvOf(key), 0, want+10)
		for _, m := range ms {
			if strings.HasPrefix(m.Text, "m") {
				c++
			}
		}
		return c
	}
	for count() < want {
		select {
		case <-n.Events():
		case <-n.Changed():
		case <-deadline:
			b.Fatalf("%d of %d messages within 120 s", count(), want)
		}
	}
}

// benchSize is the group size of BenchmarkGroupLoopback50.
var benchSize = 50
