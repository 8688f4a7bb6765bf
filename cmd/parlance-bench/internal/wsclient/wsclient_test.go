package wsclient

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/parlance-chat/parlance/bootstrap"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func startServer(t *testing.T) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := bootstrap.New(bootstrap.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return ln.Addr().(*net.TCPAddr).AddrPort()
}

// readText reads until a text frame.
func readText(t *testing.T, c *Conn) []byte {
	t.Helper()
	var buf []byte
	for {
		f, b, err := c.ReadFrame(buf)
		if err != nil {
			t.Fatal(err)
		}
		buf = b
		if f.Op == OpText {
			return f.Payload
		}
	}
}

func TestRegisterAndListFromAnotherSourceAddress(t *testing.T) {
	addr := startServer(t)
	c, err := Dial(context.Background(), netip.MustParseAddr("127.1.2.3"), addr, 256)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// A register over 125 bytes, which needs a 16-bit length.
	nick := strings.Repeat("n", 30)
	reg := `{"type":"register","nickname":"` + nick + `","local_addr":"0.0.0.0:4000","room":"` + strings.Repeat("r", 64) + `"}`
	if err := c.WriteText([]byte(reg)); err != nil {
		t.Fatal(err)
	}
	got := readText(t, c)
	if !bytes.HasPrefix(got, []byte(`{"type":"registered"`)) || !bytes.Contains(got, []byte(`"public_addr":"127.1.2.3:4000"`)) {
		t.Errorf("reply %s", got)
	}
	if err := c.WriteText([]byte(`{"type":"list_peers"}`)); err != nil {
		t.Fatal(err)
	}
	if got := readText(t, c); !bytes.Contains(got, []byte(nick)) {
		t.Errorf("list %s", got)
	}
}

func TestDialRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().(*net.TCPAddr).AddrPort()
	go func() { // an HTTP server that does not upgrade
		c, err := ln.Accept()
		if err == nil {
			buf := make([]byte, 1024)
			_, _ = c.Read(buf)
			_, _ = c.Write([]byte("HTTP/1.1 429 Too Many Requests\r\nContent-Length: 0\r\n\r\n"))
			c.Close()
		}
	}()
	defer ln.Close()
	if _, err := Dial(context.Background(), netip.Addr{}, addr, 256); err == nil || !strings.Contains(err.Error(), "429") {
		t.Errorf("Dial = %v, want the refusal", err)
	}
}
