package filexfer

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// sendFile offers path from alice to bob, accepts it on bob's side and
// waits until both report done; it returns bob's transfer.
func sendFile(t *testing.T, alice, bob *peer, path string) Transfer {
	t.Helper()
	tr := offerAccepted(t, alice, bob, path)
	got := bob.await(EventDone, tr.ID).Transfer
	alice.await(EventDone, tr.ID)
	return got
}

// offerAccepted offers path from alice to bob and accepts it on bob's
// side once his offered event (checked) arrives.
func offerAccepted(t *testing.T, alice, bob *peer, path string) Transfer {
	t.Helper()
	tr, err := alice.engine().Offer(context.Background(), bob.ID(), path)
	if err != nil {
		t.Fatal(err)
	}
	offered := bob.await(EventOffered, tr.ID)
	if offered.Transfer.Dir != Receive || offered.Transfer.Peer != alice.ID() || offered.Transfer.Size != tr.Size {
		t.Fatalf("bob got offer %+v", offered.Transfer)
	}
	if err := bob.engine().Accept(tr.ID); err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestTransfer50MB(t *testing.T) {
	n := newNetwork()
	alice, bob := newPeer(t, n, Config{}), newPeer(t, n, Config{})
	const size = 50 << 20
	path, sum := writeFile(t, "big file.bin", size)

	got := sendFile(t, alice, bob, path)
	if got.Path != filepath.Join(bob.cfg.DownloadDir, "big file.bin") || got.State != StateDone || got.Done != size {
		t.Fatalf("bob's transfer %+v", got)
	}
	if h := fileHash(t, got.Path); !equalBytes(h, sum) {
		t.Fatal("the received file's hash differs")
	}
	if names := dirNames(t, bob.cfg.DownloadDir); !slices.Equal(names, []string{"big file.bin"}) {
		t.Fatalf("download dir holds %q, want only the file", names)
	}
	if sent, _ := alice.engine().Stats(); sent != size {
		t.Fatalf("alice sent %d bytes of data, want %d", sent, size)
	}
	for _, p := range []*peer{alice, bob} {
		if list := p.engine().Transfers(); len(list) != 1 || list[0].State != StateDone {
			t.Fatalf("transfers %+v", list)
		}
	}

	// The same name again is saved beside it, never over it.
	got = sendFile(t, alice, bob, path)
	if filepath.Base(got.Path) != "big file (1).bin" {
		t.Fatalf("second copy saved as %q", got.Path)
	}
}

func TestEmptyFile(t *testing.T) {
	n := newNetwork()
	alice, bob := newPeer(t, n, Config{}), newPeer(t, n, Config{})
	path, _ := writeFile(t, "empty.txt", 0)
	got := sendFile(t, alice, bob, path)
	if st, err := os.Stat(got.Path); err != nil || st.Size() != 0 || filepath.Base(got.Path) != "empty.txt" {
		t.Fatalf("saved %q: %v, %v", got.Path, st, err)
	}
}

// resumeCase runs a transfer that is interrupted once bob has read half of
// it, by interrupt, and checks that it finishes with fewer than size bytes
// sent after the interruption.
func resumeCase(t *testing.T, alice, bob *peer, drop bool, interrupt func(*gate)) {
	t.Helper()
	const size = 16 << 20
	path, sum := writeFile(t, "resume.bin", size)
	g := newGate(size/2, drop)
	g.install(bob)

	tr := offerAccepted(t, alice, bob, path)
	waitClosed(t, g.reached, "half the file")
	interrupt(g)
	sentBefore, _ := alice.engine().Stats()

	got := bob.await(EventDone, tr.ID).Transfer
	alice.await(EventDone, tr.ID)
	sentAfter, _ := alice.engine().Stats()
	if sentBefore > sentAfter { // alice restarted: her counter began again
		sentBefore = 0
	}
	if after := sentAfter - sentBefore; after >= size || after == 0 {
		t.Fatalf("%d bytes sent after the interruption, want some but fewer than %d", after, size)
	} else {
		t.Logf("%d of %d bytes sent after the interruption", after, size)
	}
	if h := fileHash(t, got.Path); !equalBytes(h, sum) {
		t.Fatal("the resumed file's hash differs")
	}
}

func TestResumeAfterDroppedConnection(t *testing.T) {
	n := newNetwork()
	alice, bob := newPeer(t, n, Config{}), newPeer(t, n, Config{Checkpoint: 1 << 20})
	resumeCase(t, alice, bob, true, func(g *gate) { close(g.release) })
}

func TestResumeAfterReceiverRestart(t *testing.T) {
	n := newNetwork()
	store, err := NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	alice := newPeer(t, n, Config{})
	bob := newPeer(t, n, Config{Checkpoint: 1 << 20, Store: store})
	resumeCase(t, alice, bob, false, func(*gate) { bob.restart() })
}

// frozenStore drops every Save while frozen: what a receiver killed with
// -9 leaves behind is its last checkpoint, not the one a clean Close saves.
type frozenStore struct {
	Store
	frozen atomic.Bool
	// checkpointed is closed once a download checkpoint is saved.
	checkpointed chan struct{}
	once         sync.Once
}

func (s *frozenStore) Save(r Record) error {
	if s.frozen.Load() {
		return nil
	}
	err := s.Store.Save(r)
	if r.Offset > 0 && r.State == StateActive {
		s.once.Do(func() { close(s.checkpointed) })
	}
	return err
}

func TestResumeAfterReceiverCrash(t *testing.T) {
	n := newNetwork()
	fs, err := NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	store := &frozenStore{Store: fs, checkpointed: make(chan struct{})}
	alice := newPeer(t, n, Config{})
	bob := newPeer(t, n, Config{Checkpoint: 1 << 20, Store: store})
	resumeCase(t, alice, bob, false, func(*gate) {
		waitClosed(t, store.checkpointed, "a checkpoint") // synced in the background
		store.frozen.Store(true)                          // the crash: nothing more is saved
		bob.restart()                                     // the partial file may be longer than the checkpoint says
		store.frozen.Store(false)
	})
}

func TestResumeAfterSenderRestart(t *testing.T) {
	n := newNetwork()
	store, err := NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	alice := newPeer(t, n, Config{Store: store})
	bob := newPeer(t, n, Config{Checkpoint: 1 << 20})
	resumeCase(t, alice, bob, false, func(g *gate) {
		alice.restart()
		close(g.release) // bob reads on and finds the connection gone
	})
}

func TestDownloadStopsOnKeyMismatch(t *testing.T) {
	n := newNetwork()
	alice, bob, mallory := newPeer(t, n, Config{}), newPeer(t, n, Config{}), newPeer(t, n, Config{})
	path, _ := writeFile(t, "x.bin", 4<<20)
	g := newGate(1<<20, true)
	g.install(bob)
	tr := offerAccepted(t, alice, bob, path)
	waitClosed(t, g.reached, "a quarter of the file")
	n.set(alice.ID(), n.dest(mallory.ID()).Addr) // mallory now holds alice's address
	close(g.release)                             // and the connection drops
	ev := bob.await(EventFailed, tr.ID)
	if !strings.Contains(ev.Transfer.Error, "key mismatch") {
		t.Fatalf("error %q", ev.Transfer.Error)
	}
}

func TestReject(t *testing.T) {
	n := newNetwork()
	alice, bob := newPeer(t, n, Config{}), newPeer(t, n, Config{})
	path, _ := writeFile(t, "no.bin", 1000)
	tr, err := alice.engine().Offer(context.Background(), bob.ID(), path)
	if err != nil {
		t.Fatal(err)
	}
	bob.await(EventOffered, tr.ID)
	if err := bob.engine().Reject(tr.ID); err != nil {
		t.Fatal(err)
	}
	if ev := alice.await(EventRejected, tr.ID); ev.Transfer.State != StateRejected {
		t.Fatalf("alice: %+v", ev.Transfer)
	}
	if err := bob.engine().Accept(tr.ID); !errors.Is(err, ErrState) {
		t.Fatalf("accept after reject: %v", err)
	}
	if err := bob.engine().Reject("00"); !errors.Is(err, ErrUnknown) {
		t.Fatalf("reject of an unknown id: %v", err)
	}
}

func TestCancel(t *testing.T) {
	for _, by := range []string{"sender", "receiver"} {
		t.Run("by "+by, func(t *testing.T) {
			n := newNetwork()
			alice, bob := newPeer(t, n, Config{}), newPeer(t, n, Config{Checkpoint: 1 << 20})
			path, _ := writeFile(t, "cancel.bin", 8<<20)
			g := newGate(4<<20, false)
			g.install(bob)
			tr := offerAccepted(t, alice, bob, path)
			waitClosed(t, g.reached, "half the file")
			canceller, other := alice, bob
			if by == "receiver" {
				canceller, other = bob, alice
			}
			if err := canceller.engine().Cancel(tr.ID); err != nil {
				t.Fatal(err)
			}
			canceller.await(EventCancelled, tr.ID)
			if ev := other.await(EventCancelled, tr.ID); !strings.Contains(ev.Transfer.Error, "cancelled") {
				t.Fatalf("%+v", ev.Transfer)
			}
			close(g.release)
			bob.stop() // the download goroutine has ended
			if names := dirNames(t, bob.cfg.DownloadDir); len(names) != 0 {
				t.Fatalf("download dir holds %q after a cancel", names)
			}
		})
	}
}

func TestWrongHashDiscarded(t *testing.T) {
	n := newNetwork()
	alice, bob := newPeer(t, n, Config{}), newPeer(t, n, Config{})
	path, _ := writeFile(t, "changing.bin", 3<<20)
	tr, err := alice.engine().Offer(context.Background(), bob.ID(), path)
	if err != nil {
		t.Fatal(err)
	}
	bob.await(EventOffered, tr.ID)
	// The file changes after the offer (same size): bob's hash will not match.
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("changed"), 1<<20)
	f.Close()
	if err := bob.engine().Accept(tr.ID); err != nil {
		t.Fatal(err)
	}
	ev := bob.await(EventFailed, tr.ID)
	if !strings.Contains(ev.Transfer.Error, "hash mismatch") {
		t.Fatalf("bob's error %q", ev.Transfer.Error)
	}
	if ev := alice.await(EventFailed, tr.ID); !strings.Contains(ev.Transfer.Error, "hash") {
		t.Fatalf("alice's error %q", ev.Transfer.Error)
	}
	if names := dirNames(t, bob.cfg.DownloadDir); len(names) != 0 {
		t.Fatalf("download dir holds %q after a hash mismatch", names)
	}
}

// fullFS is the OS file system whose files fail with ENOSPC once more
// than room bytes were written in all (while full is set).
type fullFS struct {
	OSFS
	room    int64
	written atomic.Int64
	full    atomic.Bool
}

func (f *fullFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	file, err := f.OSFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &fullFile{File: file, fs: f}, nil
}

type fullFile struct {
	File
	fs *fullFS
}

func (f *fullFile) Write(p []byte) (int, error) {
	if f.fs.full.Load() && f.fs.written.Add(int64(len(p))) > f.fs.room {
		n, _ := f.File.Write(p[:len(p)/2]) // a short write, as a full disk gives
		return n, &fs.PathError{Op: "write", Path: "partial", Err: syscall.ENOSPC}
	}
	return f.File.Write(p)
}

func TestDiskFull(t *testing.T) {
	n := newNetwork()
	ffs := &fullFS{room: 3 << 20}
	ffs.full.Store(true)
	alice := newPeer(t, n, Config{})
	bob := newPeer(t, n, Config{FS: ffs, Checkpoint: 1 << 20})
	const size = 8 << 20
	path, sum := writeFile(t, "big.iso", size)
	tr := offerAccepted(t, alice, bob, path)
	ev := bob.await(EventFailed, tr.ID)
	if !strings.Contains(ev.Transfer.Error, "disk full") || !strings.Contains(ev.Transfer.Error, "accept") {
		t.Fatalf("error %q: want it to say the disk is full and what to do", ev.Transfer.Error)
	}
	for _, name := range dirNames(t, bob.cfg.DownloadDir) {
		if !strings.HasSuffix(name, ".part") {
			t.Fatalf("download dir holds %q after a full disk", name)
		}
	}

	// Room again: accepting resumes from the checkpoint.
	ffs.full.Store(false)
	sentBefore, _ := alice.engine().Stats()
	if err := bob.engine().Accept(tr.ID); err != nil {
		t.Fatal(err)
	}
	got := bob.await(EventDone, tr.ID).Transfer
	if h := fileHash(t, got.Path); !equalBytes(h, sum) {
		t.Fatal("hash differs after the resume")
	}
	if sentAfter, _ := alice.engine().Stats(); sentAfter-sentBefore >= size {
		t.Fatalf("the resume sent %d bytes, the whole file again", sentAfter-sentBefore)
	}
}

func TestOfferLimits(t *testing.T) {
	n := newNetwork()
	alice := newPeer(t, n, Config{})
	bob := newPeer(t, n, Config{MaxSize: 1 << 20, OfferBurst: 3, MaxPending: 100})
	ctx := context.Background()

	big, _ := writeFile(t, "big.bin", 1<<20+1)
	_, err := alice.engine().Offer(ctx, bob.ID(), big)
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "over the 1 MB") {
		t.Fatalf("offer over the limit: %v", err)
	}
	if ev := alice.await(EventFailed, ""); !strings.Contains(ev.Transfer.Error, "over the") {
		t.Fatalf("alice's transfer: %+v", ev.Transfer)
	}

	small, _ := writeFile(t, "small.bin", 10)
	for i := range 2 { // the over-size offer took one of three
		if _, err := alice.engine().Offer(ctx, bob.ID(), small); err != nil {
			t.Fatalf("offer %d: %v", i, err)
		}
	}
	// Beyond the burst bob refuses; alice queues the offer to try again
	// later.
	if tr, err := alice.engine().Offer(ctx, bob.ID(), small); err != nil || tr.State != StateQueued || !strings.Contains(tr.Error, "too many offers") {
		t.Fatalf("a flood of offers: %+v, %v", tr, err)
	}

	carol := newPeer(t, n, Config{MaxPending: 1})
	if _, err := alice.engine().Offer(ctx, carol.ID(), small); err != nil {
		t.Fatal(err)
	}
	if tr, err := alice.engine().Offer(ctx, carol.ID(), small); err != nil || tr.State != StateQueued || !strings.Contains(tr.Error, "waiting for an answer") {
		t.Fatalf("offers beyond MaxPending: %+v, %v", tr, err)
	}
}

// TestHostileNames offers names a hostile sender could choose (the engine
// itself always offers a base name) and checks what bob saves.
func TestHostileNames(t *testing.T) {
	n := newNetwork()
	alice, bob := newPeer(t, n, Config{}), newPeer(t, n, Config{})
	path, sum := writeFile(t, "x", 100)
	for _, tc := range []struct{ offered, saved string }{
		{"../../etc/passwd", "passwd"},
		{"..", "file"},
		{`..\..\windows\system.ini`, "system.ini"},
		{"\x1b]0;pwned\x07evil\x1b[2J.txt", "]0;pwnedevil[2J.txt"},
		{".bashrc", "bashrc"},
		{"a\u202etxt.exe", "atxt.exe"},
	} {
		t.Run(tc.offered, func(t *testing.T) {
			rec := Record{ID: newID().String(), Peer: bob.ID(), Dir: Send, Name: tc.offered, Path: path, Size: 100, SHA256: sum, State: StateQueued, Created: time.Now(), Updated: time.Now()}
			tr := &transfer{rec: rec, offering: true}
			e := alice.engine()
			e.mu.Lock()
			e.transfers[rec.ID] = tr
			e.mu.Unlock()
			if got, err := e.deliver(context.Background(), tr, true); err != nil || got.State != StateOffered {
				t.Fatalf("%+v, %v", got, err)
			}
			if ev := bob.await(EventOffered, rec.ID); ev.Transfer.Name != tc.saved {
				t.Fatalf("offered as %q, shown as %q, want %q", tc.offered, ev.Transfer.Name, tc.saved)
			}
			bob.engine().Accept(rec.ID)
			got := bob.await(EventDone, rec.ID).Transfer
			if got.Path != filepath.Join(bob.cfg.DownloadDir, tc.saved) {
				t.Fatalf("saved at %q", got.Path)
			}
		})
	}
}

func TestUnknownAndForeignTransfers(t *testing.T) {
	n := newNetwork()
	alice, bob, mallory := newPeer(t, n, Config{}), newPeer(t, n, Config{}), newPeer(t, n, Config{})
	path, _ := writeFile(t, "secret.txt", 100)
	tr, err := alice.engine().Offer(context.Background(), bob.ID(), path)
	if err != nil {
		t.Fatal(err)
	}
	// mallory learns the id and asks alice for the file: refused.
	id, _ := parseID(tr.ID)
	s, err := mallory.tr.OpenStream(context.Background(), n.dest(alice.ID()), ALPN)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Write(getFrame{ID: id}.append(nil))
	a, err := readAnswer(s)
	if err != nil || a.Code != codeUnknown {
		t.Fatalf("answer to a foreign get: %+v, %v", a, err)
	}
	// Nor can mallory cancel it.
	me := mallory.engine()
	me.mu.Lock()
	me.transfers[tr.ID] = &transfer{rec: Record{ID: tr.ID, Peer: alice.ID(), Dir: Receive, State: StateOffered, Updated: time.Now()}}
	me.mu.Unlock()
	if err := mallory.engine().Cancel(tr.ID); err != nil {
		t.Fatal(err)
	}
	mallory.await(EventCancelled, tr.ID)
	mallory.stop() // its notice has been sent (or given up)
	if got, _ := alice.engine().Get(tr.ID); got.State != StateOffered {
		t.Fatalf("a third peer changed alice's transfer: %+v", got)
	}
}

func TestLookup(t *testing.T) {
	e, err := New(Config{DownloadDir: t.TempDir(), Dial: func(context.Context, string) (io.ReadWriteCloser, error) { return nil, errors.New("offline") }})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	e.mu.Lock() // its sweep reads the map
	for _, id := range []string{"aa11", "aa22", "bb33"} {
		e.transfers[id] = &transfer{rec: Record{ID: id}}
	}
	e.mu.Unlock()
	for _, tc := range []struct {
		prefix, want string
		err          error
	}{
		{"bb", "bb33", nil},
		{"AA2", "aa22", nil},
		{"aa", "", ErrAmbiguous},
		{"cc", "", ErrUnknown},
		{"", "", ErrUnknown},
	} {
		got, err := e.Lookup(tc.prefix)
		if got != tc.want || !errors.Is(err, tc.err) {
			t.Errorf("Lookup(%q) = %q, %v; want %q, %v", tc.prefix, got, err, tc.want, tc.err)
		}
	}
}

func TestFileStoreRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s, err := NewFileStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	r := Record{ID: newID().String(), Peer: "P", Dir: Receive, Name: "a.txt", Size: 5, State: StateActive, Offset: 3, HashState: []byte{1, 2}}
	if err := s.Save(r); err != nil {
		t.Fatal(err)
	}
	r.Offset = 4
	if err := s.Save(r); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(Record{ID: "../x"}); err == nil {
		t.Fatal("saved a record with a bad id")
	}
	got, err := s.Load()
	if err != nil || len(got) != 1 || got[0].Offset != 4 || got[0].Name != "a.txt" || string(got[0].HashState) != "\x01\x02" {
		t.Fatalf("loaded %+v, %v", got, err)
	}
	os.WriteFile(filepath.Join(dir, "bad.json"), []byte("{"), 0o600)
	if got, err := s.Load(); err == nil || len(got) != 1 {
		t.Fatalf("a corrupt record: %d loaded, err %v", len(got), err)
	}
}

func TestPlaceNeverOverwrites(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"a.txt", "a (1).txt", "noext"} {
		os.WriteFile(filepath.Join(dir, name), []byte("old"), 0o600)
	}
	for _, tc := range []struct{ name, want string }{
		{"a.txt", "a (2).txt"},
		{"noext", "noext (1)"},
		{"new.tar.gz", "new.tar.gz"},
	} {
		tmp := filepath.Join(dir, ".tmp")
		os.WriteFile(tmp, []byte("new"), 0o600)
		got, err := place(OSFS{}, tmp, dir, tc.name)
		if err != nil || got != filepath.Join(dir, tc.want) {
			t.Fatalf("place %q: %q, %v; want %q", tc.name, got, err, tc.want)
		}
		if _, err := os.Stat(tmp); !errors.Is(err, fs.ErrNotExist) {
			t.Fatal("the temporary file remains")
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "a.txt")); string(b) != "old" {
		t.Fatal("an existing file was overwritten")
	}
}

var _ io.ReadWriteCloser = (*gatedConn)(nil)
