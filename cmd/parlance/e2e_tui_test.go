package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
)

// tuiProc is one parlance running its full-screen UI in a pseudo-terminal.
type tuiProc struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd
	tty  *os.File
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
	// drawn is signalled (without blocking) whenever output arrives, so
	// that waitFor wakes on output rather than polling on a timer.
	drawn chan struct{}
}

func startTUI(t *testing.T, nick string, mcastPort int) *tuiProc {
	t.Helper()
	bin := parlanceBinary(t)
	home := t.TempDir()
	cfg := filepath.Join(home, "parlance.toml")
	os.WriteFile(cfg, fmt.Appendf(nil, "[multicast]\ninterface = \"lo\"\nport = %d\n", mcastPort), 0o644)
	cmd := exec.Command(bin, "-n", nick, "-c", cfg, "--log-file", filepath.Join(home, "log"))
	cmd.Env = append(os.Environ(), "TERM=xterm-256color", "XDG_DATA_HOME="+filepath.Join(home, "data"), "XDG_DOWNLOAD_DIR="+filepath.Join(home, "downloads"), "XDG_CONFIG_HOME="+filepath.Join(home, "config"))
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 30, Cols: 100})
	if err != nil {
		t.Fatal(err)
	}
	p := &tuiProc{t: t, name: nick, cmd: cmd, tty: tty, done: make(chan struct{}), drawn: make(chan struct{}, 1)}
	go func() {
		defer close(p.done)
		buf := make([]byte, 32<<10)
		for {
			n, err := tty.Read(buf)
			p.mu.Lock()
			p.out.Write(buf[:n])
			p.mu.Unlock()
			select {
			case p.drawn <- struct{}{}:
			default:
			}
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		tty.Close()
		<-p.done
		if t.Failed() {
			t.Logf("%s's screen output (escape sequences removed):\n%s", nick, p.text())
		}
	})
	return p
}

var ansiRE = regexp.MustCompile(`\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b[()][A-Za-z0-9]|\x1b[=>]|\x1b\][^\x07]*\x07`)

// text is everything drawn so far, without escape sequences. Bubble Tea
// redraws changed lines whole, so a line's text is contiguous here.
func (p *tuiProc) text() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return ansiRE.ReplaceAllString(p.out.String(), "")
}

func (p *tuiProc) waitFor(sub string) {
	p.t.Helper()
	if !p.waitUntil(func(text string) bool { return strings.Contains(text, sub) }) {
		p.t.Fatalf("%s's screen never showed %q", p.name, sub)
	}
}

func (p *tuiProc) waitForRE(expr string) {
	p.t.Helper()
	re := regexp.MustCompile(expr)
	if !p.waitUntil(re.MatchString) {
		p.t.Fatalf("%s's screen never matched %q", p.name, expr)
	}
}

// waitUntil waits until what was drawn satisfies ok, checking again each
// time output arrives, for at most eventTimeout (a limit for a stuck
// program, not a timing assumption). It reports false if the time ran out
// or the program ended first.
func (p *tuiProc) waitUntil(ok func(text string) bool) bool {
	deadline := time.NewTimer(eventTimeout)
	defer deadline.Stop()
	for {
		if ok(p.text()) {
			return true
		}
		select {
		case <-p.drawn:
		case <-p.done:
			return ok(p.text())
		case <-deadline.C:
			return false
		}
	}
}

func (p *tuiProc) keys(s string) {
	p.t.Helper()
	if _, err := p.tty.WriteString(s); err != nil {
		p.t.Fatal(err)
	}
}

// quit presses Ctrl+C on an empty input, which quits. If the UI has not
// yet heard that the last message went, it asks first; a second Ctrl+C
// then quits.
func (p *tuiProc) quit() {
	p.t.Helper()
	p.keys("\x03")
	asked := false
	deadline := time.Now().Add(eventTimeout)
	for {
		select {
		case <-p.done:
			return
		case <-p.drawn: // look again at what was drawn
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s did not quit on Ctrl+C", p.name)
		}
		if !asked && strings.Contains(p.text(), "ctrl+c again quits") {
			asked = true
			p.keys("\x03")
		}
	}
}

// startAaronAndAlice starts aaron in line mode and alice in the
// full-screen UI on one fresh multicast port, and waits until they know
// each other.
func startAaronAndAlice(t *testing.T) (port int, aaron *proc, alice *tuiProc) {
	t.Helper()
	port = e2ePort()
	aaron = startLine(t, "aaron", port)
	alice = startTUI(t, "alice", port)
	aaron.expect("alice joined")
	alice.waitFor("● aaron")
	return port, aaron, alice
}

// TestTUITwoPeers runs the real binary in pseudo-terminals: alice picks bob
// in the peer list with Alt+↓ (nothing is selected at first; aaron is
// listed first), types a message and presses Enter; bob sees an unread
// count, opens the conversation with Alt+1 and his screen shows the
// message; aaron gets nothing. Ctrl+C quits with a goodbye.
func TestTUITwoPeers(t *testing.T) {
	port, aaron, alice := startAaronAndAlice(t)
	bob := startTUI(t, "bob", port)
	alice.waitFor("● bob")
	bob.waitFor("● alice")

	alice.keys("\x1b[1;3B") // alt+↓: aaron
	alice.waitFor("aaron · online")
	alice.keys("\x1b[1;3B") // alt+↓: bob
	alice.waitFor("bob · online")
	alice.keys("hello bob from the TUI\r")
	// bob has no conversation open; alice's message raises her unread
	// count, and Alt+2 (her place in the list) opens her conversation.
	bob.waitForRE(`● alice +1 │`)
	bob.keys("\x1b2")
	bob.waitFor("alice: hello bob from the TUI")

	alice.quit()
	bob.waitFor("alice left (goodbye)")
	aaron.expect("alice left (goodbye)")
	aaron.send("/quit")
	if err := aaron.wait(); err != nil {
		t.Fatal(err)
	}
	// aaron never received the message meant for bob: /quit flushed its
	// output and nothing mentioned it.
	aaron.mu.Lock()
	defer aaron.mu.Unlock()
	if strings.Contains(aaron.log.String(), "hello bob") {
		t.Fatal("the message went to aaron, not to the selected peer")
	}
}

// TestTUITypedWordsAreText sends what broke the full-screen UI: text that
// arrives in one read without bracketed paste (GNU screen, xdotool,
// laggy SSH), which Bubble Tea v1 hands over as one key message per word,
// so "enter", "ctrl+c" and "up" used to act as keys. Each line goes whole
// to the selected peer (aaron, a line-mode peer), and alice keeps
// running.
func TestTUITypedWordsAreText(t *testing.T) {
	_, aaron, alice := startAaronAndAlice(t)
	alice.keys("/msg aaron\r")
	alice.waitFor("aaron · online")
	for _, line := range []string{
		"press enter to continue", // sent "press"
		"type ctrl+c to quit",     // quit the program
		"see you up there",        // moved the selection
		"?",                       // opened the help
	} {
		alice.keys(line + "\r") // one write: one read for Bubble Tea
		aaron.expect("alice: " + line)
	}
	// A bracketed paste keeps its line break (line mode prints it on one
	// line).
	alice.keys("\x1b[200~two\nlines\x1b[201~\r")
	aaron.expect("alice: two lines")
	select {
	case <-alice.done:
		t.Fatal("alice quit on typed text")
	default:
	}
	alice.quit()
	aaron.send("/quit")
	if err := aaron.wait(); err != nil {
		t.Fatal(err)
	}
}
