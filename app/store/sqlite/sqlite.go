// Package sqlite is the store.Store kept in a SQLite database file, through
// modernc.org/sqlite (pure Go: no cgo, so go install and cross-compiling
// keep working).
//
// The database is in WAL mode with synchronous=NORMAL: a committed
// transaction survives the process being killed (kill -9); after a power
// loss or an operating-system crash the last transactions before it may be
// missing, but the database stays consistent. The file is created with mode
// 0600. The schema is versioned with PRAGMA user_version and migrated in
// code (schema.go). Search uses an FTS5 index kept by a trigger in the same
// transaction as the message.
//
// With Options.History false, the messages of the session live in the
// connection's in-memory temp schema, as the original keeps them; only the
// pending outgoing messages (the outbox) and the ids of the messages
// received, for dropping duplicates after a restart, go to the file.
//
// A Store uses a single connection, serialised by its mutex: SQLite has one
// writer anyway, the temp schema belongs to one connection, and every call
// is short (see the benchmarks). It starts no goroutines.
//
// Nothing is ever deleted: a corrupt, locked, read-only or newer database
// is reported with the file's name (ErrCorrupt, ErrLocked, ErrReadOnly,
// ErrNewer) and left as it is; a full disk fails the write with ErrDiskFull
// and the store keeps working.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"
	_ "modernc.org/sqlite" // the database/sql driver "sqlite"

	"github.com/parlance-chat/parlance/app/store"
)

// Options configure Open. The zero value keeps history in memory only.
type Options struct {
	// History keeps every message in the file. When false, messages
	// last as long as the process; the outbox and the ids needed to
	// drop duplicates are still kept in the file.
	History bool
	// Logger gets notes on migrations and imports (nil: none).
	Logger *slog.Logger
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// BusyTimeout is how long a write waits for another process's lock
	// before failing with ErrLocked (0: 5 s).
	BusyTimeout time.Duration
	// KeepIDs is how long, with History false, the id of a received
	// message is kept to drop a late retry of it (0: 30 days; a sender
	// gives up after its outbox_days).
	KeepIDs time.Duration
}

// Store is a store.Store in a SQLite file. It is safe for concurrent use.
type Store struct {
	path string
	opts Options
	log  *slog.Logger

	mu      sync.Mutex
	db      *sql.DB
	conn    *sql.Conn
	closed  bool
	seq     int64 // the last Seq given
	version int64 // the last Version given
	insert  *sql.Stmt
}

var _ store.Store = (*Store)(nil)

var bg = context.Background()

// Open opens the database at path, creating it (mode 0600) and migrating
// its schema as needed.
func Open(path string, opts Options) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.BusyTimeout <= 0 {
		opts.BusyTimeout = 5 * time.Second
	}
	if opts.KeepIDs <= 0 {
		opts.KeepIDs = 30 * 24 * time.Hour
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	s := &Store{path: abs, opts: opts, log: opts.Logger}
	if err := s.prepareFile(); err != nil {
		return nil, err
	}
	dsn := "file:" + (&url.URL{Path: abs}).EscapedPath()
	s.db, err = sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fileError("open database", abs, err)
	}
	// One connection for the store's life: the temp schema lives in it.
	s.db.SetMaxOpenConns(1)
	s.db.SetConnMaxLifetime(0)
	s.db.SetConnMaxIdleTime(0)
	if err := s.open(); err != nil {
		s.closeDB()
		return nil, err
	}
	return s, nil
}

// prepareFile creates the database file with mode 0600 if it is missing,
// and checks that it and its directory (where SQLite keeps the WAL) can be
// written.
func (s *Store) prepareFile() error {
	st, err := os.Stat(s.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		f, err := os.OpenFile(s.path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return fileError("create database", s.path, err)
		}
		if err := f.Close(); err != nil {
			return fileError("create database", s.path, err)
		}
		if st, err = os.Stat(s.path); err != nil {
			return fileError("create database", s.path, err)
		}
		if st.Mode().Perm() != 0o600 {
			return fmt.Errorf("create database %s: mode %v, want 0600", s.path, st.Mode().Perm())
		}
	case err != nil:
		return fileError("open database", s.path, err)
	case !st.Mode().IsRegular():
		return fmt.Errorf("open database %s: not a regular file", s.path)
	case st.Mode().Perm()&0o077 != 0:
		s.log.Warn("database file is readable by others; chmod 600 it", "path", s.path, "mode", st.Mode().Perm())
	}
	if err := unix.Access(s.path, unix.W_OK); err != nil {
		return fmt.Errorf("open database %s: %w (%w); %s", s.path, ErrReadOnly, err, advice[ErrReadOnly])
	}
	if dir := filepath.Dir(s.path); unix.Access(dir, unix.W_OK) != nil {
		err := unix.Access(dir, unix.W_OK)
		return fmt.Errorf("open database %s: %w: its directory %s (%w); %s", s.path, ErrReadOnly, dir, err, advice[ErrReadOnly])
	}
	return nil
}

// open configures the connection, checks and migrates the schema, and
// loads the counters.
func (s *Store) open() error {
	var err error
	if s.conn, err = s.db.Conn(bg); err != nil {
		return fileError("open database", s.path, err)
	}
	if _, err := s.conn.ExecContext(bg, fmt.Sprintf("PRAGMA busy_timeout = %d", s.opts.BusyTimeout.Milliseconds())); err != nil {
		return fileError("open database", s.path, err)
	}
	// Read the version before anything writes: a newer or corrupt
	// file is left exactly as it is.
	v, err := s.userVersion()
	if err != nil {
		return err
	}
	if err := s.checkVersion(v); err != nil {
		return err
	}
	var mode string
	if err := s.conn.QueryRowContext(bg, "PRAGMA journal_mode = WAL").Scan(&mode); err != nil {
		return fileError("open database", s.path, err)
	}
	if mode != "wal" {
		return fmt.Errorf("open database %s: journal mode %q, want wal", s.path, mode)
	}
	// secure_delete: with history off, a delivered message leaves the
	// file's outbox without a trace.
	for _, p := range []string{"PRAGMA synchronous = NORMAL", "PRAGMA temp_store = MEMORY", "PRAGMA secure_delete = ON", "PRAGMA cache_size = -32768"} {
		if _, err := s.conn.ExecContext(bg, p); err != nil {
			return fileError("open database", s.path, err)
		}
	}
	err = s.write("open database", func() error {
		// Again inside the write lock: another process may have
		// migrated it meanwhile.
		v, err := s.userVersion()
		if err != nil {
			return err
		}
		if err := s.checkVersion(v); err != nil {
			return err
		}
		if v < schemaVersion {
			s.log.Info("migrating database", "path", s.path, "from", v, "to", schemaVersion)
			if err := migrate(bg, s.conn, v, s.opts.History); err != nil {
				return err
			}
		}
		if s.opts.History {
			return s.restoreOutbox()
		}
		return s.startSession()
	})
	if err != nil {
		return err
	}
	err = s.conn.QueryRowContext(bg, `SELECT max(
		(SELECT coalesce(max(seq), 0) FROM messages), (SELECT coalesce(max(seq), 0) FROM main.messages),
		(SELECT coalesce(max(seq), 0) FROM main.outbox))`).Scan(&s.seq)
	if err == nil {
		err = s.conn.QueryRowContext(bg, `SELECT coalesce(max(version), 0) FROM messages`).Scan(&s.version)
	}
	if err == nil {
		s.insert, err = s.conn.PrepareContext(bg, s.insertSQL())
	}
	return fileError("open database", s.path, err)
}

func (s *Store) userVersion() (int, error) {
	var v int
	if err := s.conn.QueryRowContext(bg, "PRAGMA user_version").Scan(&v); err != nil {
		return 0, fileError("open database", s.path, err)
	}
	return v, nil
}

func (s *Store) checkVersion(v int) error {
	if v > schemaVersion {
		return fmt.Errorf("open database %s: %w (schema version %d; this one knows up to %d). Parlance did not change it: run the newer Parlance, or use another --data-dir",
			s.path, ErrNewer, v, schemaVersion)
	}
	return nil
}

// restoreOutbox moves into the history the outbox of a session that ran
// with history off.
func (s *Store) restoreOutbox() error {
	_, err := s.conn.ExecContext(bg, `INSERT INTO main.messages (`+messageColumns+`)
		SELECT `+messageColumns+` FROM main.outbox WHERE true ORDER BY seq ON CONFLICT DO NOTHING;
		DELETE FROM main.outbox;`)
	return err
}

// startSession creates the in-memory history of a session with history
// off, with triggers that keep the file's outbox and seen ids, and loads
// the outbox into it.
func (s *Store) startSession() error {
	if err := createTemp(bg, s.conn); err != nil {
		return err
	}
	_, err := s.conn.ExecContext(bg, `
CREATE TEMP TRIGGER session_added AFTER INSERT ON messages BEGIN
	INSERT OR IGNORE INTO main.seen (conv, id, at) SELECT new.conv, new.id, new.committed_at WHERE new.id <> '';
	INSERT OR REPLACE INTO main.outbox (`+messageColumns+`) SELECT `+messageColumns+` FROM messages
		WHERE seq = new.seq AND outgoing = 1 AND state IN (1, 2);
END;
CREATE TEMP TRIGGER session_changed AFTER UPDATE ON messages BEGIN
	DELETE FROM main.outbox WHERE seq = new.seq;
	INSERT INTO main.outbox (`+messageColumns+`) SELECT `+messageColumns+` FROM messages
		WHERE seq = new.seq AND outgoing = 1 AND state IN (1, 2);
	-- A message queued while history was on is kept there: follow it.
	UPDATE main.messages SET state = new.state, error = new.error, attempts = new.attempts
		WHERE seq = new.seq AND conv = new.conv AND id = new.id;
END;
INSERT INTO temp.messages (`+messageColumns+`) SELECT `+messageColumns+` FROM main.outbox ORDER BY seq;
INSERT INTO temp.messages (`+messageColumns+`) SELECT `+messageColumns+` FROM main.messages
	WHERE outgoing = 1 AND state IN (1, 2) ORDER BY seq ON CONFLICT DO NOTHING;
`)
	if err != nil {
		return err
	}
	_, err = s.conn.ExecContext(bg, `DELETE FROM main.seen WHERE at < ?`, micros(s.opts.Now().Add(-s.opts.KeepIDs)))
	return err
}

func (s *Store) insertSQL() string {
	const values = `?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14`
	if s.opts.History {
		return `INSERT INTO messages (` + messageColumns + `) VALUES (` + values + `) ON CONFLICT DO NOTHING`
	}
	return `INSERT INTO messages (` + messageColumns + `) SELECT ` + values + `
		WHERE ?5 = '' OR NOT EXISTS (SELECT 1 FROM main.seen WHERE conv = ?4 AND id = ?5) ON CONFLICT DO NOTHING`
}

// write runs fn in a write transaction (BEGIN IMMEDIATE: the lock is taken
// at once, waiting up to BusyTimeout). The caller holds s.mu.
func (s *Store) write(doing string, fn func() error) error {
	if _, err := s.conn.ExecContext(bg, "BEGIN IMMEDIATE"); err != nil {
		return fileError(doing, s.path, err)
	}
	err := fn()
	if err == nil {
		_, err = s.conn.ExecContext(bg, "COMMIT")
	}
	if err != nil {
		// SQLite may have rolled back already (a full disk): then
		// this fails, harmlessly.
		_, _ = s.conn.ExecContext(bg, "ROLLBACK")
		return fileError(doing, s.path, err)
	}
	return nil
}

// lock takes s.mu and fails when the store is closed.
func (s *Store) lock() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return fmt.Errorf("database %s: %w", s.path, store.ErrClosed)
	}
	return nil
}

// Path is the database file's absolute name.
func (s *Store) Path() string { return s.path }

// Close implements store.Store.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.closeDB()
}

func (s *Store) closeDB() error {
	var errs []error
	if s.insert != nil {
		errs = append(errs, s.insert.Close())
	}
	if s.conn != nil {
		errs = append(errs, s.conn.Close())
	}
	errs = append(errs, s.db.Close())
	return fileError("close database", s.path, errors.Join(errs...))
}

// micros is t in Unix microseconds, 0 for the zero time.
func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// fromMicros is the inverse of micros.
func fromMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us)
}
