package bootstrap

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parlance-chat/parlance/internal/natlabtest"
	"github.com/parlance-chat/parlance/net/discovery"
	"github.com/parlance-chat/parlance/net/identity"
	"github.com/parlance-chat/parlance/net/rendezvous"
	"github.com/parlance-chat/parlance/net/wire"
)

// The relay in the NAT lab: the test binary runs as a helper process in
// the lab's hosts (TestRelayLabHelper): a bootstrap server on the lab's
// server, and a client behind each symmetric NAT, where no direct path
// works. The test drives them one line at a time.

const envRelayHelper = "PARLANCE_RELAY_HELPER"

// relayLabPort is the server helper's port on the lab's server.
const relayLabPort = 8080

// TestRelayLab: a and b, behind symmetric NATs, talk TLS through the
// relay 20 times, each within 3 s of the token being issued, and a
// capture on the lab's server holds no message text.
func TestRelayLab(t *testing.T) {
	lab := natlabtest.Start(t, "--nat", "symmetric")
	srv := lab.StartHelper(t, "server", "TestRelayLabHelper", envRelayHelper+"=server")
	if a := srv.Answer(t); a != "ready" {
		t.Fatalf("server helper: %s", a)
	}
	url := fmt.Sprintf("ws://%s:%d", natlabtest.ServerIP, relayLabPort)
	a := lab.StartHelper(t, "a", "TestRelayLabHelper", envRelayHelper+"=client")
	b := lab.StartHelper(t, "b", "TestRelayLabHelper", envRelayHelper+"=client")
	ida, idb := strings.TrimPrefix(a.Answer(t), "id "), strings.TrimPrefix(b.Answer(t), "id ")
	for _, h := range []*natlabtest.Helper{a, b} {
		h.Send(t, "connect %s", url)
		if got := h.Answer(t); got != "registered" {
			t.Fatalf("%s: %s", h.Host, got)
		}
	}

	capture := startLabCapture(t, lab)
	var nonce [8]byte
	_, _ = rand.Read(nonce[:])
	secret := "the key is under the mat " + hex.EncodeToString(nonce[:])
	const tries = 20
	var took []time.Duration
	for i := range tries {
		start := time.Now()
		srv.Send(t, "issue %s %s", ida, idb)
		token := strings.TrimPrefix(srv.Answer(t), "token ")
		a.Send(t, "relay %s %s client %s from a %d", token, idb, secret, i)
		b.Send(t, "relay %s %s server %s from b %d", token, ida, secret, i)
		for _, c := range []struct {
			h    *natlabtest.Helper
			want string
		}{{a, fmt.Sprintf("got %s from b %d", secret, i)}, {b, fmt.Sprintf("got %s from a %d", secret, i)}} {
			if got := c.h.Answer(t); got != c.want {
				t.Fatalf("try %d, %s: %q, want %q", i, c.h.Host, got, c.want)
			}
		}
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	t.Logf("%d of %d tries relayed; from the token issued to both peers holding the other's message over TLS: p50 %v, slowest %v",
		tries, tries, took[tries/2].Round(time.Microsecond), took[tries-1].Round(time.Microsecond))
	if took[tries-1] > 3*time.Second {
		t.Errorf("slowest try took %v, want within 3 s", took[tries-1])
	}
	if capture != nil {
		capture(secret, nonce[:], func() string {
			a.Send(t, "mark %s", url)
			return strings.TrimPrefix(a.Answer(t), "marked ")
		})
	}
}

// startLabCapture runs tcpdump on the lab's server, on the relay's port,
// and returns a function that ends it (with marks from mark) and checks
// the capture: it holds the upgrade requests and TLS records but not the
// secret. It returns nil (and the test goes on without a capture) where
// tcpdump is missing.
func startLabCapture(t *testing.T, lab *natlabtest.Lab) func(secret string, nonce []byte, mark func() string) {
	bin, err := exec.LookPath("tcpdump")
	if err != nil {
		t.Log("tcpdump not installed: no capture (apt-get install tcpdump)")
		return nil
	}
	pcap := filepath.Join(t.TempDir(), "server.pcap")
	ctx, cancel := context.WithCancel(context.Background())
	cmd := lab.Command(ctx, "server", bin, tcpdumpArgs("any", pcap, fmt.Sprint(relayLabPort))...)
	c, why := startCapture(t, cmd, cancel, pcap)
	if why != "" {
		t.Fatalf("tcpdump in the lab: %s", why)
	}
	return func(secret string, nonce []byte, mark func() string) {
		data := c.finish(t, mark)
		if n := bytes.Count(data, []byte(wire.RelayTokenHeader)); n < 2*20 {
			t.Errorf("%d relay upgrade requests in the capture, want 40", n)
		}
		for _, s := range []string{secret, hex.EncodeToString(nonce)} {
			if bytes.Contains(data, []byte(s)) {
				t.Errorf("the capture on the server holds the message text %q", s)
			}
		}
		if n := bytes.Count(data, []byte{0x17, 0x03, 0x03}); n < 20 {
			t.Errorf("%d TLS record headers in the capture, want the exchanges'", n)
		}
		t.Logf("capture on the lab's server: %d bytes, no message text, TLS records relayed", len(data))
	}
}

// TestRelayLabHelper is the helper process of TestRelayLab.
//
//	server: answers "ready"; then "issue A B" -> "token T"
//	client: answers "id ID"; then "connect URL" -> "registered";
//	        "relay TOKEN PEER-ID client|server TEXT" -> "got PEER-TEXT";
//	        "mark URL" -> "marked MARK" (a request that ends a capture)
func TestRelayLabHelper(t *testing.T) {
	switch os.Getenv(envRelayHelper) {
	case "server":
		relayLabServer(t)
	case "client":
		relayLabClient(t)
	default:
		t.Skip("the NAT lab relay test's helper process")
	}
}

func relayLabServer(t *testing.T) {
	ln, err := net.Listen("tcp", fmt.Sprintf("0.0.0.0:%d", relayLabPort))
	if err != nil {
		t.Fatal(err)
	}
	s := New(Config{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	defer func() {
		cancel()
		<-done
	}()
	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		f := strings.Fields(in.Text())
		if len(f) == 3 && f[0] == "issue" {
			tok, ok := s.issueRelay(f[1], f[2])
			if !ok {
				fmt.Println("refused")
				continue
			}
			fmt.Println("token " + tok)
		}
	}
}

func relayLabClient(t *testing.T) {
	id, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("id %s\n", id.ID())
	in := bufio.NewScanner(os.Stdin)
	var c *relayLabPeer
	for in.Scan() {
		f := strings.Fields(in.Text())
		switch {
		case len(f) == 2 && f[0] == "connect":
			c = startRelayLabPeer(t, f[1], id)
			defer c.stop()
			fmt.Println("registered")
		case len(f) == 2 && f[0] == "mark":
			fmt.Println("marked " + markCapture(t, "http"+strings.TrimPrefix(f[1], "ws")))
		case len(f) >= 5 && f[0] == "relay" && c != nil:
			got, err := c.exchange(f[1], f[2], f[3] == "client", strings.Join(f[4:], " "))
			if err != nil {
				fmt.Printf("failed %v\n", err)
				continue
			}
			fmt.Println("got " + got)
		}
	}
}

// relayLabPeer is a client helper's rendezvous client.
type relayLabPeer struct {
	c    *rendezvous.Client
	id   *identity.Identity
	stop func()
}

func startRelayLabPeer(t *testing.T, url string, id *identity.Identity) *relayLabPeer {
	c, err := rendezvous.New(rendezvous.Config{URL: url, Identity: id, Self: discovery.Self{Nickname: "peer", TCPPort: 4000}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = c.Run(ctx, nopHandler{})
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, ok := c.Server(); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("not registered within 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return &relayLabPeer{c: c, id: id, stop: func() { cancel(); <-done }}
}

// exchange dials the relay, runs TLS pinned to peer (as its client or
// server), sends text and returns the peer's line.
func (p *relayLabPeer) exchange(token, peer string, client bool, text string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	raw, err := p.c.DialRelay(ctx, token)
	if err != nil {
		return "", err
	}
	defer raw.Close()
	_ = raw.SetDeadline(time.Now().Add(10 * time.Second))
	cfg, err := pinnedTLS(p.id, identity.ID(peer), client)
	if err != nil {
		return "", err
	}
	var conn *tls.Conn
	if client {
		conn = tls.Client(raw, cfg)
	} else {
		conn = tls.Server(raw, cfg)
	}
	if _, err := io.WriteString(conn, text+"\n"); err != nil {
		return "", fmt.Errorf("write: %w", err)
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("read: %w", err)
	}
	_ = conn.Close()
	return strings.TrimSuffix(line, "\n"), nil
}
