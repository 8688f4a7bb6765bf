package rendezvous

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parlance-chat/parlance/net/wire"
)

// ErrNoRelay: the live session's server offers no relay.
var ErrNoRelay = errors.New("the bootstrap server offers no relay")

// DialRelay opens the relayed byte stream that token (from the server's
// hole-punching offer) names, on the live session's server (its URL with
// wire.RelayPath appended), with the client's Dialer, within
// Config.DialTimeout. The other peer dials with the same token; the
// server splices the two, and bytes flow once both are there (the server
// closes an end whose partner does not come within its relay TTL, 10 s
// by default). The stream carries TLS between the peers, so the server
// sees only TLS records.
//
// Without a registered session it returns ErrNotConnected; when the
// server runs no relay, an error wrapping ErrNoRelay. The net.Conn's
// deadlines work as for a TCP connection, except that a read or write
// that timed out fails the stream for good (the transport closes a
// connection after a timeout anyway). Its Close sends a close frame (the
// other end then reads io.EOF).
func (c *Client) DialRelay(ctx context.Context, token string) (net.Conn, error) {
	info, ok := c.Server()
	if !ok {
		return nil, ErrNotConnected
	}
	if err := wire.ValidateRelayToken(token); err != nil {
		return nil, fmt.Errorf("dial relay: %w", err)
	}
	u, err := wire.RelayURL(info.URL)
	if err != nil {
		return nil, fmt.Errorf("dial relay: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	defer cancel()
	ws, resp, err := c.cfg.Dialer.DialContext(ctx, u, http.Header{wire.RelayTokenHeader: {token}})
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusNotFound {
			_ = resp.Body.Close()
			return nil, fmt.Errorf("dial relay %s: %w", u, ErrNoRelay)
		}
		return nil, fmt.Errorf("dial relay: %w", dialError(u, resp, err))
	}
	ws.SetReadLimit(wire.MaxRelayMessage)
	return newRelayConn(ws), nil
}

// relayConn is a relay's WebSocket as a net.Conn: each Write goes out in
// binary messages of at most wire.MaxRelayWrite bytes; Read reads the
// messages' bytes as one stream. One Read and one Write may run at once,
// and Close with both.
type relayConn struct {
	ws *websocket.Conn

	rmu  sync.Mutex
	r    io.Reader // the message being read, or nil
	rerr error     // reading failed for good (gorilla must not be asked again)

	wmu sync.Mutex

	closeOnce sync.Once
	closeErr  error
}

func newRelayConn(ws *websocket.Conn) *relayConn { return &relayConn{ws: ws} }

var _ net.Conn = (*relayConn)(nil)

func (c *relayConn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if len(p) == 0 {
		return 0, nil
	}
	for {
		if c.rerr != nil {
			return 0, c.rerr
		}
		if c.r == nil {
			mt, r, err := c.ws.NextReader()
			if err != nil {
				c.rerr = relayReadError(err)
				return 0, c.rerr
			}
			if mt != websocket.BinaryMessage {
				c.rerr = errors.New("relay: the server sent a text message")
				_ = c.ws.Close()
				return 0, c.rerr
			}
			c.r = r
		}
		n, err := c.r.Read(p)
		if errors.Is(err, io.EOF) {
			c.r = nil // the message is over; the stream is not
			err = nil
		} else if err != nil {
			c.rerr = relayReadError(err)
			err = c.rerr
		}
		if n > 0 || err != nil {
			return n, err
		}
	}
}

// relayReadError maps a WebSocket read error to what a net.Conn reports:
// io.EOF for a close frame (the other end closed, or the server ended the
// relay normally), os.ErrDeadlineExceeded for a timeout.
func relayReadError(err error) error {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		if ce.Code == websocket.CloseNormalClosure || ce.Code == websocket.CloseGoingAway {
			return io.EOF
		}
		return fmt.Errorf("relay closed: %w", err)
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return fmt.Errorf("relay read: %w", os.ErrDeadlineExceeded)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("relay read: connection cut: %w", err)
	}
	return fmt.Errorf("relay read: %w", err)
}

func (c *relayConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	done := 0
	for done < len(p) {
		end := min(len(p), done+wire.MaxRelayWrite)
		if err := c.ws.WriteMessage(websocket.BinaryMessage, p[done:end]); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				err = os.ErrDeadlineExceeded
			}
			return done, fmt.Errorf("relay write: %w", err)
		}
		done = end
	}
	return done, nil
}

// Close sends a close frame (waiting at most a second) and closes the
// socket.
func (c *relayConn) Close() error {
	c.closeOnce.Do(func() {
		_ = c.ws.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		c.closeErr = c.ws.Close()
	})
	return c.closeErr
}

func (c *relayConn) LocalAddr() net.Addr  { return c.ws.LocalAddr() }
func (c *relayConn) RemoteAddr() net.Addr { return c.ws.RemoteAddr() }

func (c *relayConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

func (c *relayConn) SetReadDeadline(t time.Time) error { return c.ws.SetReadDeadline(t) }

// SetWriteDeadline sets the deadline of later writes (gorilla sets it on
// the socket as each write starts) and of a write under way.
func (c *relayConn) SetWriteDeadline(t time.Time) error {
	if err := c.ws.SetWriteDeadline(t); err != nil {
		return err
	}
	return c.ws.NetConn().SetWriteDeadline(t)
}
