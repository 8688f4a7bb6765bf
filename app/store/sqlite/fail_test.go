package sqlite

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/parlance-chat/parlance/app/store"
)

func init() {
	helpers["readonly-fs"] = readOnlyFS
	helpers["full-tmpfs"] = fullTmpfs
	helpers["append-until-killed"] = appendUntilKilled
}

// TestReadOnlyFileSystem opens a database on a tmpfs remounted read-only,
// in a private mount namespace.
func TestReadOnlyFileSystem(t *testing.T) {
	inMountNamespace(t, "readonly-fs", "DIR="+t.TempDir())
}

func readOnlyFS() error {
	dir := os.Getenv("DIR")
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=8m"); err != nil {
		return fmt.Errorf("mount tmpfs: %w", err)
	}
	path := filepath.Join(dir, "parlance.db")
	s, err := Open(path, Options{History: true})
	if err != nil {
		return err
	}
	if _, err := s.Append([]store.Message{{Conv: "id:B", ID: "1", Text: "x"}}); err != nil {
		return err
	}
	if err := s.Close(); err != nil {
		return err
	}
	if err := unix.Mount("", dir, "", unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
		return fmt.Errorf("remount read-only: %w", err)
	}
	before, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	_, err = Open(path, Options{History: true})
	fmt.Println("the error reads:", err)
	if !errors.Is(err, ErrReadOnly) || !strings.Contains(err.Error(), path) {
		return fmt.Errorf("Open on a read-only file system: %v", err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		return errors.New("the file changed")
	}
	return nil
}

// TestDiskFull fills a small tmpfs, in a private mount namespace: the
// write fails with ErrDiskFull, reads go on working, and once there is
// space again so do writes.
func TestDiskFull(t *testing.T) {
	inMountNamespace(t, "full-tmpfs", "DIR="+t.TempDir())
}

func fullTmpfs() error {
	dir := os.Getenv("DIR")
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=1m"); err != nil {
		return fmt.Errorf("mount tmpfs: %w", err)
	}
	path := filepath.Join(dir, "parlance.db")
	s, err := Open(path, Options{History: true})
	if err != nil {
		return err
	}
	defer s.Close()
	return fillUntilFull(s, func() error {
		return unix.Mount("", dir, "", unix.MS_REMOUNT, "size=64m")
	})
}

// fillUntilFull appends until the disk is full, checks the error and that
// reads still work, calls makeRoom and checks that writes work again.
func fillUntilFull(s *Store, makeRoom func() error) error {
	text := strings.Repeat("lorem ipsum dolor sit amet ", 40)
	var err error
	n := 0
	for ; n < 100000 && err == nil; n++ {
		_, err = s.Append([]store.Message{{Conv: "id:B", ID: fmt.Sprint(n), Text: text}})
	}
	fmt.Println("the error reads:", err)
	if !IsDiskFull(err) || !strings.Contains(err.Error(), s.Path()) {
		return fmt.Errorf("after %d messages: want a full-disk error naming the file, got %v", n, err)
	}
	if _, err := s.Append([]store.Message{{Conv: "id:B", ID: "again", Text: text}}); !IsDiskFull(err) {
		return fmt.Errorf("append on a full disk again: %v", err)
	}
	h, err := s.History("id:B", 0, 10)
	if err != nil || len(h) != 10 || h[9].ID != fmt.Sprint(n-2) {
		return fmt.Errorf("reading a full database: %v (%d messages)", err, len(h))
	}
	if err := makeRoom(); err != nil {
		return err
	}
	got, err := s.Append([]store.Message{{Conv: "id:B", ID: fmt.Sprint(n - 1), Text: "after"}})
	if err != nil || len(got) != 1 || got[0].Seq != h[9].Seq+1 {
		return fmt.Errorf("append once there is room: %+v, %v", got, err)
	}
	if hits, err := s.Search("after", 5); err != nil || len(hits) != 1 {
		return fmt.Errorf("search once there is room: %+v, %v", hits, err)
	}
	return nil
}

// TestDiskFullPageLimit is TestDiskFull without root: SQLite's page limit
// (PRAGMA max_page_count) fails writes with the same SQLITE_FULL.
func TestDiskFullPageLimit(t *testing.T) {
	s := openTemp(t, Options{History: true})
	var pages int
	if err := s.conn.QueryRowContext(bg, "PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := s.conn.ExecContext(bg, fmt.Sprintf("PRAGMA max_page_count = %d", pages+50)); err != nil {
		t.Fatal(err)
	}
	err := fillUntilFull(s, func() error {
		_, err := s.conn.ExecContext(bg, "PRAGMA max_page_count = 1000000")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestKillNineLosesNothing kills a process appending to the database at
// random points (SIGKILL): every message it was told was committed is
// there after a restart, each once and in order.
func TestKillNineLosesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "parlance.db")
	want := 0 // messages acknowledged so far, in all runs
	for run := range 3 {
		cmd := helperCmd(t, "append-until-killed", []string{"DB=" + path, fmt.Sprint("FROM=", want)})
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		acks := lines(bufio.NewReader(stdout))
		stopAfter := 20 + run*37
		for i := 0; i < stopAfter; i++ {
			l, ok := <-acks
			if !ok {
				t.Fatalf("the child ended: %v", cmd.Wait())
			}
			if want, err = strconv.Atoi(l); err != nil {
				t.Fatal(err)
			}
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		for l := range acks { // acknowledged before the signal landed
			if want, err = strconv.Atoi(l); err != nil {
				t.Fatal(err)
			}
		}
		cmd.Wait()

		s := ok(Open(path, Options{History: true}))
		h := ok(s.History("id:B", 0, 1<<30))
		s.Close()
		if len(h) < want {
			t.Fatalf("run %d: %d messages acknowledged, %d in the database", run, want, len(h))
		}
		for i, m := range h {
			if m.ID != fmt.Sprint(i) {
				t.Fatalf("run %d: message %d is %q", run, i, m.ID)
			}
		}
		want = len(h)
		t.Logf("run %d: killed after %d messages acknowledged", run, want)
	}
}

// appendUntilKilled appends batches of messages with ids counting from
// $FROM to $DB, printing the count committed after each batch, until it is
// killed.
func appendUntilKilled() error {
	s, err := Open(os.Getenv("DB"), Options{History: true})
	if err != nil {
		return err
	}
	n, _ := strconv.Atoi(os.Getenv("FROM"))
	for start := time.Now(); time.Since(start) < time.Minute; {
		var ms []store.Message
		for range 10 {
			ms = append(ms, store.Message{Conv: "id:B", ID: fmt.Sprint(n), Text: "message " + fmt.Sprint(n), At: time.Now()})
			n++
		}
		if _, err := s.Append(ms); err != nil {
			return err
		}
		fmt.Println(n)
	}
	return errors.New("not killed within a minute")
}
