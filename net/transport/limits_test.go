package transport

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/parlance-chat/parlance/net/wire"
)

// TestLineOverLimit: 10 MiB without a newline closes the connection after
// wire.MaxLine, without reading the rest.
func TestLineOverLimit(t *testing.T) {
	bob := newNode(t, Config{Identity: newID(t)})
	c := dialRaw(t, bob.addr())
	c.SetWriteBuffer(32 << 10)

	const total = 10 << 20
	written := make(chan int, 1)
	go func() {
		chunk := bytes.Repeat([]byte("a"), 64<<10)
		chunk[0] = '{'
		n := 0
		c.SetWriteDeadline(time.Now().Add(waitFor))
		for n < total {
			k, err := c.Write(chunk)
			n += k
			if err != nil {
				break
			}
			chunk[0] = 'a'
		}
		written <- n
	}()
	waitClosed(t, c, waitFor)
	n := <-written
	t.Logf("client wrote %d bytes before the connection broke", n)
	if n >= total {
		t.Fatalf("all %d bytes were accepted: the connection was not cut", n)
	}
	if s := bob.Stats(); s.LinesTooLong != 1 {
		t.Fatalf("LinesTooLong = %d", s.LinesTooLong)
	}
	bob.none(t)
}

// TestLineAtLimit: a line of exactly wire.MaxLine bytes (newline included)
// is read; one byte more is not.
func TestLineAtLimit(t *testing.T) {
	bob := newNode(t, Config{Identity: newID(t)})
	line := func(size int) []byte {
		prefix := `{"from":"bob","timestamp":1,"content":"`
		suffix := "\"}\n"
		return []byte(prefix + string(bytes.Repeat([]byte("x"), size-len(prefix)-len(suffix))) + suffix)
	}
	ok := line(wire.MaxLine)
	c := dialRaw(t, bob.addr())
	c.Write(ok)
	if in := bob.recv(t); len(in.Message.Content) != wire.MaxLine-42 {
		t.Fatalf("content of %d bytes", len(in.Message.Content))
	}
	c.Write(line(wire.MaxLine + 1))
	waitClosed(t, c, waitFor)
	if s := bob.Stats(); s.LinesTooLong != 1 || s.Received != 1 {
		t.Fatalf("stats %+v", s)
	}
}

// TestInboundRefusals: connections that are not ours are closed and
// deliver nothing.
func TestInboundRefusals(t *testing.T) {
	cases := []struct {
		name  string
		cfg   Config
		write []byte
		stat  func(Stats) uint64
	}{
		{"garbage first byte", Config{}, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), func(s Stats) uint64 { return s.BadFirstByte }},
		{"leading space", Config{}, []byte(` {"from":"bob","content":"hi","timestamp":1}` + "\n"), func(s Stats) uint64 { return s.BadFirstByte }},
		{"TLS handshake that stalls", Config{HandshakeTimeout: 200 * time.Millisecond},
			[]byte{0x16, 0x03, 0x01, 0x00}, func(s Stats) uint64 { return s.HandshakeFails }},
		{"TLS record that is no handshake", Config{}, append([]byte{0x16, 0x03, 0x01, 0x00, 0x05}, "hello"...), func(s Stats) uint64 { return s.HandshakeFails }},
		{"silent before the first byte", Config{HandshakeTimeout: 200 * time.Millisecond}, nil, func(s Stats) uint64 { return s.Accepted }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Identity = newID(t)
			bob := newNode(t, tc.cfg)
			c := dialRaw(t, bob.addr())
			if tc.write != nil {
				c.Write(tc.write)
			}
			start := time.Now()
			waitClosed(t, c, waitFor)
			t.Logf("closed after %v", time.Since(start))
			eventually(t, "the connection is gone", func() bool { return bob.Stats().OpenInbound == 0 })
			if got := tc.stat(bob.Stats()); got != 1 {
				t.Fatalf("counter = %d, want 1 (stats %+v)", got, bob.Stats())
			}
			bob.none(t)
		})
	}
}

func TestIdleInboundClosed(t *testing.T) {
	const idle = 150 * time.Millisecond
	bob := newNode(t, Config{Identity: newID(t), IdleTimeout: idle})
	c := dialRaw(t, bob.addr())
	start := time.Now()
	c.Write([]byte(`{"from":"bob","content":"then silence","timestamp":1}` + "\n"))
	if in := bob.recv(t); in.Message.Content != "then silence" {
		t.Fatalf("got %+v", in)
	}
	waitClosed(t, c, waitFor)
	if d := time.Since(start); d < idle {
		t.Fatalf("closed after %v, before the idle timeout of %v", d, idle)
	}
	if s := bob.Stats(); s.IdleClosed != 1 {
		t.Fatalf("IdleClosed = %d", s.IdleClosed)
	}
}

var testLine = []byte(`{"from":"bob","content":"in","timestamp":1}` + "\n")

// dialFrom opens a TCP connection to addr from the loopback address src
// (any of 127.0.0.0/8), closed at the end of the test.
func dialFrom(tb testing.TB, src string, addr netip.AddrPort) *net.TCPConn {
	tb.Helper()
	local := net.TCPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(src), 0))
	c, err := net.DialTCP("tcp", local, net.TCPAddrFromAddrPort(addr))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// dialAdmitted opens a connection and waits until the node counts it open
// (want open inbound connections in all).
func dialAdmitted(tb testing.TB, n *node, src string, want int) *net.TCPConn {
	tb.Helper()
	c := dialFrom(tb, src, n.addr())
	eventually(tb, fmt.Sprintf("%d inbound connections are open", want), func() bool {
		return n.Stats().OpenInbound == want
	})
	return c
}

// TestMaxInboundPerIP: one address can hold only MaxInboundPerIP
// connections, loopback included; others are not affected, and a closed
// connection makes room again.
func TestMaxInboundPerIP(t *testing.T) {
	bob := newNode(t, Config{Identity: newID(t), MaxInboundPerIP: 2})
	var held []*net.TCPConn
	for i := range 2 {
		held = append(held, dialAdmitted(t, bob, "127.0.0.1", i+1))
	}
	extra := dialFrom(t, "127.0.0.1", bob.addr())
	extra.Write(testLine)
	waitClosed(t, extra, waitFor)
	if s := bob.Stats(); s.OverIPLimit != 1 || s.Accepted != 2 || s.OpenInbound != 2 {
		t.Fatalf("stats %+v, want 1 over the per-IP limit, 2 open", s)
	}

	other := dialFrom(t, "127.0.0.2", bob.addr())
	other.Write(testLine)
	if in := bob.recv(t); in.Remote.Addr() != netip.MustParseAddr("127.0.0.2") {
		t.Fatalf("message from %v, want 127.0.0.2", in.Remote)
	}

	held[0].Close()
	eventually(t, "the closed connection is gone", func() bool { return bob.Stats().OpenInbound == 2 })
	again := dialFrom(t, "127.0.0.1", bob.addr())
	again.Write(testLine)
	if in := bob.recv(t); in.Remote.Addr() != loopback {
		t.Fatalf("message from %v, want 127.0.0.1", in.Remote)
	}
	if s := bob.Stats(); s.OverIPLimit != 1 {
		t.Fatalf("OverIPLimit = %d after room was made, want 1", s.OverIPLimit)
	}
}

// TestMaxInboundEvictsLeastActive: with every slot taken by connections
// that deliver nothing, a new connection closes the least recently active
// one instead of being refused, and a connection that delivers keeps its
// place.
func TestMaxInboundEvictsLeastActive(t *testing.T) {
	bob := newNode(t, Config{Identity: newID(t), MaxInbound: 2})
	// Silent connections from two addresses fill every slot.
	silent1 := dialAdmitted(t, bob, "127.0.0.11", 1)
	silent2 := dialAdmitted(t, bob, "127.0.0.12", 2)

	peer := dialFrom(t, "127.0.0.1", bob.addr())
	peer.Write(testLine)
	bob.recv(t)
	waitClosed(t, silent1, waitFor) // the first silent one made room

	silent3 := dialFrom(t, "127.0.0.13", bob.addr())
	waitClosed(t, silent2, waitFor) // not the peer, which delivered since
	peer.Write(testLine)
	bob.recv(t)

	dialFrom(t, "127.0.0.14", bob.addr())
	waitClosed(t, silent3, waitFor)
	peer.Write(testLine)
	bob.recv(t)
	if s := bob.Stats(); s.Evicted != 3 || s.Accepted != 5 || s.OpenInbound != 2 || s.Received != 3 {
		t.Fatalf("stats %+v, want 3 evicted of 5, 2 open, 3 received", s)
	}
}

// TestLineTimeout: a line must end within LineTimeout of its first byte,
// however steadily its bytes trickle in; lines that end in time are read,
// and each line has its own time.
func TestLineTimeout(t *testing.T) {
	const limit = time.Second
	bob := newNode(t, Config{Identity: newID(t), LineTimeout: limit})
	c := dialRaw(t, bob.addr())

	// Two lines, each written over half the limit, both together over
	// more than the limit: both arrive.
	for _, text := range []string{"first", "second"} {
		line := `{"from":"bob","timestamp":1,"content":"` + text + `"}` + "\n"
		for i, step := 0, len(line)/4+1; i < len(line); i += step {
			c.Write([]byte(line[i:min(i+step, len(line))]))
			time.Sleep(limit / 6)
		}
		if in := bob.recv(t); in.Message.Content != text {
			t.Fatalf("got %+v", in)
		}
	}

	// One byte every 20 ms: cut after the limit.
	stop := make(chan struct{})
	trickled := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(trickled)
		b := []byte(`{"from":"bob","content":"`)
		for i := 0; ; i++ {
			if _, err := c.Write(b[i%len(b) : i%len(b)+1]); err != nil {
				return
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	waitClosed(t, c, waitFor)
	close(stop)
	<-trickled
	if d := time.Since(start); d < limit {
		t.Fatalf("closed after %v, before the line timeout of %v", d, limit)
	}
	if s := bob.Stats(); s.LineTimeouts != 1 || s.IdleClosed != 0 || s.Received != 2 {
		t.Fatalf("stats %+v, want 1 line timeout, 2 received", s)
	}
}

// TestIdleCountsFromLastMessage: lines that deliver nothing (blank or not
// a message) do not keep a connection open past IdleTimeout.
func TestIdleCountsFromLastMessage(t *testing.T) {
	const idle = 300 * time.Millisecond
	bob := newNode(t, Config{Identity: newID(t), IdleTimeout: idle})
	c := dialRaw(t, bob.addr())
	// Taken before the write: the server counts from when it read the
	// line, which is later, so the close comes at least idle after this.
	delivered := time.Now()
	c.Write(testLine)
	bob.recv(t)
	stop := make(chan struct{})
	junked := make(chan struct{})
	go func() {
		defer close(junked)
		for {
			if _, err := c.Write([]byte("{junk}\n\n")); err != nil {
				return
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	waitClosed(t, c, waitFor)
	close(stop)
	<-junked
	if d := time.Since(delivered); d < idle {
		t.Fatalf("closed after %v, before the idle timeout of %v", d, idle)
	}
	if s := bob.Stats(); s.IdleClosed != 1 || s.Dropped == 0 {
		t.Fatalf("stats %+v, want closed for idleness after dropped lines", s)
	}
}

// levelCounter is a slog handler that counts records by message and level.
type levelCounter struct {
	mu     sync.Mutex
	counts map[string]int // "message/LEVEL"
}

func newLevelCounter() *levelCounter { return &levelCounter{counts: map[string]int{}} }

func (h *levelCounter) Enabled(context.Context, slog.Level) bool { return true }
func (h *levelCounter) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *levelCounter) WithGroup(string) slog.Handler            { return h }
func (h *levelCounter) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.counts[r.Message+"/"+r.Level.String()]++
	h.mu.Unlock()
	return nil
}

func (h *levelCounter) count(msg string, level slog.Level) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.counts[msg+"/"+level.String()]
}

// TestInboundLogsRateLimited: a remote that sends many bad lines, or opens
// many connections, causes one log line of each kind at Info or Warn (the
// rest go to Debug).
func TestInboundLogsRateLimited(t *testing.T) {
	logs := newLevelCounter()
	bob := newNode(t, Config{Identity: newID(t), MaxInboundPerIP: 1, Logger: slog.New(logs)})
	c := dialAdmitted(t, bob, "127.0.0.1", 1)
	c.Write(bytes.Repeat([]byte("{not a message}\n"), 50))
	c.Write(testLine)
	bob.recv(t)
	for range 10 {
		waitClosed(t, dialFrom(t, "127.0.0.1", bob.addr()), waitFor)
	}
	eventually(t, "every refusal is counted", func() bool { return bob.Stats().OverIPLimit == 10 })

	const dropped, refused = "dropped a message line", "inbound connection refused: too many open from its address"
	cases := []struct {
		msg   string
		level slog.Level
		want  int
	}{
		{dropped, slog.LevelInfo, 1},
		{dropped, slog.LevelDebug, 49},
		{refused, slog.LevelWarn, 1},
		{refused, slog.LevelDebug, 9},
	}
	for _, tc := range cases {
		if got := logs.count(tc.msg, tc.level); got != tc.want {
			t.Errorf("%q at %v logged %d times, want %d", tc.msg, tc.level, got, tc.want)
		}
	}
}

// TestLineTimeoutFromFirstByte: the first byte of a plaintext connection
// ('{') starts its first line's time, even when nothing follows it.
func TestLineTimeoutFromFirstByte(t *testing.T) {
	const limit = 300 * time.Millisecond
	bob := newNode(t, Config{Identity: newID(t), LineTimeout: limit})
	c := dialRaw(t, bob.addr())
	start := time.Now()
	c.Write([]byte("{"))
	waitClosed(t, c, waitFor)
	if d := time.Since(start); d < limit {
		t.Fatalf("closed after %v, before the line timeout of %v", d, limit)
	}
	if s := bob.Stats(); s.LineTimeouts != 1 {
		t.Fatalf("stats %+v, want 1 line timeout", s)
	}
}
