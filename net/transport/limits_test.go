package transport

import (
	"bytes"
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

func TestMaxInbound(t *testing.T) {
	bob := newNode(t, Config{Identity: newID(t), MaxInbound: 2})
	line := []byte(`{"from":"bob","content":"in","timestamp":1}` + "\n")
	for range 2 {
		c := dialRaw(t, bob.addr())
		c.Write(line)
		bob.recv(t) // admitted and served
	}
	extra := dialRaw(t, bob.addr())
	extra.Write([]byte(`{"from":"bob","content":"over","timestamp":1}` + "\n"))
	waitClosed(t, extra, waitFor)
	if s := bob.Stats(); s.OverLimit != 1 || s.Accepted != 2 || s.OpenInbound != 2 {
		t.Fatalf("stats %+v, want 1 over the limit, 2 open", s)
	}
	if len(bob.got) != 0 {
		t.Fatalf("the connection over the limit delivered %+v", <-bob.got)
	}
}
