package tui

import (
	"strings"
	"testing"

	"github.com/parlance-chat/parlance/app"
)

// TestLookAlikeNicknames: nicknames that differ only by what cannot be
// seen show it, and get tags so that each row reads differently.
func TestLookAlikeNicknames(t *testing.T) {
	n := newFakeNode()
	zw := testPeer("alice\u200b", "zwsp")
	shy := testPeer("ali\u00adce", "shyy")
	caps := testPeer("ALICE", "caps")
	bidi := testPeer("bob\u202e", "bidi")
	for _, p := range []app.Peer{alice, zw, shy, caps, bob, bidi} {
		n.upsert(p)
	}
	h := newHarness(t, n, Options{})
	h.events(incoming(zw, "it is me, alice", testStart))
	want := map[app.PeerKey]string{
		alice.Key: "alice#ALICALI",
		zw.Key:    "alice<U+200B>#ZWSPZWS",
		shy.Key:   "ali<U+00AD>ce#SHYYSHY",
		caps.Key:  "ALICE#CAPSCAP",
		bob.Key:   "bob#BOBBBOB",
		bidi.Key:  "bob<U+202E>#BIDIBID",
	}
	for key, name := range want {
		it, ok := h.m.list.item(key)
		if !ok || it.name != name {
			t.Errorf("row of %s: %q, want %q", key, it.name, name)
		}
	}
	h.wantScreen("alice<U+200B>#ZWSPZWS", "ali<U+00AD>ce#SHYYSHY")
	// The row's name is what /msg takes, and what the messages show.
	h.enter("/msg alice<U+200B>#ZWSPZWS")
	if h.m.list.sel != zw.Key {
		t.Fatalf("/msg by the row's name selected %q", h.m.list.sel)
	}
	h.wantScreen("alice<U+200B>: it is me, alice", "╭─ alice<U+200B>#ZWSPZWS · online")
}

func TestNicknameWithHashGetsATag(t *testing.T) {
	n := newFakeNode()
	fake := testPeer("alice#ALICALI", "fake")
	n.upsert(alice)
	n.upsert(fake)
	h := newHarness(t, n, Options{})
	// Alone, alice needs no tag; but "alice#ALICALI" looks like her name
	// with one, so both get one.
	if it, _ := h.m.list.item(alice.Key); it.name != "alice#ALICALI" {
		t.Errorf("alice's row: %q", it.name)
	}
	if it, _ := h.m.list.item(fake.Key); it.name != "alice#ALICALI#FAKEFAK" {
		t.Errorf("the other row: %q", it.name)
	}
	h.enter("/msg alice#ALICALI#FAKEFAK")
	if h.m.list.sel != fake.Key {
		t.Errorf("selected %q", h.m.list.sel)
	}
}

func TestNoTagsWithoutLookAlikes(t *testing.T) {
	h := newHarness(t, threePeers(), Options{})
	for _, it := range h.m.list.items {
		if strings.Contains(it.name, "#") {
			t.Errorf("row %q has a tag", it.name)
		}
	}
}
