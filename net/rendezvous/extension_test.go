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
