package sqlite

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestRecords: records are kept by kind and id, replaced by id, survive a
// reopen (history on or off), and are bounded in size.
func TestRecords(t *testing.T) {
	for _, history := range []bool{true, false} {
		path := filepath.Join(t.TempDir(), "parlance.db")
		s := open(t, path, Options{History: history})
		for _, r := range []struct{ kind, id, data string }{
			{"transfer", "b", `{"v":1}`}, {"transfer", "a", `{"v":2}`}, {"other", "a", `x`}, {"transfer", "b", `{"v":3}`},
		} {
			if err := s.SaveRecord(r.kind, r.id, []byte(r.data)); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.SaveRecord("transfer", "big", []byte(strings.Repeat("x", MaxRecord+1))); err == nil {
			t.Fatal("a record over the limit was saved")
		}
		s.Close()
		s = open(t, path, Options{History: history})
		got := ok(s.Records("transfer"))
		var texts []string
		for _, d := range got {
			texts = append(texts, string(d))
		}
		if !slices.Equal(texts, []string{`{"v":2}`, `{"v":3}`}) {
			t.Fatalf("history %v: records %q", history, texts)
		}
		s.Close()
	}
}
