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
		o, err := c.Observe(s.nick, s.id, now)
		if got := o.Trust; err != nil || got != s.want {
			t.Errorf("Observe(%s, %s) = %v, %v; want %v", s.nick, s.id, o.Trust, err, s.want)
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

// TestContactsPinOnWhatTheUserDoes: issue 11, item 3. A stranger who
// messages first as "carol" is not pinned while the real carol has been
// heard too; sending or verifying pins; a lone key that messages is
// pinned; nobody is "key changed" for a name not pinned.
func TestContactsPinOnWhatTheUserDoes(t *testing.T) {
	now := time.Now()
	type step struct {
		op, nick, id string // op: claim (announce), observe (message), choose (send), verify
		want         Trust  // trust after the step, by Check
		pinned       bool   // the step pinned the name
		contested    bool
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"stranger messages first after the real carol announced", []step{
			{"claim", "carol", "REAL", TrustNew, false, false},
			{"observe", "carol", "FAKE", TrustNew, false, true},
			{"claim", "carol", "REAL", TrustNew, false, false}, // no "key changed"
			{"observe", "carol", "REAL", TrustNew, false, false},
		}},
		{"the user sends to the real carol: she is pinned, the stranger changed", []step{
			{"claim", "carol", "REAL", TrustNew, false, false},
			{"observe", "Carol", "FAKE", TrustNew, false, true},
			{"choose", "carol", "REAL", TrustKnown, true, false},
			{"claim", "carol", "FAKE", TrustChanged, false, false},
		}},
		{"verifying pins", []step{
			{"claim", "carol", "REAL", TrustNew, false, false},
			{"claim", "carol", "FAKE", TrustNew, false, true},
			{"verify", "carol", "FAKE", TrustVerified, false, false},
			{"claim", "carol", "REAL", TrustChanged, false, false},
		}},
		{"only one carol ever talked: pinned by her message", []step{
			{"claim", "carol", "REAL", TrustNew, false, false},
			{"observe", "carol", "REAL", TrustKnown, true, false},
			{"claim", "carol", "FAKE", TrustChanged, false, false},
		}},
		{"sending to a second key of a pinned name does not re-pin", []step{
			{"observe", "carol", "REAL", TrustKnown, true, false},
			{"choose", "carol", "FAKE", TrustChanged, false, false},
		}},
		{"look-alike names contest each other", []step{
			{"claim", "carol", "REAL", TrustNew, false, false},
			{"claim", "Carol​", "FAKE", TrustNew, false, true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := OpenContacts("")
			for i, s := range tt.steps {
				var o Observation
				var err error
				switch s.op {
				case "claim":
					o = c.Claim(s.nick, s.id)
				case "observe":
					o, err = c.Observe(s.nick, s.id, now)
				case "choose":
					o, err = c.Choose(s.nick, s.id, now)
				case "verify":
					err = c.Verify(s.nick, s.id)
				}
				if err != nil {
					t.Fatal(err)
				}
				if got := c.Check(s.nick, s.id); got != s.want || o.Pinned != s.pinned || o.Contested != s.contested {
					t.Errorf("step %d %s(%s, %s): trust %v pinned %v contested %v; want %v %v %v",
						i, s.op, s.nick, s.id, got, o.Pinned, o.Contested, s.want, s.pinned, s.contested)
				}
			}
		})
	}
}

func TestContactsRefoldedOnOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), ContactsFileName)
	// Written before the confusables skeleton was part of the fold.
	os.WriteFile(path, []byte(`{"pinned":{"b0b":"K1","tim":"K2"},"keys":{}}`), 0o600)
	c, err := OpenContacts(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ nick, id string }{{"bob", "K1"}, {"B0B", "K1"}, {"tim", "K2"}, {"tirn", "K2"}} {
		if got := c.Check(tt.nick, tt.id); got != TrustKnown {
			t.Errorf("Check(%s, %s) = %v, want known", tt.nick, tt.id, got)
		}
	}
}

func TestContactsCorrupt(t *testing.T) {
	path := filepath.Join(t.TempDir(), ContactsFileName)
	os.WriteFile(path, []byte("{not json"), 0o600)
	if _, err := OpenContacts(path); err == nil {
		t.Fatal("corrupt contacts file accepted")
	}
}
