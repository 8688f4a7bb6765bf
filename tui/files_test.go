package tui

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parlance-chat/parlance/app"
	"github.com/parlance-chat/parlance/net/filexfer"
)

// filesFake is a fake node with file transfer.
type filesFake struct {
	*fakeNode
	fmu     sync.Mutex
	calls   []string
	sendErr error
}

func (f *filesFake) call(s string) {
	f.fmu.Lock()
	defer f.fmu.Unlock()
	f.calls = append(f.calls, s)
}

func (f *filesFake) SendFile(_ context.Context, key app.PeerKey, path string) (filexfer.Transfer, error) {
	f.call("send " + string(key) + " " + path)
	return filexfer.Transfer{}, f.sendErr
}
func (f *filesFake) SendFileToGroup(_ context.Context, key app.PeerKey, path string) ([]filexfer.Transfer, error) {
	f.call("sendgroup " + string(key) + " " + path)
	return nil, nil
}
func (f *filesFake) AcceptFile(id string) (filexfer.Transfer, error) {
	f.call("accept " + id)
	return filexfer.Transfer{}, nil
}
func (f *filesFake) RejectFile(id string) (filexfer.Transfer, error) {
	f.call("reject " + id)
	return filexfer.Transfer{}, errors.New("no offer is waiting for an answer")
}
func (f *filesFake) CancelFile(id string) (filexfer.Transfer, error) {
	f.call("cancel " + id)
	return filexfer.Transfer{}, nil
}
func (f *filesFake) Transfers() []filexfer.Transfer {
	return []filexfer.Transfer{{ID: strings.Repeat("ab", 16), Peer: alice.Identity, Dir: filexfer.Receive, Name: "photo.jpg", Size: 2_100_000, State: filexfer.StateDone}}
}

func filesHarness(t *testing.T) (*harness, *filesFake) {
	n := threePeers()
	h := newPickedHarness(t, n, Options{})
	f := &filesFake{fakeNode: n}
	h.m.node = f
	return h, f
}

func TestTransferShownInConversation(t *testing.T) {
	h, _ := filesHarness(t)
	tr := filexfer.Transfer{ID: strings.Repeat("1a2b", 8), Peer: alice.Identity, Dir: filexfer.Receive, Name: "photo.jpg", Size: 2_100_000, State: filexfer.StateOffered, Created: time.Unix(1, 0)}
	h.events(app.TransferChanged{Peer: alice.Key, Kind: filexfer.EventOffered, Transfer: tr})
	h.wantScreen("file from alice: offer 1a2b1a2b: photo.jpg (2.1 MB): /accept 1a2b1a2b")
	h.dontWantScreen("1 transfer")

	tr.State = filexfer.StateActive
	h.events(app.TransferChanged{Peer: alice.Key, Kind: filexfer.EventStarted, Transfer: tr})
	tr.Done, tr.Rate, tr.ETA = 1_050_000, 1e6, time.Second
	h.events(app.TransferChanged{Peer: alice.Key, Kind: filexfer.EventProgress, Transfer: tr})
	h.wantScreen("↓ photo.jpg █", "░", " 50% 1.0 MB/s 1s left", "· 1 transfer ·")
	if lines := strings.Split(h.screen(), "\n"); len(lines) != h.m.height {
		t.Fatalf("the screen has %d lines with a transfer bar; want %d", len(lines), h.m.height)
	}

	tr.State, tr.Done, tr.Path = filexfer.StateDone, tr.Size, "/dl/photo.jpg"
	h.events(app.TransferChanged{Peer: alice.Key, Kind: filexfer.EventDone, Transfer: tr})
	h.wantScreen("✓ file from alice: 1a2b1a2b photo.jpg: saved to /dl/photo.jpg, SHA-256 verified")
	h.dontWantScreen("1 transfer", "↓ photo.jpg")
}

func TestTransferFailureAndBadName(t *testing.T) {
	h, _ := filesHarness(t)
	tr := filexfer.Transfer{ID: strings.Repeat("9", 32), Peer: alice.Identity, Dir: filexfer.Receive, Name: "evil\x1b]0;pwned\x07.txt", Size: 10,
		State: filexfer.StateFailed, Error: "hash mismatch: the file was discarded"}
	h.events(app.TransferChanged{Peer: alice.Key, Kind: filexfer.EventFailed, Transfer: tr})
	h.wantScreen("⚠ file from alice: 99999999", "hash mismatch")
	if strings.Contains(h.m.View(), "\x1b]0;") {
		t.Fatal("an escape sequence in a file name reached the screen")
	}
}

func TestFileCommands(t *testing.T) {
	h, f := filesHarness(t)
	h.enter("/sendfile alice ~/a b.txt")
	h.wantScreen("hashing and offering ~/a b.txt to alice")
	h.enter("/accept")
	h.enter("/reject 1a2b")
	h.wantScreen("✗ no offer is waiting for an answer")
	h.enter("/cancel 1a2b")
	h.enter("/transfers")
	h.wantScreen("1 file transfer(s):", "abababab  from alice  photo.jpg  2.1 MB  done")
	h.enter("/sendfile carol x")
	h.wantScreen("original peers can't receive files")
	f.sendErr = errors.New("no such file or directory")
	h.enter("/sendfile bob /nope")
	h.wantScreen("✗ file not offered to bob: no such file or directory")

	f.fmu.Lock()
	got := strings.Join(f.calls, "|")
	f.fmu.Unlock()
	if want := "send " + string(alice.Key) + " ~/a b.txt|accept |reject 1a2b|cancel 1a2b|send " + string(bob.Key) + " /nope"; got != want {
		t.Fatalf("calls %q\nwant  %q", got, want)
	}
}

func TestFileCommandsWithoutFiles(t *testing.T) {
	h := newPickedHarness(t, threePeers(), Options{})
	h.enter("/transfers")
	h.wantScreen("file transfer is off")
}

func TestSendFileTabCompletesPaths(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "report.pdf"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	h, _ := filesHarness(t)
	h.typeText("/sendfile alice " + dir + "/rep")
	h.key("tab")
	if got, want := h.m.input.Value(), "/sendfile alice "+dir+"/report.pdf"; got != want {
		t.Fatalf("after tab the input is %q, want %q", got, want)
	}
}

func TestTransferSaidWhereTheUserLooks(t *testing.T) {
	h, _ := filesHarness(t) // alice is selected
	tr := filexfer.Transfer{ID: strings.Repeat("7", 32), Peer: bob.Identity, Dir: filexfer.Receive, Name: "song.ogg", Size: 4_000_000, State: filexfer.StateOffered}
	h.events(app.TransferChanged{Peer: bob.Key, Kind: filexfer.EventOffered, Transfer: tr})
	h.wantScreen("file from bob: offer 77777777: song.ogg (4.0 MB)")
	tr.State = filexfer.StateActive
	h.events(app.TransferChanged{Peer: bob.Key, Kind: filexfer.EventStarted, Transfer: tr})
	h.wantScreen("· 1 transfer ·")
	h.dontWantScreen("started", "↓ song.ogg")
}

// A file sent to a group: /sendfile #team asks the node to offer it to
// each member; the members' transfers are lines in the group's
// conversation and one bar for them all.
func TestFileToGroupShownInGroup(t *testing.T) {
	n := threePeers()
	team, err := n.CreateGroup("team", []app.PeerKey{alice.Key, bob.Key})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, n, Options{})
	f := &filesFake{fakeNode: n}
	h.m.node = f
	h.key("ctrl+n")
	if h.m.list.sel != team.Key {
		t.Fatalf("selected %q, want the group", h.m.list.sel)
	}
	h.enter("/sendfile #team ~/plan.pdf")
	h.wantScreen("hashing and offering ~/plan.pdf to each member of #team")
	f.fmu.Lock()
	calls := strings.Join(f.calls, "|")
	f.fmu.Unlock()
	if want := "sendgroup " + string(team.Key) + " ~/plan.pdf"; calls != want {
		t.Fatalf("calls %q, want %q", calls, want)
	}

	gid := strings.TrimPrefix(string(team.Key), app.GroupKeyPrefix)
	tr := func(p app.Peer, st filexfer.State, done int64) filexfer.Transfer {
		return filexfer.Transfer{ID: p.Identity[:1] + strings.Repeat("0", 31), Peer: p.Identity, Dir: filexfer.Send, Name: "plan.pdf",
			Size: 1_000_000, State: st, Done: done, Rate: 2e6, Group: gid, Batch: "b1", Created: time.Unix(1, 0)}
	}
	h.events(app.TransferChanged{Peer: team.Key, Kind: filexfer.EventOffered, Transfer: tr(alice, filexfer.StateOffered, 0)})
	queued := tr(bob, filexfer.StateQueued, 0)
	queued.Error = "waiting for the peer to come online"
	h.events(app.TransferChanged{Peer: team.Key, Kind: filexfer.EventQueued, Transfer: queued})
	h.wantScreen("file to alice: offered", "file to bob: queued")
	h.events(app.TransferChanged{Peer: team.Key, Kind: filexfer.EventProgress, Transfer: tr(alice, filexfer.StateActive, 250_000)})
	h.wantScreen("↑ plan.pdf █", " 25% 2.0 MB/s · 2 members: 1 sending, 1 queued (offline)")
	h.events(app.TransferChanged{Peer: team.Key, Kind: filexfer.EventDone, Transfer: tr(alice, filexfer.StateDone, 1_000_000)})
	h.wantScreen("✓ file to alice:")
	h.dontWantScreen("↑ plan.pdf █")
	expired := tr(bob, filexfer.StateExpired, 0)
	expired.Error = "not delivered: the peer was not reachable within 7 days"
	h.events(app.TransferChanged{Peer: team.Key, Kind: filexfer.EventExpired, Transfer: expired})
	h.wantScreen("file to bob: ", "plan.pdf: expired (not delivered: the peer was not reachable within 7 days)")
}
