package rendezvous

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/parlance-chat/parlance/bootstrap"
	"github.com/parlance-chat/parlance/net/discovery"
	"github.com/parlance-chat/parlance/net/wire"
)

func TestSendOnLiveSession(t *testing.T) {
	srv := startServer(t, "127.0.0.1:0", bootstrap.Config{})
	cfg := fastConfig(srv.url, "alice", 4001, mustIdentity(t))
	cfg.Features = []string{"future-feature", wire.FeaturePush}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Send(ctx, wire.ListPeers{}); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("Send before Run: %v, want ErrNotConnected", err)
	}
	if _, ok := c.Server(); ok {
		t.Fatal("Server before Run: ok")
	}

	a := startNode(t, cfg)
	a.rec.waitPhase(t, discovery.Online)
	info, ok := a.Server()
	if !ok || info.URL != srv.url || !info.Has(wire.FeaturePush) || info.Has("future-feature") || !info.PublicAddr.IsValid() {
		t.Fatalf("Server() = %+v, %v: want the live session on %s, push granted, the unknown feature not", info, ok, srv.url)
	}
	if err := a.Send(ctx, wire.ListPeers{}); err != nil {
		t.Fatalf("Send on the live session: %v", err)
	}

	srv.stop()
	waitFor(t, "Send to fail once the server is gone", func() bool {
		return errors.Is(a.Send(ctx, wire.ListPeers{}), ErrNotConnected)
	})
	if _, ok := a.Server(); ok {
		t.Error("Server() still reports a session after the server stopped")
	}
}

// Reach through the seam: two clients that ask for wire.FeatureReach are
// granted it, and a connect one sends reaches both as offers through
// OnMessage, each naming the other; a connect_failed comes the same way
// and does not end the session.
func TestReachOffersThroughOnMessage(t *testing.T) {
	srv := startServer(t, "127.0.0.1:0", bootstrap.Config{})
	type got struct {
		who string
		m   wire.ServerMessage
	}
	msgs := make(chan got, 10)
	start := func(nick string, port uint16) (*node, string) {
		id := mustIdentity(t)
		cfg := fastConfig(srv.url, nick, port, id)
		cfg.Features = []string{wire.FeatureReach}
		cfg.OnMessage = func(si ServerInfo, m wire.ServerMessage) {
			if !si.Has(wire.FeatureReach) {
				t.Errorf("%s: OnMessage with %+v: reach not granted", nick, si)
			}
			msgs <- got{nick, m}
		}
		n := startNode(t, cfg)
		n.rec.waitPhase(t, discovery.Online)
		return n, id.ID().String()
	}
	alice, aliceID := start("alice", 4001)
	_, bobID := start("bob", 4002)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := alice.Send(ctx, wire.Connect{PeerID: bobID}); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"alice": bobID, "bob": aliceID}
	for range 2 {
		select {
		case g := <-msgs:
			o, ok := g.m.(wire.ConnectOffer)
			if !ok || o.PeerID != want[g.who] || o.PublicAddr.Port() == 0 {
				t.Errorf("%s got %#v, want an offer naming %s", g.who, g.m, want[g.who])
			}
			delete(want, g.who)
		case <-ctx.Done():
			t.Fatalf("offers missing for %v", want)
		}
	}
	if err := alice.Send(ctx, wire.Connect{PeerID: mustIdentity(t).ID().String()}); err != nil {
		t.Fatal(err)
	}
	select {
	case g := <-msgs:
		if f, ok := g.m.(wire.ConnectFailed); !ok || g.who != "alice" || f.Reason != wire.ReasonOffline {
			t.Errorf("got %s %#v, want connect_failed offline for alice", g.who, g.m)
		}
	case <-ctx.Done():
		t.Fatal("no connect_failed")
	}
	if err := alice.Send(ctx, wire.ListPeers{}); err != nil {
		t.Errorf("the session ended after connect_failed: %v", err)
	}
}
