package bootstrap

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/parlance-chat/parlance/net/wire"
)

// markCapture sends a request that marks the end of a capture of the
// server at baseURL and returns the mark: once the capture holds it, it
// holds everything the server got and sent before (tcpdump writes
// packets in order).
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

// tcpdumpArgs returns the arguments of a tcpdump that writes to pcap
// whole packets (-s 0) of TCP port port on iface, each as soon as
// libpcap hands it over (-U).
//
// The 32 MB ring (-B 32768) holds all a test sends, so a tcpdump that
// gets no CPU for a while on a busy machine drops nothing. That needs
// the TPACKET_V3 ring libpcap uses without --immediate-mode, which packs
// packets into blocks. With --immediate-mode it uses TPACKET_V2, whose
// slots are the size of the snapshot length where the link layer is not
// Ethernet (256 KB on -i any, each in a block of 512 KB): 32 MB made 64
// slots, and the lab test's capture dropped over a hundred packets under
// load (a tcpdump stopped while 600 packets pass keeps 64 of them with
// --immediate-mode, all 600 without). Without immediate mode the kernel
// hands a block over when it is full or after tcpdump's timeout of 1 s:
// finish waits for its mark until then.
func tcpdumpArgs(iface, pcap, port string) []string {
	return []string{"-i", iface, "-n", "-U", "-B", "32768", "-s", "0", "-w", pcap, "tcp", "port", port}
}

// capture is tcpdump writing a capture file.
type capture struct {
	cmd    *exec.Cmd
	pcap   string
	cancel context.CancelFunc
	done   chan struct{} // its stderr ended
	lines  []string      // its stderr, once done
	once   sync.Once
}

// startCapture starts cmd, a tcpdump writing pcap, and waits until it
// captures. why is not empty when it cannot capture here (no right to).
// The capture is stopped when the test ends.
func startCapture(t testing.TB, cmd *exec.Cmd, cancel context.CancelFunc, pcap string) (c *capture, why string) {
	t.Helper()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, err.Error()
	}
	c = &capture{cmd: cmd, pcap: pcap, cancel: cancel, done: make(chan struct{})}
	listening := make(chan bool, 1)
	go func() {
		defer close(c.done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			c.lines = append(c.lines, sc.Text())
			if strings.Contains(sc.Text(), "listening on") {
				listening <- true
			}
		}
	}()
	t.Cleanup(func() { c.stop() })
	select {
	case <-listening:
		return c, ""
	case <-c.done:
		return nil, strings.Join(c.lines, "; ")
	case <-time.After(10 * time.Second):
		t.Fatal("tcpdump did not start capturing within 10 s")
	}
	return nil, ""
}

// stop ends tcpdump and returns what it said it dropped.
func (c *capture) stop() (dropped int) {
	c.once.Do(func() {
		_ = c.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-c.done:
		case <-time.After(10 * time.Second):
			c.cancel()
			<-c.done
		}
		_ = c.cmd.Wait()
		c.cancel()
	})
	for _, l := range c.lines {
		var n int
		if _, err := fmt.Sscanf(l, "%d packets dropped by kernel", &n); err == nil {
			dropped = n
		}
	}
	return dropped
}

// finish sends marks (mark returns a new one each call) until the
// capture holds one, stops tcpdump and returns the capture. The test
// fails if tcpdump dropped packets: the capture would not be whole.
func (c *capture) finish(t testing.TB, mark func() string) []byte {
	t.Helper()
	marks := []string{mark()}
	deadline := time.Now().Add(15 * time.Second)
	for next := time.Now().Add(time.Second); ; {
		data, err := os.ReadFile(c.pcap)
		if err != nil {
			t.Fatal(err)
		}
		if slices.ContainsFunc(marks, func(m string) bool { return bytes.Contains(data, []byte(m)) }) {
			if n := c.stop(); n > 0 {
				t.Fatalf("tcpdump dropped %d packets: the capture is not whole", n)
			}
			return data
		}
		now := time.Now()
		if now.After(deadline) {
			t.Fatalf("the capture (%d bytes) holds none of the requests sent after the relay: did tcpdump capture?", len(data))
		}
		if now.After(next) {
			marks = append(marks, mark()) // the first may have been lost
			next = now.Add(time.Second)
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
	// -s 0 keeps whole packets; -B 32768 and no --immediate-mode: a
	// ring of 32 MB that holds all the test sends (see tcpdumpArgs).
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, tcpdumpArgs("lo", pcap, port)...)
	c, why := startCapture(t, cmd, cancel, pcap)
	if why != "" {
		t.Skipf("tcpdump cannot capture here (needs root or CAP_NET_RAW): %s", why)
	}

	var nonce [8]byte
	_, _ = rand.Read(nonce[:])
	msg := "meet me at the old mill at noon " + hex.EncodeToString(nonce[:])
	exchangeOverTLS(t, srv, msg)
	waitFor(t, "relay done", func() bool { return srv.Stats().RelaysDone == 1 })
	data := c.finish(t, func() string { return markCapture(t, "http://"+srv.addr) })
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
