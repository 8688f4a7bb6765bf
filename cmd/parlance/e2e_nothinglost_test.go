package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parlance-chat/parlance/net/identity"
)

// The end-to-end tests of "nothing lost": real processes on loopback,
// killed with SIGKILL at random points, started again on the same data.

// burst is how many messages the crash tests send.
const burst = 1000

// kill9 kills a process as a crash would (no goodbye, nothing flushed).
func (p *proc) kill9() {
	p.t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		p.t.Fatalf("kill -9 %s: %v", p.name, err)
	}
	p.cmd.Wait()
	for range p.lines { // drain what it printed
	}
}

// historyLine matches a line of /history output: "  [2 Jan 15:04:05] who: text (state)".
var historyLine = regexp.MustCompile(`^  \[[^\]]+\] (you -> )?[^:]+: (.+?)(?: \((delivered|read|sent|queued|failed|received|sent \(no receipts\))\))?$`)

// history runs /history for a peer and returns the texts, oldest first,
// and for our own messages their states.
func (p *proc) history(peer string) (texts, states []string) {
	p.t.Helper()
	p.send(fmt.Sprintf("/history %s %d", peer, 10_000))
	head := p.expectWithin("message(s) with "+peer, 30*time.Second)
	var n int
	if _, err := fmt.Sscanf(strings.TrimPrefix(head, "* last "), "%d", &n); err != nil {
		p.t.Fatalf("%s: history header %q", p.name, head)
	}
	deadline := time.After(30 * time.Second)
	for len(texts) < n {
		select {
		case l, ok := <-p.lines:
			if !ok {
				p.t.Fatalf("%s exited while printing its history", p.name)
			}
			m := historyLine.FindStringSubmatch(l)
			if m == nil {
				p.t.Fatalf("%s: history line %q", p.name, l)
			}
			texts = append(texts, m[2])
			states = append(states, m[3])
		case <-deadline:
			p.t.Fatalf("%s: history ended after %d of %d lines", p.name, len(texts), n)
		}
	}
	return texts, states
}

// waitOutboxEmpty polls /outbox until nothing waits.
func (p *proc) waitOutboxEmpty(limit time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		p.send("/outbox")
		// The answer comes after whatever the process still has to
		// read (a burst of /send lines, under -race, takes seconds).
		l := p.expectWithin("* ", time.Minute)
		for !strings.Contains(l, "outbox is empty") && !strings.Contains(l, "waiting:") {
			l = p.expectWithin("* ", time.Minute)
		}
		if strings.Contains(l, "outbox is empty") {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s: outbox not empty after %s: %s", p.name, limit, l)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// checkExactlyOnce compares what the sender stored as sent with what the
// receiver stored as received: the same messages, each once, in order,
// and every one acknowledged (✓✓) at the sender.
func checkExactlyOnce(t *testing.T, sender, receiver *proc, senderNick, receiverNick string) {
	t.Helper()
	sender.waitOutboxEmpty(60 * time.Second)
	sent, states := sender.history(receiverNick)
	got, _ := receiver.history(senderNick)
	if len(sent) == 0 {
		t.Fatal("the sender stored nothing")
	}
	for i, st := range states {
		if st != "delivered" {
			t.Fatalf("message %d (%s) is %q at the sender, want delivered", i, sent[i], st)
		}
	}
	if !slices.Equal(sent, got) {
		dups := map[string]int{}
		for _, g := range got {
			dups[g]++
		}
		for g, n := range dups {
			if n > 1 {
				t.Errorf("%s received %s %d times", receiverNick, g, n)
			}
		}
		t.Fatalf("%s stored %d messages, %s sent %d; first difference at %d", receiverNick, len(got), senderNick, len(sent), firstDiff(sent, got))
	}
	t.Logf("%d messages, each delivered once, in order, all ✓✓", len(sent))
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// sendBurst writes n /send lines at once.
func sendBurst(p *proc, to string, n int) {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "/send %s n%04d\n", to, i+1)
	}
	if _, err := p.stdin.Write([]byte(b.String())); err != nil {
		p.t.Fatalf("%s: %v", p.name, err)
	}
}

// waitPrinted waits until p printed k received messages "from: nXXXX".
func waitPrinted(p *proc, from string, k int) {
	p.t.Helper()
	for seen := 0; seen < k; {
		p.expectWithin(from+": n", 30*time.Second)
		seen++
	}
}

// TestReceiverCrashExactlyOnce: bob is killed with SIGKILL twice at random
// points of a 1,000-message burst and started again each time; alice's
// outbox delivers every message exactly once, in order, all ✓✓.
func TestReceiverCrashExactlyOnce(t *testing.T) {
	r := startBurst(t)
	for range 2 {
		k := 1 + rand.IntN(burst/3)
		waitPrinted(r.bob, "alice", k)
		r.bob.kill9()
		t.Logf("bob killed after printing %d more messages", k)
		r.bob = startLineAt(t, r.bobHome, "bob", r.port)
	}
	checkExactlyOnce(t, r.alice, r.bob, "alice", "bob")
}

// TestSenderCrashExactlyOnce: alice is killed with SIGKILL at a random
// point of the burst; what she had accepted is still in her outbox when
// she starts again, and bob gets each message exactly once, in order.
func TestSenderCrashExactlyOnce(t *testing.T) {
	r := startBurst(t)
	k := 1 + rand.IntN(burst/2)
	waitPrinted(r.bob, "alice", k)
	r.alice.kill9()
	t.Logf("alice killed after bob printed %d messages", k)
	r.alice = startLineAt(t, r.aliceHome, "alice", r.port)
	checkExactlyOnce(t, r.alice, r.bob, "alice", "bob")
}

// burstRig is alice and bob on one LAN, each with a home of its own (to
// start again on), alice sending bob a burst.
type burstRig struct {
	port               int
	aliceHome, bobHome string
	alice, bob         *proc
}

// startBurst starts alice and bob, waits until they see each other, and
// has alice send bob the burst.
func startBurst(t *testing.T) *burstRig {
	t.Helper()
	r := &burstRig{port: e2ePort(), aliceHome: t.TempDir(), bobHome: t.TempDir()}
	r.alice = startLineAt(t, r.aliceHome, "alice", r.port)
	r.bob = startLineAt(t, r.bobHome, "bob", r.port)
	r.alice.expect("bob joined")
	r.bob.expect("alice joined")
	sendBurst(r.alice, "bob", burst)
	return r
}

// TestOfflineMessageSurvivesSenderCrash: a message to an offline peer
// waits in the outbox across a SIGKILL of the sender, and is delivered
// when both are back.
func TestOfflineMessageSurvivesSenderCrash(t *testing.T) {
	port := e2ePort()
	aliceHome, bobHome := t.TempDir(), t.TempDir()
	alice := startLineAt(t, aliceHome, "alice", port)
	bob := startLineAt(t, bobHome, "bob", port)
	alice.expect("bob joined")
	alice.send("/send bob hello")
	bob.expect("alice: hello")
	bob.send("/quit")
	bob.wait()
	alice.expect("bob left")

	alice.send("/send bob are you there")
	alice.expect("queued: bob is offline")
	alice.kill9()

	alice = startLineAt(t, aliceHome, "alice", port)
	alice.expect("1 message(s) waiting for their peer")
	bob = startLineAt(t, bobHome, "bob", port)
	bob.expect("alice: are you there")
	alice.expect("* delivered to bob: “are you there”")
}

// TestRestartKeepsHistoryContactsAndTrust: after a restart, history, the
// offline contact and its verification are still there.
func TestRestartKeepsHistoryContactsAndTrust(t *testing.T) {
	port := e2ePort()
	aliceHome := t.TempDir()
	alice := startLineAt(t, aliceHome, "alice", port)
	bob := startLine(t, "bob", port)
	alice.expect("bob joined")
	alice.send("/send bob remember me")
	bob.expect("alice: remember me")
	bob.send("/send alice i will")
	alice.expect("bob: i will")
	alice.send("/verify bob confirm")
	alice.expect("bob is now verified")
	alice.send("/quit")
	alice.wait()
	bob.send("/quit")
	bob.wait()

	alice = startLineAt(t, aliceHome, "alice", port)
	alice.send("/peers")
	if l := alice.expect("bob#"); !strings.Contains(l, "offline") || !strings.Contains(l, "verified") {
		t.Fatalf("bob after a restart: %q; want listed offline and verified", l)
	}
	texts, _ := alice.history("bob")
	if !slices.Equal(texts, []string{"remember me", "i will"}) {
		t.Fatalf("history after a restart: %q", texts)
	}
}

// TestOldDataDirectoryMigrates: a data directory from before profiles
// (identity.pem and contacts.json at its top) keeps working: the first
// nickname started adopts its identity, and its contacts are imported.
func TestOldDataDirectoryMigrates(t *testing.T) {
	port := e2ePort()
	home := t.TempDir()
	data := filepath.Join(home, "data", "parlance")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	old, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if err := old.Save(filepath.Join(data, identity.KeyFileName)); err != nil {
		t.Fatal(err)
	}
	friend, _ := identity.Generate()
	contacts := fmt.Sprintf(`{"pinned":{"carol":%q},"keys":{%q:{"nickname":"carol","first_seen":"2026-01-02T03:04:05Z","verified":true}}}`, friend.ID(), friend.ID())
	if err := os.WriteFile(filepath.Join(data, "contacts.json"), []byte(contacts), 0o600); err != nil {
		t.Fatal(err)
	}

	alice := startLineAt(t, home, "alice", port)
	alice.send("/id")
	if l := alice.expect("* you are alice, ID"); !strings.Contains(l, old.ID().Grouped()) {
		t.Fatalf("/id after migration: %q, want the old identity %s", l, old.ID().Grouped())
	}
	// The imported pin: carol proving that key is known and verified.
	alice.send("/quit")
	alice.wait()
	if _, err := os.Stat(filepath.Join(data, "contacts.json")); err != nil {
		t.Fatalf("the old contacts.json is gone: %v", err)
	}
	if _, err := os.Stat(filepath.Join(data, "profiles", "alice", "parlance.db")); err != nil {
		t.Fatalf("no database in alice's profile: %v", err)
	}
	// A second nickname gets an identity of its own.
	bob := startLineAt(t, home, "bob", port)
	bob.send("/id")
	if l := bob.expect("* you are bob, ID"); strings.Contains(l, old.ID().Grouped()) {
		t.Fatalf("bob got alice's identity: %q", l)
	}
}

// TestQuickStartOneHome: the README's quick start, two terminals on one
// machine with one HOME and no flags beyond the nickname: each nickname
// has its own profile, both start, and they talk. Two of one nickname
// still get the clear error.
func TestQuickStartOneHome(t *testing.T) {
	bin := parlanceBinary(t)
	port := e2ePort()
	home := t.TempDir()
	cfgDir := filepath.Join(home, ".config", "parlance")
	if err := os.MkdirAll(cfgDir, 0o700); err != nil {
		t.Fatal(err)
	}
	// Discovery pinned to lo (this machine's rule); everything else default.
	os.WriteFile(filepath.Join(cfgDir, "parlance.toml"), fmt.Appendf(nil, "[multicast]\ninterface = \"lo\"\nport = %d\n[ui]\nmode = \"line\"\n", port), 0o644)
	env := []string{"HOME=" + home, "PATH=" + os.Getenv("PATH")}
	start := func(nick string) *proc {
		return startProc(t, bin, env, nick, "-n", nick)
	}
	alice := start("alice")
	bob := start("bob")
	alice.expect("bob joined")
	alice.send("/send bob hi from the same home")
	bob.expect("alice: hi from the same home")

	again := exec9(t, bin, env, "-n", "alice")
	if !strings.Contains(again, "another parlance is running with the profile") {
		t.Fatalf("a second alice: %q", again)
	}
	for _, nick := range []string{"alice", "bob"} {
		if _, err := os.Stat(filepath.Join(home, ".local", "share", "parlance", "profiles", nick, identity.KeyFileName)); err != nil {
			t.Errorf("%s's profile: %v", nick, err)
		}
	}
}

// TestCorruptDatabaseRefused: a corrupt database stops the start with an
// error naming the file, and the file is left as it was.
func TestCorruptDatabaseRefused(t *testing.T) {
	bin := parlanceBinary(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "parlance.db")
	garbage := []byte(strings.Repeat("not a database ", 1000))
	if err := os.WriteFile(db, garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	out := exec9(t, bin, []string{"HOME=" + dir, "PATH=" + os.Getenv("PATH")}, "--ui", "line", "-n", "alice", "--data-dir", dir, "-m", "internet", "--bootstrap-server", "ws://127.0.0.1:9")
	if !strings.Contains(out, db) {
		t.Fatalf("error does not name the file: %q", out)
	}
	if b, _ := os.ReadFile(db); string(b) != string(garbage) {
		t.Fatal("the corrupt database was changed")
	}
}

// exec9 runs the binary to its end and returns what it printed.
func exec9(t *testing.T, bin string, env []string, args ...string) string {
	t.Helper()
	cmd := execCommand(bin, args...)
	cmd.Env = env
	out, _ := cmd.CombinedOutput()
	return string(out)
}
