package store

import (
	"fmt"
	"testing"
)

func TestMemoryBounded(t *testing.T) {
	s := NewMemory(100)
	for i := range 1000 {
		s.Append([]Message{{Conv: "p", Text: fmt.Sprint(i)}})
		h, _ := s.History("p", 0, 1000)
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
	// Changes skips what was dropped, and its log stays bounded.
	ch, _ := s.Changes(0, 10_000)
	if len(ch) > 100 {
		t.Fatalf("changes hold %d dropped messages", len(ch))
	}
	if len(s.log) > 2*s.live+1024 {
		t.Fatalf("log holds %d entries for %d messages", len(s.log), s.live)
	}

	// Bytes: per conversation and in all.
	s = NewMemory(0)
	s.convBytes, s.totalBytes = 10_000, 25_000
	big := string(make([]byte, 1000))
	for i := range 100 {
		s.Append([]Message{{Conv: ConvID(rune('a' + i%5)), Text: big}})
	}
	for _, k := range []ConvID{"a", "b", "c", "d", "e"} {
		if c := s.convs[k]; c != nil && c.bytes > s.convBytes {
			t.Errorf("conversation %s holds %d bytes, over %d", k, c.bytes, s.convBytes)
		}
	}
	if s.total > s.totalBytes {
		t.Errorf("store holds %d bytes, over %d", s.total, s.totalBytes)
	}
	if h, _ := s.History("e", 0, 10); len(h) == 0 {
		t.Error("the conversation appended to last was dropped")
	}

	// Pending outgoing messages are never dropped.
	s = NewMemory(10)
	s.Append([]Message{{Conv: "p", ID: "keep", Outgoing: true, State: Queued, Text: "queued"}})
	for i := range 100 {
		s.Append([]Message{{Conv: "p", Text: fmt.Sprint(i)}})
	}
	if ob, _ := s.Outbox("p", 10); len(ob) != 1 {
		t.Fatalf("the outbox lost its message: %v", ob)
	}
}
