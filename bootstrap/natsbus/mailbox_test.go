package natsbus_test

import (
	"crypto/sha256"
	"testing"
	"time"

	"github.com/parlance-chat/parlance/bootstrap"
	"github.com/parlance-chat/parlance/net/identity"
	"github.com/parlance-chat/parlance/net/mailbox"
	"github.com/parlance-chat/parlance/net/wire"
)

// registerMailbox registers c as id with the mailbox and returns the
// mailbox_status that follows registered.
func (c *client) registerMailbox(nick string, id *identity.Identity) wire.MailboxStatus {
	c.t.Helper()
	reg := c.send(wire.Register{Nickname: nick, LocalAddr: addr("0.0.0.0:4000"), Features: []string{wire.FeatureMailbox},
		Identity: id.ID().String(), PublicKey: id.PublicKey()})
	nonce := recvType[wire.Challenge](c).Nonce
	c.send(wire.Auth{Signature: id.Sign(wire.AuthMessage(nonce, c.url, sha256.Sum256(reg))), URL: c.url})
	if r := recvType[wire.Registered](c); !wire.HasFeature(r.Features, wire.FeatureMailbox) {
		c.t.Fatalf("mailbox not granted: %+v", r)
	}
	return recvType[wire.MailboxStatus](c)
}

// The mailbox across two servers: bob's key, published on server 2, is
// handed out on server 1; alice's item, left on server 1, reaches bob
// when he registers on server 2; his ack there deletes it on server 1.
func TestMailboxAcrossServers(t *testing.T) {
	natsURL := startNATS(t, -1).ClientURL()
	newStore := func() *bootstrap.MailStore {
		m, err := bootstrap.OpenMailStore(bootstrap.MailConfig{})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	m1, m2 := newStore(), newStore()
	s1 := startServerWith(t, natsURL, bootstrap.Config{Mailbox: m1})
	s2 := startServerWith(t, natsURL, bootstrap.Config{Mailbox: m2})
	aliceID, _ := identity.Generate()
	bobID, _ := identity.Generate()
	key, err := mailbox.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}

	bob := dial(t, s2.url)
	bob.registerMailbox("bob", bobID)
	bob.send(wire.MailboxKeyPut{Key: key.Publish(bobID, time.Now())})
	waitFor(t, "bob's key on server 1", func() bool { _, ok := m1.Key(bobID.ID().String(), time.Now()); return ok })
	bob.send(wire.Unregister{})

	alice := dial(t, s1.url)
	alice.registerMailbox("alice", aliceID)
	alice.send(wire.MailboxPut{To: bobID.ID().String(), ID: "m1", Sealed: []byte("ciphertext")})
	if r := recvType[wire.MailboxStored](alice); r.Error != "" {
		t.Fatalf("put: %+v", r)
	}

	bob2 := dial(t, s2.url)
	if st := bob2.registerMailbox("bob", bobID); st.Count != 0 {
		t.Fatalf("server 2 holds %d items for bob, want 0 (the item is on server 1)", st.Count)
	}
	items := recvType[wire.MailboxItems](bob2)
	if len(items.Items) != 1 || items.Items[0].ID != "m1" || items.Items[0].From != aliceID.ID().String() {
		t.Fatalf("bob got %+v", items)
	}
	bob2.send(wire.MailboxAck{IDs: []string{"m1"}})
	waitFor(t, "the item deleted on server 1", func() bool { return m1.Stats().Items == 0 })
}
