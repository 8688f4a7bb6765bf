package bootstrap

import (
	"bufio"
	"net"
	"net/http"
	"syscall"
)

// readBufferSize is the size of the buffer gorilla reads a client's
// frames through. Gorilla takes a buffer handed over at the upgrade only
// if it is over 256 bytes (it would allocate its own otherwise, which we
// could not look into): a heartbeat fits, a register takes a few reads.
const readBufferSize = 257

// upgradeWriter is the ResponseWriter of an upgrade: its Hijack hands
// gorilla a read buffer of ours, kept in the connection's flushConn, so
// that the reader goroutine can see whether gorilla holds input it has
// not handled yet (see flushConn.idleRaw).
type upgradeWriter struct{ http.ResponseWriter }

func (w upgradeWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil || brw.Reader.Buffered() > 0 { // gorilla refuses the latter
		return nc, brw, err
	}
	br := bufio.NewReaderSize(nc, readBufferSize)
	if fc, ok := nc.(*flushConn); ok {
		fc.br = br
	}
	return nc, bufio.NewReadWriter(br, brw.Writer), nil
}

// idleRaw returns the connection's socket if its reader would have to
// wait for input: gorilla's read buffer is empty, the connection is plain
// TCP (TLS keeps input of its own) and the socket has no input. It
// returns nil otherwise.
func (c *flushConn) idleRaw() syscall.RawConn {
	if c.br == nil || c.br.Buffered() > 0 {
		return nil
	}
	tc, ok := c.Conn.(*net.TCPConn)
	if !ok {
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	idle := false
	if rc.Control(func(fd uintptr) { idle = !hasInput(fd) }) != nil || !idle {
		return nil
	}
	return rc
}
