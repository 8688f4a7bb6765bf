package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestMailboxRealBinaries: the real bootstrap-server (its mailbox kept in
// a directory) and two real parlance processes in internet mode. bob
// quits, alice sends, alice quits, bob starts: bob gets the message from
// the mailbox, and the server's files hold no plaintext. When alice is
// back her outbox delivers it directly: bob keeps it once, alice sees it
// delivered.
func TestMailboxRealBinaries(t *testing.T) {
	dir := t.TempDir()
	url, _ := startServerCmd(t, exec.Command(bootstrapBinary(t), "--host", "127.0.0.1", "--port", "0", "--mailbox-dir", dir))
	const cfg = "[delivery]\nmailbox_after = \"200ms\"\n"
	aliceHome, bobHome := t.TempDir(), t.TempDir()
	args := []string{"-m", "internet", "--bootstrap-server", url}
	alice := startLineCfg(t, aliceHome, "alice", e2ePort(), cfg, args...)
	bob := startLineCfg(t, bobHome, "bob", e2ePort(), cfg, args...)
	alice.expect("bob joined")
	bob.expect("alice joined")
	alice.send("/send bob hello")
	bob.expect("alice: hello")

	bob.send("/quit")
	if err := bob.wait(); err != nil {
		t.Fatalf("bob /quit: %v", err)
	}
	alice.expect("bob left")
	const secret = "the spare key is under the third flowerpot"
	alice.send("/send bob " + secret)
	alice.expect("✉ 1 message left at the bootstrap server")
	alice.send("/quit")
	if err := alice.wait(); err != nil {
		t.Fatalf("alice /quit: %v", err)
	}

	files := 0
	err := filepath.Walk(dir, func(path string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if bytes.Contains(b, []byte("flowerpot")) || bytes.Contains(b, []byte("alice")) {
			t.Errorf("the server's file %s holds plaintext", path)
		}
		files++
		return err
	})
	if err != nil || files < 2 { // the item and bob's key
		t.Fatalf("mailbox directory: %d files, %v", files, err)
	}

	bob = startLineCfg(t, bobHome, "bob", e2ePort(), cfg, args...)
	bob.expect("alice: " + secret)

	alice = startLineCfg(t, aliceHome, "alice", e2ePort(), cfg, args...)
	alice.expect("delivered to bob: “the spare key") // the text is cut short
	checkExactlyOnce(t, alice, bob, "alice", "bob")
}
