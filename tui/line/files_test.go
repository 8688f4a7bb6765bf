package line

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parlance-chat/parlance/app"
	"github.com/parlance-chat/parlance/net/filexfer"
)

// filesNode is a fake node with file transfer.
type filesNode struct {
	*fakeNode
	fmu   sync.Mutex
	calls []string
}

func (f *filesNode) call(s string) {
	f.fmu.Lock()
	defer f.fmu.Unlock()
	f.calls = append(f.calls, s)
}

func (f *filesNode) SendFile(_ context.Context, key app.PeerKey, path string) (filexfer.Transfer, error) {
	f.call("send " + string(key) + " " + path)
	return filexfer.Transfer{}, nil
}
func (f *filesNode) SendFileToGroup(_ context.Context, key app.PeerKey, path string) ([]filexfer.Transfer, error) {
	f.call("sendgroup " + string(key) + " " + path)
	return nil, nil
}
func (f *filesNode) AcceptFile(id string) (filexfer.Transfer, error) {
	f.call("accept " + id)
	return filexfer.Transfer{}, nil
}
func (f *filesNode) RejectFile(id string) (filexfer.Transfer, error) {
	f.call("reject " + id)
	return filexfer.Transfer{}, nil
}
func (f *filesNode) CancelFile(id string) (filexfer.Transfer, error) {
	f.call("cancel " + id)
	return filexfer.Transfer{}, nil
}
func (f *filesNode) Transfers() []filexfer.Transfer {
	return []filexfer.Transfer{{ID: strings.Repeat("ab", 16), Peer: strings.Repeat("B", 52), Dir: filexfer.Receive, Name: "photo.jpg", Size: 2_100_000, State: filexfer.StateActive, Done: 1_050_000}}
}

// next returns the next output line.
func (s *session) next() string {
	s.t.Helper()
	select {
	case l, ok := <-s.out:
		if !ok {
			s.t.Fatal("output ended")
		}
		return l
	case <-time.After(expectTimeout):
		s.t.Fatalf("no output within %v", expectTimeout)
		return ""
	}
}

func TestFileEventsAndCommands(t *testing.T) {
	alice := strings.Repeat("B", 52)
	fn := &filesNode{fakeNode: newFakeNode("me", make(chan app.Event, 10), peer("alice", alice, 5000, true))}
	s := startWith(t, fn, Options{})
	tr := filexfer.Transfer{ID: strings.Repeat("1a2b", 8), Peer: alice, Dir: filexfer.Receive, Name: "photo\x1b[31m.jpg", Size: 2_100_000}
	key := app.PeerKey("id:" + alice)

	fn.events <- app.TransferChanged{Peer: key, Kind: filexfer.EventOffered, Transfer: tr}
	if l := s.expect("offer 1a2b1a2b"); !strings.Contains(l, "from alice") || !strings.Contains(l, "2.1 MB") || !strings.Contains(l, "/accept 1a2b1a2b") || strings.Contains(l, "\x1b") {
		t.Fatalf("offer line %q", l)
	}
	// Three progress events within a second: one line.
	for i := 1; i <= 3; i++ {
		p := tr
		p.State, p.Done, p.Rate = filexfer.StateActive, int64(i)*500_000, 1e6
		fn.events <- app.TransferChanged{Peer: key, Kind: filexfer.EventProgress, Transfer: p}
	}
	done := tr
	done.State, done.Done, done.Path = filexfer.StateDone, tr.Size, "/dl/photo.jpg"
	fn.events <- app.TransferChanged{Peer: key, Kind: filexfer.EventDone, Transfer: done}
	if l := s.next(); !strings.Contains(l, "500.0 kB of 2.1 MB (24%), 1.0 MB/s") {
		t.Fatalf("progress line %q", l)
	}
	if l := s.next(); !strings.Contains(l, "saved to /dl/photo.jpg, SHA-256 verified") {
		t.Fatalf("after the first progress line %q; want the final one (progress at most once a second)", l)
	}
	failed := tr
	failed.State, failed.Error = filexfer.StateFailed, "hash mismatch: the file was discarded"
	fn.events <- app.TransferChanged{Peer: key, Kind: filexfer.EventFailed, Transfer: failed}
	if l := s.next(); !strings.HasPrefix(l, "! file from alice") || !strings.Contains(l, "hash mismatch") {
		t.Fatalf("failure line %q", l)
	}

	s.send("/transfers")
	s.expect("1 file transfer(s)")
	if l := s.next(); !strings.Contains(l, "abababab  from alice  photo.jpg  2.1 MB  1.1 MB of 2.1 MB (50%)") {
		t.Fatalf("/transfers line %q", l)
	}
	s.send("/sendfile alice ~/a b.txt")
	s.expect("offering ~/a b.txt to alice")
	s.send("/accept 1a2b")
	s.send("/reject")
	s.send("/cancel 1a2b")
	s.send("/sendfile nobody x")
	s.expect("no peer called nobody")
	fn.fmu.Lock()
	got := strings.Join(fn.calls, "|")
	fn.fmu.Unlock()
	if want := "send id:" + alice + " ~/a b.txt|accept 1a2b|reject |cancel 1a2b"; got != want {
		t.Fatalf("calls %q, want %q", got, want)
	}
}

func TestFileCommandsWithoutFiles(t *testing.T) {
	s := start(t, newFakeNode("me", make(chan app.Event, 10)))
	s.send("/transfers")
	s.expect("error: file transfer is off")
}

// groupFilesNode has groups and file transfer.
type groupFilesNode struct {
	*fakeGroupNode
	f *filesNode
}

func (g *groupFilesNode) SendFile(ctx context.Context, key app.PeerKey, path string) (filexfer.Transfer, error) {
	return g.f.SendFile(ctx, key, path)
}
func (g *groupFilesNode) SendFileToGroup(ctx context.Context, key app.PeerKey, path string) ([]filexfer.Transfer, error) {
	return g.f.SendFileToGroup(ctx, key, path)
}
func (g *groupFilesNode) AcceptFile(id string) (filexfer.Transfer, error) { return g.f.AcceptFile(id) }
func (g *groupFilesNode) RejectFile(id string) (filexfer.Transfer, error) { return g.f.RejectFile(id) }
func (g *groupFilesNode) CancelFile(id string) (filexfer.Transfer, error) { return g.f.CancelFile(id) }
func (g *groupFilesNode) Transfers() []filexfer.Transfer                  { return g.f.Transfers() }

func TestFileToGroup(t *testing.T) {
	a, c := strings.Repeat("B", 52), strings.Repeat("D", 52)
	events := make(chan app.Event, 10)
	fake := newFakeNode("me", events, peer("alice", a, 5000, true), peer("carol", c, 7000, false))
	node := &groupFilesNode{fakeGroupNode: &fakeGroupNode{fakeNode: fake}, f: &filesNode{fakeNode: fake}}
	s := start(t, node)
	s.send("/group new #team alice carol")
	s.expect("created #team")
	key := node.groups[0].Key
	s.send("/sendfile #team ~/plan.pdf")
	s.expect("offering ~/plan.pdf to each member of #team")
	s.send("/sendfile #nope x")
	s.expect("no group #nope")
	node.f.fmu.Lock()
	got := strings.Join(node.f.calls, "|")
	node.f.fmu.Unlock()
	if want := "sendgroup " + string(key) + " ~/plan.pdf"; got != want {
		t.Fatalf("calls %q, want %q", got, want)
	}

	gid := strings.TrimPrefix(string(key), app.GroupKeyPrefix)
	tr := func(peer string, st filexfer.State, done int64) filexfer.Transfer {
		return filexfer.Transfer{ID: peer[:1] + strings.Repeat("0", 31), Peer: peer, Dir: filexfer.Send, Name: "plan.pdf", Size: 1_000_000,
			State: st, Done: done, Rate: 1e6, Group: gid, Batch: "b1"}
	}
	events <- app.TransferChanged{Peer: key, Kind: filexfer.EventOffered, Transfer: tr(a, filexfer.StateOffered, 0)}
	if l := s.expect("file to alice in #team: offered"); l == "" {
		t.Fatal("no offer line")
	}
	queued := tr(c, filexfer.StateQueued, 0)
	queued.Error = "waiting for the peer to come online"
	events <- app.TransferChanged{Peer: key, Kind: filexfer.EventQueued, Transfer: queued}
	s.expect("file to carol in #team: queued")
	// Progress of a file sent to a group: one summary a second.
	events <- app.TransferChanged{Peer: key, Kind: filexfer.EventProgress, Transfer: tr(a, filexfer.StateActive, 500_000)}
	events <- app.TransferChanged{Peer: key, Kind: filexfer.EventProgress, Transfer: tr(a, filexfer.StateActive, 600_000)}
	events <- app.TransferChanged{Peer: key, Kind: filexfer.EventDone, Transfer: tr(a, filexfer.StateDone, 1_000_000)}
	if l := s.next(); !strings.Contains(l, "plan.pdf to 2 members: 1 sending, 1 queued (offline) (50%, 1.0 MB/s)") {
		t.Fatalf("summary line %q", l)
	}
	if l := s.next(); !strings.Contains(l, "file to alice in #team:") || !strings.Contains(l, "delivered") {
		t.Fatalf("after one summary line: %q", l)
	}
}
