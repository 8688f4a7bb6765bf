package transport

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/parlance-chat/parlance/net/identity"
	"github.com/parlance-chat/parlance/net/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitFor bounds every wait in these tests.
const waitFor = 30 * time.Second

var loopback = netip.MustParseAddr("127.0.0.1")

// testLogger logs through t.Log, so a failing test shows what happened.
func testLogger(tb testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tbWriter{tb}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tbWriter struct{ tb testing.TB }

func (w tbWriter) Write(p []byte) (int, error) {
	w.tb.Helper()
	w.tb.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

// node is a serving transport whose messages arrive on got.
type node struct {
	*Transport
	id  *identity.Identity // nil: plaintext-only node
	got chan Inbound
}

func newID(tb testing.TB) *identity.Identity {
	tb.Helper()
	id, err := identity.Generate()
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

// newNode starts a transport on 127.0.0.1 serving into a channel; it is
// closed at the end of the test.
func newNode(tb testing.TB, cfg Config) *node {
	tb.Helper()
	if cfg.ListenAddr == "" {
		cfg.ListenAddr = "127.0.0.1:0"
	}
	if cfg.Logger == nil {
		cfg.Logger = testLogger(tb)
	}
	tr, err := Listen(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	n := &node{Transport: tr, id: cfg.Identity, got: make(chan Inbound, 10000)}
	n.serve(tb)
	return n
}

func (n *node) serve(tb testing.TB) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	stop := make(chan struct{})
	go func() {
		done <- n.Serve(ctx, func(in Inbound) {
			select {
			case n.got <- in:
			case <-stop: // the test is over: do not block Close
			}
		})
	}()
	tb.Cleanup(func() {
		close(stop)
		cancel()
		if err := n.Close(); err != nil {
			tb.Errorf("close: %v", err)
		}
		// ErrClosed: the test ended before Serve began.
		if err := <-done; err != nil && !errors.Is(err, net.ErrClosed) {
			tb.Errorf("serve: %v", err)
		}
	})
}

func (n *node) addr() netip.AddrPort { return netip.AddrPortFrom(loopback, n.Port()) }

// dest addresses n as a Parlance peer (with its identity) or, for a
// plaintext-only node, as an original one.
func (n *node) dest() Dest {
	d := Dest{Addr: n.addr()}
	if n.id != nil {
		d.Identity = n.id.ID().String()
	}
	return d
}

// recv waits for the next message.
func (n *node) recv(tb testing.TB) Inbound {
	tb.Helper()
	select {
	case in := <-n.got:
		return in
	case <-time.After(waitFor):
		tb.Fatal("no message arrived")
		return Inbound{}
	}
}

// none checks that nothing has arrived (call it once the connection that
// might have delivered something is known to be closed).
func (n *node) none(tb testing.TB) {
	tb.Helper()
	select {
	case in := <-n.got:
		tb.Fatalf("unexpected message %+v", in)
	default:
	}
	if s := n.Stats(); s.Received != 0 {
		tb.Fatalf("Received = %d, want 0", s.Received)
	}
}

func msg(from, text string) wire.Message {
	return wire.Message{From: from, Content: text, Timestamp: 1699123456, ID: wire.NewMessageID()}
}

// eventually polls cond until it holds or waitFor passes.
func eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// dialRaw opens a plain TCP connection to addr, closed at the end of the
// test.
func dialRaw(tb testing.TB, addr netip.AddrPort) *net.TCPConn {
	tb.Helper()
	c, err := net.DialTCP("tcp", nil, net.TCPAddrFromAddrPort(addr))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// waitClosed reads from c until the other side closes it, and fails the
// test if that does not happen within limit. It returns what was read.
func waitClosed(tb testing.TB, c net.Conn, limit time.Duration) []byte {
	tb.Helper()
	c.SetReadDeadline(time.Now().Add(limit))
	b, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		tb.Fatalf("connection still open after %v", limit)
	}
	return b // io.EOF or a reset: closed either way
}

// relay is a TCP proxy between a client and target that records every byte
// both ways.
type relay struct {
	ln     net.Listener
	target netip.AddrPort
	wg     sync.WaitGroup

	mu    sync.Mutex
	conns []net.Conn
	bytes bytes.Buffer
}

func newRelay(tb testing.TB, target netip.AddrPort) *relay {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	r := &relay{ln: ln, target: target}
	r.wg.Add(1)
	go r.accept()
	tb.Cleanup(r.close)
	return r
}

func (r *relay) addr() netip.AddrPort { return addrPortOf(r.ln.Addr()) }

func (r *relay) accept() {
	defer r.wg.Done()
	for {
		in, err := r.ln.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", r.target.String())
		if err != nil {
			in.Close()
			continue
		}
		r.mu.Lock()
		r.conns = append(r.conns, in, out)
		r.mu.Unlock()
		r.wg.Add(2)
		go r.pipe(out, in)
		go r.pipe(in, out)
	}
}

func (r *relay) pipe(dst, src net.Conn) {
	defer r.wg.Done()
	buf := make([]byte, 4096)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			r.mu.Lock()
			r.bytes.Write(buf[:n])
			r.mu.Unlock()
			if _, err := dst.Write(buf[:n]); err != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	src.Close()
	dst.Close()
}

func (r *relay) captured() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Clone(r.bytes.Bytes())
}

func (r *relay) close() {
	r.ln.Close()
	r.mu.Lock()
	for _, c := range r.conns {
		c.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
}

// closedPort returns a loopback address where nothing listens.
func closedPort(tb testing.TB) netip.AddrPort {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	a := addrPortOf(ln.Addr())
	ln.Close()
	return a
}

func netip4(port uint16) netip.AddrPort { return netip.AddrPortFrom(loopback, port) }

// nopDeadlineConn is a net.Conn whose only working method is
// SetReadDeadline (for readMessages in fuzz tests).
type nopDeadlineConn struct{ net.Conn }

func (nopDeadlineConn) SetReadDeadline(time.Time) error { return nil }

var discard = slog.New(slog.DiscardHandler)
