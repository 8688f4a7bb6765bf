package rendezvous

import (
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parlance-chat/parlance/bootstrap"
	"github.com/parlance-chat/parlance/net/discovery"
	"github.com/parlance-chat/parlance/net/identity"
	"github.com/parlance-chat/parlance/net/wire"
)

// Three clients on a Parlance server: they see each other within
// milliseconds of a join (pushed), and see a peer leave at once when it
// quits or its connection drops.
func TestThreeClients(t *testing.T) {
	srv := startServer(t, "127.0.0.1:0", bootstrap.Config{})
	ids := []*identity.Identity{mustIdentity(t), mustIdentity(t), mustIdentity(t)}
	a := startNode(t, fastConfig(srv.url, "alice", 4001, ids[0]))
	b := startNode(t, fastConfig(srv.url, "bob", 4002, ids[1]))
	a.rec.waitOnline(t, "bob")
	b.rec.waitOnline(t, "alice")

	joinStart := time.Now()
	c := startNode(t, fastConfig(srv.url, "carol", 4003, ids[2]))
	c.rec.waitPhase(t, discovery.Online)
	online := time.Now()
	a.rec.waitOnline(t, "bob", "carol")
	b.rec.waitOnline(t, "alice", "carol")
	c.rec.waitOnline(t, "alice", "bob")
	a.rec.mu.Lock()
	seen := a.rec.seenAt["carol"]
	a.rec.mu.Unlock()
	t.Logf("carol: start to online %v; start to alice's Seen %v (pushed, no polling)",
		online.Sub(joinStart), seen.Sub(joinStart))

	// What a sighting carries.
	p, _ := a.rec.peer("carol")
	want := discovery.Peer{Nickname: "carol", Identity: ids[2].ID().String(), Addr: netip.MustParseAddrPort("127.0.0.1:4003")}
	if p != want {
		t.Errorf("alice sees carol as %+v, want %+v", p, want)
	}
	a.rec.mu.Lock()
	for _, s := range a.rec.sightings {
		if s.Source != "internet" || s.TTL != 0 {
			t.Errorf("sighting %+v: want Source internet, TTL 0", s)
		}
	}
	a.rec.mu.Unlock()

	// Carol quits: unregister, close frame; the others see her go.
	left := time.Now()
	c.stop(t)
	a.rec.waitOnline(t, "bob")
	b.rec.waitOnline(t, "alice")
	t.Logf("carol quit: gone at alice after %v", time.Since(left))
	a.rec.mu.Lock()
	last := a.rec.sightings[len(a.rec.sightings)-1]
	a.rec.mu.Unlock()
	if last.Kind != discovery.Gone || last.Reason != "left the server" || last.Peer.Nickname != "carol" {
		t.Errorf("last sighting %+v, want carol gone (left the server)", last)
	}

	// Bob's connection drops without a goodbye: gone at once, then back
	// after his reconnection.
	mark := b.rec.mark()
	b.dialer.cut()
	a.rec.waitOnline(t)
	b.rec.waitStateSince(t, mark, discovery.Retrying)
	a.rec.waitOnline(t, "bob")
	b.rec.waitStateSince(t, mark, discovery.Online)
	if st := srv.Stats(); st.Peers != 2 {
		t.Errorf("server has %d peers, want 2", st.Peers)
	}

	// A rename reaches the others at once, same identity.
	b.SetNickname("robert")
	a.rec.waitOnline(t, "robert")
	if p, _ := a.rec.peer("robert"); p.Identity != ids[1].ID().String() {
		t.Errorf("renamed peer %+v", p)
	}
}

// A peer silent for the server's timeout is dropped and the others see it
// go; a client whose registration expired registers again by itself.
func TestSilentPeerExpires(t *testing.T) {
	srv := startServer(t, "127.0.0.1:0", bootstrap.Config{PeerTimeout: 300 * time.Millisecond, SweepInterval: 20 * time.Millisecond})
	a := startNode(t, fastConfig(srv.url, "alice", 4001, nil))
	silentCfg := fastConfig(srv.url, "silent", 4002, nil)
	silentCfg.HeartbeatInterval = time.Hour
	silent := startNode(t, silentCfg)
	a.rec.waitOnline(t, "silent")
	silent.rec.waitOnline(t, "alice")
	start := time.Now()
	a.rec.waitOnline(t)
	t.Logf("silent peer gone after %v (timeout 300 ms)", time.Since(start))

	// A slow heartbeat (after the timeout) gets "Peer not registered" and
	// the client registers again.
	slowCfg := fastConfig(srv.url, "slow", 4003, nil)
	slowCfg.HeartbeatInterval = 400 * time.Millisecond
	slow := startNode(t, slowCfg)
	a.rec.waitOnline(t, "slow")
	a.rec.wait(t, "slow to expire", func() bool {
		a.rec.mu.Lock()
		defer a.rec.mu.Unlock()
		_, gone := a.rec.goneAt["slow"]
		return gone
	})
	a.rec.waitOnline(t, "slow")
	slow.stop(t)
}

// Our client against a server that speaks only the original protocol:
// it registers, polls, heartbeats and sees peers come and go.
func TestOriginalServer(t *testing.T) {
	srv := startOrigServer(t)
	origID := srv.addPeer("orig", 5000)
	a := startNode(t, fastConfig(srv.url, "alice", 4001, mustIdentity(t)))
	b := startNode(t, fastConfig(srv.url, "bob", 4002, nil))
	a.rec.waitOnline(t, "bob", "orig")
	b.rec.waitOnline(t, "alice", "orig")
	a.rec.waitPhase(t, discovery.Online)

	p, _ := a.rec.peer("orig")
	if want := (discovery.Peer{Nickname: "orig", Addr: netip.MustParseAddrPort("127.0.0.1:5000")}); p != want {
		t.Errorf("orig seen as %+v, want %+v (0.0.0.0 local_addr gives no AltAddr)", p, want)
	}
	// An original server knows no identities.
	if p, _ := a.rec.peer("bob"); p.Identity != "" {
		t.Errorf("bob has identity %q", p.Identity)
	}

	// It polls and heartbeats.
	a.rec.wait(t, "polls and heartbeats", func() bool {
		return srv.count("list_peers") >= 6 && srv.count("heartbeat") >= 2
	})
	srv.mu.Lock()
	for _, raw := range srv.raw {
		for _, ext := range []string{`"auth"`, `"type":"peer_`} {
			if strings.Contains(raw, ext) {
				t.Errorf("client sent %s to an original server", raw)
			}
		}
	}
	srv.mu.Unlock()

	// A peer gone from the list is reported gone.
	srv.removePeer(origID)
	a.rec.waitOnline(t, "bob")

	// Rename on an original server: unregister + register, so the old
	// entry does not linger.
	b.SetNickname("robert")
	a.rec.waitOnline(t, "robert")
	if n := srv.count("unregister"); n != 1 {
		t.Errorf("%d unregisters, want 1", n)
	}
	b.stop(t)
	a.rec.waitOnline(t)
}

// After a server restart the clients come back with back-off and see
// each other again.
func TestServerRestart(t *testing.T) {
	srv := startServer(t, "127.0.0.1:0", bootstrap.Config{})
	addr := srv.addr
	var nodes []*node
	for i, nick := range []string{"alice", "bob", "carol"} {
		nodes = append(nodes, startNode(t, fastConfig(srv.url, nick, uint16(4001+i), mustIdentity(t))))
	}
	nodes[0].rec.waitOnline(t, "bob", "carol")

	var marks, sightMarks []int
	for _, n := range nodes {
		marks = append(marks, n.rec.mark())
		sightMarks = append(sightMarks, n.rec.sightingMark())
	}
	srv.stop()
	for i, n := range nodes {
		st := n.rec.waitStateSince(t, marks[i], discovery.Retrying)
		if st.RetryIn <= 0 || st.RetryIn > 100*time.Millisecond || st.Err == nil {
			t.Errorf("retry state %+v: want 0 < RetryIn <= 100ms and an error", st)
		}
		t.Logf("%s: %v, retry in %v", n.cfg.Self.Nickname, st.Err, st.RetryIn)
	}
	restart := time.Now()
	srv2 := startServer(t, addr, bootstrap.Config{})
	names := []string{"alice", "bob", "carol"}
	for i, n := range nodes {
		others := slices.Delete(slices.Clone(names), i, i+1)
		// Seen again from the new server, and nobody left gone.
		n.rec.wait(t, "peers seen again", func() bool { return n.rec.seenSince(sightMarks[i], others...) })
		n.rec.waitOnline(t, others...)
	}
	t.Logf("all visible again %v after the restart", time.Since(restart))
	for i, n := range nodes {
		n.rec.waitStateSince(t, marks[i], discovery.Online)
		ps := n.rec.phases()
		if !slices.Contains(ps, discovery.Retrying) || ps[0] != discovery.Connecting {
			t.Errorf("phases %v", ps)
		}
	}
	if st := srv2.Stats(); st.Peers != 3 {
		t.Errorf("new server has %d peers", st.Peers)
	}
}

// Back-off starts at MinBackoff, doubles to MaxBackoff, and is jittered
// within the upper half.
func TestBackoff(t *testing.T) {
	c, err := New(Config{URL: "ws://127.0.0.1:1", Self: discovery.Self{Nickname: "a", TCPPort: 1}})
	if err != nil {
		t.Fatal(err)
	}
	for n, want := range []time.Duration{1, 2, 4, 8, 16, 30, 30, 30} {
		want *= time.Second
		for range 50 {
			if d := c.backoff(n); d < want/2 || d > want {
				t.Fatalf("backoff(%d) = %v, want in [%v, %v]", n, d, want/2, want)
			}
		}
	}
	if d := c.backoff(1000); d > 30*time.Second {
		t.Errorf("backoff(1000) = %v", d)
	}
}

func TestAltAddr(t *testing.T) {
	ap := netip.MustParseAddrPort
	tests := []struct {
		public, local string
		want          netip.AddrPort
	}{
		{"203.0.113.7:4000", "0.0.0.0:4000", netip.AddrPort{}},
		{"203.0.113.7:4000", "[::]:4000", netip.AddrPort{}},
		{"203.0.113.7:4000", "192.168.1.5:4000", ap("192.168.1.5:4000")},
		{"203.0.113.7:4000", "203.0.113.7:4000", netip.AddrPort{}},
		{"203.0.113.7:4000", "127.0.0.1:4000", netip.AddrPort{}},
		{"127.0.0.1:4000", "127.0.0.2:4000", ap("127.0.0.2:4000")},
		{"203.0.113.7:4000", "[::ffff:10.0.0.2]:4000", ap("10.0.0.2:4000")},
	}
	for _, tc := range tests {
		if got := altAddr(ap(tc.public), ap(tc.local)); got != tc.want {
			t.Errorf("altAddr(%s, %s) = %v, want %v", tc.public, tc.local, got, tc.want)
		}
	}
}

func TestLocalAddr(t *testing.T) {
	tests := []struct {
		conn net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.ParseIP("192.168.1.5"), Port: 55555}, "192.168.1.5:4000"},
		{&net.TCPAddr{IP: net.ParseIP("::1"), Port: 55555}, "[::1]:4000"},
		{&net.TCPAddr{IP: net.ParseIP("fe80::1"), Port: 55555, Zone: "eth0"}, "0.0.0.0:4000"},
		{&net.TCPAddr{IP: net.IPv4zero, Port: 55555}, "0.0.0.0:4000"},
		{nil, "0.0.0.0:4000"},
	}
	for _, tc := range tests {
		if got := localAddr(tc.conn, 4000).String(); got != tc.want {
			t.Errorf("localAddr(%v) = %s, want %s", tc.conn, got, tc.want)
		}
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	id := mustIdentity(t)
	other := mustIdentity(t)
	good := Config{URL: "ws://127.0.0.1:8080", Self: discovery.Self{Nickname: "a", TCPPort: 1}}
	tests := []struct {
		name string
		mod  func(*Config)
	}{
		{"http URL", func(c *Config) { c.URL = "http://127.0.0.1:8080" }},
		{"no host", func(c *Config) { c.URL = "ws://" }},
		{"bad nickname", func(c *Config) { c.Self.Nickname = " a" }},
		{"no port", func(c *Config) { c.Self.TCPPort = 0 }},
		{"bad room", func(c *Config) { c.Room = strings.Repeat("r", 65) }},
		{"identity mismatch", func(c *Config) { c.Identity = id; c.Self.Identity = other.ID().String() }},
		{"identity without key", func(c *Config) { c.Self.Identity = id.ID().String() }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good
			tc.mod(&cfg)
			if _, err := New(cfg); err == nil {
				t.Error("accepted")
			}
		})
	}
	if _, err := New(good); err != nil {
		t.Errorf("good config: %v", err)
	}
}

// Peers keyed by identity survive a change of peer_id without a Gone; a
// changed nickname of an original peer is a new peer to the app.
func TestPeerSetReconcile(t *testing.T) {
	rec := newRecorder()
	ps := newPeerSet(rec, 100, slog.New(slog.DiscardHandler))
	none := func(wire.PeerInfo) bool { return false }
	pi := func(id, nick, ident string) wire.PeerInfo {
		return wire.PeerInfo{PeerID: id, Nickname: nick, Identity: ident,
			PublicAddr: netip.MustParseAddrPort("127.0.0.1:1"), LocalAddr: netip.MustParseAddrPort("0.0.0.0:1")}
	}
	ps.reconcile([]wire.PeerInfo{pi("1", "alice", "A"), pi("2", "orig", "")}, none)
	ps.reconcile([]wire.PeerInfo{pi("1", "alice", "A"), pi("2", "orig", "")}, none)  // unchanged: nothing
	ps.reconcile([]wire.PeerInfo{pi("3", "alice", "A"), pi("2", "orig2", "")}, none) // new id; rename
	var got []string
	for _, s := range rec.sightings {
		got = append(got, s.Kind.String()+":"+s.Peer.Nickname)
	}
	want := []string{"seen:alice", "seen:orig", "seen:alice", "gone:orig", "seen:orig2"}
	if !slices.Equal(got, want) {
		t.Errorf("sightings %v, want %v", got, want)
	}
	if names := rec.nicknames(); !slices.Equal(names, []string{"alice", "orig2"}) {
		t.Errorf("online %v", names)
	}
}

// A refused connection is retried, and the state says why.
func TestRefusedConnectionReported(t *testing.T) {
	srv := startServer(t, "127.0.0.1:0", bootstrap.Config{MaxConnsPerIP: 1})
	first := startNode(t, fastConfig(srv.url, "first", 4001, nil))
	first.rec.waitPhase(t, discovery.Online)
	second := startNode(t, fastConfig(srv.url, "second", 4002, nil))
	st := second.rec.waitStateSince(t, 0, discovery.Retrying)
	if st.Err == nil || !strings.Contains(st.Err.Error(), "429 Too Many Requests: too many connections from 127.0.0.1") {
		t.Errorf("retry error %v", st.Err)
	}
	first.stop(t)
	second.rec.waitStateSince(t, 0, discovery.Online)
}

// A server restart must not look like everyone leaving: the client fails
// over to the next server, peers the fresh server does not list yet stay
// (unconfirmed) while they come back, and a peer that quit while the
// server was down is reported gone once its grace ends.
func TestFailOverAndGrace(t *testing.T) {
	s1 := startServer(t, "127.0.0.1:0", bootstrap.Config{})
	s2 := startServer(t, "127.0.0.1:0", bootstrap.Config{})
	both := func(nick string, port uint16) Config {
		cfg := fastConfig("", nick, port, nil)
		cfg.URLs = []string{s1.url, s2.url}
		cfg.Grace = 3 * time.Second
		return cfg
	}
	watcher := startNode(t, both("watcher", 4000))
	judy := startNode(t, both("judy", 4001))
	quitter := startNode(t, fastConfig(s1.url, "quitter", 4002, nil))
	watcher.rec.waitOnline(t, "judy", "quitter")
	judy.rec.waitOnline(t, "quitter", "watcher")

	mark := watcher.rec.sightingMark()
	s1.stop()
	quitter.stop(t) // quits while the server is down
	judy.rec.waitStateSince(t, 0, discovery.Online)
	waitFor(t, "judy and the watcher on the second server", func() bool { return s2.Stats().Peers == 2 })
	start := time.Now()
	watcher.rec.waitOnline(t, "judy") // the quitter goes after its grace
	if waited := time.Since(start); waited < time.Second {
		t.Errorf("the quitter was reported gone %v after the failover, before its grace ended", waited)
	}
	watcher.rec.mu.Lock()
	defer watcher.rec.mu.Unlock()
	// Both were reported unconfirmed when the connection dropped; judy
	// was confirmed again when the second server listed her.
	doubted, last := map[string]bool{}, map[string]discovery.Sighting{}
	for _, s := range watcher.rec.sightings[mark:] {
		doubted[s.Peer.Nickname] = doubted[s.Peer.Nickname] || s.Unconfirmed
		last[s.Peer.Nickname] = s
	}
	if !doubted["judy"] || !doubted["quitter"] {
		t.Errorf("reported unconfirmed: %v, want judy and the quitter", doubted)
	}
	if s := last["judy"]; s.Kind != discovery.Seen || s.Unconfirmed {
		t.Errorf("judy's last sighting %+v, want seen and confirmed", s)
	}
	for _, s := range watcher.rec.sightings[mark:] {
		if s.Kind != discovery.Gone {
			continue
		}
		switch s.Peer.Nickname {
		case "judy":
			t.Errorf("judy reported gone (%s) across the failover", s.Reason)
		case "quitter":
			if s.Reason != UnconfirmedReason {
				t.Errorf("the quitter gone with reason %q, want %q", s.Reason, UnconfirmedReason)
			}
		}
	}
}
