package bootstrap

import (
	"bufio"
	"crypto/tls"
	"encoding/binary"
	"net"
	"sync"
	"time"
)

// writeChunk is the most bytes written to a socket under one deadline:
// a client must take a chunk within Config.WriteWait (10 s: at least
// 6.4 KB/s), so one that reads slowly but steadily is never cut off,
// and one that stops reading is cut off WriteWait after it stopped.
const writeChunk = 64 << 10

// maxHold is the most bytes a held connection gathers before writing.
const maxHold = writeChunk

var holdPool = sync.Pool{New: func() any { b := make([]byte, 0, maxHold); return &b }}

// flushListener wraps every accepted connection in a flushConn.
type flushListener struct {
	net.Listener
	stall time.Duration
}

func (l flushListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &flushConn{Conn: c, stall: l.stall}, nil
}

// flushConn is a server connection whose writes
//
//   - can be held and sent together: several WebSocket frames (gorilla
//     writes each on its own) go out in one system call, and
//   - time out only when the client stops taking them (see writeChunk):
//     write deadlines set by its users (net/http, gorilla) are ignored.
//
// It is safe for concurrent use.
type flushConn struct {
	net.Conn
	stall time.Duration

	mu   sync.Mutex // serialises writes; guards held
	held *[]byte    // from holdPool while holding, else nil

	// br is the buffer gorilla reads the connection through, set at
	// the upgrade (upgradeWriter) before the reader goroutine starts;
	// nil for a connection that was not upgraded.
	br *bufio.Reader

	slot acceptSlot // guarded by Server.mu
}

// isTLS reports whether nc (a connection of Server.Serve's listener) is
// TLS.
func isTLS(nc net.Conn) bool {
	if fc, ok := nc.(*flushConn); ok {
		nc = fc.Conn
	}
	_, ok := nc.(*tls.Conn)
	return ok
}

// hold makes writes gather until flush.
func (c *flushConn) hold() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.held == nil {
		c.held = holdPool.Get().(*[]byte)
	}
}

// flush writes what was held and ends holding.
func (c *flushConn) flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	err := c.writeHeldLocked()
	if c.held != nil {
		*c.held = (*c.held)[:0]
		holdPool.Put(c.held)
		c.held = nil
	}
	return err
}

func (c *flushConn) writeHeldLocked() error {
	if c.held == nil || len(*c.held) == 0 {
		return nil
	}
	_, err := c.writeLocked(*c.held)
	*c.held = (*c.held)[:0]
	return err
}

func (c *flushConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.held != nil && len(*c.held) > 0 {
		if len(*c.held)+len(p) <= maxHold {
			*c.held = append(*c.held, p...)
			return len(p), nil
		}
		// What is held goes out with the first chunk of p, in one
		// system call, without copying p.
		first := p[:min(len(p), writeChunk-len(*c.held))]
		held := *c.held
		_ = c.Conn.SetWriteDeadline(time.Now().Add(c.stall))
		bufs := net.Buffers{held, first}
		_, err := bufs.WriteTo(c.Conn)
		*c.held = held[:0]
		if err != nil {
			return 0, err
		}
		n, err := c.writeLocked(p[len(first):])
		return len(first) + n, err
	}
	if c.held != nil && len(p) < maxHold {
		*c.held = append(*c.held, p...)
		return len(p), nil
	}
	return c.writeLocked(p)
}

// writeText writes one WebSocket text message (final, unmasked: from a
// server) of the given parts as one frame, after what is held, in system
// calls of up to writeChunk bytes each that gather the parts without
// copying them (writev). It is for a message in parts (a chunked
// peer_list), which gorilla's writer would send as one frame, one system
// call and one lock round per part. The caller is the connection's only
// writer of data frames (control frames written meanwhile, such as a pong,
// go before or after it: c.mu serialises them).
func (c *flushConn) writeText(parts [][]byte) error {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	hdr := make([]byte, 2, 10)
	hdr[0] = 0x81 // FIN, text
	switch {
	case n < 126:
		hdr[1] = byte(n)
	case n <= 0xffff:
		hdr[1] = 126
		hdr = binary.BigEndian.AppendUint16(hdr, uint16(n))
	default:
		hdr[1] = 127
		hdr = binary.BigEndian.AppendUint64(hdr, uint64(n))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	bufs := make(net.Buffers, 0, len(parts)+2)
	if c.held != nil && len(*c.held) > 0 {
		bufs = append(bufs, *c.held)
	}
	bufs = append(bufs, hdr)
	bufs = append(bufs, parts...)
	err := c.writeBuffersLocked(bufs)
	if c.held != nil {
		*c.held = (*c.held)[:0]
	}
	return err
}

// writeBuffersLocked writes bufs in groups of up to writeChunk bytes, each
// under a deadline of its own.
func (c *flushConn) writeBuffersLocked(bufs net.Buffers) error {
	for len(bufs) > 0 {
		var group net.Buffers
		for size := 0; len(bufs) > 0 && size < writeChunk; {
			b := bufs[0]
			if room := writeChunk - size; len(b) > room {
				group, bufs[0] = append(group, b[:room]), b[room:]
				break
			}
			group, bufs, size = append(group, b), bufs[1:], size+len(b)
		}
		_ = c.Conn.SetWriteDeadline(time.Now().Add(c.stall))
		if _, err := group.WriteTo(c.Conn); err != nil {
			return err
		}
	}
	return nil
}

// writeLocked writes p chunk by chunk, each under a deadline of its own.
func (c *flushConn) writeLocked(p []byte) (int, error) {
	done := 0
	for done < len(p) {
		end := min(len(p), done+writeChunk)
		_ = c.Conn.SetWriteDeadline(time.Now().Add(c.stall))
		n, err := c.Conn.Write(p[done:end])
		done += n
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

// SetDeadline sets the read deadline only (see flushConn).
func (c *flushConn) SetDeadline(t time.Time) error { return c.Conn.SetReadDeadline(t) }

// SetWriteDeadline does nothing (see flushConn).
func (c *flushConn) SetWriteDeadline(time.Time) error { return nil }
