// Package wsclient is a minimal WebSocket client spoken by hand over a
// TCP connection, for simulating many bootstrap-server clients cheaply:
// a connection costs its socket and a small read buffer, and needs no
// goroutine unless its owner reads.
//
// It sends masked text frames (with a zero mask key, which leaves the
// payload as is) and reads the server's unmasked frames one at a time.
package wsclient

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"time"
)

// Opcodes.
const (
	OpContinuation = 0x0
	OpText         = 0x1
	OpClose        = 0x8
	OpPing         = 0x9
	OpPong         = 0xA
)

// MaxFrame bounds the payload of a frame read; a larger one is an error.
const MaxFrame = 16 << 20

// Conn is one client connection.
type Conn struct {
	nc net.Conn
	br *bufio.Reader
}

// Dial connects from local (any port; the zero Addr lets the system
// choose) to the server and performs the WebSocket handshake.
func Dial(ctx context.Context, local netip.Addr, server netip.AddrPort, readBuf int) (*Conn, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	if local.IsValid() {
		d.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(local, 0))
	}
	nc, err := d.DialContext(ctx, "tcp", server.String())
	if err != nil {
		return nil, fmt.Errorf("dial %s from %v: %w", server, local, err)
	}
	c := &Conn{nc: nc, br: bufio.NewReaderSize(nc, readBuf)}
	if err := c.handshake(server.String()); err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

func (c *Conn) handshake(host string) error {
	_ = c.nc.SetDeadline(time.Now().Add(30 * time.Second))
	defer c.nc.SetDeadline(time.Time{})
	_, err := io.WriteString(c.nc, "GET / HTTP/1.1\r\nHost: "+host+"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	if err != nil {
		return fmt.Errorf("send handshake: %w", err)
	}
	status, err := c.br.ReadString('\n')
	if err != nil {
		return fmt.Errorf("read handshake: %w", err)
	}
	if !strings.HasPrefix(status, "HTTP/1.1 101 ") {
		return fmt.Errorf("handshake refused: %s", strings.TrimSpace(status))
	}
	for {
		line, err := c.br.ReadString('\n')
		if err != nil {
			return fmt.Errorf("read handshake: %w", err)
		}
		if line == "\r\n" {
			return nil
		}
	}
}

// WriteText sends payload as one masked text frame.
func (c *Conn) WriteText(payload []byte) error {
	return c.write(OpText, payload)
}

// WritePong answers a ping.
func (c *Conn) WritePong(payload []byte) error {
	return c.write(OpPong, payload)
}

func (c *Conn) write(op byte, payload []byte) error {
	n := len(payload)
	buf := make([]byte, 0, 14+n)
	buf = append(buf, 0x80|op)
	switch {
	case n < 126:
		buf = append(buf, 0x80|byte(n))
	case n <= 0xffff:
		buf = append(buf, 0x80|126, byte(n>>8), byte(n))
	default:
		buf = append(buf, 0x80|127)
		buf = binary.BigEndian.AppendUint64(buf, uint64(n))
	}
	buf = append(buf, 0, 0, 0, 0) // mask key zero: the payload goes as is
	buf = append(buf, payload...)
	_ = c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.nc.Write(buf); err != nil {
		return fmt.Errorf("write frame: %w", err)
	}
	return nil
}

// Frame is one frame read from the server.
type Frame struct {
	Op      byte
	Fin     bool
	Payload []byte // valid until the next ReadFrame with the same buffer
	Size    int    // of the whole payload (SkimFrame keeps only part)
}

// ReadFrame reads one frame, its payload into buf (grown if too small).
// It returns the frame and the buffer to pass next time.
func (c *Conn) ReadFrame(buf []byte) (Frame, []byte, error) {
	var h [2]byte
	if _, err := io.ReadFull(c.br, h[:]); err != nil {
		return Frame{}, buf, err
	}
	if h[1]&0x80 != 0 {
		return Frame{}, buf, errors.New("server sent a masked frame")
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var x [2]byte
		if _, err := io.ReadFull(c.br, x[:]); err != nil {
			return Frame{}, buf, err
		}
		n = uint64(binary.BigEndian.Uint16(x[:]))
	case 127:
		var x [8]byte
		if _, err := io.ReadFull(c.br, x[:]); err != nil {
			return Frame{}, buf, err
		}
		n = binary.BigEndian.Uint64(x[:])
	}
	if n > MaxFrame {
		return Frame{}, buf, fmt.Errorf("frame of %d bytes is over the limit", n)
	}
	if uint64(cap(buf)) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(c.br, buf); err != nil {
		return Frame{}, buf, err
	}
	return Frame{Op: h[0] & 0x0f, Fin: h[0]&0x80 != 0, Payload: buf}, buf, nil
}

// SetReadDeadline sets the deadline of reads.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.nc.SetReadDeadline(t) }

// Close closes the connection at once (no close frame).
func (c *Conn) Close() error { return c.nc.Close() }

// SkimFrame reads one frame but keeps only its first keep bytes (in
// Payload, a new slice) and discards the rest as it arrives: reading a
// big frame costs no memory.
func (c *Conn) SkimFrame(keep int) (Frame, error) {
	var h [2]byte
	if _, err := io.ReadFull(c.br, h[:]); err != nil {
		return Frame{}, err
	}
	if h[1]&0x80 != 0 {
		return Frame{}, errors.New("server sent a masked frame")
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var x [2]byte
		if _, err := io.ReadFull(c.br, x[:]); err != nil {
			return Frame{}, err
		}
		n = uint64(binary.BigEndian.Uint16(x[:]))
	case 127:
		var x [8]byte
		if _, err := io.ReadFull(c.br, x[:]); err != nil {
			return Frame{}, err
		}
		n = binary.BigEndian.Uint64(x[:])
	}
	head := make([]byte, min(n, uint64(keep)))
	if _, err := io.ReadFull(c.br, head); err != nil {
		return Frame{}, err
	}
	if _, err := io.CopyN(io.Discard, c.br, int64(n)-int64(len(head))); err != nil {
		return Frame{}, err
	}
	return Frame{Op: h[0] & 0x0f, Fin: h[0]&0x80 != 0, Payload: head, Size: int(n)}, nil
}

// SetReadBuffer sets the socket's receive buffer (SO_RCVBUF), which also
// caps the TCP window: a small one makes a slow reader slow the sender.
func (c *Conn) SetReadBuffer(bytes int) error {
	tc, ok := c.nc.(*net.TCPConn)
	if !ok {
		return errors.New("not a TCP connection")
	}
	return tc.SetReadBuffer(bytes)
}
