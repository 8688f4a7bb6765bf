package bootstrap

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parlance-chat/parlance/net/identity"
	"github.com/parlance-chat/parlance/net/wire"
)

var mustAddrPort = netip.MustParseAddrPort

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// An original client speaks only the original messages and must get the
// original replies, shaped exactly as the original server's.
func TestOriginalProtocol(t *testing.T) {
	srv := startServer(t, Config{})
	alice := dial(t, srv.url)

	// heartbeat before register: "Not registered".
	alice.sendText(`{"type":"heartbeat"}`)
	if got, want := alice.recvRaw(), `{"type":"error","message":"Not registered"}`; got != want {
		t.Errorf("heartbeat before register: got %s, want %s", got, want)
	}
	// list_peers before register is answered, like the original.
	alice.sendText(`{"type":"list_peers"}`)
	if got, want := alice.recvRaw(), `{"type":"peer_list","peers":[]}`; got != want {
		t.Errorf("list_peers before register: got %s, want %s", got, want)
	}

	alice.sendText(`{"type":"register","nickname":"alice","local_addr":"0.0.0.0:54321"}`)
	raw := alice.recvRaw()
	if keys := jsonKeys(t, raw); !slices.Equal(keys, []string{"type", "peer_id", "public_addr"}) {
		t.Errorf("registered has keys %v: %s", keys, raw)
	}
	reg := recvOf[wire.Registered](t, raw)
	if !uuidV4.MatchString(reg.PeerID) {
		t.Errorf("peer_id %q is not a uuid v4", reg.PeerID)
	}
	if want := mustAddrPort("127.0.0.1:54321"); reg.PublicAddr != want {
		t.Errorf("public_addr = %v, want %v", reg.PublicAddr, want)
	}

	// heartbeat: no reply (the next message answers the list_peers).
	alice.sendText(`{"type":"heartbeat"}`)
	alice.sendText(`{"type":"list_peers"}`)
	raw = alice.recvRaw()
	wantPrefix := `{"type":"peer_list","peers":[{"peer_id":"` + reg.PeerID + `","nickname":"alice","public_addr":"127.0.0.1:54321","local_addr":"0.0.0.0:54321","last_seen":`
	if !strings.HasPrefix(raw, wantPrefix) || !strings.HasSuffix(raw, `}]}`) {
		t.Errorf("peer_list = %s, want %s…}]}", raw, wantPrefix)
	}

	// A second original client; alice must never get a pushed message.
	bob := dial(t, srv.url)
	bob.sendText(`{"type":"register","nickname":"bob","local_addr":"0.0.0.0:4000"}`)
	bobReg := recvType[wire.Registered](bob)
	alice.sendText(`{"type":"list_peers"}`)
	list := recvType[wire.PeerList](alice)
	if len(list.Peers) != 2 {
		t.Fatalf("alice sees %d peers, want 2: %+v", len(list.Peers), list.Peers)
	}
	raw = func() string { bob.sendText(`{"type":"list_peers"}`); return bob.recvRaw() }()
	if strings.Contains(raw, `"identity"`) {
		t.Errorf("original client got an extension field: %s", raw)
	}

	// Bad input gets the original's error text; the connection stays up.
	for _, bad := range []string{`not json`, `{"type":"dance"}`, `{"type":"register","nickname":"x"}`} {
		alice.sendText(bad)
		e := recvType[wire.Error](alice)
		if !strings.HasPrefix(e.Message, "Invalid message format: ") {
			t.Errorf("%s: error %q, want the Invalid message format prefix", bad, e.Message)
		}
	}

	// unregister: no reply, and alice is gone from bob's list.
	alice.sendText(`{"type":"unregister"}`)
	alice.sendText(`{"type":"list_peers"}`)
	recvType[wire.PeerList](alice)
	bob.sendText(`{"type":"list_peers"}`)
	if l := recvType[wire.PeerList](bob); len(l.Peers) != 1 || l.Peers[0].PeerID != bobReg.PeerID {
		t.Errorf("after alice's unregister bob sees %+v", l.Peers)
	}

	// A closed connection unregisters at once.
	alice.sendText(`{"type":"register","nickname":"alice","local_addr":"0.0.0.0:54321"}`)
	recvType[wire.Registered](alice)
	waitFor(t, "alice registered", func() bool { return srv.Stats().Peers == 2 })
	_ = alice.ws.Close() // no unregister, no close frame: like the original client
	waitFor(t, "alice dropped", func() bool { return srv.Stats().Peers == 1 })
}

// recvOf parses raw, which must be a message of type T.
func recvOf[T wire.ServerMessage](t testing.TB, raw string) T {
	t.Helper()
	m, err := wire.ParseServerMessage([]byte(raw))
	if err != nil {
		t.Fatalf("parse %s: %v", raw, err)
	}
	v, ok := m.(T)
	if !ok {
		t.Fatalf("got %T, want %T", m, v)
	}
	return v
}

func TestPushAndRooms(t *testing.T) {
	srv := startServer(t, Config{})
	a := dial(t, srv.url)
	a.send(wire.Register{Nickname: "a", LocalAddr: mustAddrPort("0.0.0.0:1001"), Features: []string{wire.FeaturePush, "future"}, Room: "r1"})
	reg := recvType[wire.Registered](a)
	if !slices.Equal(reg.Features, []string{wire.FeaturePush}) {
		t.Errorf("registered features = %v, want [push]", reg.Features)
	}
	if l := recvType[wire.PeerList](a); len(l.Peers) != 1 || l.Peers[0].PeerID != reg.PeerID {
		t.Errorf("first peer_list = %+v, want only a", l.Peers)
	}

	// An original client in the default room: a does not see it.
	o := dial(t, srv.url)
	o.sendText(`{"type":"register","nickname":"orig","local_addr":"0.0.0.0:1003"}`)
	recvType[wire.Registered](o)

	b := dial(t, srv.url)
	sent := time.Now()
	b.send(wire.Register{Nickname: "b", LocalAddr: mustAddrPort("0.0.0.0:1002"), Features: []string{wire.FeaturePush}, Room: "r1"})
	joined := recvType[wire.PeerJoined](a)
	t.Logf("peer_joined reached a %v after b sent register", time.Since(sent))
	if joined.Peer.Nickname != "b" || joined.Peer.PublicAddr != mustAddrPort("127.0.0.1:1002") {
		t.Errorf("peer_joined = %+v", joined.Peer)
	}
	bReg := recvType[wire.Registered](b)
	if l := recvType[wire.PeerList](b); len(l.Peers) != 2 || !slices.ContainsFunc(l.Peers, func(p wire.PeerInfo) bool { return p.PeerID == bReg.PeerID }) {
		t.Errorf("b's first peer_list = %+v, want b and a", l.Peers)
	}

	// Rooms are apart: the original client's list has only itself.
	o.sendText(`{"type":"list_peers"}`)
	if l := recvType[wire.PeerList](o); len(l.Peers) != 1 || l.Peers[0].Nickname != "orig" {
		t.Errorf("default room lists %+v", l.Peers)
	}

	// Re-register with a new nickname: same peer_id, pushed as a join.
	b.send(wire.Register{Nickname: "bee", LocalAddr: mustAddrPort("0.0.0.0:1002"), Features: []string{wire.FeaturePush}, Room: "r1"})
	if again := recvType[wire.Registered](b); again.PeerID != bReg.PeerID {
		t.Errorf("re-register changed peer_id %s -> %s", bReg.PeerID, again.PeerID)
	}
	recvType[wire.PeerList](b)
	if j := recvType[wire.PeerJoined](a); j.Peer.PeerID != bReg.PeerID || j.Peer.Nickname != "bee" {
		t.Errorf("rename pushed %+v", j.Peer)
	}

	// Moving to another room: a sees b leave.
	b.send(wire.Register{Nickname: "bee", LocalAddr: mustAddrPort("0.0.0.0:1002"), Features: []string{wire.FeaturePush}, Room: "r2"})
	if l := recvType[wire.PeerLeft](a); l.PeerID != bReg.PeerID {
		t.Errorf("peer_left = %+v", l)
	}
	recvType[wire.Registered](b)
	if l := recvType[wire.PeerList](b); len(l.Peers) != 1 {
		t.Errorf("b in r2 sees %+v", l.Peers)
	}
	b.send(wire.Register{Nickname: "bee", LocalAddr: mustAddrPort("0.0.0.0:1002"), Features: []string{wire.FeaturePush}, Room: "r1"})
	recvType[wire.PeerJoined](a)

	// Closing the connection: peer_left at once.
	_ = b.ws.Close()
	sent = time.Now()
	if l := recvType[wire.PeerLeft](a); l.PeerID != bReg.PeerID {
		t.Errorf("peer_left = %+v", l)
	}
	t.Logf("peer_left reached a %v after b's connection closed", time.Since(sent))
}

func TestExpiryAfterSilence(t *testing.T) {
	clock := newFakeClock()
	srv := startServer(t, Config{Clock: clock})
	clock.waitTickers(t, 3)
	a := dial(t, srv.url)
	a.register("a", "", true)
	b := dial(t, srv.url)
	bReg := b.register("b", "", true)
	recvType[wire.PeerJoined](a)

	clock.Advance(20 * time.Second)
	a.send(wire.Heartbeat{})
	a.send(wire.ListPeers{}) // its answer shows the heartbeat was handled
	recvType[wire.PeerList](a)

	clock.Advance(11 * time.Second) // b silent for 31 s, a for 11 s; the sweep runs
	if l := recvType[wire.PeerLeft](a); l.PeerID != bReg.PeerID {
		t.Errorf("peer_left = %+v, want b", l)
	}
	b.send(wire.Heartbeat{})
	if e := recvType[wire.Error](b); e.Message != "Peer not registered" {
		t.Errorf("heartbeat after expiry: %q", e.Message)
	}
	if n := srv.Stats().Peers; n != 1 {
		t.Errorf("%d peers registered, want 1", n)
	}
	// Registering again works.
	b.register("b", "", false)
	if j := recvType[wire.PeerJoined](a); j.Peer.Nickname != "b" {
		t.Errorf("peer_joined = %+v", j.Peer)
	}
}

func TestBadInput(t *testing.T) {
	srv := startServer(t, Config{MaxConnsPerIP: 4})
	watcher := dial(t, srv.url)
	watcher.register("watcher", "", true)

	t.Run("bad nickname", func(t *testing.T) {
		c := dial(t, srv.url)
		for _, nick := range []string{"", " x", strings.Repeat("n", 33), "a\u0001b"} {
			c.send(wire.ListPeers{}) // keep the order visible
			recvType[wire.PeerList](c)
			b := []byte(`{"type":"register","nickname":` + quote(nick) + `,"local_addr":"0.0.0.0:1"}`)
			c.sendText(string(b))
			e := recvType[wire.Error](c)
			if !strings.Contains(e.Message, "invalid nickname") {
				t.Errorf("nickname %q: error %q", nick, e.Message)
			}
		}
		_ = c.ws.Close()
	})
	t.Run("frame over 64 KiB closes with 1009", func(t *testing.T) {
		c := dial(t, srv.url)
		big := bytes.Repeat([]byte(" "), 1<<20)
		_ = c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
		_ = c.ws.WriteMessage(websocket.TextMessage, big) // may fail once the server closes
		if ce := c.recvClose(); ce.Code != websocket.CloseMessageTooBig {
			t.Errorf("close code %d, want 1009", ce.Code)
		}
	})
	t.Run("too many connections from one IP", func(t *testing.T) {
		waitFor(t, "earlier connections gone", func() bool { return srv.Stats().Connections == 1 })
		var conns []*rawClient
		for range 3 {
			conns = append(conns, dial(t, srv.url))
		}
		_, resp, err := websocket.DefaultDialer.Dial(srv.url, nil)
		if err == nil || resp == nil || resp.StatusCode != 429 {
			t.Fatalf("5th connection: err %v, resp %v; want HTTP 429", err, resp)
		}
		resp.Body.Close()
		// The others still work.
		conns[0].send(wire.ListPeers{})
		recvType[wire.PeerList](conns[0])
		for _, c := range conns {
			_ = c.ws.Close()
		}
		waitFor(t, "connections closed", func() bool { return srv.Stats().Connections == 1 })
	})
	t.Run("auth without challenge", func(t *testing.T) {
		c := dial(t, srv.url)
		c.send(wire.Auth{Signature: make([]byte, 64), URL: c.url})
		if e := recvType[wire.Error](c); !strings.HasPrefix(e.Message, "No challenge pending") {
			t.Errorf("error %q", e.Message)
		}
		_ = c.ws.Close()
	})
	// The watcher saw none of that as a peer.
	watcher.send(wire.ListPeers{})
	if l := recvType[wire.PeerList](watcher); len(l.Peers) != 1 {
		t.Errorf("watcher sees %+v", l.Peers)
	}
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestRateLimits(t *testing.T) {
	clock := newFakeClock()
	srv := startServer(t, Config{Clock: clock, ListBurst: 3, ListInterval: time.Second, RegisterBurst: 2, RegisterInterval: time.Second})
	c := dial(t, srv.url)
	for range 4 {
		c.send(wire.ListPeers{})
	}
	for range 3 {
		recvType[wire.PeerList](c)
	}
	if e := recvType[wire.Error](c); !strings.HasPrefix(e.Message, "Too many list_peers") {
		t.Errorf("error %q", e.Message)
	}
	for range 3 {
		c.send(wire.Register{Nickname: "a", LocalAddr: mustAddrPort("0.0.0.0:1")})
	}
	recvType[wire.Registered](c)
	recvType[wire.Registered](c)
	if e := recvType[wire.Error](c); !strings.HasPrefix(e.Message, "Too many register") {
		t.Errorf("error %q", e.Message)
	}
	// Tokens come back with time.
	clock.Advance(time.Second)
	c.send(wire.ListPeers{})
	recvType[wire.PeerList](c)
	c.send(wire.Register{Nickname: "a", LocalAddr: mustAddrPort("0.0.0.0:1")})
	recvType[wire.Registered](c)
}

func TestMaxPeers(t *testing.T) {
	srv := startServer(t, Config{MaxPeers: 1})
	a := dial(t, srv.url)
	a.register("a", "", false)
	b := dial(t, srv.url)
	b.send(wire.Register{Nickname: "b", LocalAddr: mustAddrPort("0.0.0.0:1")})
	if e := recvType[wire.Error](b); !strings.HasPrefix(e.Message, "Server full") {
		t.Errorf("error %q", e.Message)
	}
	// a may still re-register (it holds a slot).
	a.register("a2", "", false)
}

// A client that never reads is cut off; the others keep getting pushes
// promptly.
func TestSlowClientDropped(t *testing.T) {
	srv := startServer(t, Config{SendQueue: 8, WriteWait: 500 * time.Millisecond, RegisterBurst: 1 << 20})
	watcher := dial(t, srv.url)
	watcher.register("watcher", "", true)

	// The sleeper asks for pushes and never reads.
	sleeper := dialSmallBuffer(t, srv.url)
	sleeper.send(wire.Register{Nickname: "sleeper", LocalAddr: mustAddrPort("0.0.0.0:1"), Features: []string{wire.FeaturePush}})
	sj := recvType[wire.PeerJoined](watcher)

	// A churner renames itself over and over: each rename is a push to
	// the watcher and to the sleeper.
	churner := dial(t, srv.url)
	churner.register("churn", "", false)
	recvType[wire.PeerJoined](watcher)
	var worst time.Duration
	pushes := 0
	sleeperGone := false
	for i := 0; i < 20000 && !sleeperGone; i++ {
		sent := time.Now()
		churner.send(wire.Register{Nickname: "churn" + strings.Repeat("x", i%20), LocalAddr: mustAddrPort("0.0.0.0:2")})
		recvType[wire.Registered](churner)
		for {
			switch m := watcher.recv().(type) {
			case wire.PeerJoined:
				pushes++
				worst = max(worst, time.Since(sent))
			case wire.PeerLeft:
				if m.PeerID != sj.Peer.PeerID {
					t.Fatalf("unexpected peer_left %+v", m)
				}
				sleeperGone = true
				continue
			default:
				t.Fatalf("watcher got %T", m)
			}
			break
		}
	}
	if !sleeperGone {
		t.Fatal("the sleeper was never dropped")
	}
	t.Logf("sleeper dropped after %d pushes; the watcher got every push, the slowest after %v", pushes, worst)
	if worst > 2*time.Second {
		t.Errorf("a push took %v to reach the watcher", worst)
	}
}

func identityRegister(id *identity.Identity, nick string) wire.Register {
	return wire.Register{Nickname: nick, LocalAddr: mustAddrPort("0.0.0.0:7000"), Features: []string{wire.FeaturePush},
		Identity: id.ID().String(), PublicKey: id.PublicKey()}
}

func TestIdentity(t *testing.T) {
	srv := startServer(t, Config{})
	alice, _ := identity.Generate()
	mallory, _ := identity.Generate()
	watcher := dial(t, srv.url)
	watcher.register("watcher", "", true)
	orig := dial(t, srv.url)
	orig.sendText(`{"type":"register","nickname":"orig","local_addr":"0.0.0.0:1"}`)
	recvType[wire.Registered](orig)
	recvType[wire.PeerJoined](watcher)

	// Alice proves her key and is listed with her identity.
	a := dial(t, srv.url)
	a.send(identityRegister(alice, "alice"))
	ch := recvType[wire.Challenge](a)
	if len(ch.Nonce) != wire.NonceSize {
		t.Errorf("nonce of %d bytes", len(ch.Nonce))
	}
	a.send(a.auth(alice, ch.Nonce))
	aReg := recvType[wire.Registered](a)
	recvType[wire.PeerList](a)
	if j := recvType[wire.PeerJoined](watcher); j.Peer.Identity != alice.ID().String() {
		t.Errorf("watcher sees alice as %+v", j.Peer)
	}
	orig.sendText(`{"type":"list_peers"}`)
	if raw := orig.recvRaw(); strings.Contains(raw, `"identity"`) {
		t.Errorf("original client got identities: %s", raw)
	}

	t.Run("someone else's ID", func(t *testing.T) {
		m := dial(t, srv.url)
		reg := identityRegister(alice, "alice")
		reg.PublicKey = mallory.PublicKey()
		m.send(reg)
		if e := recvType[wire.Error](m); e.Message != errIdentityMissing {
			t.Errorf("error %q", e.Message)
		}
		m.send(wire.Heartbeat{})
		if e := recvType[wire.Error](m); e.Message != "Not registered" {
			t.Errorf("after a refused register: %q", e.Message)
		}
	})
	t.Run("wrong signature", func(t *testing.T) {
		m := dial(t, srv.url)
		m.send(identityRegister(alice, "alice")) // alice's public key is public
		ch := recvType[wire.Challenge](m)
		m.send(m.auth(mallory, ch.Nonce))
		if e := recvType[wire.Error](m); e.Message != errAuthFailed {
			t.Errorf("error %q", e.Message)
		}
		// A signature of the bare nonce (no domain) fails too.
		m.send(identityRegister(alice, "alice"))
		ch = recvType[wire.Challenge](m)
		m.send(wire.Auth{Signature: ed25519.Sign(alice.PrivateKey(), ch.Nonce), URL: m.url})
		if e := recvType[wire.Error](m); e.Message != errAuthFailed {
			t.Errorf("error %q", e.Message)
		}
	})
	// Nothing of that touched alice's registration.
	a.send(wire.Heartbeat{})
	a.send(wire.ListPeers{})
	recvType[wire.PeerList](a)

	t.Run("proved takeover replaces the old connection", func(t *testing.T) {
		a2 := dial(t, srv.url)
		a2.send(identityRegister(alice, "alice"))
		ch := recvType[wire.Challenge](a2)
		a2.send(a2.auth(alice, ch.Nonce))
		a2Reg := recvType[wire.Registered](a2)
		if e := recvType[wire.Error](a); e.Message != errReplaced {
			t.Errorf("old connection got %q", e.Message)
		}
		if ce := a.recvClose(); ce.Code != websocket.ClosePolicyViolation {
			t.Errorf("old connection closed with %d", ce.Code)
		}
		if l := recvType[wire.PeerLeft](watcher); l.PeerID != aReg.PeerID {
			t.Errorf("peer_left %+v", l)
		}
		if j := recvType[wire.PeerJoined](watcher); j.Peer.PeerID != a2Reg.PeerID || j.Peer.Identity != alice.ID().String() {
			t.Errorf("peer_joined %+v", j.Peer)
		}
	})
}

func TestHealthAndShutdown(t *testing.T) {
	srv := startServer(t, Config{})
	code, body := httpGet(t, "http://"+srv.addr+"/healthz")
	if code != 200 || !strings.Contains(body, `"status":"ok"`) {
		t.Errorf("healthz: %d %s", code, body)
	}
	if code, _ := httpGet(t, "http://"+srv.addr+"/"); code != 400 {
		t.Errorf("plain GET /: %d, want 400", code)
	}
	a := dial(t, srv.url)
	a.register("a", "", true)
	b := dial(t, srv.url)
	b.register("b", "", false)
	waitFor(t, "two peers", func() bool { return srv.Stats().Peers == 2 })

	closed := make(chan *websocket.CloseError, 2)
	for _, c := range []*rawClient{a, b} {
		go func() {
			_ = c.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
			for {
				if _, _, err := c.ws.ReadMessage(); err != nil {
					ce, _ := err.(*websocket.CloseError)
					closed <- ce
					return
				}
			}
		}()
	}
	if err := srv.stop(); err != nil {
		t.Fatalf("Serve returned %v", err)
	}
	for range 2 {
		if ce := <-closed; ce == nil || ce.Code != websocket.CloseGoingAway {
			t.Errorf("client got %v, want a close frame 1001", ce)
		}
	}
}

func TestNewPeerID(t *testing.T) {
	seen := make(map[string]bool)
	for range 1000 {
		id := newPeerID()
		if !uuidV4.MatchString(id) || seen[id] {
			t.Fatalf("bad or repeated id %q", id)
		}
		seen[id] = true
	}
}

// A connection that answers pings stays up; one that is silent (no
// message, no pong) is closed after PongWait.
//
// The server pings when its (fake) clock says so, and the test moves the
// clock: a ping goes out every eighth of PongWait of real time, each
// once the last was answered, so a pong has seven eighths of PongWait to
// arrive (1.75 s). With the server's own schedule (a ping every 9/10 of
// PongWait, which was 1 s) it had a tenth, 100 ms, and under load a
// round trip took longer. Read deadlines are real time: the silent
// connection is closed after a real PongWait.
func TestKeepalive(t *testing.T) {
	const pongWait = 2 * time.Second
	clock := newFakeClock()
	// The clock moves on 1.8 s a ping: no sweep may end the connections.
	srv := startServer(t, Config{Clock: clock, PongWait: pongWait, PeerTimeout: 24 * time.Hour, RegisterTimeout: 24 * time.Hour})
	clock.waitTickers(t, 3)
	silent := dial(t, srv.url) // never reads, so never answers a ping
	silent.register("silent", "", false)

	alive := dial(t, srv.url)
	dialed := time.Now()
	// The server answers the upgrade before it holds the connection: a
	// ping sent before then would miss it.
	waitFor(t, "the server holds alive", func() bool { return srv.Stats().Connections == 2 })
	pings := make(chan struct{}, 100)
	alive.ws.SetPingHandler(func(data string) error {
		pings <- struct{}{}
		return alive.ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		for {
			if _, _, err := alive.ws.ReadMessage(); err != nil {
				return
			}
		}
	}()
	// ping has the server ping every connection and waits until alive
	// got it: the server still holds alive.
	ping := func() {
		t.Helper()
		clock.Advance(pongWait * 9 / 10)
		select {
		case <-pings:
		case <-time.After(5 * time.Second):
			t.Fatal("no ping from the server")
		}
	}
	// Answering pings, alive outlives the PongWait it had when it
	// connected; silent, which answers none, goes.
	pace := time.NewTicker(pongWait / 8)
	defer pace.Stop()
	for srv.Stats().Connections == 2 || time.Since(dialed) < pongWait+pongWait/4 {
		ping()
		<-pace.C
	}
	ping()
	if n := srv.Stats().Connections; n != 1 {
		t.Fatalf("%d connections after PongWait, want 1 (alive)", n)
	}
	_ = alive.ws.Close()
	<-readDone
}

// A push client that asks for peers_joined gets the joins that pile up in
// one message; a push client that does not gets exactly the peer_joined
// it always had.
func TestPeersJoinedBatch(t *testing.T) {
	srv := startServer(t, Config{MaxConnsPerIP: 100, RegisterBurst: 100})
	batch := dial(t, srv.url)
	batch.send(wire.Register{Nickname: "batch", LocalAddr: mustAddrPort("0.0.0.0:1001"), Room: "r",
		Features: []string{wire.FeaturePush, wire.FeatureBatch}})
	if reg := recvType[wire.Registered](batch); !slices.Equal(reg.Features, []string{wire.FeaturePush, wire.FeatureBatch}) {
		t.Errorf("registered features = %v, want [push peers_joined]", reg.Features)
	}
	recvType[wire.PeerList](batch)
	plain := dial(t, srv.url)
	plain.register("plain", "r", true)
	if j := recvType[wire.PeersJoined](batch); len(j.Peers) != 1 || j.Peers[0].Nickname != "plain" {
		t.Errorf("peers_joined = %+v, want plain", j.Peers)
	}

	const n = 20
	var names []string
	for i := range n {
		c := dial(t, srv.url)
		name := fmt.Sprintf("m%02d", i)
		c.register(name, "r", false)
		names = append(names, name)
	}
	var got []string
	messages := 0
	for len(got) < n {
		j := recvType[wire.PeersJoined](batch)
		messages++
		for _, p := range j.Peers {
			got = append(got, p.Nickname)
		}
	}
	if !slices.Equal(got, names) {
		t.Errorf("joins %v, want %v in order", got, names)
	}
	t.Logf("%d joins reached the batch client in %d messages", n, messages)
	for i := range n {
		raw := plain.recvRaw()
		if !strings.HasPrefix(raw, `{"type":"peer_joined","peer":{"peer_id":"`) || !strings.Contains(raw, names[i]) {
			t.Fatalf("plain push client got %s, want peer_joined of %s", raw, names[i])
		}
	}
}
