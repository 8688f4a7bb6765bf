package group

import (
	"os"
	"path/filepath"
	"testing"
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
