package sqlite

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parlance-chat/parlance/app/store"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func msg(conv, id, text string, outgoing bool, i int) store.Message {
	m := store.Message{ID: id, Conv: store.ConvID(conv), Peer: conv, From: "bob", Text: text,
		Sent: t0.Add(time.Duration(i) * time.Second), At: t0.Add(time.Duration(i) * time.Second)}
	if outgoing {
		m.From, m.Outgoing, m.State = "alice", true, store.Queued
	}
	return m
}

// ok returns v, panicking on an error (which fails the test with the
// error and a stack).
func ok[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func open(t testing.TB, path string, opts Options) *Store {
	t.Helper()
	s := ok(Open(path, opts))
	t.Cleanup(func() { s.Close() })
	return s
}

func TestReopenKeepsEverything(t *testing.T) {
	path := filepath.Join(t.TempDir(), "parlance.db")
	s := open(t, path, Options{History: true})
	added := ok(s.Append([]store.Message{msg("id:B", "1", "hello there", false, 0), msg("id:B", "o1", "queued reply", true, 1),
		msg("orig:carol@10.0.0.3", "", "from an original peer", false, 2)}))
	ok(s.SetState("id:B", []string{"o1"}, store.Sent, ""))
	c := store.Contact{Identity: "K1", Nickname: "bob", Nicknames: []string{"bob"}, FirstSeen: t0, Verified: true}
	if err := s.SaveContact(c); err != nil {
		t.Fatal(err)
	}
	if err := s.SetPin("bob", "K1"); err != nil {
		t.Fatal(err)
	}
	lastVersion := ok(s.LastVersion())
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, path, Options{History: true})
	if v := ok(s.LastVersion()); v != lastVersion {
		t.Fatalf("LastVersion after reopen %d, want %d", v, lastVersion)
	}
	h := ok(s.History("id:B", 0, 10))
	if len(h) != 2 || h[0].Text != "hello there" || h[1].State != store.Sent || !h[0].Sent.Equal(t0) {
		t.Fatalf("history after reopen %+v", h)
	}
	if ob := ok(s.Outbox("id:B", 10)); len(ob) != 1 || ob[0].ID != "o1" {
		t.Fatalf("outbox after reopen %+v", ob)
	}
	if hits := ok(s.Search("orig", 10)); len(hits) != 1 || hits[0].Seq != added[2].Seq {
		t.Fatalf("search after reopen %+v", hits)
	}
	if cs := ok(s.Conversations()); len(cs) != 2 || cs[0].Conv != "orig:carol@10.0.0.3" || cs[1].Unread != 1 {
		t.Fatalf("conversations after reopen %+v", cs)
	}
	if got := ok(s.Append([]store.Message{msg("id:B", "1", "retry", false, 3), msg("id:B", "2", "new", false, 4)})); len(got) != 1 || got[0].Seq <= added[2].Seq || got[0].Version <= lastVersion {
		t.Fatalf("append after reopen %+v", got)
	}
	if cs := ok(s.Contacts()); len(cs) != 1 || !cs[0].Verified || !cs[0].FirstSeen.Equal(t0) {
		t.Fatalf("contacts after reopen %+v", cs)
	}
	if pins := ok(s.Pins()); pins["bob"] != "K1" {
		t.Fatalf("pins after reopen %v", pins)
	}
}

func TestHistoryOffKeepsOutboxAndIDs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "parlance.db")
	s := open(t, path, Options{History: false})
	ok(s.Append([]store.Message{msg("id:B", "1", "secret incoming", false, 0), msg("id:B", "o1", "pending", true, 1),
		msg("id:B", "o2", "delivered", true, 2), msg("id:C", "o3", "to carol", true, 3)}))
	ok(s.SetState("id:B", []string{"o2"}, store.Delivered, ""))
	ok(s.SetState("id:B", []string{"o1"}, store.Sent, ""))
	if err := s.MarkAttempt("id:B", []string{"o1"}); err != nil {
		t.Fatal(err)
	}
	if h := ok(s.History("id:B", 0, 10)); len(h) != 3 {
		t.Fatalf("history in the session %+v", h)
	}
	if hits := ok(s.Search("secret", 10)); len(hits) != 1 {
		t.Fatalf("search in the session %+v", hits)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if b := ok(os.ReadFile(path)); strings.Contains(string(b), "secret incoming") || strings.Contains(string(b), "delivered") {
		t.Fatal("history off, but message text is in the file")
	}

	s = open(t, path, Options{History: false})
	h := ok(s.History("id:B", 0, 10))
	if len(h) != 1 || h[0].ID != "o1" || h[0].State != store.Sent || h[0].Attempts != 1 {
		t.Fatalf("history after restart: only the outbox should be back, got %+v", h)
	}
	if convs := ok(s.OutboxConvs()); len(convs) != 2 {
		t.Fatalf("outbox convs after restart %v", convs)
	}
	if ch := ok(s.Changes(0, 10)); len(ch) != 2 {
		t.Fatalf("changes after restart %+v", ch)
	}
	// The sender retries what we got before the restart: dropped.
	got := ok(s.Append([]store.Message{msg("id:B", "1", "secret incoming", false, 5), msg("id:B", "2", "new", false, 6)}))
	if len(got) != 1 || got[0].ID != "2" || got[0].Seq <= h[0].Seq {
		t.Fatalf("append after restart %+v", got)
	}
	ok(s.SetState("id:B", []string{"o1"}, store.Delivered, ""))
	ok(s.SetState("id:C", []string{"o3"}, store.Failed, "expired"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Turning history on keeps the (now empty) outbox and finds nothing
	// of the sessions' history.
	s = open(t, path, Options{History: true})
	if convs := ok(s.OutboxConvs()); len(convs) != 0 {
		t.Fatalf("outbox after delivery %v", convs)
	}
	ok(s.Append([]store.Message{msg("id:D", "o4", "queued with history on", true, 7)}))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// And off again: the message queued with history on is still sent.
	s = open(t, path, Options{History: false})
	if ob := ok(s.Outbox("id:D", 10)); len(ob) != 1 {
		t.Fatalf("outbox queued with history on, seen with it off: %+v", ob)
	}
	ok(s.SetState("id:D", []string{"o4"}, store.Delivered, ""))
	s.Close()
	s = open(t, path, Options{History: true})
	if m := ok(s.Message("id:D", "o4")); m.State != store.Delivered {
		t.Fatalf("delivered with history off, still %v with it on", m.State)
	}
}

func TestFileMode(t *testing.T) {
	old := setUmask(0)
	defer setUmask(old)
	path := filepath.Join(t.TempDir(), "parlance.db")
	s := open(t, path, Options{History: true})
	ok(s.Append([]store.Message{msg("id:B", "1", "x", false, 0)}))
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		st := ok(os.Stat(p))
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", p, st.Mode().Perm())
		}
	}
}

// TestMigrateFromVersion1 builds a database as the first version wrote it,
// with data, and opens it: the later versions fill in the search index and
// the conversation summaries from the messages already there.
func TestMigrateFromVersion1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "parlance.db")
	db := rawDB(t, path)
	v1 := migrations[0].file + historySQL(0, "main") + `
INSERT INTO messages (seq, version, conv, id, peer, sender, body, outgoing, sent_at, committed_at, state)
VALUES (1, 1, 'id:B', 'a', 'id:B', 'bob', 'old message about llamas', 0, 1, 1, 4),
       (2, 2, 'id:B', 'b', 'id:B', 'bob', 'unread one', 0, 2, 2, 0),
       (3, 5, 'id:B', 'o', 'id:B', 'alice', 'my queued llama', 1, 3, 3, 1);
INSERT INTO contacts (identity, nickname, nicknames, verified) VALUES ('K1', 'bob', '["bob"]', 1);
PRAGMA user_version = 1;`
	if _, err := db.Exec(v1); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s := open(t, path, Options{History: true})
	if hits := ok(s.Search("llama", 10)); len(hits) != 2 || hits[0].Seq != 3 {
		t.Fatalf("search after migration %+v", hits)
	}
	if cs := ok(s.Conversations()); len(cs) != 1 || cs[0].Messages != 3 || cs[0].Unread != 1 || cs[0].Nickname != "bob" || cs[0].LastSeq != 3 {
		t.Fatalf("conversations after migration %+v", cs)
	}
	if v := ok(s.LastVersion()); v != 5 {
		t.Fatalf("LastVersion %d", v)
	}
	if got := ok(s.Append([]store.Message{msg("id:B", "b", "dup", false, 4), msg("id:B", "c", "new llama", false, 5)})); len(got) != 1 || got[0].Seq != 6 || got[0].Version != 6 {
		t.Fatalf("append after migration %+v", got)
	}
	if hits := ok(s.Search("llama", 10)); len(hits) != 3 {
		t.Fatalf("search after append %+v", hits)
	}
	var v int
	if err := s.conn.QueryRowContext(bg, "PRAGMA user_version").Scan(&v); err != nil || v != schemaVersion {
		t.Fatalf("user_version %d, %v", v, err)
	}
}

// TestMigrationsFromEveryVersion opens a database left at each version and
// checks the schema ends the same as a fresh one's.
func TestMigrationsFromEveryVersion(t *testing.T) {
	fresh := schemaOf(t, filepath.Join(t.TempDir(), "fresh.db"), 0)
	for from := 1; from < schemaVersion; from++ {
		t.Run(fmt.Sprint("v", from), func(t *testing.T) {
			if got := schemaOf(t, filepath.Join(t.TempDir(), "old.db"), from); got != fresh {
				t.Fatalf("schema migrated from v%d:\n%s\nfresh:\n%s", from, got, fresh)
			}
		})
	}
}

// schemaOf builds a database at version from by hand (0: none), opens it
// with Open and returns its schema.
func schemaOf(t *testing.T, path string, from int) string {
	db := rawDB(t, path)
	for i := range from {
		if _, err := db.Exec(migrations[i].file + historySQL(i, "main") + fmt.Sprintf(";PRAGMA user_version = %d", i+1)); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	s := open(t, path, Options{History: true})
	rows := ok(s.conn.QueryContext(bg, `SELECT type, name, coalesce(sql, '') FROM sqlite_schema ORDER BY name`))
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var typ, name, sql string
		if err := rows.Scan(&typ, &name, &sql); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s %s %s\n", typ, name, sql)
	}
	return b.String()
}

func TestNewerVersionIsLeftAlone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "parlance.db")
	db := rawDB(t, path)
	if _, err := db.Exec(fmt.Sprintf("CREATE TABLE future (x); PRAGMA user_version = %d", schemaVersion+1)); err != nil {
		t.Fatal(err)
	}
	db.Close()
	before := ok(os.ReadFile(path))
	_, err := Open(path, Options{History: true})
	if !errors.Is(err, ErrNewer) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("Open of a newer database: %v", err)
	}
	if after := ok(os.ReadFile(path)); string(after) != string(before) {
		t.Fatal("Open changed a database written by a newer version")
	}
}

func TestCorrupt(t *testing.T) {
	tests := []struct {
		name  string
		spoil func(t *testing.T, path string)
	}{
		{"garbage", func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte(strings.Repeat("not a database ", 1000)), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"truncated", func(t *testing.T, path string) {
			fill(t, path, 2000)
			if err := os.Truncate(path, 4096*3); err != nil {
				t.Fatal(err)
			}
		}},
		{"header overwritten", func(t *testing.T, path string) {
			fill(t, path, 200)
			f := ok(os.OpenFile(path, os.O_WRONLY, 0))
			defer f.Close()
			if _, err := f.WriteAt([]byte("garbage garbage garbage garbage garbage"), 0); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "parlance.db")
			tc.spoil(t, path)
			before := ok(os.ReadFile(path))
			s, err := Open(path, Options{History: true})
			if err == nil {
				// Damage deeper in the file shows when it is read.
				_, err = s.History("id:B", 0, 5000)
				s.Close()
			}
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) {
				t.Fatalf("corrupt database: %v", err)
			}
			t.Logf("the error reads: %v", err)
			if after := ok(os.ReadFile(path)); string(after) != string(before) {
				t.Fatal("Open changed a corrupt database")
			}
		})
	}
}

// fill makes a database at path with n messages and closes it.
func fill(t *testing.T, path string, n int) {
	s := ok(Open(path, Options{History: true}))
	var ms []store.Message
	for i := range n {
		ms = append(ms, msg("id:B", fmt.Sprint(i), strings.Repeat("words ", 20), false, i))
	}
	ok(s.Append(ms))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "parlance.db")
	fill(t, path, 1)
	db := rawDB(t, path)
	defer db.Close()
	conn := ok(db.Conn(bg))
	defer conn.Close()
	if _, err := conn.ExecContext(bg, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	_, err := Open(path, Options{History: true, BusyTimeout: 50 * time.Millisecond})
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), path) {
		t.Fatalf("Open of a locked database: %v", err)
	}
	t.Logf("the error reads: %v", err)
	if _, err := conn.ExecContext(bg, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}

	// Locked while open: the write fails, and works once the lock is gone.
	s := open(t, path, Options{History: true, BusyTimeout: 50 * time.Millisecond})
	if _, err := conn.ExecContext(bg, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append([]store.Message{msg("id:B", "x", "x", false, 1)}); !errors.Is(err, ErrLocked) {
		t.Fatalf("Append to a locked database: %v", err)
	}
	if _, err := conn.ExecContext(bg, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if got := ok(s.Append([]store.Message{msg("id:B", "x", "x", false, 1)})); len(got) != 1 || got[0].Seq != 2 {
		t.Fatalf("Append after the lock: %+v", got)
	}
}

func TestReadOnlyDirectory(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root writes whatever the permissions say; TestReadOnlyFileSystem covers this as root")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "parlance.db")
	fill(t, path, 1)
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(dir, 0o700)
	if _, err := Open(path, Options{History: true}); !errors.Is(err, ErrReadOnly) || !strings.Contains(err.Error(), path) {
		t.Fatalf("Open in a read-only directory: %v", err)
	}
}
