package app

import (
	"fmt"
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
	steps := []struct {
		nick, id string
		want     Trust
	}{
		{"alice", "K1", TrustNew},
		{"alice", "K1", TrustKnown},
		{"alice", "K2", TrustChanged}, // someone else using the name
		{"bob", "", TrustNone},
		{"al", "K1", TrustKnown}, // alice renamed herself: same key, known
	}
	for _, s := range steps {
		got, err := c.Observe(s.nick, s.id, now)
		if err != nil || got != s.want {
			t.Errorf("Observe(%s, %s) = %v, %v; want %v", s.nick, s.id, got, err, s.want)
		}
	}
	if err := c.Verify("K1"); err != nil {
		t.Fatal(err)
	}
	// Reopen from disk: pins and verification persist.
	c2, err := OpenContacts(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := c2.Observe("alice", "K1", now); got != TrustVerified {
		t.Errorf("after reopen: %v, want verified", got)
	}
	if got, _ := c2.Observe("alice", "K2", now); got != TrustChanged {
		t.Errorf("after reopen, other key: %v, want key changed", got)
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

func TestMemoryStoreBounded(t *testing.T) {
	s := NewMemoryStore(100)
	for i := range 1000 {
		s.Append(Message{Peer: "p", Text: fmt.Sprint(i)})
		h, _ := s.History("p")
		if len(h) > 100 || i >= 100 && len(h) < 90 {
			t.Fatalf("after %d appends: kept %d messages, want 90 to 100", i+1, len(h))
		}
		// The newest messages are kept, in order.
		for k, m := range h {
			if want := fmt.Sprint(i - len(h) + 1 + k); m.Text != want {
				t.Fatalf("after %d appends: message %d is %q, want %q", i+1, k, m.Text, want)
			}
		}
	}
}
