package lan

import (
	"fmt"
	"testing"
	"time"
)

func TestPeerSet(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	s := newPeerSet(3, 15*time.Second)
	steps := []struct {
		at    time.Duration
		op    string // "seen" or "forget"
		key   string
		isNew bool
	}{
		{0, "seen", "a", true},
		{time.Second, "seen", "a", false},
		{2 * time.Second, "seen", "b", true},
		{16 * time.Second, "seen", "a", false}, // heard 15 s ago: still known
		{18 * time.Second, "seen", "b", true},  // heard 16 s ago: expired
		{19 * time.Second, "forget", "a", false},
		{19 * time.Second, "seen", "a", true},
	}
	for i, st := range steps {
		now := t0.Add(st.at)
		switch st.op {
		case "forget":
			s.forget(st.key)
		case "seen":
			if got := s.seen(st.key, now); got != st.isNew {
				t.Errorf("step %d: seen(%q) at %v = %v, want %v", i, st.key, st.at, got, st.isNew)
			}
		}
	}
}

func TestPeerSetBounded(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	s := newPeerSet(3, time.Minute)
	for i := range 10 {
		s.seen(fmt.Sprint("p", i), t0.Add(time.Duration(i)*time.Second))
		if s.len() > 3 {
			t.Fatalf("after %d peers the set holds %d, over its bound of 3", i+1, s.len())
		}
	}
	// The newest stay; the oldest were evicted and count as new again.
	if s.seen("p9", t0.Add(10*time.Second)) {
		t.Error("the newest peer was evicted")
	}
	if !s.seen("p0", t0.Add(10*time.Second)) {
		t.Error("the oldest peer was kept")
	}
}

func TestPeerSetPrunesExpired(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	s := newPeerSet(100, time.Second)
	for i := range 50 {
		s.seen(fmt.Sprint("p", i), t0)
	}
	s.seen("late", t0.Add(time.Minute))
	if s.len() != 1 {
		t.Errorf("after expiry the set holds %d, want 1", s.len())
	}
}
