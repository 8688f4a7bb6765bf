package bootstrap

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parlance-chat/parlance/bootstrap/bootstraptest"
	"github.com/parlance-chat/parlance/net/identity"
	"github.com/parlance-chat/parlance/net/wire"
)

// MaxConnsPerIP counts IPv6 addresses by /64: one subscriber holds a
// whole /64 and could otherwise open unlimited connections.
func TestConnCapPerIPv6Prefix(t *testing.T) {
	s := New(Config{MaxConnsPerIP: 2})
	admit := func(ip string) int {
		status, _ := s.admit(netip.MustParseAddr(ip), true, true)
		return status
	}
	for _, ip := range []string{"2001:db8:1:2::1", "2001:db8:1:2:ffff::9"} {
		if st := admit(ip); st != 0 {
			t.Fatalf("%s refused with %d", ip, st)
		}
	}
	status, msg := s.admit(netip.MustParseAddr("2001:db8:1:2:abcd::1"), true, true)
	if status != http.StatusTooManyRequests || !strings.Contains(msg, "2001:db8:1:2::/64") {
		t.Errorf("third address of the /64: %d %q, want 429 naming the /64", status, msg)
	}
	if st := admit("2001:db8:1:3::1"); st != 0 {
		t.Errorf("another /64 refused with %d", st)
	}
	// IPv4 stays per address.
	for _, ip := range []string{"192.0.2.1", "192.0.2.1", "192.0.2.2"} {
		if st := admit(ip); st != 0 {
			t.Errorf("%s refused with %d", ip, st)
		}
	}
	if st := admit("192.0.2.1"); st != http.StatusTooManyRequests {
		t.Errorf("third connection of 192.0.2.1: %d", st)
	}
	s.release(netip.MustParseAddr("2001:db8:1:2::1"), true, true)
	if st := admit("2001:db8:1:2::77"); st != 0 {
		t.Errorf("after a release: %d", st)
	}
}

// A connection that does not register within RegisterTimeout is closed
// (pongs do not keep it); registered ones stay, and one whose
// registration ended gets the same time again.
func TestRegisterTimeout(t *testing.T) {
	clock := newFakeClock()
	srv := startServer(t, Config{Clock: clock, RegisterTimeout: 30 * time.Second, PeerTimeout: time.Hour})
	clock.waitTickers(t, 3)
	idle := dial(t, srv.url)
	idle.send(wire.ListPeers{}) // talking is not registering
	recvType[wire.PeerList](idle)
	reg := dial(t, srv.url)
	reg.register("reg", "", false)
	left := dial(t, srv.url)
	left.register("left", "", false)

	clock.Advance(20 * time.Second)
	left.send(wire.Unregister{})
	left.send(wire.ListPeers{})
	recvType[wire.PeerList](left)
	clock.Advance(10 * time.Second) // the idle one's 30 s are up; the sweep runs
	if ce := idle.recvClose(); ce.Code != websocket.ClosePolicyViolation || !strings.Contains(ce.Text, "no register within 30s") {
		t.Errorf("idle connection closed with %d %q", ce.Code, ce.Text)
	}
	waitFor(t, "idle connection gone", func() bool { return srv.Stats().Connections == 2 })

	clock.Advance(20 * time.Second) // 30 s after left's unregister
	if ce := left.recvClose(); ce.Code != websocket.ClosePolicyViolation {
		t.Errorf("unregistered connection closed with %d", ce.Code)
	}
	waitFor(t, "unregistered connection gone", func() bool { return srv.Stats().Connections == 1 })
	reg.send(wire.ListPeers{})
	recvType[wire.PeerList](reg)
}

// The identity proof binds the server URL and the register frame: a
// proof made for another server, or for another register, is refused.
func TestIdentityProofBinding(t *testing.T) {
	srv := startServer(t, Config{})
	alice := mustIdentity(t)

	t.Run("valid", func(t *testing.T) {
		c := dial(t, srv.url)
		c.send(identityRegister(alice, "alice"))
		c.send(c.auth(alice, recvType[wire.Challenge](c).Nonce))
		recvType[wire.Registered](c)
		_ = c.ws.Close()
	})
	t.Run("signed for another server", func(t *testing.T) {
		c := dial(t, srv.url)
		c.send(identityRegister(alice, "alice"))
		ch := recvType[wire.Challenge](c)
		c.url = "ws://evil.example:80/" // what a relaying server's client signed
		c.send(c.auth(alice, ch.Nonce))
		e := recvType[wire.Error](c)
		if !strings.HasPrefix(e.Message, "Authentication failed: signed for server ws://evil.example:80/, but this is ws://127.0.0.1:") {
			t.Errorf("error %q", e.Message)
		}
	})
	t.Run("URL claimed but another signed", func(t *testing.T) {
		c := dial(t, srv.url)
		c.send(identityRegister(alice, "alice"))
		ch := recvType[wire.Challenge](c)
		a := c.auth(alice, ch.Nonce)
		a.Signature = alice.Sign(wire.AuthMessage(ch.Nonce, "ws://evil.example:80/", sha256.Sum256(c.reg)))
		c.send(a)
		if e := recvType[wire.Error](c); e.Message != errAuthFailed {
			t.Errorf("error %q", e.Message)
		}
	})
	t.Run("register altered on the way", func(t *testing.T) {
		c := dial(t, srv.url)
		signed := identityRegister(alice, "alice")
		b, _ := wire.MarshalClient(signed)
		altered := signed
		altered.Room = "attackers"
		c.send(altered)
		ch := recvType[wire.Challenge](c)
		c.reg = b // the client signs what it sent
		c.send(c.auth(alice, ch.Nonce))
		if e := recvType[wire.Error](c); e.Message != errAuthFailed {
			t.Errorf("error %q", e.Message)
		}
	})
	t.Run("first version of the proof", func(t *testing.T) {
		c := dial(t, srv.url)
		c.send(identityRegister(alice, "alice"))
		ch := recvType[wire.Challenge](c)
		v1 := alice.Sign(append([]byte("parlance-bootstrap-auth-v1\x00"), ch.Nonce...))
		c.sendText(`{"type":"auth","signature":"` + b64(v1) + `"}`)
		if e := recvType[wire.Error](c); !strings.Contains(e.Message, "auth without url") {
			t.Errorf("error %q", e.Message)
		}
	})
}

// With PublicURLs the Host header no longer decides: a proof must name a
// public URL, whatever Host the connection claims.
func TestIdentityProofPublicURL(t *testing.T) {
	srv := startServer(t, Config{PublicURLs: []string{"ws://chat.example.org", "wss://chat.example.org/parlance"}})
	alice := mustIdentity(t)
	good := dialWith(t, websocket.DefaultDialer, srv.url, http.Header{"Host": {"chat.example.org"}})
	good.send(identityRegister(alice, "alice"))
	good.send(good.auth(alice, recvType[wire.Challenge](good).Nonce))
	recvType[wire.Registered](good)

	// A relaying server sends the Host its victim dialled.
	relay := dialWith(t, websocket.DefaultDialer, srv.url, http.Header{"Host": {"evil.example"}})
	relay.send(identityRegister(alice, "alice"))
	relay.send(relay.auth(alice, recvType[wire.Challenge](relay).Nonce))
	e := recvType[wire.Error](relay)
	if !strings.Contains(e.Message, "but this is ws://chat.example.org:80/ or wss://chat.example.org:443/parlance") {
		t.Errorf("error %q", e.Message)
	}
	// The other public URL works too (a TLS proxy in front, say).
	tls := dial(t, srv.url)
	tls.url = "wss://chat.example.org:443/parlance"
	bob := mustIdentity(t)
	tls.send(identityRegister(bob, "bob"))
	tls.send(tls.auth(bob, recvType[wire.Challenge](tls).Nonce))
	recvType[wire.Registered](tls)

	bad := New(Config{PublicURLs: []string{"http://x"}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := bad.Serve(context.Background(), ln); err == nil || !strings.Contains(err.Error(), "public URL") {
		t.Errorf("Serve with a bad public URL: %v", err)
	}
}

// Behind a trusted proxy the client's address comes from X-Forwarded-For
// (public_addr, per-IP cap), and the proof URL from X-Forwarded-Proto and
// -Host; from anyone else those headers are ignored.
func TestTrustedProxy(t *testing.T) {
	hdr := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Add(kv[i], kv[i+1])
		}
		return h
	}
	register := func(c *rawClient) wire.Registered {
		c.send(wire.Register{Nickname: "p", LocalAddr: mustAddrPort("0.0.0.0:4000")})
		return recvType[wire.Registered](c)
	}

	t.Run("trusted", func(t *testing.T) {
		srv := startServer(t, Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, MaxConnsPerIP: 1})
		a := dialWith(t, websocket.DefaultDialer, srv.url, hdr("X-Forwarded-For", "198.51.100.9, 203.0.113.7"))
		if r := register(a); r.PublicAddr != mustAddrPort("203.0.113.7:4000") {
			t.Errorf("public_addr %v, want the client's address from X-Forwarded-For", r.PublicAddr)
		}
		// Another client behind the proxy has its own budget.
		b := dialWith(t, websocket.DefaultDialer, srv.url, hdr("X-Forwarded-For", "[2001:db8::5]:1234", "X-Forwarded-For", "127.0.0.9"))
		if r := register(b); r.PublicAddr != mustAddrPort("[2001:db8::5]:4000") {
			t.Errorf("public_addr %v (the trusted hop must be skipped)", r.PublicAddr)
		}
		_, resp, err := websocket.DefaultDialer.Dial(srv.url, hdr("X-Forwarded-For", "203.0.113.7"))
		if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("second connection of 203.0.113.7: %v %v", err, resp)
		}
		resp.Body.Close()
		// TLS at the proxy: the proof names wss and the public host.
		id := mustIdentity(t)
		c := dialWith(t, websocket.DefaultDialer, srv.url, hdr("X-Forwarded-For", "192.0.2.44", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "chat.example.org"))
		c.url = "wss://chat.example.org:443/"
		c.send(identityRegister(id, "c"))
		c.send(c.auth(id, recvType[wire.Challenge](c).Nonce))
		recvType[wire.Registered](c)
	})
	t.Run("not trusted", func(t *testing.T) {
		srv := startServer(t, Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}})
		a := dialWith(t, websocket.DefaultDialer, srv.url, hdr("X-Forwarded-For", "203.0.113.7", "X-Forwarded-Proto", "https"))
		if r := register(a); r.PublicAddr != mustAddrPort("127.0.0.1:4000") {
			t.Errorf("public_addr %v from an untrusted X-Forwarded-For", r.PublicAddr)
		}
		id := mustIdentity(t)
		a.send(identityRegister(id, "a")) // a.url is ws://127.0.0.1:port/
		a.send(a.auth(id, recvType[wire.Challenge](a).Nonce))
		recvType[wire.Registered](a)
	})
}

func TestParseForwarded(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"203.0.113.7", "203.0.113.7"},
		{" 203.0.113.7 ", "203.0.113.7"},
		{"203.0.113.7:4711", "203.0.113.7"},
		{"2001:db8::1", "2001:db8::1"},
		{"[2001:db8::1]:4711", "2001:db8::1"},
		{"::ffff:192.0.2.1", "192.0.2.1"},
		{"unknown", ""},
		{"", ""},
	}
	for _, tc := range tests {
		got, ok := parseForwarded(tc.in)
		if (tc.want == "") == ok || ok && got.String() != tc.want {
			t.Errorf("parseForwarded(%q) = %v, %v; want %q", tc.in, got, ok, tc.want)
		}
	}
}

// Events a client can cause are logged once a minute per kind, with the
// number held back.
func TestLogLimiter(t *testing.T) {
	var buf bootstraptest.SyncBuffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	clock := newFakeClock()
	l := newLogLimiter(log, clock, time.Minute)
	for range 5 {
		l.log(slog.LevelWarn, "identity proof failed", "ip", "192.0.2.1")
	}
	l.log(slog.LevelInfo, "connection refused")
	if n := strings.Count(buf.String(), "identity proof failed"); n != 1 {
		t.Errorf("%d lines in the first minute, want 1:\n%s", n, buf.String())
	}
	clock.Advance(time.Minute)
	l.flush(clock.Now())
	if !strings.Contains(buf.String(), `msg="identity proof failed" suppressed=4`) {
		t.Errorf("no line with the count:\n%s", buf.String())
	}
	l.log(slog.LevelWarn, "identity proof failed", "ip", "192.0.2.1")
	if n := strings.Count(buf.String(), "identity proof failed"); n != 2 {
		t.Errorf("%d lines, want 2 (the flush started a new minute):\n%s", n, buf.String())
	}
	clock.Advance(2 * time.Minute)
	l.flush(clock.Now())
	if n := strings.Count(buf.String(), "identity proof failed"); n != 3 {
		t.Errorf("%d lines, want 3:\n%s", n, buf.String())
	}
	clock.Advance(time.Minute) // a quiet minute: the kind is forgotten
	l.flush(clock.Now())
	if n := len(l.kinds); n != 0 {
		t.Errorf("%d kinds kept after quiet periods", n)
	}
}

// A flood of bad proofs on a running server gives one log line.
func TestBadProofsLoggedOnce(t *testing.T) {
	var buf bootstraptest.SyncBuffer
	srv := startServer(t, Config{Logger: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})), RegisterBurst: 100})
	alice, mallory := mustIdentity(t), mustIdentity(t)
	c := dial(t, srv.url)
	for range 20 {
		c.send(identityRegister(alice, "alice"))
		c.send(c.auth(mallory, recvType[wire.Challenge](c).Nonce))
		recvType[wire.Error](c)
	}
	if n := strings.Count(buf.String(), "identity proof failed"); n != 1 {
		t.Errorf("%d log lines for 20 bad proofs:\n%s", n, buf.String())
	}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func mustIdentity(t testing.TB) *identity.Identity {
	t.Helper()
	id, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// requestURL reads the Host header and path of any request: it never
// panics, and what it returns is already normalised, as a client's
// signed URL is.
func FuzzRequestURL(f *testing.F) {
	for _, s := range [][2]string{{"127.0.0.1:8080", "/"}, {"Example.org", "/a%20b"}, {"[::1]:80", ""}, {"::1", "/"}, {"h:0", "/"}, {"a@b", "/"}} {
		f.Add(s[0], s[1], "https", "x.example:443", false)
	}
	f.Fuzz(func(t *testing.T, host, path, proto, fwdHost string, proxied bool) {
		r := &http.Request{Host: host, URL: &url.URL{Path: path}, Header: http.Header{}}
		r.Header.Set("X-Forwarded-Proto", proto)
		r.Header.Set("X-Forwarded-Host", fwdHost)
		got := requestURL(r, proxied, false)
		if got == "" {
			return
		}
		if n, err := wire.NormalizeServerURL(got); err != nil || n != got {
			t.Fatalf("requestURL = %q, which normalises to %q, %v", got, n, err)
		}
	})
}

// Issue 11, item 7: one IP held 13,441 sockets by sending half an HTTP
// request, against a cap of 64 that counted only upgraded connections.
// The cap counts from accept: a connection over it is answered 429 and
// closed before it sends a byte, and the slots come back when the
// half-open connections close.
func TestConnCapCountsFromAccept(t *testing.T) {
	const limit = 4
	srv := startServer(t, Config{MaxConnsPerIP: limit})
	halfOpen := func() net.Conn {
		nc, err := net.Dial("tcp", srv.addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = nc.Close() })
		if _, err := nc.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n")); err != nil {
			t.Fatal(err)
		}
		return nc
	}
	var held []net.Conn
	for range limit {
		held = append(held, halfOpen())
	}
	waitFor(t, "half-open connections counted", func() bool {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		return srv.perIP[ipKey(netip.MustParseAddr("127.0.0.1"))] == limit
	})
	for i := range 20 { // the attack: many more, none of them held
		nc := halfOpen()
		_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		b, err := io.ReadAll(nc)
		if err != nil && !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("connection %d over the cap: %v", i, err)
		}
		if i == 0 && !strings.HasPrefix(string(b), "HTTP/1.1 429 Too Many Requests") {
			t.Errorf("connection over the cap got %q, want a 429", b)
		}
	}
	_, resp, err := websocket.DefaultDialer.Dial(srv.url, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("WebSocket over the cap: %v %v; want 429", err, resp)
	}
	resp.Body.Close()
	for _, nc := range held {
		_ = nc.Close()
	}
	waitFor(t, "slots released", func() bool {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		return len(srv.perIP) == 0 && srv.nconns == 0
	})
	c := dial(t, srv.url)
	c.register("back", "", false)
	_ = c.ws.Close()
	waitFor(t, "upgraded connection released", func() bool {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		return len(srv.perIP) == 0 && srv.nconns == 0
	})
}

// Issue 11, item 8: 100,000 heartbeats in 0.8 s were all accepted, each
// under the server-wide lock. Heartbeats are rate-limited per connection,
// and one is handled while another goroutine holds the server's lock.
func TestHeartbeatFlood(t *testing.T) {
	clock := newFakeClock()
	srv := startServer(t, Config{Clock: clock, HeartbeatBurst: 5, PeerTimeout: time.Hour})
	clock.waitTickers(t, 3)
	c := dial(t, srv.url)
	c.register("flood", "", false)

	const n = 200 // fewer than SendQueue: a client that floods without reading is cut off
	for range n {
		c.send(wire.Heartbeat{})
	}
	c.send(wire.ListPeers{})
	limited := 0
	for {
		m := c.recv()
		if _, ok := m.(wire.PeerList); ok {
			break
		}
		if e, ok := m.(wire.Error); !ok || e.Message != errHeartbeatLimited {
			t.Fatalf("reply %#v", m)
		}
		limited++
	}
	if limited != n-5 {
		t.Errorf("%d of %d heartbeats refused, want all but the burst of 5", limited, n)
	}

	// A heartbeat needs no server-wide lock.
	srv.mu.Lock()
	p := c.peerOf(srv)
	clock.Advance(time.Second) // one token back
	want := clock.Now().UnixNano()
	c.send(wire.Heartbeat{})
	deadline := time.Now().Add(5 * time.Second)
	for p.lastSeen.Load() != want && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	srv.mu.Unlock()
	if got := p.lastSeen.Load(); got != want {
		t.Fatalf("heartbeat not handled while the lock was held: last_seen %d, want %d", got, want)
	}
}

// peerOf returns c's registration; the caller holds srv.mu.
func (c *rawClient) peerOf(srv *testServer) *peer {
	for conn := range srv.conns {
		if p := conn.peer.Load(); p != nil && conn.ws.RemoteAddr().String() == c.ws.LocalAddr().String() {
			return p
		}
	}
	c.t.Fatal("no registration for the client")
	return nil
}
