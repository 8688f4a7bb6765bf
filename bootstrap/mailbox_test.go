package bootstrap

import (
	"testing"
	"time"

	"github.com/parlance-chat/parlance/net/identity"
	"github.com/parlance-chat/parlance/net/mailbox"
	"github.com/parlance-chat/parlance/net/wire"
)

// registerMail registers c as id asking for the mailbox, and returns
// whether it was granted (then the mailbox_status that follows).
func registerMail(t *testing.T, c *rawClient, id *identity.Identity, nick string) (bool, wire.MailboxStatus) {
	t.Helper()
	c.send(wire.Register{Nickname: nick, LocalAddr: mustAddrPort("0.0.0.0:4000"), Features: []string{wire.FeatureMailbox},
		Identity: id.ID().String(), PublicKey: id.PublicKey()})
	c.send(c.auth(id, recvType[wire.Challenge](c).Nonce))
	r := recvType[wire.Registered](c)
	if !wire.HasFeature(r.Features, wire.FeatureMailbox) {
		return false, wire.MailboxStatus{}
	}
	return true, recvType[wire.MailboxStatus](c)
}

func TestMailboxOverTheWire(t *testing.T) {
	mail, err := OpenMailStore(MailConfig{})
	if err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, Config{Mailbox: mail})
	alice, bob := mustID(t), mustID(t)
	a := dial(t, srv.url)
	if ok, st := registerMail(t, a, alice, "alice"); !ok || st.Count != 0 {
		t.Fatalf("mailbox not granted, or not empty: %v %+v", ok, st)
	}
	key, err := mailbox.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}

	// A key record must be the connection's own.
	a.send(wire.MailboxKeyPut{Key: key.Publish(bob, time.Now())})
	a.send(wire.MailboxKeyGet{Identity: bob.ID().String()})
	if r := recvType[wire.MailboxKeyReply](a); r.Key != nil {
		t.Fatalf("the server kept a key published by someone else: %+v", r)
	}

	// alice leaves two items for bob.
	for _, id := range []string{"m1", "m2"} {
		a.send(wire.MailboxPut{To: bob.ID().String(), ID: id, Sealed: []byte("ciphertext " + id)})
		if r := recvType[wire.MailboxStored](a); r.Error != "" || r.ID != id {
			t.Fatalf("put %s: %+v", id, r)
		}
	}
	// alice cannot read or delete them.
	a.send(wire.MailboxFetch{})
	if r := recvType[wire.MailboxItems](a); len(r.Items) != 0 {
		t.Fatalf("alice fetched %+v", r.Items)
	}
	a.send(wire.MailboxAck{IDs: []string{"m1"}})

	b := dial(t, srv.url)
	_, st := registerMail(t, b, bob, "bob")
	if st.Count != 2 {
		t.Fatalf("bob's status %+v, want 2 items", st)
	}
	b.send(wire.MailboxKeyPut{Key: key.Publish(bob, time.Now())})
	b.send(wire.MailboxFetch{})
	items := recvType[wire.MailboxItems](b)
	if len(items.Items) != 2 || items.Items[0].From != alice.ID().String() || string(items.Items[1].Sealed) != "ciphertext m2" {
		t.Fatalf("bob fetched %+v", items)
	}
	b.send(wire.MailboxAck{IDs: []string{"m1", "m2"}})
	a.send(wire.MailboxKeyGet{Identity: bob.ID().String()})
	if r := recvType[wire.MailboxKeyReply](a); r.Key == nil {
		t.Fatal("bob's key not handed out")
	}
	waitFor(t, "bob's mailbox emptied", func() bool { return mail.Stats().Items == 0 })

	// A client without a proved identity is not granted the mailbox.
	c := dial(t, srv.url)
	c.send(wire.Register{Nickname: "carol", LocalAddr: mustAddrPort("0.0.0.0:4000"), Features: []string{wire.FeatureMailbox}})
	if r := recvType[wire.Registered](c); wire.HasFeature(r.Features, wire.FeatureMailbox) {
		t.Fatal("mailbox granted without an identity")
	}
	c.send(wire.MailboxFetch{})
	if e := recvType[wire.Error](c); e.Message != errMailboxOff {
		t.Fatalf("fetch without the mailbox: %q", e.Message)
	}
}

func TestMailboxOff(t *testing.T) {
	srv := startServer(t, Config{})
	c := dial(t, srv.url)
	if ok, _ := registerMail(t, c, mustID(t), "alice"); ok {
		t.Fatal("mailbox granted by a server without one")
	}
}

func mustID(t *testing.T) *identity.Identity {
	t.Helper()
	id, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return id
}
