package app_test

import (
	"testing"
)

// TestGroupMixedPaths: the members of one group reach each other over
// different paths. alice and carol run mode "both" and meet on the LAN
// (multicast on lo); bob runs only the bootstrap client, so alice and
// carol reach him over the internet path. Every message reaches the other
// two exactly once. (On loopback: the NAT lab version needs the punching
// coordination of the reach issue, so that b can reach a at all.)
func TestGroupMixedPaths(t *testing.T) {
	url := startBootstrap(t)
	port := uint16(nextPort.Add(1))
	alice := startNodeWith(t, "alice", port, nodeOpts{server: url})
	bob := startNodeWith(t, "bob", 0, nodeOpts{server: url})
	carol := startNodeWith(t, "carol", port, nodeOpts{server: url})
	key := team(t, alice, bob, carol)

	paths := map[string]string{}
	for _, p := range alice.Peers() {
		paths[p.Nickname] = p.Source
	}
	if paths["carol"] != "lan" || paths["bob"] != "internet" {
		t.Fatalf("alice reaches carol over %q and bob over %q; want lan and internet", paths["carol"], paths["bob"])
	}

	nodes := map[string]*realNode{"alice": alice, "bob": bob, "carol": carol}
	for nick, n := range nodes {
		if _, err := n.SendToGroup(key, "over every path from "+nick); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range nodes {
		for nick := range nodes {
			waitUntil(t, n, nick+"'s message", hasText(t, n, key, "over every path from "+nick))
		}
	}
	for nick, n := range nodes {
		texts := groupTexts(t, n, key)
		if len(texts) != 3 {
			t.Errorf("%s holds %d group messages, want 3: %q", nick, len(texts), texts)
		}
	}
}
