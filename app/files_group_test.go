package app_test

import (
	"bytes"
	"context"
	"os"
	"testing"

	"github.com/parlance-chat/parlance/app"
	"github.com/parlance-chat/parlance/app/group"
	"github.com/parlance-chat/parlance/net/filexfer"
)

// A file sent to a group is offered to each member, each a transfer of
// its own shown in the group's conversation on both sides; a member who
// is offline gets the offer (queued) when back.
func TestFileToGroup(t *testing.T) {
	port := uint16(nextPort.Add(1))
	files := func() *app.FilesConfig { return &app.FilesConfig{Dir: t.TempDir()} }
	carolOpts := nodeOpts{files: files(), groups: group.NewMemoryStore()}
	alice := startNodeWith(t, "alice", port, nodeOpts{files: files()})
	bob := startNodeWith(t, "bob", port, nodeOpts{files: files()})
	carol := startNodeWith(t, "carol", port, carolOpts)
	key := team(t, alice, bob, carol)
	carolOpts.id = carol.id
	carol.stop()
	waitFor(t, alice, "carol gone", func(e app.PeerLeft) bool { return e.Peer.Nickname == "carol" })

	path, content := writeRandom(t, "plan.pdf", 600<<10)
	ts, err := alice.SendFileToGroup(context.Background(), key, path)
	if err != nil || len(ts) != 2 {
		t.Fatalf("SendFileToGroup: %+v, %v", ts, err)
	}
	states := map[filexfer.State]int{}
	for _, tr := range ts {
		states[tr.State]++
		if tr.Batch == "" || tr.Batch != ts[0].Batch || tr.SHA256 != ts[0].SHA256 || tr.Group == "" {
			t.Errorf("transfer %+v: want one batch, one hash, the group", tr)
		}
	}
	if states[filexfer.StateOffered] != 1 || states[filexfer.StateQueued] != 1 {
		t.Fatalf("states %v; want bob's offered and carol's queued", states)
	}
	queued := waitFor(t, alice, "carol's queued offer", func(e app.TransferChanged) bool { return e.Kind == filexfer.EventQueued })
	if queued.Peer != key {
		t.Errorf("the queued offer is shown in %s, want the group %s", queued.Peer, key)
	}

	// bob sees the offer in the group, accepts, gets the file.
	offer := waitFor(t, bob, "the offer", transferEvent(filexfer.EventOffered, filexfer.Receive))
	if offer.Peer != key {
		t.Errorf("bob's offer is shown in %s, want the group %s", offer.Peer, key)
	}
	if _, err := bob.AcceptFile(offer.Transfer.ID); err != nil {
		t.Fatal(err)
	}
	done := waitFor(t, bob, "bob's download", transferEvent(filexfer.EventDone, filexfer.Receive))
	if got, _ := os.ReadFile(done.Transfer.Path); !bytes.Equal(got, content) {
		t.Fatal("bob's file differs")
	}

	// carol comes back: the offer goes out, in the group.
	carol = startNodeWith(t, "carol", port, carolOpts)
	offer = waitFor(t, carol, "carol's offer", transferEvent(filexfer.EventOffered, filexfer.Receive))
	if offer.Peer != key || offer.Transfer.Name != "plan.pdf" {
		t.Errorf("carol's offer: %+v in %s", offer.Transfer, offer.Peer)
	}
	if _, err := carol.AcceptFile(""); err != nil {
		t.Fatal(err)
	}
	done = waitFor(t, carol, "carol's download", transferEvent(filexfer.EventDone, filexfer.Receive))
	if got, _ := os.ReadFile(done.Transfer.Path); !bytes.Equal(got, content) {
		t.Fatal("carol's file differs")
	}
	for _, tr := range alice.Transfers() {
		if tr.State != filexfer.StateDone {
			waitFor(t, alice, "the uploads' ends", func(e app.TransferChanged) bool {
				return e.Kind == filexfer.EventDone && e.Transfer.ID == tr.ID
			})
		}
	}
}

// An offer to a one-to-one peer who is offline is queued, and /cancel
// drops it.
func TestFileQueuedForOfflinePeer(t *testing.T) {
	alice, bob, bobKey, _, _, _ := filesPair(t, nil)
	bob.stop()
	waitFor(t, alice, "bob gone", func(e app.PeerLeft) bool { return e.Peer.Nickname == "bob" })
	path, _ := writeRandom(t, "later.txt", 100)
	tr, err := alice.SendFile(context.Background(), bobKey, path)
	if err != nil || tr.State != filexfer.StateQueued {
		t.Fatalf("SendFile to an offline peer: %+v, %v", tr, err)
	}
	ev := waitFor(t, alice, "the queued event", func(e app.TransferChanged) bool { return e.Kind == filexfer.EventQueued })
	if ev.Peer != bobKey {
		t.Errorf("shown in %s, want %s", ev.Peer, bobKey)
	}
	if _, err := alice.CancelFile(filexfer.ShortID(tr.ID)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, alice, "the cancel", func(e app.TransferChanged) bool { return e.Kind == filexfer.EventCancelled })
}
