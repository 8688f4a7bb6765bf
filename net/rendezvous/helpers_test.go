package rendezvous

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/parlance-chat/parlance/bootstrap"
	"github.com/parlance-chat/parlance/net/discovery"
	"github.com/parlance-chat/parlance/net/identity"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func testLogger(t testing.TB, name string) *slog.Logger {
	if os.Getenv("RENDEZVOUS_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})).With("node", name)
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// recorder is a discovery.Handler that keeps what it was told.
type recorder struct {
	mu        sync.Mutex
	online    map[string]discovery.Peer // by discovery.Peer.Key
	sightings []discovery.Sighting
	states    []discovery.State
	seenAt    map[string]time.Time // nickname -> first Seen
	goneAt    map[string]time.Time // nickname -> last Gone
	changed   chan struct{}
}

func newRecorder() *recorder {
	return &recorder{
		online:  make(map[string]discovery.Peer),
		seenAt:  make(map[string]time.Time),
		goneAt:  make(map[string]time.Time),
		changed: make(chan struct{}, 1),
	}
}

func (r *recorder) Sighting(s discovery.Sighting) {
	r.mu.Lock()
	r.sightings = append(r.sightings, s)
	if s.Kind == discovery.Seen {
		r.online[s.Peer.Key()] = s.Peer
		if _, ok := r.seenAt[s.Peer.Nickname]; !ok {
			r.seenAt[s.Peer.Nickname] = time.Now()
		}
	} else {
		delete(r.online, s.Peer.Key())
		r.goneAt[s.Peer.Nickname] = time.Now()
	}
	r.mu.Unlock()
	r.notify()
}

func (r *recorder) State(s discovery.State) {
	r.mu.Lock()
	r.states = append(r.states, s)
	r.mu.Unlock()
	r.notify()
}

func (r *recorder) notify() {
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

// nicknames returns the sorted nicknames of the peers online.
func (r *recorder) nicknames() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var names []string
	for _, p := range r.online {
		names = append(names, p.Nickname)
	}
	sort.Strings(names)
	return names
}

func (r *recorder) peer(nick string) (discovery.Peer, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.online {
		if p.Nickname == nick {
			return p, true
		}
	}
	return discovery.Peer{}, false
}

func (r *recorder) lastState() discovery.State {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.states) == 0 {
		return discovery.State{Phase: -1}
	}
	return r.states[len(r.states)-1]
}

func (r *recorder) phases() []discovery.Phase {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ps []discovery.Phase
	for _, s := range r.states {
		ps = append(ps, s.Phase)
	}
	return ps
}

// wait waits until cond holds, re-checking on every report and every
// few milliseconds.
func (r *recorder) wait(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(5 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-r.changed:
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s (online: %v, phases: %v)", what, r.nicknames(), r.phases())
		}
	}
}

// waitOnline waits until exactly the given nicknames are online.
func (r *recorder) waitOnline(t testing.TB, names ...string) {
	t.Helper()
	sort.Strings(names)
	r.wait(t, fmt.Sprintf("peers %v", names), func() bool { return slices.Equal(r.nicknames(), names) })
}

func (r *recorder) waitPhase(t testing.TB, p discovery.Phase) {
	t.Helper()
	r.wait(t, "phase "+p.String(), func() bool { return r.lastState().Phase == p })
}

// seenSince reports whether every nickname was reported Seen, and
// confirmed by a server, after sighting number mark (a connection that
// drops reports its peers again as unconfirmed).
func (r *recorder) seenSince(mark int, names ...string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range names {
		found := false
		for _, s := range r.sightings[mark:] {
			if s.Kind == discovery.Seen && !s.Unconfirmed && s.Peer.Nickname == n {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func (r *recorder) sightingMark() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.sightings)
}

// mark returns the number of states reported so far.
func (r *recorder) mark() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.states)
}

// waitStateSince waits for a state of phase p reported after mark and
// returns it.
func (r *recorder) waitStateSince(t testing.TB, mark int, p discovery.Phase) discovery.State {
	t.Helper()
	var found discovery.State
	r.wait(t, "phase "+p.String(), func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, s := range r.states[mark:] {
			if s.Phase == p {
				found = s
				return true
			}
		}
		return false
	})
	return found
}

// node is a running Client with its recorder.
type node struct {
	*Client
	rec    *recorder
	cancel context.CancelFunc
	done   chan error
	dialer *cutDialer
}

// stop cancels Run and waits for it.
func (n *node) stop(t testing.TB) {
	t.Helper()
	n.cancel()
	select {
	case err := <-n.done:
		n.done <- nil // for the next stop
		if err != nil {
			t.Errorf("Run returned %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
}

// fastConfig returns a client config with short intervals for tests. Its
// ReadTimeout is long: the default of four heartbeats (200 ms here) passes
// on a loaded machine, and the client then reconnects, which the others
// see as a leave and a join (or, with one identity, a replacement). No
// test waits for a read timeout; the servers they stop say goodbye.
func fastConfig(url, nick string, port uint16, id *identity.Identity) Config {
	return Config{
		URL:               url,
		Self:              discovery.Self{Nickname: nick, TCPPort: port},
		Identity:          id,
		HeartbeatInterval: 50 * time.Millisecond,
		PollInterval:      20 * time.Millisecond,
		MinBackoff:        10 * time.Millisecond,
		MaxBackoff:        100 * time.Millisecond,
		ReadTimeout:       10 * time.Second,
		DialTimeout:       2 * time.Second,
	}
}

func startNode(t testing.TB, cfg Config) *node {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t, cfg.Self.Nickname)
	}
	d := &cutDialer{}
	if cfg.Dialer == nil {
		cfg.Dialer = &websocket.Dialer{NetDialContext: d.dial, HandshakeTimeout: 2 * time.Second}
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &node{Client: c, rec: newRecorder(), cancel: cancel, done: make(chan error, 1), dialer: d}
	go func() { n.done <- c.Run(ctx, n.rec) }()
	t.Cleanup(func() { n.stop(t) })
	return n
}

// cutDialer dials TCP and keeps the connections, so a test can cut them.
type cutDialer struct {
	mu    sync.Mutex
	conns []net.Conn
}

func (d *cutDialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err == nil {
		d.mu.Lock()
		d.conns = append(d.conns, c)
		d.mu.Unlock()
	}
	return c, err
}

// cut closes every connection dialed so far (no unregister, no close
// frame: like a crash or a lost network).
func (d *cutDialer) cut() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range d.conns {
		_ = c.Close()
	}
	d.conns = nil
}

// testServer runs a Parlance bootstrap server on a loopback port.
type testServer struct {
	*bootstrap.Server
	url    string
	addr   string
	cancel context.CancelFunc
	done   chan error
}

func startServer(t testing.TB, addr string, cfg bootstrap.Config) *testServer {
	t.Helper()
	var ln net.Listener
	var err error
	// The port of a server that just stopped may take a moment to free.
	for i := 0; ; i++ {
		if ln, err = net.Listen("tcp", addr); err == nil || i == 100 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t, "server")
	}
	if cfg.HeartbeatInterval == 0 {
		cfg.HeartbeatInterval = time.Millisecond // fastConfig beats 20 times a second
	}
	s := bootstrap.New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	ts := &testServer{Server: s, url: "ws://" + ln.Addr().String(), addr: ln.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	go func() { ts.done <- s.Serve(ctx, ln) }()
	t.Cleanup(ts.stop)
	return ts
}

func (s *testServer) stop() {
	s.cancel()
	<-s.done
	s.done <- nil // later calls return at once
}

func mustIdentity(t testing.TB) *identity.Identity {
	t.Helper()
	id, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
