package app_test

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/hpke"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parlance-chat/parlance/app"
	"github.com/parlance-chat/parlance/app/store"
	"github.com/parlance-chat/parlance/bootstrap"
	"github.com/parlance-chat/parlance/net/identity"
	"github.com/parlance-chat/parlance/net/mailbox"
)

// startMailServer runs a bootstrap server with a mailbox kept in dir.
func startMailServer(t *testing.T, dir string) (string, *bootstrap.MailStore) {
	t.Helper()
	mail, err := bootstrap.OpenMailStore(bootstrap.MailConfig{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- bootstrap.New(bootstrap.Config{Mailbox: mail}).Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("bootstrap server: %v", err)
		}
	})
	return "ws://" + ln.Addr().String(), mail
}

// eventually polls cond (state held by another process or goroutine
// with no event of its own) until it holds, for up to 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5 s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestMailboxOnLoopback is the mailbox test with real nodes and a
// real server: bob quits, alice sends, alice quits, bob starts: bob gets
// the message, once, and the server holds no plaintext; a letter the
// server forges in alice's name is refused. When alice comes back, her
// outbox delivers the message directly, bob drops the copy, and alice
// sees it delivered.
func TestMailboxOnLoopback(t *testing.T) {
	dir := t.TempDir()
	url, mail := startMailServer(t, dir)
	idA, idB := newID(t), newID(t)
	keyA, keyB := newMailKey(t), newMailKey(t)
	storeA, storeB := store.NewMemory(0), store.NewMemory(0)
	optsA := nodeOpts{id: idA, store: storeA, server: url, mailbox: keyA, mailboxAfter: 50 * time.Millisecond}
	optsB := nodeOpts{id: idB, store: storeB, server: url, mailbox: keyB, mailboxAfter: 50 * time.Millisecond}

	alice := startNodeWith(t, "alice", 0, optsA)
	bob := startNodeWith(t, "bob", 0, optsB)
	toBob := waitJoins(t, alice, "bob")["bob"]
	waitJoins(t, bob, "alice")
	eventually(t, "bob's published mailbox key", func() bool { _, ok := mail.Key(idB.ID().String(), time.Now()); return ok })

	bob.stop()
	waitFor(t, alice, "bob leaving", func(e app.PeerLeft) bool { return e.Peer.Key == toBob })
	const text = "the cake is in the oven, do not tell anyone"
	sent, err := alice.Send(context.Background(), toBob, text)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, alice, "the message left at the server", func(e app.Notice) bool {
		return e.Peer == toBob && strings.Contains(e.Text, "✉")
	})
	if !alice.Mailboxed(sent.ID) {
		t.Fatal("alice does not show the message as left at the server")
	}
	alice.stop()

	// What the server holds: routing metadata and ciphertext only.
	items := mail.Dump()
	if len(items) != 1 || items[0].To != idB.ID().String() || items[0].From != idA.ID().String() {
		t.Fatalf("server holds %+v", items)
	}
	assertNoPlaintext(t, dir, items, text, "alice")

	// The server forges a letter in alice's name: sealed to bob's
	// published key, but not signed by alice.
	rec, _ := mail.Key(idB.ID().String(), time.Now())
	forged := forgeLetter(t, rec.Key, idA, idB.ID(), "forged0000000000000000000000000", "send your password to the server")
	if err := mail.Put(idA.ID().String(), idB.ID().String(), "forged0000000000000000000000000", forged, time.Now()); err != nil {
		t.Fatal(err)
	}

	bob = startNodeWith(t, "bob", 0, optsB)
	got := waitMsg(t, bob, "alice's message from the mailbox", func(m app.Message) bool { return !m.Outgoing })
	if got.Text != text || got.From != "alice" || got.ID != sent.ID || got.Conv != app.ConvOf(app.PeerKey("id:"+idA.ID().String())) {
		t.Fatalf("bob got %+v", got)
	}
	waitFor(t, bob, "the forged letter refused", func(e app.Notice) bool { return e.Warning && strings.Contains(e.Text, "refused") })
	eventually(t, "the server emptying bob's mailbox", func() bool { c, _ := mail.Status(idB.ID().String(), time.Now()); return c == 0 })
	// bob's receipt waits in alice's mailbox.
	eventually(t, "bob's receipt for alice", func() bool { c, _ := mail.Status(idA.ID().String(), time.Now()); return c == 1 })
	if _, err := storeB.Message(got.Conv, "forged0000000000000000000000000"); err == nil {
		t.Fatal("bob stored the forged letter")
	}

	// Alice comes back: bob's receipt from her mailbox, or bob's ack when
	// her outbox writes the message to him directly, makes it delivered;
	// bob keeps one copy.
	alice = startNodeWith(t, "alice", 0, optsA)
	waitMsg(t, alice, "bob's acknowledgement", func(m app.Message) bool {
		return m.ID == sent.ID && (m.State == store.Delivered || m.State == store.Read)
	})
	eventually(t, "the server emptying alice's mailbox", func() bool { return mail.Stats().Items == 0 })
	hist, err := storeB.History(got.Conv, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 1 {
		t.Fatalf("bob's conversation holds %d messages, want 1: %+v", len(hist), hist)
	}
}

// assertNoPlaintext checks the server's items and its files for words of
// the message.
func assertNoPlaintext(t *testing.T, dir string, items []bootstrap.MailItem, words ...string) {
	t.Helper()
	var all [][]byte
	for _, it := range items {
		all = append(all, it.Sealed)
	}
	err := filepath.Walk(dir, func(path string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		all = append(all, b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) < 2 {
		t.Fatalf("no files in the mailbox directory %s", dir)
	}
	for _, b := range all {
		for _, w := range words {
			if bytes.Contains(b, []byte(w)) {
				t.Fatalf("the server's storage holds %q", w)
			}
		}
	}
}

// forgeLetter seals, to the KEM key pub, a letter naming from as its
// sender but signed by another key: what a hostile server could make.
func forgeLetter(t *testing.T, pub []byte, from *identity.Identity, to identity.ID, id, text string) []byte {
	t.Helper()
	evil := newID(t)
	l := mailbox.Letter{From: from.ID(), To: to, Nickname: "alice", ID: id, Sent: time.Unix(time.Now().Unix(), 0), Text: text}
	plain, err := json.Marshal(map[string]any{
		"v": 1, "from": string(from.ID()), "public_key": from.PublicKey(), "to": string(to),
		"nickname": l.Nickname, "id": id, "sent": l.Sent.Unix(), "text": text,
		"signature": evil.Sign(mailbox.LetterMessage(l)),
	})
	if err != nil {
		t.Fatal(err)
	}
	kem := hpke.DHKEM(ecdh.X25519())
	pk, err := kem.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := hpke.Seal(pk, hpke.HKDFSHA256(), hpke.ChaCha20Poly1305(), append([]byte(mailbox.InfoDomain), to...), plain)
	if err != nil {
		t.Fatal(err)
	}
	return sealed
}

func newID(t *testing.T) *identity.Identity {
	t.Helper()
	id, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func newMailKey(t *testing.T) *mailbox.Key {
	t.Helper()
	k, err := mailbox.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}
