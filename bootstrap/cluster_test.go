package bootstrap

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"testing"

	"github.com/parlance-chat/parlance/net/wire"
)

// gateBus is a Bus whose Publish waits while the gate is shut, and
// records what it published, in order.
type gateBus struct {
	gate chan struct{} // closed: open

	mu     sync.Mutex
	events []clusterEvent
}

func (b *gateBus) Publish(_ string, data []byte) error {
	<-b.gate
	var ev clusterEvent
	if err := json.Unmarshal(data, &ev); err != nil {
		return err
	}
	b.mu.Lock()
	b.events = append(b.events, ev)
	b.mu.Unlock()
	return nil
}

func (b *gateBus) Subscribe(context.Context, string, func([]byte)) error { return nil }

// what lists the joins and leaves published, as "join nick" and
// "leave nick" (nick by peer id).
func (b *gateBus) what(nicks map[string]string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, ev := range b.events {
		switch ev.Kind {
		case evJoin:
			out = append(out, "join "+ev.Peers[0].Nickname)
		case evLeave:
			out = append(out, "leave "+nicks[ev.ID])
		}
	}
	return out
}

// A bus that does not take events does not hold up the server: its
// events are published outside the server's lock, later, in the order
// of the changes.
func TestClusterPublishOffTheLock(t *testing.T) {
	bus := &gateBus{gate: make(chan struct{})}
	srv := startServer(t, Config{Bus: bus})

	// The bus is stuck: registrations and their pushes still go through.
	nicks := map[string]string{}
	a := dial(t, srv.url)
	nicks[a.register("ann", "", true).PeerID] = "ann"
	b := dial(t, srv.url)
	nicks[b.register("bob", "", true).PeerID] = "bob"
	if j := recvType[wire.PeerJoined](a); j.Peer.Nickname != "bob" {
		t.Fatalf("ann was told %+v", j)
	}
	a.send(wire.Unregister{})
	if l := recvType[wire.PeerLeft](b); nicks[l.PeerID] != "ann" {
		t.Fatalf("bob was told %+v", l)
	}
	c := dial(t, srv.url)
	nicks[c.register("cy", "", false).PeerID] = "cy"

	close(bus.gate)
	want := []string{"join ann", "join bob", "leave ann", "join cy"}
	waitFor(t, "the events published", func() bool { return len(bus.what(nicks)) == len(want) })
	if got := bus.what(nicks); !slices.Equal(got, want) {
		t.Errorf("published %q, want %q", got, want)
	}
}
