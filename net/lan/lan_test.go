package lan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/parlance-chat/parlance/net/discovery"
)

// Integration tests: real sockets, all pinned to lo, each on its own port.

// startStaggered starts n nodes one after another, each only once the
// previous one's first announce was sent (a plain receiver heard it). A
// node's socket is opened after the earlier nodes' first announces, so
// it can learn of them only from the re-announces its own announce
// triggers. It returns the nodes and when the last one started.
func startStaggered(t *testing.T, port uint16, count int, nickname func(i int) string) ([]*node, time.Time) {
	t.Helper()
	watch := newPlainReceiver(t, port)
	var nodes []*node
	var lastStart time.Time
	for i := range count {
		n := newNode(t, loConfig(t, port, nickname(i)))
		lastStart = time.Now()
		n.start()
		receiveFrom(t, watch, fromInstance(n.self.Instance))
		nodes = append(nodes, n)
	}
	return nodes, lastStart
}

// waitAllPairs waits until every node has seen every other, and returns
// when the last of these sightings was reported.
func waitAllPairs(t testing.TB, nodes []*node) time.Time {
	t.Helper()
	var last time.Time
	for _, a := range nodes {
		for _, b := range nodes {
			if a != b {
				_, at := a.rec.waitForAt(t, fmt.Sprintf("%s to see %s", a.self.Nickname, b.self.Nickname), a.sees(b))
				if at.After(last) {
					last = at
				}
			}
		}
	}
	return last
}

func TestAllPairsDiscoverEachOtherAtOnce(t *testing.T) {
	const count = 4
	nodes, lastStart := startStaggered(t, testPort(), count, func(i int) string { return fmt.Sprint("node", i) })
	elapsed := waitAllPairs(t, nodes).Sub(lastStart)
	// waitFor's timeout is half the announce interval, so every pair was
	// found through an immediate re-announce, not a periodic one.
	t.Logf("%d nodes: mutual discovery %v after the last one started (announce interval %v)", count, elapsed, testAnnounceInterval)

	for _, n := range nodes {
		for _, s := range n.rec.all() {
			if s.Source != SourceName || s.TTL != n.d.cfg.PeerTimeout || s.Kind != discovery.Seen {
				t.Errorf("%s: unexpected sighting %+v", n.self.Nickname, s)
			}
		}
	}
}

func TestGoodbyeSeenAtOnce(t *testing.T) {
	port := testPort()
	nodes, _ := startStaggered(t, port, 3, func(i int) string { return fmt.Sprint("node", i) })
	waitAllPairs(t, nodes)

	leaving := nodes[2]
	stopped := time.Now()
	leaving.stop(t)
	for _, n := range nodes[:2] {
		s := n.rec.waitFor(t, n.self.Nickname+" to get the goodbye", func(s discovery.Sighting) bool {
			return s.Kind == discovery.Gone && s.Peer.Instance == leaving.self.Instance
		})
		want := discovery.Sighting{
			Kind:   discovery.Gone,
			Source: SourceName,
			Reason: "goodbye",
			Peer: discovery.Peer{
				Nickname: leaving.self.Nickname,
				Identity: leaving.self.Identity,
				Instance: leaving.self.Instance,
				Addr:     netip.AddrPortFrom(loopback, 0),
			},
		}
		if s != want {
			t.Errorf("goodbye sighting = %+v, want %+v", s, want)
		}
	}
	t.Logf("goodbye reported %v after cancel", time.Since(stopped))
}

func TestSameNicknameBothSeen(t *testing.T) {
	nodes, _ := startStaggered(t, testPort(), 3, func(i int) string { return []string{"alice", "alice", "carol"}[i] })
	alice1, alice2, carol := nodes[0], nodes[1], nodes[2]
	alice1.rec.waitFor(t, "alice to see the other alice", alice1.sees(alice2))
	alice2.rec.waitFor(t, "the other alice to see alice", alice2.sees(alice1))
	carol.rec.waitFor(t, "carol to see alice", carol.sees(alice1))
	carol.rec.waitFor(t, "carol to see the other alice", carol.sees(alice2))
	if alice1.self.Instance == alice2.self.Instance || alice1.self.TCPPort == alice2.self.TCPPort {
		t.Fatal("the two alices are not apart")
	}
}

func TestOwnAnnouncesIgnored(t *testing.T) {
	port := testPort()
	watch := newPlainReceiver(t, port)
	a := newNode(t, loConfig(t, port, "alice"))
	a.start()
	// The plain receiver got a's announce, so a's own socket holds its
	// looped-back copy too; the marker sent after it is read after it.
	receiveFrom(t, watch, fromInstance(a.self.Instance))
	newPlainSender(t, port).send(t, []byte(`{"type":"announce","nickname":"marker","tcp_port":1}`))
	a.rec.waitFor(t, "the marker", func(s discovery.Sighting) bool { return s.Peer.Nickname == "marker" })

	for _, s := range a.rec.all() {
		if s.Peer.Nickname != "marker" {
			t.Errorf("unexpected sighting %+v", s)
		}
	}
}

func TestOriginalPeerAnnounceAndGoodbye(t *testing.T) {
	port := testPort()
	a := newNode(t, loConfig(t, port, "alice"))
	a.start()
	bob := newPlainSender(t, port)

	// Exactly what the original sends: no newline, no extension fields.
	bob.send(t, []byte(`{"type":"announce","nickname":"bob","tcp_port":4242}`))
	s := a.rec.waitFor(t, "bob's announce", func(s discovery.Sighting) bool { return s.Peer.Nickname == "bob" })
	want := discovery.Sighting{
		Kind:   discovery.Seen,
		Source: SourceName,
		TTL:    a.d.cfg.PeerTimeout,
		Peer:   discovery.Peer{Nickname: "bob", Addr: netip.MustParseAddrPort("127.0.0.1:4242")},
	}
	if s != want {
		t.Errorf("sighting = %+v, want %+v", s, want)
	}
	if !s.Peer.Original() {
		t.Error("bob is not reported as an original peer")
	}

	bob.send(t, []byte(`{"type":"goodbye","nickname":"bob"}`))
	s = a.rec.waitFor(t, "bob's goodbye", func(s discovery.Sighting) bool { return s.Kind == discovery.Gone })
	want = discovery.Sighting{
		Kind:   discovery.Gone,
		Source: SourceName,
		Reason: "goodbye",
		Peer:   discovery.Peer{Nickname: "bob", Addr: netip.MustParseAddrPort("127.0.0.1:0")},
	}
	if s != want {
		t.Errorf("sighting = %+v, want %+v", s, want)
	}
}

func TestOriginalPeerParsesOurAnnounce(t *testing.T) {
	port := testPort()
	orig := newPlainReceiver(t, port)
	a := newNode(t, loConfig(t, port, "alice"))
	a.start()

	b, src := receiveFrom(t, orig, fromInstance(a.self.Instance))
	// The original's struct: only these fields, unknown ones ignored.
	var got struct {
		Type     string `json:"type"`
		Nickname string `json:"nickname"`
		TCPPort  uint16 `json:"tcp_port"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("original-shaped parse of %s: %v", b, err)
	}
	if got.Type != "announce" || got.Nickname != "alice" || got.TCPPort != a.self.TCPPort {
		t.Errorf("parsed %+v from %s", got, b)
	}
	prefix := fmt.Sprintf(`{"type":"announce","nickname":"alice","tcp_port":%d,`, a.self.TCPPort)
	if !bytes.HasPrefix(b, []byte(prefix)) || bytes.HasSuffix(b, []byte("\n")) {
		t.Errorf("datagram %s: want prefix %s and no newline", b, prefix)
	}
	// The peer's address is the source IP: the interface's own address.
	if src.Addr() != loopback {
		t.Errorf("source address %v, want %v", src.Addr(), loopback)
	}
}

func TestSetNicknameAnnouncesAtOnce(t *testing.T) {
	nodes, _ := startStaggered(t, testPort(), 2, func(i int) string { return []string{"alice", "bob"}[i] })
	a, b := nodes[0], nodes[1]
	b.rec.waitFor(t, "bob to see alice", b.sees(a))

	renamed := time.Now()
	a.d.SetNickname("alice2")
	b.rec.waitFor(t, "bob to see alice2", func(s discovery.Sighting) bool {
		return b.sees(a)(s) && s.Peer.Nickname == "alice2"
	})
	t.Logf("new nickname seen %v after SetNickname (announce interval %v)", time.Since(renamed), testAnnounceInterval)
}

func TestBadDatagramsDropped(t *testing.T) {
	port := testPort()
	cfg := loConfig(t, port, "alice")
	log, drops := countingLogger(t, "dropped bad datagram")
	cfg.Logger = log
	a := newNode(t, cfg)
	a.start()
	s := newPlainSender(t, port)

	bad := []struct{ name, datagram string }{
		{"empty", ""},
		{"not JSON", "hello"},
		{"truncated JSON", `{"type":"announce","nickname":"x"`},
		{"JSON array", `["announce","x",1]`},
		{"unknown type", `{"type":"hello","nickname":"x","tcp_port":1}`},
		{"no type", `{"nickname":"x","tcp_port":1}`},
		{"missing tcp_port", `{"type":"announce","nickname":"x"}`},
		{"tcp_port 0", `{"type":"announce","nickname":"x","tcp_port":0}`},
		{"tcp_port too big", `{"type":"announce","nickname":"x","tcp_port":70000}`},
		{"tcp_port string", `{"type":"announce","nickname":"x","tcp_port":"1"}`},
		{"empty nickname", `{"type":"announce","nickname":"","tcp_port":1}`},
		{"nickname with leading space", `{"type":"announce","nickname":" x","tcp_port":1}`},
		{"nickname with control char", `{"type":"announce","nickname":"x\u0007","tcp_port":1}`},
		{"nickname too long", `{"type":"announce","nickname":"` + strings.Repeat("x", 33) + `","tcp_port":1}`},
		{"instance with space", `{"type":"announce","nickname":"x","tcp_port":1,"instance":"a b"}`},
		{"huge", `{"type":"announce","nickname":"` + strings.Repeat("x", 60000) + `","tcp_port":1}`},
	}
	for _, b := range bad {
		s.send(t, []byte(b.datagram))
	}
	s.send(t, []byte(`{"type":"announce","nickname":"good","tcp_port":1}`))
	a.rec.waitFor(t, "the good announce", func(s discovery.Sighting) bool { return s.Peer.Nickname == "good" })

	if got := a.rec.all(); len(got) != 1 {
		t.Errorf("sightings = %+v, want only the good one", got)
	}
	if got := int(drops.Load()); got != len(bad) {
		t.Errorf("%d drops logged, want %d", got, len(bad))
	}
}

func TestNewErrors(t *testing.T) {
	self := discovery.Self{Nickname: "alice", TCPPort: 1}
	tests := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"unknown interface", Config{Interface: "nosuch0", Port: testPort(), Self: self},
			[]string{`interface "nosuch0" not found; available: `, "lo"}},
		{"group not multicast", Config{Interface: testInterface, Group: netip.MustParseAddr("10.0.0.1"), Port: testPort(), Self: self},
			[]string{"not an IPv4 multicast address"}},
		{"IPv6 group", Config{Interface: testInterface, Group: netip.MustParseAddr("ff02::1"), Port: testPort(), Self: self},
			[]string{"not an IPv4 multicast address"}},
		{"bad nickname", Config{Interface: testInterface, Port: testPort(), Self: discovery.Self{Nickname: " alice", TCPPort: 1}},
			[]string{"nickname"}},
		{"no tcp port", Config{Interface: testInterface, Port: testPort(), Self: discovery.Self{Nickname: "alice"}},
			[]string{"tcp_port 0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := New(tt.cfg)
			if err == nil {
				_ = d.Close()
				t.Fatal("New succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestRunTwice(t *testing.T) {
	a := newNode(t, loConfig(t, testPort(), "alice"))
	a.start()
	a.stop(t)
	if err := a.d.Run(t.Context(), newRecorder()); err == nil {
		t.Error("second Run succeeded")
	}
}

// TestEveryInterfaceMode runs Interface "" (every up, multicast-capable
// interface) only where that means loopback alone, as in a namespace made
// by /work/shared/netns-run; elsewhere it would send on a real network.
func TestEveryInterfaceMode(t *testing.T) {
	all, err := systemInterfaces()
	if err != nil {
		t.Fatal(err)
	}
	chosen, err := chooseInterfaces(all, "")
	if err != nil {
		t.Skipf("no interface for Interface \"\": %v", err)
	}
	for _, it := range chosen {
		if it.Flags&net.FlagLoopback == 0 {
			t.Skipf("Interface \"\" would use %s, a real network; run under netns-run to test it", it.Name)
		}
	}
	port := testPort()
	var nodes []*node
	for i := range 2 {
		cfg := loConfig(t, port, fmt.Sprint("node", i))
		cfg.Interface = ""
		d, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		n := &node{d: d, self: d.cfg.Self, rec: newRecorder()}
		n.start()
		t.Cleanup(func() { n.stop(t) })
		nodes = append(nodes, n)
	}
	waitAllPairs(t, nodes)
}
