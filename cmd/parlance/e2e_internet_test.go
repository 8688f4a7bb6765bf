package main

import (
	"bufio"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	serverOnce sync.Once
	serverBin  string
	serverErr  error
)

func bootstrapBinary(t *testing.T) string {
	t.Helper()
	parlanceBinary(t) // skips in -short mode
	serverOnce.Do(func() {
		serverBin = filepath.Join(filepath.Dir(binPath), "bootstrap-server")
		out, err := exec.Command("go", "build", "-race", "-o", serverBin, "../bootstrap-server").CombinedOutput()
		if err != nil {
			serverErr = fmt.Errorf("go build bootstrap-server: %v\n%s", err, out)
		}
	})
	if serverErr != nil {
		t.Fatal(serverErr)
	}
	return serverBin
}

// startServer runs the real bootstrap-server on a free loopback port and
// returns its ws:// URL.
func startServer(t *testing.T) (url string, stop func() error) {
	t.Helper()
	return startServerCmd(t, exec.Command(bootstrapBinary(t), "--host", "127.0.0.1", "--port", "0"))
}

// startServerCmd runs a bootstrap-server command and returns the ws:// URL
// it says it listens on.
func startServerCmd(t *testing.T, cmd *exec.Cmd) (url string, stop func() error) {
	t.Helper()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	found := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`url=(ws://[0-9.:]+)`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
	}()
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	select {
	case url = <-found:
	case <-time.After(eventTimeout):
		t.Fatal("bootstrap-server did not say where it listens")
	}
	return url, func() error {
		cmd.Process.Signal(syscall.SIGTERM)
		return cmd.Wait()
	}
}

// TestInternetModeTwoPeers runs the real bootstrap-server and two real
// parlance processes in line mode and internet mode: they find each other
// through the server (pushed, no multicast) and message directly.
func TestInternetModeTwoPeers(t *testing.T) {
	url, stop := startServer(t)
	// A multicast port nobody uses: internet mode must not open it, and if
	// it did, nothing would be found there.
	alice := startLine(t, "alice", e2ePort(), "-m", "internet", "--bootstrap-server", url)
	alice.expect("bootstrap server: online")
	bob := startLine(t, "bob", e2ePort(), "-m", "internet", "--bootstrap-server", url)
	bob.expect("bootstrap server: online")
	alice.expect("bob joined")
	bob.expect("alice joined")

	alice.send("/send bob hello across the internet")
	bob.expect("alice: hello across the internet")
	bob.send("/send alice and back")
	alice.expect("bob: and back")

	// A peer that quits leaves the server's list at once.
	bob.send("/quit")
	if err := bob.wait(); err != nil {
		t.Fatalf("bob /quit: %v", err)
	}
	alice.expect("bob left")

	// The server goes away: alice shows she is retrying; it comes back on
	// the same address: she is online again.
	if err := stop(); err != nil {
		t.Fatalf("bootstrap-server did not exit cleanly on SIGTERM: %v", err)
	}
	alice.expect("bootstrap server: retrying in")
	port := strings.TrimPrefix(url, "ws://127.0.0.1:")
	cmd := exec.Command(bootstrapBinary(t), "--host", "127.0.0.1", "--port", port)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	alice.expectWithin("bootstrap server: online", 30*time.Second+eventTimeout) // the back-off may have reached 30 s
	alice.stdin.Close()
	if err := alice.wait(); err != nil {
		t.Fatal(err)
	}
}
