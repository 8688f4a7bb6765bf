package app_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/parlance-chat/parlance/app"
	"github.com/parlance-chat/parlance/app/store"
	"github.com/parlance-chat/parlance/bootstrap"
)

// startBootstrap runs a Parlance bootstrap server on a loopback port and
// returns its URL.
func startBootstrap(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- bootstrap.New(bootstrap.Config{}).Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("bootstrap server: %v", err)
		}
	})
	return "ws://" + ln.Addr().String()
}

// TestModeBothOnLoopback: alice and bob run mode "both" (multicast on lo
// and a real bootstrap server), carol only the bootstrap client. Each
// sees every other once; alice reaches bob over the LAN path and carol
// over the internet path, and messages flow both ways on each.
func TestModeBothOnLoopback(t *testing.T) {
	url := startBootstrap(t)
	port := uint16(nextPort.Add(1))
	alice := startNodeWith(t, "alice", port, nodeOpts{server: url})
	bob := startNodeWith(t, "bob", port, nodeOpts{server: url})
	carol := startNodeWith(t, "carol", 0, nodeOpts{server: url})

	keys := waitJoins(t, alice, "bob", "carol")
	waitJoins(t, carol, "alice", "bob")
	// Every other peer once, over the path its sources allow: bob is seen
	// both ways and kept on the LAN path. (Polled: which source reports
	// bob first is a race, and a repeat changes nothing.)
	want := map[string]string{"bob": "lan", "carol": "internet"}
	deadline := time.Now().Add(5 * time.Second)
	for {
		peers := alice.Peers()
		got := map[string]string{}
		for _, p := range peers {
			if p.Online {
				got[p.Nickname] = p.Source
			}
		}
		if len(peers) == 2 && got["bob"] == want["bob"] && got["carol"] == want["carol"] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("alice's peers: %+v; want bob once over the LAN and carol once over the internet", peers)
		}
		time.Sleep(20 * time.Millisecond)
	}

	ctx := context.Background()
	for _, to := range []string{"bob", "carol"} {
		sent, err := alice.Send(ctx, keys[to], "hello "+to)
		if err != nil {
			t.Fatal(err)
		}
		rcpt := bob
		if to == "carol" {
			rcpt = carol
		}
		got := waitMsg(t, rcpt, "alice's message", func(m app.Message) bool { return !m.Outgoing })
		if got.Text != "hello "+to || got.From != "alice" {
			t.Fatalf("%s got %+v", to, got)
		}
		waitMsg(t, alice, "the delivery receipt from "+to, func(m app.Message) bool {
			return m.ID == sent.ID && (m.State == store.Delivered || m.State == store.Read)
		})
		if _, err := rcpt.Send(ctx, app.PeerKey("id:"+alice.id.ID().String()), "hi alice"); err != nil {
			t.Fatal(err)
		}
		waitMsg(t, alice, to+"'s reply", func(m app.Message) bool { return !m.Outgoing && m.From == to })
	}
}
