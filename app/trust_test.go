package app

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestContactsTOFU(t *testing.T) {
	path := filepath.Join(t.TempDir(), ContactsFileName)
	c, err := OpenContacts(path)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	// Announces are only checked: nothing is pinned by them.
	if got := c.Check("alice", "K1"); got != TrustNew {
		t.Fatalf("Check before any proof = %v, want new", got)
	}
	if got := c.Check("alice", "K2"); got != TrustNew {
		t.Fatalf("Check of a second key before any proof = %v, want new", got)
	}
	steps := []struct {
		nick, id string
		want     Trust
	}{
		{"alice", "K1", TrustNew},     // first proof pins alice to K1
		{"alice", "K1", TrustKnown},   // and then it is known
		{"alice", "K2", TrustChanged}, // someone else using the name
		{"bob", "", TrustNone},        // an original peer
		{"alice", "", TrustChanged},   // an original peer using a pinned name
		{"al", "K1", TrustNew},        // alice renamed herself: a new name, pinned to K1
		{"al", "K1", TrustKnown},
	}
	for _, s := range steps {
		got, err := c.Observe(s.nick, s.id, now)
		if err != nil || got != s.want {
			t.Errorf("Observe(%s, %s) = %v, %v; want %v", s.nick, s.id, got, err, s.want)
		}
	}
	if got := c.Check("alice", "K2"); got != TrustChanged {
		t.Errorf("Check(alice, K2) = %v, want key changed", got)
	}
	if err := c.Verify("alice", "K1"); err != nil {
		t.Fatal(err)
	}
	// Reopen from disk: pins and verification persist.
	c2, err := OpenContacts(path)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		nick, id string
		want     Trust
	}{
		{"alice", "K1", TrustVerified},
		{"alice", "K2", TrustChanged},
		{"bob", "K1", TrustVerified},        // a verified key under a free nickname
		{"al", "K1", TrustVerified},         // and under a nickname pinned to it
		{"carol", "", TrustNone},            // unknown original peer
		{"alice", "", TrustChanged},         // original peer using a keyed name
		{"Alice\u200b", "K9", TrustChanged}, // a look-alike of a pinned name
	}
	for _, tt := range tests {
		if got := c2.Check(tt.nick, tt.id); got != tt.want {
			t.Errorf("after reopen, Check(%s, %s) = %v, want %v", tt.nick, tt.id, got, tt.want)
		}
	}
	// A verified key taking a name pinned to another key is not verified.
	c2.Observe("bob", "K3", now)
	if got := c2.Check("bob", "K1"); got != TrustChanged {
		t.Errorf("verified key under someone else's pinned name = %v, want key changed", got)
	}
	// Verifying the new key of a changed peer re-pins the name.
	if err := c2.Verify("alice", "K2"); err != nil {
		t.Fatal(err)
	}
	if got := c2.Check("alice", "K2"); got != TrustVerified {
		t.Errorf("after verifying the new key: %v, want verified", got)
	}
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("contacts file mode = %v, %v; want 0600", info.Mode(), err)
	}
}

func TestContactsCorrupt(t *testing.T) {
	path := filepath.Join(t.TempDir(), ContactsFileName)
	os.WriteFile(path, []byte("{not json"), 0o600)
	if _, err := OpenContacts(path); err == nil {
		t.Fatal("corrupt contacts file accepted")
	}
}
