package app_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parlance-chat/parlance/app"
	"github.com/parlance-chat/parlance/net/filexfer"
)

// filesPair starts alice and bob with file transfer on loopback, each
// seeing the other; bobFiles adjusts bob's configuration.
func filesPair(t *testing.T, bobFiles func(*app.FilesConfig)) (alice, bob *realNode, bobKey, aliceKey app.PeerKey, bobDir string, port uint16) {
	t.Helper()
	port = uint16(nextPort.Add(1))
	bobDir = t.TempDir()
	bc := &app.FilesConfig{Dir: bobDir}
	if bobFiles != nil {
		bobFiles(bc)
	}
	alice = startNodeWith(t, "alice", port, nodeOpts{files: &app.FilesConfig{Dir: t.TempDir()}})
	bob = startNodeWith(t, "bob", port, nodeOpts{files: bc})
	bobKey = waitJoins(t, alice, "bob")["bob"]
	aliceKey = waitJoins(t, bob, "alice")["alice"]
	return alice, bob, bobKey, aliceKey, bobDir, port
}

// writeRandom writes size random bytes to a new file and returns its path
// and content.
func writeRandom(t *testing.T, name string, size int) (string, []byte) {
	t.Helper()
	b := make([]byte, size)
	r := rand.New(rand.NewPCG(uint64(size), 15))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p, b
}

// acceptAndWait accepts an offer n got and returns the download's
// successful end.
func acceptAndWait(t *testing.T, n *realNode, offer app.TransferChanged) app.TransferChanged {
	t.Helper()
	if _, err := n.AcceptFile(filexfer.ShortID(offer.Transfer.ID)); err != nil {
		t.Fatalf("AcceptFile: %v", err)
	}
	done := waitFor(t, n, "the download's end", func(e app.TransferChanged) bool {
		return e.Kind == filexfer.EventDone || e.Kind == filexfer.EventFailed
	})
	if done.Kind != filexfer.EventDone {
		t.Fatalf("download ended %v: %s", done.Kind, done.Transfer.Error)
	}
	return done
}

func transferEvent(kind filexfer.EventKind, dir filexfer.Direction) func(app.TransferChanged) bool {
	return func(e app.TransferChanged) bool { return e.Kind == kind && e.Transfer.Dir == dir }
}

func TestFileOfferAcceptComplete(t *testing.T) {
	alice, bob, bobKey, aliceKey, bobDir, _ := filesPair(t, nil)
	path, content := writeRandom(t, "photo.jpg", 3<<20+17)

	sent, err := alice.SendFile(context.Background(), bobKey, path)
	if err != nil {
		t.Fatalf("SendFile: %v", err)
	}
	offer := waitFor(t, bob, "the offer", transferEvent(filexfer.EventOffered, filexfer.Receive))
	if offer.Peer != aliceKey || offer.Transfer.Name != "photo.jpg" || offer.Transfer.Size != int64(len(content)) || offer.Transfer.ID != sent.ID {
		t.Fatalf("offer = %+v; want photo.jpg from alice, %d bytes, id %s", offer, len(content), sent.ID)
	}
	done := acceptAndWait(t, bob, offer)
	got, err := os.ReadFile(done.Transfer.Path)
	if err != nil || !bytes.Equal(got, content) || filepath.Dir(done.Transfer.Path) != bobDir {
		t.Fatalf("saved %s (%d bytes, %v); want %d bytes in %s", done.Transfer.Path, len(got), err, len(content), bobDir)
	}
	sum := sha256.Sum256(content)
	if done.Transfer.SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("hash %s, want %x", done.Transfer.SHA256, sum)
	}
	up := waitFor(t, alice, "the upload's end", transferEvent(filexfer.EventDone, filexfer.Send))
	if up.Peer != bobKey {
		t.Fatalf("upload event for %s, want %s", up.Peer, bobKey)
	}
	if ts := bob.Transfers(); len(ts) != 1 || ts[0].State != filexfer.StateDone {
		t.Fatalf("bob's transfers: %+v", ts)
	}
}

func TestFileReject(t *testing.T) {
	alice, bob, bobKey, _, bobDir, _ := filesPair(t, nil)
	path, _ := writeRandom(t, "notes.txt", 1000)
	if _, err := alice.SendFile(context.Background(), bobKey, path); err != nil {
		t.Fatal(err)
	}
	waitFor(t, bob, "the offer", transferEvent(filexfer.EventOffered, filexfer.Receive))
	if _, err := bob.RejectFile(""); err != nil {
		t.Fatalf("RejectFile: %v", err)
	}
	waitFor(t, alice, "the rejection", transferEvent(filexfer.EventRejected, filexfer.Send))
	if _, err := bob.AcceptFile(""); err == nil {
		t.Fatal("accepted after rejecting: nothing should be waiting")
	}
	if names, _ := os.ReadDir(bobDir); len(names) != 0 {
		t.Fatalf("the download directory holds %v after a rejection", names)
	}
}

func TestFileAutoAcceptVerified(t *testing.T) {
	alice, bob, bobKey, aliceKey, _, _ := filesPair(t, func(c *app.FilesConfig) {
		c.AutoAcceptVerified, c.AutoAcceptMax = true, 1<<20
	})
	small, _ := writeRandom(t, "small.bin", 1000)
	big, _ := writeRandom(t, "big.bin", 1<<20+1)

	// Not verified yet: the offer waits.
	if _, err := alice.SendFile(context.Background(), bobKey, small); err != nil {
		t.Fatal(err)
	}
	waitFor(t, bob, "the first offer", transferEvent(filexfer.EventOffered, filexfer.Receive))
	if err := bob.MarkVerified(aliceKey); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.SendFile(context.Background(), bobKey, small); err != nil {
		t.Fatal(err)
	}
	done := waitFor(t, bob, "the auto-accepted download", transferEvent(filexfer.EventDone, filexfer.Receive))
	if done.Transfer.Name == "" {
		t.Fatalf("done = %+v", done)
	}
	// Over auto_accept_max_mb: it waits for the user.
	if _, err := alice.SendFile(context.Background(), bobKey, big); err != nil {
		t.Fatal(err)
	}
	waitFor(t, bob, "the big offer", func(e app.TransferChanged) bool {
		return e.Kind == filexfer.EventOffered && e.Transfer.Name == "big.bin"
	})
	waiting := 0
	for _, tr := range bob.Transfers() {
		if tr.State == filexfer.StateOffered {
			waiting++
		}
	}
	if waiting != 2 {
		t.Fatalf("%d offers wait; want 2 (the unverified one and the big one): %+v", waiting, bob.Transfers())
	}
}

func TestFileOriginalPeerRefused(t *testing.T) {
	port := uint16(nextPort.Add(1))
	alice := startNodeWith(t, "alice", port, nodeOpts{files: &app.FilesConfig{Dir: t.TempDir()}})
	sendAnnounce(t, port, `{"type":"announce","nickname":"carol","tcp_port":9}`)
	carol := waitFor(t, alice, "the original peer", joined("carol")).Peer
	if !carol.Original() {
		t.Fatalf("carol = %+v; want an original peer", carol)
	}
	path, _ := writeRandom(t, "x.txt", 10)
	_, err := alice.SendFile(context.Background(), carol.Key, path)
	if !errors.Is(err, app.ErrOriginalNoFiles) || !strings.Contains(err.Error(), "original peers can't receive files") {
		t.Fatalf("SendFile to an original peer: %v", err)
	}
}

func TestFileSendErrors(t *testing.T) {
	alice, _, bobKey, _, _, _ := filesPair(t, nil)
	dir := t.TempDir()
	for _, tt := range []struct{ path, want string }{
		{filepath.Join(dir, "missing"), "no such file"},
		{dir, "not a regular file"},
	} {
		if _, err := alice.SendFile(context.Background(), bobKey, tt.path); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("SendFile(%s): %v; want %q", tt.path, err, tt.want)
		}
	}
	if _, err := alice.SendFile(context.Background(), "id:nobody", dir); !errors.Is(err, app.ErrUnknownPeer) {
		t.Errorf("SendFile to an unknown peer: %v", err)
	}
	if _, err := alice.CancelFile(""); err == nil {
		t.Error("CancelFile without an id: no error")
	}
	if _, err := alice.AcceptFile(fmt.Sprintf("%032x", 1)); err == nil {
		t.Error("AcceptFile of an unknown id: no error")
	}
}

func TestFileCancelBySender(t *testing.T) {
	alice, bob, bobKey, _, _, _ := filesPair(t, nil)
	path, _ := writeRandom(t, "draft.txt", 5000)
	sent, err := alice.SendFile(context.Background(), bobKey, path)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, bob, "the offer", transferEvent(filexfer.EventOffered, filexfer.Receive))
	if _, err := alice.CancelFile(filexfer.ShortID(sent.ID)); err != nil {
		t.Fatalf("CancelFile: %v", err)
	}
	waitFor(t, bob, "the cancel", transferEvent(filexfer.EventCancelled, filexfer.Receive))
	if _, err := bob.AcceptFile(sent.ID); err == nil {
		t.Fatal("accepted a cancelled offer")
	}
}
