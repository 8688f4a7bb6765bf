package natsbus_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	natsserver "github.com/nats-io/nats-server/v2/server"
	"go.uber.org/goleak"

	"github.com/parlance-chat/parlance/bootstrap"
	"github.com/parlance-chat/parlance/bootstrap/natsbus"
	"github.com/parlance-chat/parlance/net/identity"
	"github.com/parlance-chat/parlance/net/wire"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// startNATS runs an embedded NATS server on a loopback port (-1: any).
func startNATS(t *testing.T, port int) *natsserver.Server {
	t.Helper()
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: port, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS server not ready")
	}
	t.Cleanup(ns.Shutdown)
	return ns
}

// cuttable is a bus that can be cut, as if its server died: nothing it
// publishes arrives any more.
type cuttable struct {
	*natsbus.Bus
	cut atomic.Bool
}

func (c *cuttable) Publish(subject string, data []byte) error {
	if c.cut.Load() {
		return nil
	}
	return c.Bus.Publish(subject, data)
}

type server struct {
	*bootstrap.Server
	url string
	bus *cuttable
}

// startServer runs a bootstrap server sharing the registry through NATS.
func startServer(t *testing.T, natsURL string, peerTimeout time.Duration) *server {
	t.Helper()
	return startServerWith(t, natsURL, bootstrap.Config{PeerTimeout: peerTimeout})
}

// startServerWith is startServer with more of the config (its Bus and
// SweepInterval are set here).
func startServerWith(t *testing.T, natsURL string, cfg bootstrap.Config) *server {
	t.Helper()
	b, err := natsbus.Connect(natsURL, "test")
	if err != nil {
		t.Fatal(err)
	}
	bus := &cuttable{Bus: b}
	cfg.Bus, cfg.SweepInterval = bus, 100*time.Millisecond
	s := bootstrap.New(cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		_ = b.Close()
	})
	return &server{Server: s, url: "ws://" + ln.Addr().String(), bus: bus}
}

type client struct {
	t   *testing.T
	mu  sync.Mutex // serialises writes
	ws  *websocket.Conn
	url string
}

func dial(t *testing.T, url string) *client {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := wire.NormalizeServerURL(url)
	c := &client{t: t, ws: ws, url: n}
	// Heartbeats keep the registration (the peer timeout is short here).
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				c.mu.Lock()
				_ = c.ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"heartbeat"}`))
				c.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		close(stop)
		<-done
		_ = ws.Close()
	})
	return c
}

func (c *client) send(m wire.ClientMessage) []byte {
	c.t.Helper()
	b, err := wire.MarshalClient(m)
	if err != nil {
		c.t.Fatal(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.ws.WriteMessage(websocket.TextMessage, b); err != nil {
		c.t.Fatal(err)
	}
	return b
}

func (c *client) recv() wire.ServerMessage {
	c.t.Helper()
	_ = c.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, b, err := c.ws.ReadMessage()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	m, err := wire.ParseServerMessage(b)
	if err != nil {
		c.t.Fatalf("parse %s: %v", b, err)
	}
	return m
}

func recvType[T wire.ServerMessage](c *client) T {
	c.t.Helper()
	for {
		if m, ok := c.recv().(T); ok {
			return m
		}
	}
}

// register registers with pushes in room, and returns the peer id.
func (c *client) register(nick, room string) string {
	c.t.Helper()
	c.send(wire.Register{Nickname: nick, LocalAddr: addr("0.0.0.0:4000"), Room: room, Features: []string{wire.FeaturePush}})
	id := recvType[wire.Registered](c).PeerID
	recvType[wire.PeerList](c)
	return id
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Two servers on one NATS share a registry: clients on either see each
// other (lists and pushes, rooms kept apart), a message can be delivered
// to a client on the other server, a proved identity registered again on
// the other server replaces the older registration, and the peers of a
// server that dies are removed everywhere within the peer timeout.
func TestTwoServersShareARegistry(t *testing.T) {
	natsURL := startNATS(t, -1).ClientURL()
	s1, s2 := startServer(t, natsURL, 3*time.Second), startServer(t, natsURL, 3*time.Second)

	alice := dial(t, s1.url)
	aliceID := alice.register("alice", "r")
	waitFor(t, "alice on server 2", func() bool { return s2.Stats().RemotePeers == 1 })

	bob := dial(t, s2.url)
	bob.send(wire.Register{Nickname: "bob", LocalAddr: addr("0.0.0.0:4001"), Room: "r", Features: []string{wire.FeaturePush}})
	bobID := recvType[wire.Registered](bob).PeerID
	if l := recvType[wire.PeerList](bob); len(l.Peers) != 2 {
		t.Errorf("bob's list on server 2: %+v, want alice and bob", l.Peers)
	}
	if j := recvType[wire.PeerJoined](alice); j.Peer.PeerID != bobID || j.Peer.Nickname != "bob" {
		t.Errorf("alice got %+v, want bob's join from server 2", j.Peer)
	}

	// Original clients in the default room see each other across servers,
	// and not the room r.
	orig1 := dial(t, s1.url)
	orig1.send(wire.Register{Nickname: "orig1", LocalAddr: addr("0.0.0.0:4002")})
	recvType[wire.Registered](orig1)
	waitFor(t, "orig1 on server 2", func() bool { return s2.Stats().RemotePeers == 2 })
	orig2 := dial(t, s2.url)
	orig2.send(wire.Register{Nickname: "orig2", LocalAddr: addr("0.0.0.0:4003")})
	recvType[wire.Registered](orig2)
	orig2.send(wire.ListPeers{})
	if l := recvType[wire.PeerList](orig2); len(l.Peers) != 2 {
		t.Errorf("orig2's list: %+v, want orig1 and orig2", l.Peers)
	}

	// Deliver reaches a client on the other server.
	msg := []byte(`{"type":"error","message":"delivered"}`)
	if err := s1.Deliver(bobID, msg); err != nil {
		t.Fatal(err)
	}
	if e := recvType[wire.Error](bob); e.Message != "delivered" {
		t.Errorf("bob got %q", e.Message)
	}
	if err := s1.Deliver("nobody", msg); !errors.Is(err, bootstrap.ErrNoClient) {
		t.Errorf("deliver to nobody: %v", err)
	}

	// One identity, registered on server 1 and then on server 2: the
	// newer wins, the older connection is told and closed.
	id, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	registerAs := func(c *client) {
		reg := c.send(wire.Register{Nickname: "carol", LocalAddr: addr("0.0.0.0:4004"), Room: "r", Features: []string{wire.FeaturePush},
			Identity: id.ID().String(), PublicKey: id.PublicKey()})
		nonce := recvType[wire.Challenge](c).Nonce
		c.send(wire.Auth{Signature: id.Sign(wire.AuthMessage(nonce, c.url, sha256.Sum256(reg))), URL: c.url})
		recvType[wire.Registered](c)
	}
	old := dial(t, s1.url)
	registerAs(old)
	waitFor(t, "carol on server 2", func() bool { return s2.Stats().RemotePeers == 3 })
	registerAs(dial(t, s2.url))
	if e := recvType[wire.Error](old); !strings.HasPrefix(e.Message, "Replaced") {
		t.Errorf("the older carol got %q, want Replaced", e.Message)
	}

	// Server 2 dies (its messages stop): its peers leave server 1 within
	// the peer timeout.
	s2.bus.cut.Store(true)
	start := time.Now()
	for left := 0; left < 1; {
		if l, ok := alice.recv().(wire.PeerLeft); ok && l.PeerID == bobID {
			left++
		}
	}
	t.Logf("bob left server 1 %v after server 2 died", time.Since(start))
	waitFor(t, "server 2's peers gone from server 1", func() bool { return s1.Stats().RemotePeers == 0 })
	_ = aliceID
}

func addr(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// A restart of NATS: the servers reconnect by themselves, publish a
// snapshot, and share changes again; peers already known stay listed
// meanwhile (the outage is shorter than the peer timeout).
func TestNATSRestart(t *testing.T) {
	ns := startNATS(t, -1)
	port := ns.Addr().(*net.TCPAddr).Port
	s1, s2 := startServer(t, ns.ClientURL(), 30*time.Second), startServer(t, ns.ClientURL(), 30*time.Second)
	alice := dial(t, s1.url)
	alice.register("alice", "r")
	waitFor(t, "alice on server 2", func() bool { return s2.Stats().RemotePeers == 1 })

	ns.Shutdown()
	ns.WaitForShutdown()
	startNATS(t, port)

	bob := dial(t, s2.url)
	bobID := bob.register("bob", "r") // sent while server 2 may still be reconnecting
	if s2.Stats().RemotePeers != 1 {
		t.Errorf("server 2 forgot alice during the NATS restart")
	}
	// The event may have been buffered or lost; the snapshot after the
	// reconnect brings bob to server 1 either way.
	for {
		if j, ok := alice.recv().(wire.PeerJoined); ok && j.Peer.PeerID == bobID {
			break
		}
	}
	carol := dial(t, s1.url)
	carol.register("carol", "r")
	waitFor(t, "carol on server 2 after the restart", func() bool { return s2.Stats().RemotePeers == 2 })
}

// A connect between clients of two servers: the offer reaches the peer on
// the other server (through its deliver subject), and a peer there
// without reach is refused as offline.
func TestConnectAcrossServers(t *testing.T) {
	natsURL := startNATS(t, -1).ClientURL()
	s1, s2 := startServer(t, natsURL, 3*time.Second), startServer(t, natsURL, 3*time.Second)
	registerReach := func(c *client, nick string, features ...string) (*identity.Identity, wire.Registered) {
		id, err := identity.Generate()
		if err != nil {
			t.Fatal(err)
		}
		reg := c.send(wire.Register{Nickname: nick, LocalAddr: addr("192.168.1.2:4000"), Room: "r",
			Features: append([]string{wire.FeaturePush}, features...), Identity: id.ID().String(), PublicKey: id.PublicKey()})
		nonce := recvType[wire.Challenge](c).Nonce
		c.send(wire.Auth{Signature: id.Sign(wire.AuthMessage(nonce, c.url, sha256.Sum256(reg))), URL: c.url})
		return id, recvType[wire.Registered](c)
	}
	alice, bob, carol := dial(t, s1.url), dial(t, s2.url), dial(t, s2.url)
	aliceID, ar := registerReach(alice, "alice", wire.FeatureReach)
	bobID, br := registerReach(bob, "bob", wire.FeatureReach)
	carolID, _ := registerReach(carol, "carol")
	waitFor(t, "bob and carol on server 1", func() bool { return s1.Stats().RemotePeers == 2 })

	alice.send(wire.Connect{PeerID: bobID.ID().String()})
	toAlice := recvType[wire.ConnectOffer](alice)
	toBob := recvType[wire.ConnectOffer](bob)
	if toAlice.PeerID != bobID.ID().String() || toAlice.PublicAddr != br.PublicAddr {
		t.Errorf("alice got %+v, want bob at %s", toAlice, br.PublicAddr)
	}
	if toBob.PeerID != aliceID.ID().String() || toBob.PublicAddr != ar.PublicAddr || toBob.LocalAddr != addr("192.168.1.2:4000") {
		t.Errorf("bob (on server 2) got %+v, want alice at %s", toBob, ar.PublicAddr)
	}
	alice.send(wire.Connect{PeerID: carolID.ID().String()})
	if f := recvType[wire.ConnectFailed](alice); f.Reason != wire.ReasonOffline {
		t.Errorf("connect to carol (no reach): %+v, want offline", f)
	}
}
