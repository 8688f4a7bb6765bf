package group

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestFileStoreSurvivesRestart: an engine reopened on the file has its
// groups, members and history; a line cut short at the end is skipped.
func TestFileStoreSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "groups.jsonl")
	alice, bob := testIdentity(1), testIdentity(2)
	st, err := OpenFileStore(path)
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(Config{Identity: alice, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	id, _, err := e.Create("team", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Invite(id, bob.ID()); err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{"one", "two"} {
		if _, _, err := e.Send(id, text); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"type":"group_msg","gro`) // a crash mid-write
	f.Close()

	st, err = OpenFileStore(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if st.Skipped != 1 {
		t.Errorf("Skipped = %d, want the cut line", st.Skipped)
	}
	e, err = New(Config{Identity: alice, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	g, ok := e.Group(id)
	if !ok {
		t.Fatal("the group is gone after a restart")
	}
	if got := membersOf(g.State()); len(got) != 2 {
		t.Errorf("members after a restart: %v", got)
	}
	h, err := g.History(10)
	if err != nil || len(h) != 2 || h[0].Text+h[1].Text != "onetwo" && h[0].Text+h[1].Text != "twoone" {
		t.Fatalf("history after a restart: %v, %v", h, err)
	}
	// The next message carries on the sequence numbers.
	m, _, err := e.Send(id, "three")
	if err != nil || m.Seq != 3 {
		t.Errorf("next message seq %d (%v), want 3", m.Seq, err)
	}
}

// TestFileStoreCompacts: a file whose dead lines (repeats, lines that do
// not parse, a last line cut short) are many is rewritten at open with
// the live state alone, which reads back the same; appends go on.
func TestFileStoreCompacts(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "groups.jsonl")
	alice := testIdentity(1)
	tick := time.UnixMilli(1700000000000)
	now := func() time.Time { tick = tick.Add(time.Millisecond); return tick }
	st, err := OpenFileStore(path)
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(Config{Identity: alice, Store: st, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	id, _, err := e.Create("team", nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if _, _, err := e.Send(id, fmt.Sprint("message ", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Every line twice, a line that does not parse, and a cut one.
	bloated := append(append(slices.Clone(good), good...), "not json\n"+`{"type":"group_msg","gro`...)
	if err := os.WriteFile(path, bloated, 0o600); err != nil {
		t.Fatal(err)
	}

	st, err = OpenFileStore(path)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Compacted || st.Dead != 13 || st.Skipped != 2 {
		t.Errorf("Compacted %v, Dead %d, Skipped %d; want true, 13 (11 repeats, 2 bad), 2", st.Compacted, st.Dead, st.Skipped)
	}
	e, err = New(Config{Identity: alice, Store: st, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.Send(id, "after"); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if lines := bytes.Count(after, []byte("\n")); lines != 12 {
		t.Errorf("the compacted file has %d lines; want 12 (create, 11 messages):\n%s", lines, after)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*.compact-*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}

	// Reopened: the same state, nothing dead, no rewrite.
	st, err = OpenFileStore(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if st.Compacted || st.Dead != 0 {
		t.Errorf("a clean file: Compacted %v, Dead %d", st.Compacted, st.Dead)
	}
	e, err = New(Config{Identity: alice, Store: st, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	g, _ := e.Group(id)
	h, _ := g.History(100)
	if len(h) != 11 || h[10].Text != "after" {
		t.Errorf("history after compaction: %d messages, last %q", len(h), h[len(h)-1].Text)
	}
}
