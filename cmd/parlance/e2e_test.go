package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/ipv4"
)

// buildBinary builds cmd/parlance once per test run.
var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func parlanceBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "parlance-e2e-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "parlance")
		out, err := exec.Command("go", "build", "-race", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// eventTimeout bounds every wait for something a program prints. The
// tests wait for the output itself and go on the moment it comes; this is
// only the limit for a program that is stuck, generous because the race
// build on a busy 2-core machine can be many times slower than usual.
const eventTimeout = 60 * time.Second

// e2ePort picks a multicast port for one test, away from the default.
func e2ePort() int { return 20000 + rand.IntN(9000) }

// proc is one running parlance in line mode, driven through pipes.
type proc struct {
	t     *testing.T
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
	log   *strings.Builder
	mu    sync.Mutex
}

func startLine(t *testing.T, nick string, mcastPort int, extra ...string) *proc {
	t.Helper()
	return startLineAt(t, t.TempDir(), nick, mcastPort, extra...)
}

// startLineAt is startLine with the home directory given, so that a test
// can start a peer again with what it stored.
func startLineAt(t *testing.T, home, nick string, mcastPort int, extra ...string) *proc {
	t.Helper()
	return startLineCfg(t, home, nick, mcastPort, "", extra...)
}

// startLineCfg is startLineAt with more config file tables (TOML).
func startLineCfg(t *testing.T, home, nick string, mcastPort int, moreCfg string, extra ...string) *proc {
	t.Helper()
	bin := parlanceBinary(t)
	cfg := filepath.Join(home, "parlance.toml")
	os.WriteFile(cfg, fmt.Appendf(nil, "[multicast]\ninterface = \"lo\"\nport = %d\n[peer]\nannounce_interval_secs = 5\ntimeout_secs = 15\n%s", mcastPort, moreCfg), 0o644)
	args := append([]string{"--ui", "line", "-n", nick, "-c", cfg}, extra...)
	env := append(os.Environ(), "XDG_DATA_HOME="+filepath.Join(home, "data"), "XDG_DOWNLOAD_DIR="+filepath.Join(home, "downloads"), "XDG_STATE_HOME="+filepath.Join(home, "state"), "XDG_CONFIG_HOME="+filepath.Join(home, "config"))
	return startProc(t, bin, env, nick, args...)
}

// startProc starts the binary in line mode with env and args, and waits
// for its banner.
func startProc(t *testing.T, bin string, env []string, nick string, args ...string) *proc {
	t.Helper()
	cmd := execCommand(bin, args...)
	cmd.Env = env
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	p := &proc{t: t, name: nick, cmd: cmd, stdin: stdin, lines: make(chan string, 1<<17), log: &strings.Builder{}}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.mu.Lock()
			p.log.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			p.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		p.cmd.Wait()
		if t.Failed() {
			p.mu.Lock()
			t.Logf("%s's output:\n%s", p.name, p.log.String())
			p.mu.Unlock()
		}
	})
	p.expect("Parlance: you are " + nick)
	return p
}

// execCommand is exec.Command.
func execCommand(bin string, args ...string) *exec.Cmd { return exec.Command(bin, args...) }

func (p *proc) send(line string) {
	p.t.Helper()
	if _, err := io.WriteString(p.stdin, line+"\n"); err != nil {
		p.t.Fatalf("%s: write %q: %v", p.name, line, err)
	}
}

// expect waits for an output line containing sub and returns it.
func (p *proc) expect(sub string) string {
	p.t.Helper()
	return p.expectWithin(sub, eventTimeout)
}

// expectWithin is expect with a chosen time limit.
func (p *proc) expectWithin(sub string, limit time.Duration) string {
	p.t.Helper()
	deadline := time.After(limit)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				p.t.Fatalf("%s exited before printing %q", p.name, sub)
			}
			if strings.Contains(l, sub) {
				return l
			}
		case <-deadline:
			p.t.Fatalf("%s did not print %q within %s", p.name, sub, limit)
		}
	}
}

// count is how many output lines so far contain sub.
func (p *proc) count(sub string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, l := range strings.Split(p.log.String(), "\n") {
		if strings.Contains(l, sub) {
			n++
		}
	}
	return n
}

func (p *proc) wait() error {
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(eventTimeout):
		return fmt.Errorf("%s did not exit", p.name)
	}
}

func TestLineModeTwoPeers(t *testing.T) {
	port := e2ePort()
	alice := startLine(t, "alice", port)
	bob := startLine(t, "bob", port)
	alice.expect("bob joined")
	bob.expect("alice joined")

	alice.send("/peers")
	alice.expect("bob#")
	alice.send("/send bob hello from alice")
	alice.expect("you -> bob: hello from alice")
	bob.expect("alice: hello from alice")
	bob.send("/send alice hi back")
	alice.expect("bob: hi back")

	bob.send("/quit")
	if err := bob.wait(); err != nil {
		t.Fatalf("bob /quit: %v", err)
	}
	alice.expect("bob left (goodbye)")
	alice.stdin.Close() // EOF quits like /quit
	if err := alice.wait(); err != nil {
		t.Fatalf("alice EOF: %v", err)
	}
}

// TestLineModeWithOriginalPeer plays an original peer with plain sockets:
// an announce without extension fields and plaintext message lines.
func TestLineModeWithOriginalPeer(t *testing.T) {
	port := e2ePort()
	alice := startLine(t, "alice", port)

	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	tcpPort := ln.Addr().(*net.TCPAddr).Port
	announce := fmt.Sprintf(`{"type":"announce","nickname":"orig","tcp_port":%d}`, tcpPort)
	sendOriginal(t, port, announce)
	if l := alice.expect("orig joined (127.0.0.1:"); !strings.HasSuffix(l, ", unencrypted)") {
		t.Errorf("original peer not marked unencrypted: %q", l)
	}

	got := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(eventTimeout))
		l, _ := bufio.NewReader(c).ReadString('\n')
		got <- l
	}()
	alice.send("/send orig hello original")
	select {
	case l := <-got:
		var m struct {
			From      string `json:"from"`
			Content   string `json:"content"`
			Timestamp int64  `json:"timestamp"`
		}
		if err := json.Unmarshal([]byte(l), &m); err != nil || m.From != "alice" || m.Content != "hello original" || m.Timestamp == 0 {
			t.Fatalf("original peer got %q (%v)", l, err)
		}
	case <-time.After(eventTimeout):
		t.Fatal("original peer received nothing")
	}

	// The original sends: one connection, one line, close.
	c, err := net.Dial("tcp4", "127.0.0.1:"+listenPort(t, alice))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, `{"from":"orig","content":"hi from the original","timestamp":%d}`+"\n", time.Now().Unix())
	c.Close()
	alice.expect("orig: hi from the original")

	sendOriginal(t, port, `{"type":"goodbye","nickname":"orig"}`)
	alice.expect("orig left (goodbye)")
}

// listenPort reads a process's TCP port from the banner it printed at
// start.
func listenPort(t *testing.T, p *proc) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range strings.Split(p.log.String(), "\n") {
		if i := strings.Index(l, "listening on 0.0.0.0:"); i >= 0 {
			rest := l[i+len("listening on 0.0.0.0:"):]
			return strings.TrimRight(strings.Fields(rest)[0], ".,")
		}
	}
	t.Fatal("no listen port in banner")
	return ""
}

// sendOriginal sends one datagram to the group on lo, as the original does.
func sendOriginal(t *testing.T, port int, payload string) {
	t.Helper()
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pc := ipv4.NewPacketConn(c)
	if err := pc.SetMulticastInterface(lo); err != nil {
		t.Fatal(err)
	}
	pc.SetMulticastTTL(1)
	pc.SetMulticastLoopback(true)
	if _, err := c.WriteToUDP([]byte(payload), &net.UDPAddr{IP: net.IPv4(239, 255, 255, 250), Port: port}); err != nil {
		t.Fatal(err)
	}
}
