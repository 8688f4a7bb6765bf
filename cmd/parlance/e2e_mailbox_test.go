package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/parlance-chat/parlance/internal/natlabtest"
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

	assertNoPlaintextFiles(t, dir, "flowerpot", "alice")

	bob = startLineCfg(t, bobHome, "bob", e2ePort(), cfg, args...)
	bob.expect("alice: " + secret)

	alice = startLineCfg(t, aliceHome, "alice", e2ePort(), cfg, args...)
	alice.expect("delivered to bob: “the spare key") // the text is cut short
	checkExactlyOnce(t, alice, bob, "alice", "bob")
}

// TestMailboxInTheNATLab is the mailbox test in the NAT lab: the
// real bootstrap-server on the lab's internet (its mailbox in a
// directory), alice behind one NAT and bob behind the other, in internet
// mode. bob quits, alice sends, alice quits, bob starts: bob gets the
// message; the server's storage holds no plaintext. (A letter forged by
// the server is refused: TestMailboxOnLoopback in ./app, where the test
// can play the server.)
func TestMailboxInTheNATLab(t *testing.T) {
	lab := natlabtest.Start(t, "--nat", "cone")
	bin := parlanceBinary(t)
	dir := t.TempDir()
	url, _ := startServerCmd(t, lab.Command(context.Background(), "server", bootstrapBinary(t),
		"--host", natlabtest.ServerIP, "--port", "8080", "--mailbox-dir", dir))
	start := func(host, home, nick string) *proc {
		t.Helper()
		cfg := filepath.Join(home, "parlance.toml")
		if err := os.WriteFile(cfg, []byte("[delivery]\nmailbox_after = \"200ms\"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		env := append(os.Environ(), "XDG_DATA_HOME="+filepath.Join(home, "data"), "XDG_STATE_HOME="+filepath.Join(home, "state"), "XDG_CONFIG_HOME="+filepath.Join(home, "config"))
		return startProc(t, lab.Script, env, nick, "exec", lab.Name, host, bin,
			"--ui", "line", "-n", nick, "-c", cfg, "-m", "internet", "--bootstrap-server", url)
	}
	aliceHome, bobHome := t.TempDir(), t.TempDir()
	alice := start("a", aliceHome, "alice")
	bob := start("b", bobHome, "bob")
	alice.expect("bob joined")
	bob.expect("alice joined")

	// Both online, each behind its NAT: bob's message gets through, and
	// is acknowledged (today through the mailbox, once the direct
	// attempts have failed for mailbox_after, and a receipt back the same
	// way; with hole punching or the relay, directly).
	bob.send("/send alice can you hear me")
	alice.expect("bob: can you hear me")
	for deadline := time.Now().Add(eventTimeout); ; time.Sleep(200 * time.Millisecond) {
		if _, states := bob.history("alice"); len(states) == 1 && states[0] == "delivered" {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("bob's message to alice is %v, not delivered", states)
		}
	}

	bob.send("/quit")
	if err := bob.wait(); err != nil {
		t.Fatalf("bob /quit: %v", err)
	}
	alice.expect("bob left")
	const secret = "meet me behind the second router"
	alice.send("/send bob " + secret)
	alice.expect("✉ 1 message left at the bootstrap server")
	alice.send("/quit")
	if err := alice.wait(); err != nil {
		t.Fatalf("alice /quit: %v", err)
	}
	assertNoPlaintextFiles(t, dir, "second router", "alice")

	bob = start("b", bobHome, "bob")
	bob.expect("alice: " + secret)
}

// assertNoPlaintextFiles fails if a file under dir holds one of words;
// it wants at least the item's and the key's files.
func assertNoPlaintextFiles(t *testing.T, dir string, words ...string) {
	t.Helper()
	files := 0
	err := filepath.Walk(dir, func(path string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		for _, w := range words {
			if bytes.Contains(b, []byte(w)) {
				t.Errorf("the server's file %s holds %q", path, w)
			}
		}
		files++
		return err
	})
	if err != nil || files < 2 {
		t.Fatalf("mailbox directory: %d files, %v", files, err)
	}
}
