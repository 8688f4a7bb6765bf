package rendezvous

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parlance-chat/parlance/bootstrap"
	"github.com/parlance-chat/parlance/bootstrap/bootstraptest"
	"github.com/parlance-chat/parlance/net/discovery"
	"github.com/parlance-chat/parlance/net/wire"
)

// Two processes with one key: the newer registration wins, the older
// client stops (saying why) instead of reconnecting, and the room sees
// one change, not a leave and a join every few seconds.
func TestSameIdentityDoesNotFlap(t *testing.T) {
	srv := startServer(t, "127.0.0.1:0", bootstrap.Config{})
	id := mustIdentity(t)
	watcher := startNode(t, fastConfig(srv.url, "watcher", 4000, nil))
	a := startNode(t, fastConfig(srv.url, "alice", 4001, id))
	watcher.rec.waitOnline(t, "alice")
	a.rec.waitOnline(t, "watcher")

	b := startNode(t, fastConfig(srv.url, "alice-too", 4002, id))
	st := a.rec.waitStateSince(t, 0, discovery.Stopped)
	if !errors.Is(st.Err, ErrReplaced) || !strings.Contains(st.Err.Error(), "online elsewhere") {
		t.Errorf("stopped with %v, want ErrReplaced", st.Err)
	}
	b.rec.waitPhase(t, discovery.Online)
	watcher.rec.waitOnline(t, "alice-too")
	a.rec.waitOnline(t) // a stopped: it no longer shows peers it cannot follow
	a.rec.mu.Lock()
	if last := a.rec.sightings[len(a.rec.sightings)-1]; last.Reason != StoppedReason {
		t.Errorf("a's last sighting %+v, want reason %q", last, StoppedReason)
	}
	a.rec.mu.Unlock()

	// Flapping would show within a back-off or two (10 to 100 ms here):
	// watch for ten of the longest.
	mark := watcher.rec.sightingMark()
	aStates, bStates := a.rec.mark(), b.rec.mark()
	time.Sleep(10 * fastConfig("", "", 0, nil).MaxBackoff)
	if n := watcher.rec.sightingMark() - mark; n != 0 {
		watcher.rec.mu.Lock()
		t.Errorf("the watcher saw %d more changes: %+v", n, watcher.rec.sightings[mark:])
		watcher.rec.mu.Unlock()
	}
	if n := a.rec.mark() - aStates; n != 0 {
		t.Errorf("the stopped client reported %d more states: %v", n, a.rec.phases())
	}
	if n := b.rec.mark() - bStates; n != 0 {
		b.rec.mu.Lock()
		t.Errorf("the newer client reported %d more states: %+v", n, b.rec.states[bStates:])
		b.rec.mu.Unlock()
	}
	a.dialer.mu.Lock()
	if n := len(a.dialer.conns); n != 1 {
		t.Errorf("the stopped client dialled %d times", n)
	}
	a.dialer.mu.Unlock()
	if n := srv.Stats().Peers; n != 2 {
		t.Errorf("%d peers registered, want 2", n)
	}
	a.stop(t) // Run returns when asked, though it has stopped
}

// A write that fails after the server replaced the registration ends
// the session with ErrReplaced when the reader holds the server's error
// already: taken for a lost connection, it would make the client
// register again and replace the newer holder of its identity.
func TestWriteFailedPrefersReplaced(t *testing.T) {
	writeErr := errors.New("write: broken pipe")
	replaced := inbound{msg: wire.Error{Message: "Replaced: this identity registered again from another connection"}}
	tests := []struct {
		name    string
		pending []inbound
		want    error
	}{
		{"nothing pending", nil, writeErr},
		{"replaced after a push", []inbound{{msg: wire.PeerLeft{PeerID: "x"}}, replaced}, ErrReplaced},
		{"a read error first", []inbound{{err: errors.New("read: reset")}, replaced}, writeErr},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &session{c: &Client{}, log: slog.New(slog.DiscardHandler), peers: newPeerSet(&recorder{}, 10, slog.New(slog.DiscardHandler))}
			incoming := make(chan inbound, len(tc.pending))
			for _, in := range tc.pending {
				incoming <- in
			}
			if err := s.writeFailed(incoming, writeErr); !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
}

// A room asked of an original server (which has none) is not silently
// dropped: the online state carries a note the UI shows.
func TestRoomOnOriginalServerNoted(t *testing.T) {
	srv := startOrigServer(t)
	cfg := fastConfig(srv.url, "alice", 4001, nil)
	cfg.Room = "friends"
	a := startNode(t, cfg)
	st := a.rec.waitStateSince(t, 0, discovery.Online)
	if !strings.Contains(st.Note, `this server ignores rooms`) || !strings.Contains(st.Note, `"friends"`) {
		t.Errorf("online state %+v: want a note that rooms are ignored", st)
	}
	// No room asked: no note; a Parlance server: no note.
	b := startNode(t, fastConfig(srv.url, "bob", 4002, nil))
	if st := b.rec.waitStateSince(t, 0, discovery.Online); st.Note != "" {
		t.Errorf("note %q without a room", st.Note)
	}
	ps := startServer(t, "127.0.0.1:0", bootstrap.Config{})
	cfg = fastConfig(ps.url, "carol", 4003, mustIdentity(t))
	cfg.Room = "friends"
	c := startNode(t, cfg)
	if st := c.rec.waitStateSince(t, 0, discovery.Online); st.Note != "" {
		t.Errorf("note %q from a Parlance server", st.Note)
	}
}

// A hostile server that pushes endless new peers cannot grow the
// client's peer set beyond MaxPeers; the client warns once.
func TestHostileServerPeerCap(t *testing.T) {
	const max, sent = 20, 200
	url := startHostileServer(t, sent)
	var logs bootstraptest.SyncBuffer
	cfg := fastConfig(url, "alice", 4001, nil)
	cfg.MaxPeers = max
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	a := startNode(t, cfg)
	// The server sends an error after the pushes: once the client
	// retries, every push has been handled.
	a.rec.waitStateSince(t, 0, discovery.Retrying)
	if n := len(a.rec.nicknames()); n != max {
		t.Errorf("%d peers kept, want %d", n, max)
	}
	if n := strings.Count(logs.String(), "more peers than the limit"); n != 1 {
		t.Errorf("%d warnings, want 1:\n%s", n, logs.String())
	}
}

// startHostileServer serves a Parlance-looking server that answers a
// register with push, an empty list and n peer_joined of new peers, then
// an error (so the client's reaction marks the end). Its handlers end
// when the client closes the connection.
func startHostileServer(t *testing.T, n int) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var up websocket.Upgrader
	srv := &http.Server{ReadHeaderTimeout: time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		if _, _, err := ws.ReadMessage(); err != nil {
			return
		}
		send := func(m wire.ServerMessage) {
			b, _ := wire.MarshalServer(m)
			_ = ws.WriteMessage(websocket.TextMessage, b)
		}
		send(wire.Registered{PeerID: "me", PublicAddr: netip.MustParseAddrPort("127.0.0.1:4001"), Features: []string{wire.FeaturePush}})
		send(wire.PeerList{})
		for i := range n {
			send(wire.PeerJoined{Peer: wire.PeerInfo{PeerID: fmt.Sprintf("p%d", i), Nickname: fmt.Sprintf("n%d", i),
				PublicAddr: netip.MustParseAddrPort(fmt.Sprintf("127.0.0.1:%d", 5000+i)), LocalAddr: netip.MustParseAddrPort("0.0.0.0:1")}})
		}
		send(wire.Error{Message: "end of the test"})
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				return
			}
		}
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "ws://" + ln.Addr().String()
}

func TestPeerSetCap(t *testing.T) {
	rec := newRecorder()
	var logs bootstraptest.SyncBuffer
	ps := newPeerSet(rec, 3, slog.New(slog.NewTextHandler(&logs, nil)))
	now := time.Unix(1000, 0)
	ps.now = func() time.Time { return now }
	pi := func(i int) wire.PeerInfo {
		return wire.PeerInfo{PeerID: fmt.Sprint(i), Nickname: fmt.Sprintf("n%d", i),
			PublicAddr: netip.MustParseAddrPort(fmt.Sprintf("127.0.0.1:%d", 1000+i)), LocalAddr: netip.MustParseAddrPort("0.0.0.0:1")}
	}
	for i := range 10 {
		ps.upsert(pi(i))
	}
	if len(ps.byID) != 3 || len(rec.sightings) != 3 {
		t.Fatalf("%d peers, %d sightings; want 3", len(ps.byID), len(rec.sightings))
	}
	// A known peer may still change; one leaving makes room.
	changed := pi(0)
	changed.Nickname = "renamed"
	ps.upsert(changed)
	ps.remove("1")
	ps.upsert(pi(11))
	if _, ok := ps.byID["11"]; !ok || len(ps.byID) != 3 {
		t.Errorf("after a leave the new peer was not taken: %v", ps.byID)
	}
	if n := strings.Count(logs.String(), "more peers than the limit"); n != 1 {
		t.Errorf("%d warnings in a minute, want 1", n)
	}
	now = now.Add(time.Minute)
	ps.upsert(pi(12))
	if !strings.Contains(logs.String(), "ignored=1") {
		t.Errorf("second warning does not count the ignored peers:\n%s", logs.String())
	}
}

// Our client registers (and proves its identity) over wss:// against a
// server that terminates TLS itself.
func TestRegisterOverWSS(t *testing.T) {
	cert, pool := bootstraptest.SelfSigned(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tln := tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}, MinVersion: tls.VersionTLS12})
	srv := bootstrap.New(bootstrap.Config{Logger: testLogger(t, "server")})
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, tln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})

	url := "wss://" + ln.Addr().String()
	node := func(nick string, port uint16) *node {
		cfg := fastConfig(url, nick, port, mustIdentity(t))
		// The test's CA; the real client uses the system's roots.
		cfg.Dialer = &websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: pool}, HandshakeTimeout: 2 * time.Second}
		return startNode(t, cfg)
	}
	a := node("alice", 4001)
	b := node("bob", 4002)
	a.rec.waitOnline(t, "bob")
	b.rec.waitOnline(t, "alice")
	if p, _ := a.rec.peer("bob"); p.Identity == "" {
		t.Errorf("bob has no proved identity: %+v", p)
	}

	// Without the CA the client refuses the server.
	cfg := fastConfig(url, "carol", 4003, nil)
	c := startNode(t, cfg)
	st := c.rec.waitStateSince(t, 0, discovery.Retrying)
	if st.Err == nil || !strings.Contains(st.Err.Error(), "certificate") {
		t.Errorf("untrusted server: %v", st.Err)
	}
}
