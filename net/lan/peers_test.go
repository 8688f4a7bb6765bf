package lan

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/parlance-chat/parlance/net/discovery"
)

var (
	ipA = netip.MustParseAddr("192.0.2.1")
	ipB = netip.MustParseAddr("192.0.2.2")
)

// pk is the key of a Parlance peer with identity id, run as instance inst,
// heard from ip.
func pk(id, inst string, ip netip.Addr) peerKey {
	return keyOf(discovery.Peer{Nickname: "n", Identity: id, Instance: inst}, ip, 0, "")
}

func TestKeyOf(t *testing.T) {
	cases := []struct {
		name string
		peer discovery.Peer
		want peerKey
	}{
		{"identity", discovery.Peer{Nickname: "alice", Identity: "ID", Instance: "i1"}, peerKey{id: "id:ID", instance: "i1", ip: ipA}},
		{"original", discovery.Peer{Nickname: "bob"}, peerKey{id: "orig:bob@192.0.2.1", instance: "", ip: ipA}},
		{"keyless Parlance peer", discovery.Peer{Nickname: "bob", Instance: "i2"}, peerKey{id: "orig:bob@192.0.2.1", instance: "i2", ip: ipA}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := keyOf(tc.peer, ipA, 0, ""); got != tc.want {
				t.Errorf("keyOf = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestPeerSet(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	s := newPeerSet(3, 15*time.Second, 0)
	steps := []struct {
		at  time.Duration
		op  string // "seen" or "goodbye"
		key peerKey
		ok  bool // seen: is new; goodbye: accepted
	}{
		{0, "seen", pk("a", "1", ipA), true},
		{time.Second, "seen", pk("a", "1", ipA), false},
		{2 * time.Second, "seen", pk("b", "1", ipA), true},
		{16 * time.Second, "seen", pk("a", "1", ipA), false}, // heard 15 s ago: still known
		{18 * time.Second, "seen", pk("b", "1", ipA), true},  // heard 16 s ago: expired
		{19 * time.Second, "seen", pk("a", "2", ipA), true},  // restarted: a new instance
		{19 * time.Second, "seen", pk("a", "2", ipB), false}, // same instance from another interface
		{20 * time.Second, "goodbye", pk("a", "2", ipA), false},
		{20 * time.Second, "goodbye", pk("a", "1", ipB), false}, // an old instance
		{20 * time.Second, "goodbye", pk("c", "1", ipB), false}, // never heard
		{20 * time.Second, "goodbye", pk("a", "2", ipB), true},
		{20 * time.Second, "goodbye", pk("a", "2", ipB), false}, // already gone
		{21 * time.Second, "seen", pk("a", "2", ipB), true},
	}
	for i, st := range steps {
		now := t0.Add(st.at)
		var got bool
		if st.op == "goodbye" {
			got = s.goodbye(st.key)
		} else {
			got = s.seen(st.key, now)
		}
		if got != st.ok {
			t.Errorf("step %d: %s(%+v) at %v = %v, want %v", i, st.op, st.key, st.at, got, st.ok)
		}
	}
}

// TestPeerSetFull: once full, new peers are not added (and not new), the
// peers known keep their place, and a full set prunes at most once per
// fullPruneGap.
func TestPeerSetFull(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	s := newPeerSet(3, 10*time.Second, 0)
	for i := range 3 {
		s.seen(pk(fmt.Sprint("p", i), "1", ipA), t0)
	}
	for i := range 100 { // a flood of new keys within 100 ms
		at := t0.Add(9*time.Second + time.Duration(i)*time.Millisecond)
		if s.seen(pk(fmt.Sprint("forged", i), "1", ipB), at) {
			t.Fatalf("forged peer %d counts as new in a full set", i)
		}
		if s.len() != 3 {
			t.Fatalf("after forged peer %d the set holds %d, want 3", i, s.len())
		}
	}
	if want := t0.Add(9 * time.Second); !s.lastPrune.Equal(want) {
		t.Errorf("last prune at %v, want once, at the first new key (%v)", s.lastPrune.Sub(t0), want.Sub(t0))
	}
	// The peers known before the flood are still known.
	for i := range 3 {
		if s.seen(pk(fmt.Sprint("p", i), "1", ipA), t0.Add(9500*time.Millisecond)) {
			t.Errorf("known peer p%d was pushed out by the flood", i)
		}
	}
	if !s.goodbye(pk("p0", "1", ipA)) {
		t.Error("goodbye of a known peer refused after the flood")
	}
	// Room again: the next new key gets in.
	if !s.seen(pk("late", "1", ipB), t0.Add(9600*time.Millisecond)) {
		t.Error("new peer not new after a goodbye made room")
	}
	// Once the rest expire, a prune makes room.
	if !s.seen(pk("later", "1", ipB), t0.Add(20*time.Second)) || s.len() != 1 {
		t.Errorf("after expiry: set of %d, want only the newest", s.len())
	}
}

func TestPeerSetPrunesExpired(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	s := newPeerSet(100, time.Second, 0)
	for i := range 50 {
		s.seen(pk(fmt.Sprint("p", i), "1", ipA), t0)
	}
	s.seen(pk("late", "1", ipA), t0.Add(time.Minute))
	if s.len() != 1 {
		t.Errorf("after expiry the set holds %d, want 1", s.len())
	}
}
