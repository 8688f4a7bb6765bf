package main

import (
	"strings"
	"testing"
)

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

// groupOverMixedPaths is the group test of issue 13 over mixed paths, on
// the processes TestBothModeInTheNATLab brought up in the NAT lab: alice
// and carol share a home LAN, bob is behind the other NAT and reaches each
// of them over a punched connection. alice makes #team with bob and carol,
// each of the three posts, and every message reaches the other two exactly
// once, while /whois still shows alice↔carol over the LAN and bob↔each
// over the internet, punched.
func groupOverMixedPaths(t *testing.T, alice, bob, carol *proc) {
	t.Helper()
	alice.send("/group new #team bob carol")
	alice.expect("created #team and invited bob, carol")
	for _, p := range []*proc{bob, carol} {
		p.expect("alice invited you to #team")
		p.send("/group join #team")
		p.expect("joined #team")
		p.expect("#team: 3 members")
		// carol's invite follows bob's, which she gets by catch-up: until
		// then she is joining, never told she is no longer a member.
		if n := p.count("no longer a member"); n != 0 {
			t.Errorf("%s printed \"no longer a member\" %d times while joining", p.name, n)
		}
	}

	// Each posts, then sees its own and the others' messages, in
	// whatever order they come.
	members := []*proc{alice, bob, carol}
	for _, p := range members {
		p.send("/send #team over every path from " + p.name)
	}
	for _, p := range members {
		want := map[string]bool{}
		for _, from := range members {
			who := from.name
			if from == p {
				who = "you"
			}
			want["#team "+who+": over every path from "+from.name] = true
		}
		for len(want) > 0 {
			l := p.expect("over every path from ")
			for w := range want {
				if strings.HasSuffix(l, w) {
					delete(want, w)
				}
			}
		}
	}
	// Exactly once: each holds the three messages, and (checked last,
	// after the /whois round trips, so a late duplicate has had time to
	// show) printed each of the others' once.
	for _, p := range members {
		p.send("/history #team")
		p.expect("last 3 message(s) in #team")
	}

	for _, w := range []struct {
		p         *proc
		peer, via string
	}{
		{alice, "carol", "via lan"},
		{carol, "alice", "via lan"},
		{alice, "bob", "via internet, punched"},
		{carol, "bob", "via internet, punched"},
		{bob, "alice", "via internet, punched"},
		{bob, "carol", "via internet, punched"},
	} {
		w.p.send("/whois " + w.peer)
		if l := w.p.expect("* " + w.peer + ": ID"); !strings.Contains(l, w.via) {
			t.Errorf("%s: /whois %s printed %q, want %q", w.p.name, w.peer, l, w.via)
		}
	}
	for _, p := range members {
		for _, from := range members {
			if n := p.count("#team " + from.name + ": over every path from " + from.name); from != p && n != 1 {
				t.Errorf("%s printed %s's group message %d times, want once", p.name, from.name, n)
			}
		}
	}
}
