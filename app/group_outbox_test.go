package app

import (
	"bufio"
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/parlance-chat/parlance/net/identity"
	"github.com/parlance-chat/parlance/net/wire"
)

// TestGroupOutboxBound: messages to a member who is away stay queued;
// past the bound only the newest are pushed when it is seen (the older
// ones are left to its catch-up), each once, and the queue is dropped.
func TestGroupOutboxBound(t *testing.T) {
	n := newTestNode(t, nil)
	n.grp.owedMax = 8
	bob, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	gid, _, err := n.grp.eng.Create("team", []identity.ID{bob.ID()})
	if err != nil {
		t.Fatal(err)
	}
	key := GroupKey(gid)
	bobKey := PeerKey("id:" + bob.ID().String())
	// Sent before the node runs: nothing is written, all is queued.
	for range 20 {
		if _, err := n.SendToGroup(key, "while away"); err != nil {
			t.Fatal(err)
		}
	}
	if got := n.GroupOutbox(key, bobKey); got != 20 {
		t.Fatalf("the outbox holds %d for bob; want 20", got)
	}
	n.run(t)
	deadline := time.After(5 * time.Second)

	sourceHandler{n.Node}.Sighting(seen(lanPeer("bob", bob.ID().String(), "i1", 5000)))
	var seqs []uint64
	// The cursor moves just after a write: look again now and then too.
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for n.GroupOutbox(key, bobKey) != 0 || len(seqs) < 8 {
		select {
		case <-n.tr.wrote:
		case <-tick.C:
		case <-deadline:
			t.Fatalf("pushed %v; the outbox holds %d", seqs, n.GroupOutbox(key, bobKey))
		}
		n.tr.mu.Lock()
		frames := slices.Clone(n.tr.frames)
		n.tr.mu.Unlock()
		seqs = seqs[:0]
		sc := bufio.NewScanner(bytes.NewReader(frames))
		sc.Buffer(nil, wire.MaxLine)
		for sc.Scan() {
			f, err := wire.ParseGroupFrame(append(sc.Bytes(), '\n'))
			if err != nil {
				t.Fatal(err)
			}
			if m, ok := f.(wire.GroupMessage); ok {
				seqs = append(seqs, m.Seq)
			}
		}
	}
	if want := []uint64{13, 14, 15, 16, 17, 18, 19, 20}; !slices.Equal(seqs, want) {
		t.Errorf("pushed %v; want the newest 8, once each: %v", seqs, want)
	}
}
