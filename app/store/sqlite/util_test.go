package sqlite

import (
	"database/sql"
	"net/url"
	"syscall"
	"testing"
)

// rawDB opens path with the driver alone, as another program would.
func rawDB(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath())
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func setUmask(m int) int { return syscall.Umask(m) }
