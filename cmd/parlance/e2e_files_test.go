package main

import (
	"bytes"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite" // database/sql driver "sqlite", to read the profile's checkpoints
)

// The end-to-end tests of file transfer (issue 15): two real processes in
// line mode on loopback.

// writeFile writes size pseudo-random bytes and returns the file's path
// and SHA-256.
func writeFile(t *testing.T, dir, name string, size int) (string, [32]byte) {
	t.Helper()
	b := make([]byte, size)
	r := rand.New(rand.NewPCG(uint64(size), 42))
	for i := 0; i+8 <= len(b); i += 8 {
		v := r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p, sha256.Sum256(b)
}

// savedHash is the SHA-256 of a file the receiver saved.
func savedHash(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the received file: %v", err)
	}
	return sha256.Sum256(b)
}

// filePeers starts alice and bob in line mode, each seeing the other;
// bob's home is returned, to find his downloads and to restart him.
func filePeers(t *testing.T) (alice, bob *proc, bobHome string, port int) {
	t.Helper()
	port = e2ePort()
	bobHome = t.TempDir()
	alice = startLine(t, "alice", port)
	bob = startLineAt(t, bobHome, "bob", port)
	alice.expect("bob joined")
	bob.expect("alice joined")
	return alice, bob, bobHome, port
}

func TestLineModeSendFile(t *testing.T) {
	alice, bob, bobHome, _ := filePeers(t)

	src, sum := writeFile(t, t.TempDir(), "holiday photo.jpg", 20<<20+3)
	alice.send("/sendfile bob " + src)
	offer := bob.expect("* file from alice: offer ")
	if !strings.Contains(offer, "holiday photo.jpg (21.0 MB)") {
		t.Fatalf("offer line %q", offer)
	}
	alice.expect("offered ")
	bob.send("/accept")
	done := bob.expectWithin("SHA-256 verified", 60*time.Second)
	want := filepath.Join(bobHome, "downloads", "parlance", "holiday photo.jpg")
	if !strings.Contains(done, "saved to "+want) {
		t.Fatalf("final line %q; want it saved to %s", done, want)
	}
	if got := savedHash(t, want); !bytes.Equal(got[:], sum[:]) {
		t.Fatalf("received SHA-256 %x, sent %x", got, sum)
	}
	alice.expect("delivered, SHA-256 verified by the receiver")

	bob.send("/transfers")
	bob.expect("1 file transfer(s)")
	if l := bob.expect("holiday photo.jpg"); !strings.Contains(l, "from alice") || !strings.HasSuffix(l, "done") {
		t.Fatalf("/transfers line %q", l)
	}
}

// resumedLine matches the line of a resumed download.
var resumedLine = regexp.MustCompile(`big\.bin: resumed at ([0-9.]+) MB of ([0-9.]+) MB`)

// savedOffset returns the largest checkpoint offset of the transfers
// saved in the profile's database under home (0 when there is none yet),
// read while the node runs (the database is in WAL mode).
func savedOffset(t *testing.T, home string) int64 {
	t.Helper()
	dbs, _ := filepath.Glob(filepath.Join(home, "data", "parlance", "profiles", "*", "parlance.db"))
	if len(dbs) != 1 {
		return 0
	}
	db, err := sql.Open("sqlite", "file:"+dbs[0]+"?mode=ro")
	if err != nil {
		t.Fatalf("open %s: %v", dbs[0], err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT data FROM records WHERE kind = 'transfer'`)
	if err != nil {
		return 0 // not created yet, or busy: look again
	}
	defer rows.Close()
	var best int64
	for rows.Next() {
		var data []byte
		var r struct {
			Offset int64 `json:"offset"`
		}
		if rows.Scan(&data) == nil && json.Unmarshal(data, &r) == nil {
			best = max(best, r.Offset)
		}
	}
	return best
}

// TestLineModeResumeAfterKill kills the receiver with SIGKILL in the
// middle of a download and starts it again on the same profile: the
// download resumes from its last checkpoint, not from zero, and the file's
// hash matches.
func TestLineModeResumeAfterKill(t *testing.T) {
	alice, bob, bobHome, port := filePeers(t)

	const size = 160 << 20
	src, sum := writeFile(t, t.TempDir(), "big.bin", size)
	alice.send("/sendfile bob " + src)
	bob.expect("* file from alice: offer ")
	bob.send("/accept")
	// Kill once a checkpoint (every 8 MiB) must be behind it: watch the
	// partial file grow (progress lines come at most once a second, and a
	// quiet machine moves 160 MiB in less).
	dl := filepath.Join(bobHome, "downloads", "parlance")
	deadline := time.Now().Add(60 * time.Second)
	for {
		parts, _ := filepath.Glob(filepath.Join(dl, ".parlance-*.part"))
		if len(parts) == 1 {
			// The checkpoints are synced and saved by a goroutine of their
			// own, which a loaded machine can leave behind the writes.
			if fi, err := os.Stat(parts[0]); err == nil && fi.Size() >= 24<<20 && savedOffset(t, bobHome) > 0 {
				if fi.Size() >= size*9/10 {
					t.Skip("the download was nearly done before the receiver could be killed")
				}
				break
			}
		}
		if _, err := os.Stat(filepath.Join(dl, "big.bin")); err == nil {
			t.Skip("the download finished before the receiver could be killed")
		}
		if time.Now().After(deadline) {
			t.Fatal("the download did not start within 60 s")
		}
		time.Sleep(time.Millisecond)
	}
	bob.kill9()

	bob = startLineAt(t, bobHome, "bob", port)
	l := bob.expectWithin("big.bin: resumed at ", 30*time.Second)
	m := resumedLine.FindStringSubmatch(l)
	if m == nil {
		t.Fatalf("resume line %q", l)
	}
	at, _ := strconv.ParseFloat(m[1], 64)
	if at <= 0 || at*1e6 >= size {
		t.Fatalf("resumed at %.1f MB of %d bytes; want from a checkpoint in between", at, size)
	}
	t.Logf("resumed at %.1f MB of %.1f MB: %.1f MB sent after the restart", at, float64(size)/1e6, float64(size)/1e6-at)
	done := bob.expectWithin("SHA-256 verified", 60*time.Second)
	saved := filepath.Join(bobHome, "downloads", "parlance", "big.bin")
	if !strings.Contains(done, saved) {
		t.Fatalf("final line %q; want %s", done, saved)
	}
	if got := savedHash(t, saved); !bytes.Equal(got[:], sum[:]) {
		t.Fatalf("received SHA-256 %x, sent %x", got, sum)
	}
	if parts, _ := filepath.Glob(filepath.Join(bobHome, "downloads", "parlance", ".parlance-*")); len(parts) != 0 {
		t.Fatalf("partial files left: %v", parts)
	}
}
