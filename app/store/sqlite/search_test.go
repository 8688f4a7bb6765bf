package sqlite

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/parlance-chat/parlance/app/store"
)

func TestSearchQueries(t *testing.T) {
	s := openTemp(t, Options{History: true})
	ok(s.Append([]store.Message{
		msg("id:B", "1", "naïve café in Zürich", false, 0),
		msg("id:B", "2", `quotes "inside" and snake_case_word`, false, 1),
		msg("id:B", "3", "NEAR AND OR NOT are words too", false, 2),
		msg("id:B", "4", "foo-bar baz", false, 3),
	}))
	tests := []struct {
		query string
		want  []string // ids, newest first
	}{
		{"cafe", []string{"1"}},       // diacritics ignored
		{"ZÜR", []string{"1"}},        // case folded, prefix
		{`"inside"`, []string{"2"}},   // quotes are not syntax
		{"snake_case", []string{"2"}}, // '_' is part of a word
		{"near or", []string{"3"}},    // operators are words
		{"NOT", []string{"3"}},        //
		{"foo-bar", []string{"4"}},    // split as the index splits
		{"*", nil},
		{`"`, nil},
		{"", nil},
		{"   ", nil},
		{"a:b ^c (d) {e} -f +g", nil},
		{"zzz", nil},
	}
	for _, tc := range tests {
		hits, err := s.Search(tc.query, 10)
		if err != nil {
			t.Fatalf("Search(%q): %v", tc.query, err)
		}
		var got []string
		for _, h := range hits {
			got = append(got, h.ID)
		}
		if len(got) != len(tc.want) || (len(got) > 0 && got[0] != tc.want[0]) {
			t.Errorf("Search(%q) = %v, want %v", tc.query, got, tc.want)
		}
	}
}

// FuzzSearch: no query a user types is an error or a crash.
func FuzzSearch(f *testing.F) {
	for _, q := range []string{"hello", `"`, `a" OR "b`, "NEAR(a b)", "col:x", "^x*", "\x00", "ä*\"'", ")(", "-x"} {
		f.Add(q)
	}
	s, err := Open(filepath.Join(f.TempDir(), "parlance.db"), Options{History: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	ok(s.Append([]store.Message{msg("id:B", "1", "hello world", false, 0)}))
	f.Fuzz(func(t *testing.T, q string) {
		if _, err := s.Search(q, 10); err != nil {
			t.Fatalf("Search(%q): %v (FTS query %s)", q, err, ftsQuery(q))
		}
	})
}

func TestImportContactsJSON(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "contacts.json")
	seen := time.Date(2026, 11, 2, 3, 4, 5, 0, time.UTC)
	b, _ := json.Marshal(map[string]any{
		"pinned": map[string]string{"bob": "K1", "carol": "K2"},
		"keys": map[string]any{
			"K1": map[string]any{"nickname": "bob", "first_seen": seen, "verified": true},
			"K2": map[string]any{"nickname": "Carol", "first_seen": seen},
		},
	})
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	s := open(t, filepath.Join(dir, "parlance.db"), Options{History: true})
	// A contact the database knows already keeps what the database says.
	if err := s.SaveContact(store.Contact{Identity: "K2", Nickname: "carol2", Nicknames: []string{"Carol", "carol2"}}); err != nil {
		t.Fatal(err)
	}
	if imported := ok(s.ImportContactsJSON(filepath.Join(dir, "missing.json"))); imported {
		t.Fatal("imported a missing file")
	}
	if imported := ok(s.ImportContactsJSON(file)); !imported {
		t.Fatal("did not import")
	}
	cs := ok(s.Contacts())
	if len(cs) != 2 || cs[0].Identity != "K1" || !cs[0].Verified || !cs[0].FirstSeen.Equal(seen) || cs[0].Nickname != "bob" ||
		len(cs[0].Nicknames) != 1 || cs[1].Nickname != "carol2" {
		t.Fatalf("contacts %+v", cs)
	}
	if pins := ok(s.Pins()); len(pins) != 2 || pins["carol"] != "K2" {
		t.Fatalf("pins %v", pins)
	}
	if _, err := os.Stat(file); err != nil {
		t.Fatalf("the JSON file is gone: %v", err)
	}
	// Once only, even after a restart.
	if err := s.SetPin("bob", "K3"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, filepath.Join(dir, "parlance.db"), Options{History: true})
	if imported := ok(s.ImportContactsJSON(file)); imported {
		t.Fatal("imported twice")
	}
	if pins := ok(s.Pins()); pins["bob"] != "K3" {
		t.Fatalf("a second import overwrote a pin: %v", pins)
	}

	if err := os.WriteFile(filepath.Join(dir, "bad.json"), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	s2 := openTemp(t, Options{History: true})
	if _, err := s2.ImportContactsJSON(filepath.Join(dir, "bad.json")); err == nil {
		t.Fatal("imported a corrupt file")
	}
}
