package bootstrap

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parlance-chat/parlance/net/discovery"
	"github.com/parlance-chat/parlance/net/identity"
	"github.com/parlance-chat/parlance/net/rendezvous"
	"github.com/parlance-chat/parlance/net/wire"
)

// proveIdentity registers a new proved identity on srv over a raw
// connection (kept open for the test) and returns it.
func proveIdentity(t testing.TB, srv *testServer, nick string) *identity.Identity {
	t.Helper()
	id, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, srv.url)
	c.send(identityRegister(id, nick))
	ch := recvType[wire.Challenge](c)
	c.send(c.auth(id, ch.Nonce))
	recvType[wire.Registered](c)
	return id
}

// relayPair registers two identities and issues a relay between them.
func relayPair(t testing.TB, srv *testServer) string {
	t.Helper()
	a, b := proveIdentity(t, srv, "alice"), proveIdentity(t, srv, "bob")
	tok, ok := srv.issueRelay(a.ID().String(), b.ID().String())
	if !ok {
		t.Fatal("issueRelay refused")
	}
	return tok
}

// dialRelayRaw opens a relay end with gorilla; on a refusal it returns
// the HTTP status and text.
func dialRelayRaw(t testing.TB, srv *testServer, token string) (*websocket.Conn, int, string) {
	t.Helper()
	ws, resp, err := websocket.DefaultDialer.Dial(srv.url+wire.RelayPath, http.Header{wire.RelayTokenHeader: {token}})
	if err != nil {
		if resp == nil {
			t.Fatalf("dial relay: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		return nil, resp.StatusCode, strings.TrimSpace(string(body))
	}
	t.Cleanup(func() { _ = ws.Close() })
	return ws, 0, ""
}

type nopHandler struct{}

func (nopHandler) Sighting(discovery.Sighting) {}
func (nopHandler) State(discovery.State)       {}

// runClient runs a rendezvous client with a new identity on srv until
// the test ends, and returns it once it is registered.
func runClient(t testing.TB, srv *testServer, nick string) (*rendezvous.Client, *identity.Identity) {
	t.Helper()
	id, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	c, err := rendezvous.New(rendezvous.Config{URL: srv.url, Identity: id,
		Self: discovery.Self{Nickname: nick, TCPPort: 4000}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = c.Run(ctx, nopHandler{})
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	waitFor(t, nick+" registered", func() bool { _, ok := c.Server(); return ok })
	return c, id
}

// dialedPair runs two clients, issues a relay between them and dials
// both ends with DialRelay.
func dialedPair(t testing.TB, srv *testServer) (a, b net.Conn, ida, idb *identity.Identity) {
	t.Helper()
	ca, ida := runClient(t, srv, "alice")
	cb, idb := runClient(t, srv, "bob")
	tok, ok := srv.issueRelay(ida.ID().String(), idb.ID().String())
	if !ok {
		t.Fatal("issueRelay refused")
	}
	ctx := context.Background()
	a, err := ca.DialRelay(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	b, err = cb.DialRelay(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return a, b, ida, idb
}

func TestRelaySplice(t *testing.T) {
	srv := startServer(t, Config{})
	a, b, _, _ := dialedPair(t, srv)
	waitFor(t, "spliced", func() bool { return srv.Stats().Relays == 1 })

	// Both ways at once, more than one message's worth.
	big := make([]byte, 300<<10)
	_, _ = rand.Read(big)
	errs := make(chan error, 2)
	go func() { _, err := a.Write(big); errs <- err }()
	go func() { _, err := b.Write([]byte("hello alice")); errs <- err }()
	got := make([]byte, len(big))
	if _, err := io.ReadFull(b, got); err != nil {
		t.Fatalf("bob reads: %v", err)
	}
	if !bytes.Equal(got, big) {
		t.Fatal("bob got other bytes than alice sent")
	}
	hello := make([]byte, len("hello alice"))
	if _, err := io.ReadFull(a, hello); err != nil || string(hello) != "hello alice" {
		t.Fatalf("alice reads %q, %v", hello, err)
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}

	// A read deadline works and ends the stream.
	_ = a.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	if _, err := a.Read(hello); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("read past the deadline: %v", err)
	}

	// Closing one end ends the other with EOF, and the relay is counted.
	_ = a.Close()
	if n, err := b.Read(hello); err != io.EOF {
		t.Errorf("bob reads %d, %v after alice closed; want EOF", n, err)
	}
	waitFor(t, "relay done", func() bool { st := srv.Stats(); return st.Relays == 0 && st.RelaysDone == 1 })
	if st := srv.Stats(); st.RelayBytes != int64(len(big)+len("hello alice")) {
		t.Errorf("relay_bytes %d, want %d", st.RelayBytes, len(big)+len("hello alice"))
	}
	waitFor(t, "slots given back", func() bool {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		return len(srv.relay.perIP) == 0 && len(srv.relay.perID) == 0 && len(srv.relay.buckets) == 0 && srv.nconns == 2
	})
}

// pinnedTLS is the TLS 1.3 configuration of one peer, id, that accepts
// only peer's key (as the transport pins it), as the client or the
// server of the handshake.
func pinnedTLS(id *identity.Identity, peer identity.ID, client bool) (*tls.Config, error) {
	cert, err := id.Certificate()
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13,
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			got, _, err := identity.PeerID(raw)
			if err != nil {
				return err
			}
			if got != peer {
				return fmt.Errorf("peer is %s, want %s", got, peer)
			}
			return nil
		}}
	if client {
		cfg.InsecureSkipVerify = true // the pin above checks the peer
	} else {
		cfg.ClientAuth = tls.RequireAnyClientCert
	}
	return cfg, nil
}

// tlsPair runs a TLS handshake between a (client) and b (server), each
// pinning the other's identity as the transport does, and returns the
// TLS ends.
func tlsPair(t testing.TB, a, b net.Conn, ida, idb *identity.Identity) (*tls.Conn, *tls.Conn) {
	t.Helper()
	ca, err := pinnedTLS(ida, idb.ID(), true)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := pinnedTLS(idb, ida.ID(), false)
	if err != nil {
		t.Fatal(err)
	}
	ta, tb := tls.Client(a, ca), tls.Server(b, cb)
	var wg sync.WaitGroup
	var errB error
	wg.Go(func() { errB = tb.Handshake() })
	errA := ta.Handshake()
	wg.Wait()
	if errA != nil || errB != nil {
		t.Fatalf("TLS across the relay: %v / %v", errA, errB)
	}
	return ta, tb
}

// exchangeOverTLS sends msg each way over TLS across a relay on srv.
func exchangeOverTLS(t testing.TB, srv *testServer, msg string) {
	t.Helper()
	a, b, ida, idb := dialedPair(t, srv)
	ta, tb := tlsPair(t, a, b, ida, idb)
	for _, dir := range []struct {
		name string
		w, r *tls.Conn
	}{{"alice to bob", ta, tb}, {"bob to alice", tb, ta}} {
		if _, err := io.WriteString(dir.w, msg); err != nil {
			t.Fatalf("%s: %v", dir.name, err)
		}
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(dir.r, got); err != nil || string(got) != msg {
			t.Fatalf("%s: read %q, %v", dir.name, got, err)
		}
	}
	_ = ta.Close()
	if _, err := tb.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("after close_notify: %v, want EOF", err)
	}
}

func TestRelayCarriesTLS(t *testing.T) {
	srv := startServer(t, Config{})
	exchangeOverTLS(t, srv, "a TLS conversation across the relay")
	waitFor(t, "relay done", func() bool { return srv.Stats().RelaysDone == 1 })
}

func TestRelayTokens(t *testing.T) {
	srv := startServer(t, Config{RelayTTL: 200 * time.Millisecond})
	t.Run("malformed", func(t *testing.T) {
		for _, tok := range []string{"", "short", strings.Repeat("a", 42) + "!", strings.Repeat("a", 44)} {
			if _, status, _ := dialRelayRaw(t, srv, tok); status != http.StatusBadRequest {
				t.Errorf("token %q: status %d, want 400", tok, status)
			}
		}
	})
	t.Run("unknown", func(t *testing.T) {
		other := New(Config{}) // another server's token: without a cluster, unknown
		for _, tok := range []string{srv.newRelayToken(), other.newRelayToken()} {
			if _, status, text := dialRelayRaw(t, srv, tok); status != http.StatusForbidden {
				t.Errorf("status %d %q, want 403", status, text)
			}
		}
	})
	t.Run("used", func(t *testing.T) {
		tok := relayPair(t, srv)
		dialRelayRaw(t, srv, tok)
		dialRelayRaw(t, srv, tok)
		if _, status, _ := dialRelayRaw(t, srv, tok); status != http.StatusForbidden {
			t.Errorf("third end: status %d, want 403", status)
		}
	})
	t.Run("expired", func(t *testing.T) {
		tok := relayPair(t, srv)
		waitFor(t, "token expired", func() bool { return srv.Stats().RelaysWaiting == 0 })
		if _, status, _ := dialRelayRaw(t, srv, tok); status != http.StatusForbidden {
			t.Errorf("status %d, want 403", status)
		}
	})
	t.Run("partner never comes", func(t *testing.T) {
		tok := relayPair(t, srv)
		ws, _, _ := dialRelayRaw(t, srv, tok)
		_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, _, err := ws.ReadMessage()
		if !websocket.IsCloseError(err, websocket.ClosePolicyViolation) {
			t.Errorf("waiting end: %v, want close 1008", err)
		}
	})
	t.Run("text message", func(t *testing.T) {
		tok := relayPair(t, srv)
		a, _, _ := dialRelayRaw(t, srv, tok)
		b, _, _ := dialRelayRaw(t, srv, tok)
		_ = a.WriteMessage(websocket.TextMessage, []byte("hi"))
		for _, ws := range []*websocket.Conn{a, b} {
			_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, _, err := ws.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseUnsupportedData) {
				t.Errorf("after a text message: %v, want close 1003", err)
			}
		}
	})
	waitFor(t, "all relays done", func() bool { st := srv.Stats(); return st.Relays+st.RelaysWaiting == 0 })
}

func TestRelayOff(t *testing.T) {
	srv := startServer(t, Config{NoRelay: true})
	a, b := proveIdentity(t, srv, "alice"), proveIdentity(t, srv, "bob")
	if _, ok := srv.issueRelay(a.ID().String(), b.ID().String()); ok {
		t.Error("issueRelay said yes with the relay off")
	}
	if _, status, _ := dialRelayRaw(t, srv, srv.newRelayToken()); status != http.StatusNotFound {
		t.Errorf("relay endpoint: status %d, want 404", status)
	}
	c, _ := runClient(t, srv, "carol")
	if _, err := c.DialRelay(context.Background(), srv.newRelayToken()); !errors.Is(err, rendezvous.ErrNoRelay) {
		t.Errorf("DialRelay: %v, want ErrNoRelay", err)
	}
}

func TestIssueRelayLimits(t *testing.T) {
	// Tokens: 4 per relay allowed, so 8 on the server and 4 per client.
	srv := startServer(t, Config{MaxRelays: 2, MaxRelaysPerClient: 1})
	ids := make([]string, 6)
	for i := range ids {
		ids[i] = proveIdentity(t, srv, fmt.Sprintf("p%d", i)).ID().String()
	}
	unproved := dial(t, srv.url)
	unproved.register("anon", "", false)
	other, _ := identity.Generate()
	steps := []struct {
		name  string
		times int
		a, b  string
		ok    bool
	}{
		{"four tokens for p0 and p1", 4, ids[0], ids[1], true},
		{"a fifth for p0: per-client limit", 1, ids[0], ids[2], false},
		{"four for p2 and p3", 4, ids[2], ids[3], true},
		{"a ninth: server limit", 1, ids[4], ids[5], false},
		{"same identity twice", 1, ids[4], ids[4], false},
		{"not registered", 1, ids[4], other.ID().String(), false},
		{"empty", 1, "", ids[4], false},
	}
	for _, st := range steps {
		for range st.times {
			if _, ok := srv.issueRelay(st.a, st.b); ok != st.ok {
				t.Errorf("%s: ok=%v, want %v", st.name, ok, st.ok)
			}
		}
	}
	// Refusals by a limit count; calls that make no sense do not.
	if got := srv.Stats(); got.RelaysWaiting != 8 || got.RelaysRefused != 3 {
		t.Errorf("stats %+v", got)
	}
}

// The limits of relays that carry bytes apply when a relay's second end
// arrives: it is refused (503), and the first end closed with 1013.
func TestRelaySpliceLimits(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		ids  [4]int // the peers of the first relay, then of the second
	}{
		{"per client", Config{MaxRelaysPerClient: 1}, [4]int{0, 1, 0, 2}},
		{"on the server", Config{MaxRelays: 1}, [4]int{0, 1, 2, 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t, tc.cfg)
			var ids [4]string
			for i := range ids {
				ids[i] = proveIdentity(t, srv, fmt.Sprintf("p%d", i)).ID().String()
			}
			tok1, ok1 := srv.issueRelay(ids[tc.ids[0]], ids[tc.ids[1]])
			tok2, ok2 := srv.issueRelay(ids[tc.ids[2]], ids[tc.ids[3]])
			if !ok1 || !ok2 {
				t.Fatal("issueRelay refused")
			}
			dialRelayRaw(t, srv, tok1)
			dialRelayRaw(t, srv, tok1)
			waitFor(t, "first relay spliced", func() bool { return srv.Stats().Relays == 1 })
			first, _, _ := dialRelayRaw(t, srv, tok2)
			if _, status, text := dialRelayRaw(t, srv, tok2); status != http.StatusServiceUnavailable {
				t.Errorf("second end over the limit: %d %q, want 503", status, text)
			}
			_ = first.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, _, err := first.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseTryAgainLater) {
				t.Errorf("first end: %v, want close 1013", err)
			}
			if st := srv.Stats(); st.Relays != 1 || st.RelaysDone != 1 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestRelayPerIPLimit(t *testing.T) {
	srv := startServer(t, Config{MaxRelaysPerIP: 2, MaxConnsPerIP: 8})
	tok1, tok2 := relayPair(t, srv), relayPair(t, srv)
	dialRelayRaw(t, srv, tok1)
	dialRelayRaw(t, srv, tok1)
	if _, status, _ := dialRelayRaw(t, srv, tok2); status != http.StatusTooManyRequests {
		t.Errorf("third relay socket from one address: status %d, want 429", status)
	}
	// Relay sockets do not take registrations' slots: 4 registrations
	// and 2 relay sockets, and 4 more registrations fit in 8.
	waitFor(t, "the refused socket closed", func() bool {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		return srv.nconns == 6
	})
	for i := range 4 {
		c := dial(t, srv.url)
		c.register(fmt.Sprintf("more%d", i), "", false)
	}
}

func TestRelayRate(t *testing.T) {
	const rate = 64 << 10
	srv := startServer(t, Config{RelayRate: rate})
	a, b, _, _ := dialedPair(t, srv)
	data := make([]byte, 3*rate) // one second of burst, then two at the rate
	start := time.Now()
	go func() { _, _ = a.Write(data) }()
	if _, err := io.ReadFull(b, make([]byte, len(data))); err != nil {
		t.Fatal(err)
	}
	// A lower bound only: a slow machine takes longer, never less.
	if el := time.Since(start); el < 1500*time.Millisecond {
		t.Errorf("%d bytes at %d B/s took %v, want about 2 s", len(data), rate, el)
	}
	if srv.Stats().RelayThrottled == 0 {
		t.Error("no throttling counted")
	}
}

func TestRelayIdle(t *testing.T) {
	srv := startServer(t, Config{RelayIdle: 100 * time.Millisecond})
	tok := relayPair(t, srv)
	a, _, _ := dialRelayRaw(t, srv, tok)
	dialRelayRaw(t, srv, tok)
	_ = a.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := a.ReadMessage(); err == nil {
		t.Error("an idle relay carried a message")
	}
	waitFor(t, "idle relay ended", func() bool { return srv.Stats().RelaysDone == 1 })
}

func TestRelayShutdown(t *testing.T) {
	srv := startServer(t, Config{})
	a, b, _, _ := dialedPair(t, srv)
	waiting, _, _ := dialRelayRaw(t, srv, relayPair(t, srv))
	if err := srv.stop(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []net.Conn{a, b} {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("relay end after shutdown: %v", err)
		}
	}
	_ = waiting.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := waiting.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Errorf("waiting end after shutdown: %v, want close 1001", err)
	}
	if st := srv.Stats(); st.Relays+st.RelaysWaiting != 0 || st.RelaysDone != 2 {
		t.Errorf("stats after shutdown %+v", st)
	}
}

func TestRateBucket(t *testing.T) {
	t0 := time.Unix(1000, 0)
	b := &rateBucket{rate: 1000, burst: 2000}
	steps := []struct {
		at    time.Duration // after t0
		spend int
		wait  time.Duration // before reading, at at
	}{
		{0, 1500, 0},                   // full: 2000
		{0, 1000, 0},                   // 500 left: may read, goes into debt
		{0, 0, 500 * time.Millisecond}, // -500
		{250 * time.Millisecond, 0, 250 * time.Millisecond},
		{500 * time.Millisecond, 0, 0}, // paid
		{10 * time.Second, 2500, 0},    // refilled to the burst only
		{10 * time.Second, 0, 500 * time.Millisecond},
	}
	for i, st := range steps {
		now := t0.Add(st.at)
		if w := b.wait(now); w != st.wait {
			t.Errorf("step %d: wait %v, want %v", i, w, st.wait)
		}
		b.spend(now, st.spend)
	}
}
