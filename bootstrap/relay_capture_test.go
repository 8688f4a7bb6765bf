package bootstrap

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/parlance-chat/parlance/net/wire"
)

// markCapture sends a request that ends a capture of the server at
// baseURL: once the capture holds the mark it returns, the capture holds
// everything sent before (tcpdump writes packets in order).
func markCapture(t testing.TB, baseURL string) string {
	t.Helper()
	var b [8]byte
	_, _ = rand.Read(b[:])
	mark := "capture-end-" + hex.EncodeToString(b[:])
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	resp, err := c.Get(baseURL + "/healthz?" + mark)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return mark
}

// waitCaptured waits until the capture file holds mark and returns it.
func waitCaptured(t testing.TB, pcap, mark string) []byte {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		data, err := os.ReadFile(pcap)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(data, []byte(mark)) {
			return data
		}
		if time.Now().After(deadline) {
			t.Fatalf("the capture (%d bytes) does not hold the request sent after the relay: did tcpdump capture?", len(data))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRelayCapture captures the server's traffic on lo with tcpdump
// while two peers talk TLS across the relay, and checks that the capture
// holds no message text while TLS application data went through. It
// skips where tcpdump is missing or may not capture (it needs root or
// CAP_NET_RAW); .ci/run installs it.
func TestRelayCapture(t *testing.T) {
	bin, err := exec.LookPath("tcpdump")
	if err != nil {
		t.Skip("tcpdump not installed (apt-get install tcpdump): the capture test needs it")
	}
	srv := startServer(t, Config{})
	_, port, _ := net.SplitHostPort(srv.addr)
	pcap := filepath.Join(t.TempDir(), "relay.pcap")
	// --immediate-mode and -U hand over and write each packet at once;
	// -s 0 keeps whole packets.
	cmd := exec.Command(bin, "-i", "lo", "-n", "--immediate-mode", "-U", "-s", "0", "-w", pcap, "tcp", "port", port)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot run tcpdump: %v", err)
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		_ = cmd.Process.Signal(syscall.SIGINT)
		_ = cmd.Wait()
	}
	t.Cleanup(stop)
	// tcpdump says "listening on lo" once it captures; anything else
	// first is why it cannot.
	listening := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		var lines []string
		for sc.Scan() {
			lines = append(lines, sc.Text())
			if strings.Contains(sc.Text(), "listening on") {
				listening <- ""
				break
			}
		}
		if len(listening) == 0 {
			listening <- strings.Join(lines, "; ")
		}
		for sc.Scan() {
		}
	}()
	select {
	case why := <-listening:
		if why != "" {
			t.Skipf("tcpdump cannot capture here (needs root or CAP_NET_RAW): %s", why)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("tcpdump did not start capturing within 10 s")
	}

	var nonce [8]byte
	_, _ = rand.Read(nonce[:])
	msg := "meet me at the old mill at noon " + hex.EncodeToString(nonce[:])
	exchangeOverTLS(t, srv, msg)
	waitFor(t, "relay done", func() bool { return srv.Stats().RelaysDone == 1 })
	data := waitCaptured(t, pcap, markCapture(t, "http://"+srv.addr))
	stop()
	// The capture saw the relay: the upgrade requests are in clear.
	if n := bytes.Count(data, []byte(wire.RelayTokenHeader)); n < 2 {
		t.Errorf("%d relay upgrade requests in the capture, want 2", n)
	}
	for _, secret := range []string{msg, hex.EncodeToString(nonce[:])} {
		if bytes.Contains(data, []byte(secret)) {
			t.Errorf("the capture holds the message text %q", secret)
		}
	}
	// TLS 1.3 application data records (type 23, version 3.3) went
	// through: the server's frames to the peers are not masked.
	if n := bytes.Count(data, []byte{0x17, 0x03, 0x03}); n < 2 {
		t.Errorf("%d TLS application data record headers in the capture, want the exchange's", n)
	}
	t.Logf("capture of %d bytes: no message text, TLS records relayed", len(data))
}
