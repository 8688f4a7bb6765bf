package tui

import (
	"slices"
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
	h := newPickedHarness(t, n, Options{})
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

// TestLookAlikesAcrossScriptsAndOwnName: issue 11, items 4 and 11. A
// Cyrillic "\u0430lice" is tagged and marked; a peer using the user's own
// nickname is tagged.
func TestLookAlikesAcrossScriptsAndOwnName(t *testing.T) {
	n := newFakeNode()
	cyr := testPeer("\u0430lice", "cyri")
	mimic := testPeer(n.Self().Nickname, "mimi")
	for _, p := range []app.Peer{alice, cyr, mimic, bob} {
		n.upsert(p)
	}
	h := newHarness(t, n, Options{})
	want := map[app.PeerKey]string{
		alice.Key: "alice#ALICALI",
		cyr.Key:   "\u0430lice<mixed scripts>#CYRICYR",
		mimic.Key: n.Self().Nickname + "#MIMIMIM",
		bob.Key:   "bob",
	}
	for key, name := range want {
		if it, ok := h.m.list.item(key); !ok || it.name != name {
			t.Errorf("row of %s: %q, want %q", key, it.name, name)
		}
	}
}

func TestNicknameWithHashGetsATag(t *testing.T) {
	n := newFakeNode()
	fake := testPeer("alice#ALICALI", "fake")
	n.upsert(alice)
	n.upsert(fake)
	h := newPickedHarness(t, n, Options{})
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
	h := newPickedHarness(t, threePeers(), Options{})
	for _, it := range h.m.list.items {
		if strings.Contains(it.name, "#") {
			t.Errorf("row %q has a tag", it.name)
		}
	}
}

// maryAnns is a node with two peers called "Mary Ann", one "Mary" and bob.
func maryAnns() (*fakeNode, app.Peer, app.Peer, app.Peer) {
	n := newFakeNode()
	m1, m2, mary := testPeer("Mary Ann", "one"), testPeer("Mary Ann", "two"), testPeer("Mary", "mary")
	for _, p := range []app.Peer{m1, m2, mary, bob} {
		n.upsert(p)
	}
	return n, m1, m2, mary
}

func TestTabCompletesNamesWithSpacesInQuotes(t *testing.T) {
	n := newFakeNode()
	n.upsert(testPeer("Mary Ann", "mary"))
	n.upsert(bob)
	tests := []struct {
		name, typed, want string
	}{
		{"after a command", "/msg Ma", `/msg "Mary Ann" `},
		{"in text", "hi Ma", `hi "Mary Ann" `},
		{"typed in quotes", `/send "mary a`, `/send "Mary Ann" `},
		{"typed without quotes", "/whois Mary A", `/whois "Mary Ann" `},
		{"no space, no quotes", "/msg b", "/msg bob "},
		{"a command", "/ms", "/msg "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newPickedHarness(t, n, Options{})
			h.typeText(tt.typed)
			h.key("tab")
			if got := h.m.input.Value(); got != tt.want {
				t.Errorf("%q + tab = %q, want %q", tt.typed, got, tt.want)
			}
		})
	}
}

func TestTabCompletesTaggedNamesWithSpaces(t *testing.T) {
	n, m1, m2, _ := maryAnns()
	h := newPickedHarness(t, n, Options{})
	h.typeText("/msg Mary A")
	h.key("tab")
	want := `/msg "Mary Ann#ONEONEO" `
	if got := h.m.input.Value(); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	h.wantScreen(`tab: "Mary Ann#ONEONEO"  "Mary Ann#TWOTWOT"`)
	h.key("tab")
	if got := h.m.input.Value(); got != `/msg "Mary Ann#TWOTWOT" ` {
		t.Fatalf("second tab: %q", got)
	}
	h.key("enter")
	if h.m.list.sel != m2.Key {
		t.Errorf("the completed line selected %q, want the second Mary Ann", h.m.list.sel)
	}
	h.enter(`/send "Mary Ann#ONEONEO" hello`)
	if s := n.sentMessages(); len(s) != 1 || s[0] != (sentMessage{m1.Key, "hello"}) {
		t.Errorf("sent %v", s)
	}
}

func TestSendToNameWithSpaces(t *testing.T) {
	n, _, _, mary := maryAnns()
	lone := testPeer("Ann Lee", "annl")
	n.upsert(lone)
	h := newPickedHarness(t, n, Options{})
	h.enter("/send Ann Lee see you at 3")
	h.enter("/send Mary see you too")
	want := []sentMessage{{lone.Key, "see you at 3"}, {mary.Key, "see you too"}}
	if s := n.sentMessages(); !slices.Equal(s, want) {
		t.Errorf("sent %v, want %v", s, want)
	}
	// Two peers called Mary Ann: the longest name wins, and is ambiguous.
	h.enter("/send Mary Ann hi")
	h.wantScreen(`✗ "Mary Ann" is ambiguous, say which: Mary Ann#ONEONEO, Mary Ann#TWOTWOT`)
}

// TestCompletionQuotesWhatCompleteLineGives: a name with spaces from
// completeLine is quoted even if completeLine does not quote it.
func TestCompletionQuotesWhatCompleteLineGives(t *testing.T) {
	plain := func(line string, names []string) []string {
		start := strings.LastIndexByte(line, ' ') + 1
		var out []string
		for _, n := range names {
			if strings.HasPrefix(strings.ToLower(n), strings.ToLower(line[start:])) {
				out = append(out, line[:start]+n+" ")
			}
		}
		return out
	}
	tests := []struct{ line, want string }{
		{"/msg Ma", `/msg "Mary Ann" `},
		{`/msg "Mary Ann" hi b`, `/msg "Mary Ann" hi bob `},
	}
	for _, tt := range tests {
		if got := completeInputWith(plain, tt.line, []string{"Mary Ann", "bob"}); len(got) != 1 || got[0] != tt.want {
			t.Errorf("%q: %q, want %q", tt.line, got, tt.want)
		}
	}
}

// FuzzCompleteInput: any line and names complete without a panic, each
// completion keeping what was typed before the word and ending in a space.
func FuzzCompleteInput(f *testing.F) {
	f.Add("/msg Mary A", "Mary Ann", "bob")
	f.Add(`/send "ma`, "Mary Ann", "mary")
	f.Add("hi b", "bob", `"x y`)
	f.Fuzz(func(t *testing.T, line, a, b string) {
		for _, o := range completeInput(line, []string{a, b}) {
			if !strings.HasSuffix(o, " ") {
				t.Fatalf("completion %q of %q does not end in a space", o, line)
			}
		}
	})
}
