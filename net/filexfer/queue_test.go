package filexfer

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a Config.Now that tests move by hand.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time         { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Add(d time.Duration)    { c.ns.Add(int64(d)) }
func (p *peer) state(id string) State       { tr, _ := p.engine().Get(id); return tr.State }
func (p *peer) transfer(id string) Transfer { tr, _ := p.engine().Get(id); return tr }

// An offer to a peer that cannot be reached is queued, kept across a
// restart of the sender, and goes out when the peer is seen again.
func TestOfferQueuedUntilPeerOnline(t *testing.T) {
	n := newNetwork()
	alice, bob := newPeer(t, n, Config{}), newPeer(t, n, Config{})
	path, sum := writeFile(t, "later.bin", 300<<10)
	bob.stop()

	tr, err := alice.engine().Offer(context.Background(), bob.ID(), path)
	if err != nil || tr.State != StateQueued || !strings.Contains(tr.Error, "could not be reached") {
		t.Fatalf("offer to an offline peer: %+v, %v", tr, err)
	}
	if ev := alice.await(EventQueued, tr.ID); ev.Transfer.State != StateQueued {
		t.Fatalf("queued event: %+v", ev.Transfer)
	}
	alice.restart() // the queue is in the store
	if got := alice.state(tr.ID); got != StateQueued {
		t.Fatalf("after a restart: %s", got)
	}

	bob.start()
	alice.engine().PeerOnline(bob.ID())
	alice.await(EventOffered, tr.ID)
	bob.await(EventOffered, tr.ID)
	if err := bob.engine().Accept(tr.ID); err != nil {
		t.Fatal(err)
	}
	got := bob.await(EventDone, tr.ID).Transfer
	if !equalBytes(fileHash(t, got.Path), sum) {
		t.Fatal("hash differs")
	}
	alice.await(EventDone, tr.ID)
}

// A queued offer can be cancelled: it never reaches the peer.
func TestCancelQueuedOffer(t *testing.T) {
	n := newNetwork()
	alice, bob := newPeer(t, n, Config{}), newPeer(t, n, Config{})
	path, _ := writeFile(t, "never.bin", 10)
	bob.stop()
	tr, err := alice.engine().Offer(context.Background(), bob.ID(), path)
	if err != nil || tr.State != StateQueued {
		t.Fatalf("%+v, %v", tr, err)
	}
	if err := alice.engine().Cancel(tr.ID[:8]); !errors.Is(err, ErrUnknown) {
		t.Fatalf("Cancel takes a whole id: %v", err)
	}
	if err := alice.engine().Cancel(tr.ID); err != nil {
		t.Fatal(err)
	}
	alice.await(EventCancelled, tr.ID)
	bob.start()
	if q := alice.engine().nextQueued(bob.ID()); q != nil {
		t.Fatalf("a cancelled offer is still queued: %+v", q.rec)
	}
	// A second offer goes out alone.
	tr2, err := alice.engine().Offer(context.Background(), bob.ID(), path)
	if err != nil || tr2.State != StateOffered {
		t.Fatalf("%+v, %v", tr2, err)
	}
	if got := bob.engine().Transfers(); len(got) != 1 || got[0].ID != tr2.ID {
		t.Fatalf("bob has %+v", got)
	}
}

// At most MaxQueued offers wait for one peer.
func TestQueueBounded(t *testing.T) {
	n := newNetwork()
	alice, bob := newPeer(t, n, Config{MaxQueued: 2}), newPeer(t, n, Config{})
	path, _ := writeFile(t, "q.bin", 10)
	bob.stop()
	for i := range 2 {
		if tr, err := alice.engine().Offer(context.Background(), bob.ID(), path); err != nil || tr.State != StateQueued {
			t.Fatalf("offer %d: %+v, %v", i, tr, err)
		}
	}
	if _, err := alice.engine().Offer(context.Background(), bob.ID(), path); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("a third queued offer: %v", err)
	}
	if got := len(alice.engine().Transfers()); got != 2 {
		t.Fatalf("%d transfers recorded", got)
	}
}

// Offers expire: queued ones after QueueFor, unanswered ones after
// OfferFor, on both sides; an expired offer can no longer be accepted.
func TestOffersExpire(t *testing.T) {
	n := newNetwork()
	clock := newFakeClock()
	cfg := Config{Now: clock.Now, QueueFor: 3 * 24 * time.Hour, OfferFor: 7 * 24 * time.Hour}
	alice, bob, carol := newPeer(t, n, cfg), newPeer(t, n, cfg), newPeer(t, n, cfg)
	path, _ := writeFile(t, "old.bin", 10)
	carol.stop()

	queued, err := alice.engine().Offer(context.Background(), carol.ID(), path)
	if err != nil || queued.State != StateQueued {
		t.Fatalf("%+v, %v", queued, err)
	}
	offered, err := alice.engine().Offer(context.Background(), bob.ID(), path)
	if err != nil || offered.State != StateOffered {
		t.Fatalf("%+v, %v", offered, err)
	}
	bob.await(EventOffered, offered.ID)

	clock.Add(3*24*time.Hour + time.Second)
	alice.engine().sweep()
	if ev := alice.await(EventExpired, queued.ID); !strings.Contains(ev.Transfer.Error, "within 3 days") {
		t.Fatalf("queued offer: %+v", ev.Transfer)
	}
	if got := alice.state(offered.ID); got != StateOffered {
		t.Fatalf("the delivered offer after 3 days: %s", got)
	}

	clock.Add(4 * 24 * time.Hour)
	bob.engine().sweep()
	alice.engine().sweep()
	if ev := bob.await(EventExpired, offered.ID); !strings.Contains(ev.Transfer.Error, "not answered within 7 days") {
		t.Fatalf("bob's offer: %+v", ev.Transfer)
	}
	alice.await(EventExpired, offered.ID)
	if err := bob.engine().Accept(offered.ID); !errors.Is(err, ErrState) {
		t.Fatalf("accepting an expired offer: %v", err)
	}
	// An expired offer no longer counts against MaxPending, and the
	// queue has room again.
	if got := alice.engine().queuedLocked(carol.ID()); got != 0 {
		t.Fatalf("%d still queued", got)
	}
}

// A file offered in a group is hashed once and offered to each member;
// the receivers learn the group.
func TestGroupOffer(t *testing.T) {
	n := newNetwork()
	alice, bob, carol := newPeer(t, n, Config{}), newPeer(t, n, Config{}), newPeer(t, n, Config{})
	path, sum := writeFile(t, "team.txt", 1000)
	src, err := HashFile(context.Background(), path)
	if err != nil || src.SHA256 != sum || src.Name != "team.txt" {
		t.Fatalf("%+v, %v", src, err)
	}
	os.Remove(path) // offers do not read the file again; downloads do
	group := strings.Repeat("ab", groupLen)
	if _, err := alice.engine().OfferSource(context.Background(), bob.ID(), src, OfferOptions{Group: "xyz"}); err == nil {
		t.Fatal("a bad group id was accepted")
	}
	for _, p := range []*peer{bob, carol} {
		tr, err := alice.engine().OfferSource(context.Background(), p.ID(), src, OfferOptions{Group: group, Batch: "b1"})
		if err != nil || tr.Group != group || tr.Batch != "b1" {
			t.Fatalf("%+v, %v", tr, err)
		}
		got := p.await(EventOffered, tr.ID).Transfer
		if got.Group != group || got.Batch != "" || got.Name != "team.txt" {
			t.Fatalf("received %+v", got)
		}
	}
}
