package app

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/parlance-chat/parlance/net/discovery"
)

// handOverSource is a source that hands its handler to the test, which
// then reports sightings as the real source would from its goroutine.
type handOverSource struct{ handler chan discovery.Handler }

func newHandOverSource() *handOverSource {
	return &handOverSource{handler: make(chan discovery.Handler, 1)}
}

func (s *handOverSource) Run(ctx context.Context, h discovery.Handler) error {
	s.handler <- h
	<-ctx.Done()
	return nil
}
func (s *handOverSource) SetNickname(string) {}

func (s *handOverSource) started(t *testing.T) discovery.Handler {
	t.Helper()
	select {
	case h := <-s.handler:
		return h
	case <-time.After(5 * time.Second):
		t.Fatal("the node did not run the source")
		return nil
	}
}

// TestBothSourcesOnePeerLANPreferred: in mode "both" a peer seen by LAN
// discovery and by the bootstrap server is one peer; its LAN address is
// used while the LAN sees it, the internet one when the LAN sighting
// expires or says goodbye, and it leaves only when both are gone.
func TestBothSourcesOnePeerLANPreferred(t *testing.T) {
	lanSrc, netSrc := newHandOverSource(), newHandOverSource()
	n := newTestNode(t, func(c *Config) {
		c.Mode = "both"
		c.Sources = []discovery.Source{lanSrc, netSrc}
	})
	n.run(t)
	lanH, netH := lanSrc.started(t), netSrc.started(t)

	id := newID(t)
	overLAN := discovery.Peer{Nickname: "alice", Identity: id, Instance: "i1", Addr: netip.MustParseAddrPort("192.168.1.3:7000")}
	overNet := discovery.Peer{Nickname: "alice", Identity: id, Instance: "i1", Addr: netip.MustParseAddrPort("203.0.113.2:7000"),
		AltAddr: netip.MustParseAddrPort("192.168.1.3:7000")}
	lanSeen := discovery.Sighting{Kind: discovery.Seen, Peer: overLAN, Source: "lan", TTL: 15 * time.Second}
	netSeen := discovery.Sighting{Kind: discovery.Seen, Peer: overNet, Source: "internet", TTL: time.Minute}
	path := func(e Event, want discovery.Peer, source string) {
		t.Helper()
		var p Peer
		switch e := e.(type) {
		case PeerJoined:
			p = e.Peer
		case PeerUpdated:
			p = e.Peer
		default:
			t.Fatalf("event %#v, want a join or an update", e)
		}
		if p.Addr != want.Addr || p.Source != source || !p.Online {
			t.Fatalf("peer at %v from %q (online %v), want %v from %q", p.Addr, p.Source, p.Online, want.Addr, source)
		}
		if ps := n.Peers(); len(ps) != 1 {
			t.Fatalf("%d peers, want alice once: %#v", len(ps), ps)
		}
	}

	netH.Sighting(netSeen)
	path(next(t, n.Node), overNet, "internet")
	lanH.Sighting(lanSeen)
	path(next(t, n.Node), overLAN, "lan")
	netH.Sighting(netSeen) // the server's heartbeat does not move it back
	noEvent(t, n.Node)

	// Messages go over the LAN path.
	if _, err := n.Send(context.Background(), KeyOf(overLAN), "hi"); err != nil {
		t.Fatal(err)
	}
	if got := n.tr.waitSent(t, 1)[0]; got.dest.Addr != overLAN.Addr || got.dest.Identity != id {
		t.Fatalf("sent to %v (%s), want the LAN address %v", got.dest.Addr, got.dest.Identity, overLAN.Addr)
	}

	// The LAN sighting expires while the server still sees alice.
	n.clock.Add(16 * time.Second)
	netH.Sighting(netSeen)
	n.Expire()
	path(next(t, n.Node), overNet, "internet")
	// Back on the LAN, then a goodbye there: back to the internet path.
	lanH.Sighting(lanSeen)
	path(next(t, n.Node), overLAN, "lan")
	lanH.Sighting(discovery.Sighting{Kind: discovery.Gone, Peer: overLAN, Source: "lan", Reason: "goodbye"})
	path(next(t, n.Node), overNet, "internet")
	// Gone from the server too: offline.
	netH.Sighting(discovery.Sighting{Kind: discovery.Gone, Peer: overNet, Source: "internet", Reason: "left the server"})
	if l, ok := next(t, n.Node).(PeerLeft); !ok || l.Reason != "left the server" {
		t.Fatalf("event %#v, want alice to leave", l)
	}
}
