package app_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/parlance-chat/parlance/app"
	"github.com/parlance-chat/parlance/app/group"
	"github.com/parlance-chat/parlance/app/store"
	"github.com/parlance-chat/parlance/net/discovery"
	"github.com/parlance-chat/parlance/net/identity"
	"github.com/parlance-chat/parlance/net/lan"
	"github.com/parlance-chat/parlance/net/mailbox"
	"github.com/parlance-chat/parlance/net/rendezvous"
	"github.com/parlance-chat/parlance/net/transport"
	"github.com/parlance-chat/parlance/net/wire"
)

// Each test gets multicast ports of its own on lo.
var nextPort atomic.Int32

func init() { nextPort.Store(int32(21000 + rand.IntN(4000))) }

// realNode is an app.Node over real sockets: multicast discovery pinned to
// lo and TLS transport on loopback, with short intervals.
type realNode struct {
	*app.Node
	seen   int64 // Version of the last change waitMsg read
	id     *identity.Identity
	port   uint16
	cancel context.CancelFunc
	done   chan error
}

func startNode(t testing.TB, nick string, mcast uint16) *realNode {
	t.Helper()
	return startNodeWith(t, nick, mcast, nodeOpts{})
}

// nodeOpts keep what a node restarted with them keeps: its key, its
// message store and its groups' store (nil: new ones), and its file
// transfer settings (nil: off); server is a bootstrap server to use
// (besides multicast on lo when mcast is not 0: mode internet or both).
type nodeOpts struct {
	id     *identity.Identity
	store  store.Store
	groups group.Store
	files  *app.FilesConfig
	server string
	// records keeps the groups' outbox and invitations (nil: in memory).
	records app.RecordStore
	// mailbox, with server, turns on the sealed mailbox with this key.
	mailbox      *mailbox.Key
	mailboxAfter time.Duration
	// wrap, if set, stands between the node and its transport (a NAT,
	// say); reach, if set, turns reach on with the config it returns.
	wrap  func(*transport.Transport) app.Transport
	idle  time.Duration // the transport's IdleTimeout (0: its default)
	reach func(id *identity.Identity) *app.ReachConfig
}

func startNodeWith(t testing.TB, nick string, mcast uint16, o nodeOpts) *realNode {
	t.Helper()
	id := o.id
	if id == nil {
		var err error
		if id, err = identity.Generate(); err != nil {
			t.Fatal(err)
		}
	}
	tr, err := transport.Listen(transport.Config{Identity: id, ListenAddr: "127.0.0.1:0", IdleTimeout: o.idle})
	if err != nil {
		t.Fatal(err)
	}
	instance := app.NewInstanceID()
	self := discovery.Self{Nickname: nick, Identity: id.ID().String(), Instance: instance, TCPPort: tr.Port()}
	var sources []discovery.Source
	mode := "local"
	if mcast != 0 {
		d, err := lan.New(lan.Config{
			Port: mcast, Interface: "lo",
			AnnounceInterval: 100 * time.Millisecond, PeerTimeout: 400 * time.Millisecond,
			Self: self,
		})
		if err != nil {
			t.Fatal(err)
		}
		sources = append(sources, d)
	}
	var node *app.Node // set before any source runs
	var mbox *app.MailboxConfig
	if o.server != "" {
		rcfg := rendezvous.Config{URL: o.server, Self: self, Identity: id,
			HeartbeatInterval: 200 * time.Millisecond, PollInterval: 100 * time.Millisecond}
		if o.mailbox != nil {
			rcfg.Features = []string{wire.FeatureMailbox}
			rcfg.OnMessage = func(si rendezvous.ServerInfo, m wire.ServerMessage) { node.ServerMessage(si, m) }
		}
		c, err := rendezvous.New(rcfg)
		if err != nil {
			t.Fatal(err)
		}
		if o.mailbox != nil {
			mbox = &app.MailboxConfig{Server: c, Key: o.mailbox, After: o.mailboxAfter}
		}
		sources = append(sources, c)
		mode = "internet"
		if mcast != 0 {
			mode = "both"
		}
	}
	var atr app.Transport = tr
	if o.wrap != nil {
		atr = o.wrap(tr)
	}
	var reach *app.ReachConfig
	if o.reach != nil {
		reach = o.reach(id)
	}
	n, err := app.NewNode(app.Config{Nickname: nick, Identity: id, Instance: instance, Mode: mode,
		Transport: atr, Sources: sources, SweepInterval: 20 * time.Millisecond,
		Store: o.store, GroupStore: o.groups, GroupRecords: o.records, Files: o.files, Mailbox: mbox,
		Reach: reach, Logger: debugLog(t, nick)})
	if err != nil {
		t.Fatal(err)
	}
	node = n
	ctx, cancel := context.WithCancel(context.Background())
	rn := &realNode{Node: n, id: id, port: tr.Port(), cancel: cancel, done: make(chan error, 1)}
	go func() { rn.done <- n.Run(ctx) }()
	t.Cleanup(rn.stop)
	return rn
}

func (n *realNode) stop() {
	n.cancel()
	<-n.done
	n.done <- nil // later stops return at once
}

// waitFor reads events until one satisfies ok.
func waitFor[E app.Event](t testing.TB, n *realNode, what string, ok func(E) bool) E {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case e, open := <-n.Events():
			if !open {
				t.Fatalf("events closed while waiting for %s", what)
			}
			if v, isE := e.(E); isE && ok(v) {
				return v
			}
		case <-deadline:
			t.Fatalf("no %s within 5 s", what)
		}
	}
}

// waitMsg reads the node's message changes until one satisfies ok.
func waitMsg(t testing.TB, n *realNode, what string, ok func(app.Message) bool) app.Message {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		ch, err := n.Changes(n.seen, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ch {
			n.seen = m.Version
			if ok(m) {
				return m
			}
		}
		if len(ch) > 0 {
			continue
		}
		select {
		case <-n.Changed():
		case <-deadline:
			t.Fatalf("no %s within 5 s", what)
		}
	}
}

// waitJoins waits until n has seen every one of nicks join, in any order,
// and returns their keys.
func waitJoins(t testing.TB, n *realNode, nicks ...string) map[string]app.PeerKey {
	t.Helper()
	keys := map[string]app.PeerKey{}
	for len(keys) < len(nicks) {
		e := waitFor(t, n, "joins of "+strings.Join(nicks, ", "), func(e app.PeerJoined) bool { return slices.Contains(nicks, e.Peer.Nickname) })
		keys[e.Peer.Nickname] = e.Peer.Key
	}
	return keys
}

func joined(nick string) func(app.PeerJoined) bool {
	return func(e app.PeerJoined) bool { return e.Peer.Nickname == nick }
}

func TestThreeNodesOnLoopback(t *testing.T) {
	port := uint16(nextPort.Add(1))
	alice := startNode(t, "alice", port)
	bob := startNode(t, "bob", port)
	carol := startNode(t, "carol", port)

	toBob := waitJoins(t, alice, "bob", "carol")["bob"]
	toAlice := waitJoins(t, bob, "alice", "carol")["alice"]
	waitJoins(t, carol, "alice", "bob")

	ctx := context.Background()
	sent, err := alice.Send(ctx, toBob, "hello bob")
	if err != nil {
		t.Fatal(err)
	}
	got := waitMsg(t, bob, "alice's message", func(m app.Message) bool { return !m.Outgoing })
	if got.Text != "hello bob" || got.From != "alice" || got.Conv != app.ConvOf(toAlice) || got.ID != sent.ID {
		t.Fatalf("bob got %+v", got)
	}
	// bob acknowledged it over the TLS connection: ✓✓.
	waitMsg(t, alice, "the delivery receipt", func(m app.Message) bool { return m.ID == sent.ID && m.State == store.Delivered })
	if _, err := bob.Send(ctx, toAlice, "hello alice"); err != nil {
		t.Fatal(err)
	}
	if got := waitMsg(t, alice, "bob's message", func(m app.Message) bool { return !m.Outgoing }); got.Text != "hello alice" {
		t.Fatalf("alice got %+v", got)
	}

	// Goodbye: carol leaves, the others drop her at once.
	start := time.Now()
	carol.stop()
	waitFor(t, alice, "carol's goodbye", func(e app.PeerLeft) bool { return e.Peer.Nickname == "carol" && e.Reason == "goodbye" })
	t.Logf("goodbye seen %v after carol stopped", time.Since(start))

	// A silent peer expires: an original announce sent once.
	sendAnnounce(t, port, `{"type":"announce","nickname":"ghost","tcp_port":4242}`)
	waitFor(t, alice, "ghost joining", joined("ghost"))
	waitFor(t, alice, "ghost expiring", func(e app.PeerLeft) bool { return e.Peer.Nickname == "ghost" && e.Reason == "timed out" })
}

// TestImpersonationThroughTheNode: mallory announces alice's identity with
// her own port. Bob's send fails the handshake, nothing reaches mallory, and
// bob is warned.
func TestImpersonationThroughTheNode(t *testing.T) {
	port := uint16(nextPort.Add(1))
	bob := startNode(t, "bob", port)
	alice, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	mallory, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	fake, err := transport.Listen(transport.Config{Identity: mallory, ListenAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	received := make(chan transport.Inbound, 1)
	fctx, fcancel := context.WithCancel(context.Background())
	fdone := make(chan error)
	go func() { fdone <- fake.Serve(fctx, func(in transport.Inbound) { received <- in }) }()
	defer func() { fcancel(); <-fdone; fake.Close() }()

	sendAnnounce(t, port, fmt.Sprintf(`{"type":"announce","nickname":"alice","tcp_port":%d,"instance":"x","identity":%q}`, fake.Port(), alice.ID()))
	key := waitFor(t, bob, "the fake alice", joined("alice")).Peer.Key
	m, err := bob.Send(context.Background(), key, "secret")
	if err != nil {
		t.Fatalf("queueing the message: %v", err)
	}
	w := waitFor(t, bob, "the warning", func(e app.Notice) bool { return e.Warning })
	if w.Peer != key || !strings.Contains(w.Text, "key mismatch: possible impersonation") {
		t.Fatalf("warning = %+v", w)
	}
	select {
	case in := <-received:
		t.Fatalf("the impostor received %+v", in)
	case <-time.After(100 * time.Millisecond):
	}
	if ob, _ := bob.Outbox(); len(ob) != 1 || ob[0].ID != m.ID || ob[0].State != store.Queued {
		t.Fatalf("after a refused send the outbox holds %+v; want the message, still queued", ob)
	}
}

// sendAnnounce multicasts one datagram on lo from 127.0.0.1.
func sendAnnounce(t *testing.T, port uint16, payload string) {
	t.Helper()
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pc := ipv4.NewPacketConn(c)
	if err := pc.SetMulticastInterface(lo); err != nil {
		t.Fatal(err)
	}
	pc.SetMulticastLoopback(true)
	if _, err := c.WriteToUDP([]byte(payload), &net.UDPAddr{IP: net.IPv4(239, 255, 255, 250), Port: int(port)}); err != nil {
		t.Fatal(err)
	}
}
