package bootstrap

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/parlance-chat/parlance/net/identity"
	"github.com/parlance-chat/parlance/net/wire"
)

// reachClient registers id in room with features (push always) on srv,
// proving the key, and reads its registered and peer_list.
func reachClient(t *testing.T, srv *testServer, id *identity.Identity, nick, room string, local string, features ...string) (*rawClient, wire.Registered) {
	t.Helper()
	c := dial(t, srv.url)
	reg := identityRegister(id, nick)
	reg.Room = room
	reg.LocalAddr = netip.MustParseAddrPort(local)
	reg.Features = append(reg.Features, features...)
	c.send(reg)
	c.send(c.auth(id, recvType[wire.Challenge](c).Nonce))
	r := recvType[wire.Registered](c)
	recvType[wire.PeerList](c)
	return c, r
}

// recvSkipping returns the next message of type T, skipping the room's
// pushes.
func recvSkipping[T wire.ServerMessage](c *rawClient) T {
	c.t.Helper()
	for {
		m := c.recv()
		switch m.(type) {
		case wire.PeerJoined, wire.PeersJoined, wire.PeerLeft:
			continue
		}
		v, ok := m.(T)
		if !ok {
			var want T
			c.t.Fatalf("got %T %+v, want %T", m, m, want)
		}
		return v
	}
}

func TestConnectArrangesBothSides(t *testing.T) {
	srv := startServer(t, Config{})
	aliceID, bobID, carolID, daveID := mustIdentity(t), mustIdentity(t), mustIdentity(t), mustIdentity(t)
	alice, ar := reachClient(t, srv, aliceID, "alice", "r", "192.168.1.2:7001", wire.FeatureReach)
	if !slices.Contains(ar.Features, wire.FeatureReach) {
		t.Fatalf("registered %+v: reach not granted", ar)
	}
	bob, br := reachClient(t, srv, bobID, "bob", "r", "192.168.1.2:7002", wire.FeatureReach)
	// carol asks for no reach; dave is in another room.
	_, cr := reachClient(t, srv, carolID, "carol", "r", "192.168.1.3:7003")
	if slices.Contains(cr.Features, wire.FeatureReach) {
		t.Errorf("carol did not ask for reach but got %+v", cr.Features)
	}
	reachClient(t, srv, daveID, "dave", "other", "192.168.1.4:7004", wire.FeatureReach)

	alice.send(wire.Connect{PeerID: bobID.ID().String()})
	toAlice := recvSkipping[wire.ConnectOffer](alice)
	toBob := recvSkipping[wire.ConnectOffer](bob)
	// Both get the one relay token issued for the pair.
	if !toAlice.Relay || !toBob.Relay || toAlice.Token != toBob.Token || wire.ValidateRelayToken(toAlice.Token) != nil {
		t.Errorf("relay in the offers: %v %q / %v %q, want one token for both", toAlice.Relay, toAlice.Token, toBob.Relay, toBob.Token)
	}
	toAlice.Token, toAlice.Relay, toBob.Token, toBob.Relay = "", false, "", false
	want := wire.ConnectOffer{PeerID: bobID.ID().String(), PublicAddr: br.PublicAddr, LocalAddr: netip.MustParseAddrPort("192.168.1.2:7002")}
	if toAlice != want {
		t.Errorf("alice got %+v, want %+v", toAlice, want)
	}
	want = wire.ConnectOffer{PeerID: aliceID.ID().String(), PublicAddr: ar.PublicAddr, LocalAddr: netip.MustParseAddrPort("192.168.1.2:7001")}
	if toBob != want {
		t.Errorf("bob got %+v, want %+v", toBob, want)
	}

	// A connect for a stream says so in both offers.
	alice.send(wire.Connect{PeerID: bobID.ID().String(), Proto: "parlance-file/1"})
	if a, b := recvSkipping[wire.ConnectOffer](alice), recvSkipping[wire.ConnectOffer](bob); a.Proto != "parlance-file/1" || b.Proto != "parlance-file/1" {
		t.Errorf("offers for a stream carry proto %q / %q", a.Proto, b.Proto)
	}

	for _, tc := range []struct {
		name, target, reason string
	}{
		{"a peer without reach", carolID.ID().String(), wire.ReasonOffline},
		{"a peer of another room", daveID.ID().String(), wire.ReasonOffline},
		{"nobody", mustIdentity(t).ID().String(), wire.ReasonOffline},
		{"itself", aliceID.ID().String(), wire.ReasonSelf},
	} {
		t.Run(tc.name, func(t *testing.T) {
			alice.send(wire.Connect{PeerID: tc.target})
			if f := recvSkipping[wire.ConnectFailed](alice); f.PeerID != tc.target || f.Reason != tc.reason {
				t.Errorf("got %+v, want reason %q", f, tc.reason)
			}
		})
	}

	// A client that proved no identity may not ask (and is not cut off).
	anon := dial(t, srv.url)
	anon.send(wire.Register{Nickname: "anon", LocalAddr: mustAddrPort("0.0.0.0:7005"), Room: "r",
		Features: []string{wire.FeaturePush, wire.FeatureReach}})
	if r := recvType[wire.Registered](anon); slices.Contains(r.Features, wire.FeatureReach) {
		t.Errorf("an unproved client was granted reach: %+v", r.Features)
	}
	recvType[wire.PeerList](anon)
	anon.send(wire.Connect{PeerID: bobID.ID().String()})
	if f := recvSkipping[wire.ConnectFailed](anon); f.Reason != wire.ReasonNotAllowed {
		t.Errorf("anon got %+v, want not_allowed", f)
	}
	anon.send(wire.ListPeers{})
	recvSkipping[wire.PeerList](anon)
}

func TestConnectRateLimited(t *testing.T) {
	clock := newFakeClock()
	srv := startServer(t, Config{Clock: clock, ConnectBurst: 3, ConnectInterval: time.Second})
	aliceID, bobID := mustIdentity(t), mustIdentity(t)
	alice, _ := reachClient(t, srv, aliceID, "alice", "", "10.0.0.1:1", wire.FeatureReach)
	bob, _ := reachClient(t, srv, bobID, "bob", "", "10.0.0.2:2", wire.FeatureReach)
	target := bobID.ID().String()
	for range 3 {
		alice.send(wire.Connect{PeerID: target})
		recvSkipping[wire.ConnectOffer](alice)
		recvSkipping[wire.ConnectOffer](bob)
	}
	alice.send(wire.Connect{PeerID: target})
	if f := recvSkipping[wire.ConnectFailed](alice); f.Reason != wire.ReasonRateLimited {
		t.Fatalf("the 4th connect: %+v, want rate_limited", f)
	}
	clock.Advance(time.Second)
	alice.send(wire.Connect{PeerID: target})
	recvSkipping[wire.ConnectOffer](alice)
}

// An original client in the room sees nothing of it.
func TestConnectUnseenByOriginalClients(t *testing.T) {
	srv := startServer(t, Config{})
	aliceID, bobID := mustIdentity(t), mustIdentity(t)
	orig := dial(t, srv.url)
	orig.sendText(`{"type":"register","nickname":"orig","local_addr":"0.0.0.0:1"}`)
	recvType[wire.Registered](orig)
	alice, _ := reachClient(t, srv, aliceID, "alice", "", "10.0.0.1:1", wire.FeatureReach)
	bob, _ := reachClient(t, srv, bobID, "bob", "", "10.0.0.2:2", wire.FeatureReach)
	alice.send(wire.Connect{PeerID: bobID.ID().String()})
	recvSkipping[wire.ConnectOffer](bob)
	orig.send(wire.ListPeers{})
	raw := orig.recvRaw()
	if m, err := wire.ParseServerMessage([]byte(raw)); err != nil {
		t.Fatal(err)
	} else if _, ok := m.(wire.PeerList); !ok {
		t.Fatalf("the original client got %s, want only its peer_list", raw)
	}
}

// With the relay off, offers carry no token.
func TestConnectWithoutRelay(t *testing.T) {
	srv := startServer(t, Config{NoRelay: true})
	aliceID, bobID := mustIdentity(t), mustIdentity(t)
	alice, _ := reachClient(t, srv, aliceID, "alice", "r", "192.168.1.2:7001", wire.FeatureReach)
	bob, _ := reachClient(t, srv, bobID, "bob", "r", "192.168.1.2:7002", wire.FeatureReach)
	alice.send(wire.Connect{PeerID: bobID.ID().String()})
	for _, c := range []*rawClient{alice, bob} {
		if o := recvSkipping[wire.ConnectOffer](c); o.Relay || o.Token != "" {
			t.Errorf("offer %+v with the relay off", o)
		}
	}
}
