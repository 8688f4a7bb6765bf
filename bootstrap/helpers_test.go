package bootstrap

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/parlance-chat/parlance/net/identity"
	"github.com/parlance-chat/parlance/net/wire"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testLogger logs to the test output when -v is given with
// BOOTSTRAP_LOG=1.
func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("BOOTSTRAP_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// testServer is a Server running on a loopback port.
type testServer struct {
	*Server
	url  string // ws://127.0.0.1:port
	addr string
	stop func() error // cancels Serve and returns its result
}

func startServer(t testing.TB, cfg Config) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return startServerOn(t, cfg, ln)
}

// startServerOn is startServer on the listener ln (a TLS one, say).
func startServerOn(t testing.TB, cfg Config, ln net.Listener) *testServer {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	s := New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	var once sync.Once
	var result error
	stop := func() error {
		once.Do(func() {
			cancel()
			result = <-done
		})
		return result
	}
	t.Cleanup(func() { _ = stop() })
	return &testServer{Server: s, url: "ws://" + ln.Addr().String(), addr: ln.Addr().String(), stop: stop}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// rawClient is a bare WebSocket client that speaks whatever the test
// writes.
type rawClient struct {
	t   testing.TB
	ws  *websocket.Conn
	url string // the server URL an identity proof names
	reg []byte // the last register sent
}

func dial(t testing.TB, url string) *rawClient {
	t.Helper()
	return dialWith(t, websocket.DefaultDialer, url, nil)
}

// dialWith dials with d and the request header h; an identity proof on
// the connection names url, or the Host of h if it has one.
func dialWith(t testing.TB, d *websocket.Dialer, url string, h http.Header) *rawClient {
	t.Helper()
	ws, resp, err := d.Dial(url, h)
	if err != nil {
		status := ""
		if resp != nil {
			status = resp.Status
		}
		t.Fatalf("dial %s: %v %s", url, err, status)
	}
	signed := url
	if host := h.Get("Host"); host != "" {
		signed = "ws://" + host
	}
	if signed, err = wire.NormalizeServerURL(signed); err != nil {
		t.Fatal(err)
	}
	c := &rawClient{t: t, ws: ws, url: signed}
	t.Cleanup(func() { _ = ws.Close() })
	return c
}

// dialSmallBuffer dials with a tiny socket receive buffer, so that a
// client that does not read fills up fast.
func dialSmallBuffer(t testing.TB, url string) *rawClient {
	t.Helper()
	d := &websocket.Dialer{NetDialContext: (&net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 1024) })
		if err != nil {
			return err
		}
		return serr
	}}).DialContext}
	return dialWith(t, d, url, nil)
}

// auth answers a challenge with nonce for the last register sent, as a
// Parlance client does.
func (c *rawClient) auth(id *identity.Identity, nonce []byte) wire.Auth {
	return wire.Auth{Signature: id.Sign(wire.AuthMessage(nonce, c.url, sha256.Sum256(c.reg))), URL: c.url}
}

// sendText sends one text frame as is.
func (c *rawClient) sendText(s string) {
	c.t.Helper()
	_ = c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if err := c.ws.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		c.t.Fatalf("send %s: %v", s, err)
	}
}

func (c *rawClient) send(m wire.ClientMessage) {
	c.t.Helper()
	b, err := wire.MarshalClient(m)
	if err != nil {
		c.t.Fatal(err)
	}
	if _, ok := m.(wire.Register); ok {
		c.reg = b
	}
	c.sendText(string(b))
}

// recvRaw returns the next text frame.
func (c *rawClient) recvRaw() string {
	c.t.Helper()
	_ = c.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, b, err := c.ws.ReadMessage()
	if err != nil {
		c.t.Fatalf("receive: %v", err)
	}
	return string(b)
}

func (c *rawClient) recv() wire.ServerMessage {
	c.t.Helper()
	raw := c.recvRaw()
	m, err := wire.ParseServerMessage([]byte(raw))
	if err != nil {
		c.t.Fatalf("parse %s: %v", raw, err)
	}
	return m
}

// recvType returns the next message, which must be of type T.
func recvType[T wire.ServerMessage](c *rawClient) T {
	c.t.Helper()
	m := c.recv()
	v, ok := m.(T)
	if !ok {
		var want T
		c.t.Fatalf("got %T %+v, want %T", m, m, want)
	}
	return v
}

// recvClose reads until the connection ends and returns the close error.
func (c *rawClient) recvClose() *websocket.CloseError {
	c.t.Helper()
	_ = c.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, _, err := c.ws.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce
		}
		c.t.Fatalf("connection ended without a close frame: %v", err)
	}
}

// register sends an extension register and returns the reply.
func (c *rawClient) register(nick, room string, push bool) wire.Registered {
	c.t.Helper()
	reg := wire.Register{Nickname: nick, LocalAddr: mustAddrPort("0.0.0.0:4000"), Room: room}
	if push {
		reg.Features = []string{wire.FeaturePush}
	}
	c.send(reg)
	r := recvType[wire.Registered](c)
	if push {
		recvType[wire.PeerList](c)
	}
	return r
}

// jsonKeys returns the keys of a JSON object, in order of appearance.
func jsonKeys(t testing.TB, raw string) []string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("%s is not an object", raw)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

func httpGet(t testing.TB, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// fakeClock is a Clock that moves only when told to.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	tickers []*fakeTicker
	created chan struct{}
}

type fakeTicker struct {
	c    chan time.Time
	d    time.Duration
	next time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Unix(1_700_000_000, 0), created: make(chan struct{}, 16)}
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeClock) NewTicker(d time.Duration) Ticker {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := &fakeTicker{c: make(chan time.Time, 1), d: d, next: f.now.Add(d)}
	f.tickers = append(f.tickers, t)
	f.created <- struct{}{}
	return t
}

// waitTickers waits until n tickers exist.
func (f *fakeClock) waitTickers(t testing.TB, n int) {
	t.Helper()
	for range n {
		select {
		case <-f.created:
		case <-time.After(5 * time.Second):
			t.Fatal("server made no tickers")
		}
	}
}

// Advance moves the clock and fires the tickers that are due. A tick
// not taken yet is replaced by the new one: the receiver then sees the
// time as it is now (with time.Ticker's rule, keeping the older tick, a
// sweep could run at the time of an earlier Advance and miss what the
// test waits for).
func (f *fakeClock) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
	for _, t := range f.tickers {
		for !t.next.After(f.now) {
			select {
			case <-t.c:
			default:
			}
			select {
			case t.c <- f.now:
			default:
			}
			t.next = t.next.Add(t.d)
		}
	}
}

func (t *fakeTicker) C() <-chan time.Time { return t.c }
func (t *fakeTicker) Stop()               {}
