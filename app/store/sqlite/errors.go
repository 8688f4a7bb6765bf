package sqlite

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Errors Open and the Store's methods return, wrapped with the file's name
// and what was being done; test for them with errors.Is (or IsDiskFull).
var (
	// ErrDiskFull: the disk (or the file system holding the database)
	// is full. The write failed and nothing of it was kept; the store
	// stays usable, and reads keep working.
	ErrDiskFull = errors.New("the disk is full")
	// ErrCorrupt: the file is not a SQLite database, or it is damaged.
	ErrCorrupt = errors.New("the database is corrupt")
	// ErrLocked: another process holds the database's write lock.
	ErrLocked = errors.New("the database is locked by another process")
	// ErrReadOnly: the file, or its directory, cannot be written.
	ErrReadOnly = errors.New("the database cannot be written")
	// ErrNewer: the database was written by a newer Parlance, which
	// knows a schema this one does not.
	ErrNewer = errors.New("the database was written by a newer version of Parlance")
)

// IsDiskFull reports whether err is (or wraps) a full-disk error: the node
// keeps running and warns that new messages are not being saved.
func IsDiskFull(err error) bool { return errors.Is(err, ErrDiskFull) }

// advice says what the user can do about each kind of error.
var advice = map[error]string{
	ErrDiskFull: "free some space; new messages are not being saved until then",
	ErrCorrupt:  "Parlance did not change it; move it away (or restore a backup) to start afresh",
	ErrLocked:   "is another Parlance running with this profile? Stop it, or use another --data-dir",
	ErrReadOnly: "make the file and its directory writable, or use another --data-dir",
}

// classify maps an error from SQLite or the file system to one of the
// package's errors, or nil when it is none of them.
func classify(err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_FULL:
			return ErrDiskFull
		case sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB:
			return ErrCorrupt
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return ErrLocked
		case sqlite3.SQLITE_READONLY:
			return ErrReadOnly
		}
	}
	switch {
	case errors.Is(err, syscall.ENOSPC):
		return ErrDiskFull
	case errors.Is(err, syscall.EROFS), errors.Is(err, fs.ErrPermission):
		return ErrReadOnly
	}
	return nil
}

// fileError wraps err with what was being done and the file's name, and,
// when it is one of the known cases, with the package's error and advice.
// An error already wrapped this way is returned as it is.
func fileError(doing, path string, err error) error {
	var done *wrapped
	if err == nil || errors.As(err, &done) {
		return err
	}
	if kind := classify(err); kind != nil && !errors.Is(err, kind) {
		return &wrapped{fmt.Errorf("%s %s: %w (%w); %s", doing, path, kind, err, advice[kind])}
	}
	return &wrapped{fmt.Errorf("%s %s: %w", doing, path, err)}
}

// wrapped marks an error that names the file already.
type wrapped struct{ error }

func (w *wrapped) Unwrap() error { return w.error }
