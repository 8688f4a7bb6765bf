package main

import "testing"

// TestLineModeGroup runs three real processes: alice makes #team with bob
// and carol, messages reach the others, and carol, restarted, catches up
// with what she missed and still has the group.
func TestLineModeGroup(t *testing.T) {
	port := e2ePort()
	alice := startLine(t, "alice", port)
	bob := startLine(t, "bob", port)
	carolHome := t.TempDir()
	carol := startLineAt(t, carolHome, "carol", port)
	alice.expect("bob joined")
	alice.expect("carol joined")
	bob.expect("alice joined")
	carol.expect("alice joined")

	alice.send("/group new #team bob carol")
	alice.expect("created #team and invited bob, carol")
	for _, p := range []*proc{bob, carol} {
		p.expect("alice invited you to #team (you have NEVER talked with them)")
		p.send("/group join #team")
		p.expect("joined #team")
		p.expect("#team: 3 members")
	}
	alice.send("/send #team hello team")
	alice.expect("#team you: hello team")
	bob.expect("#team alice: hello team")
	carol.expect("#team alice: hello team")
	carol.send("/send #team from carol")
	alice.expect("#team carol: from carol")
	bob.expect("#team carol: from carol")

	carol.send("/quit")
	if err := carol.wait(); err != nil {
		t.Fatalf("carol /quit: %v", err)
	}
	alice.expect("carol left")
	alice.send("/send #team while you were away")
	bob.expect("#team alice: while you were away")

	carol = startLineAt(t, carolHome, "carol", port)
	carol.expect("#team alice: while you were away")
	carol.send("/groups")
	carol.expect("#team: 3 members")
}
