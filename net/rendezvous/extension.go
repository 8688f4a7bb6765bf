package rendezvous

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/parlance-chat/parlance/net/wire"
)

// ErrNotConnected: Send found no registered session to send on (the client
// is connecting, retrying, or stopped). The caller tries again later or
// another way.
var ErrNotConnected = errors.New("not connected to a bootstrap server")

// ServerInfo describes the live session: which server, what it granted.
type ServerInfo struct {
	// URL is the server's URL as configured.
	URL string
	// Features are the features the server granted in registered (see
	// Config.Features); an original server grants none.
	Features []string
	// PublicAddr is this node's address as the server observed it.
	PublicAddr netip.AddrPort
}

// Has reports whether the server granted feature f.
func (si ServerInfo) Has(f string) bool { return wire.HasFeature(si.Features, f) }

// live is the registered session that Send writes on; the session's
// goroutine owns it and closes closed when the session ends.
type live struct {
	info   ServerInfo
	out    chan outgoing
	closed chan struct{}
}

type outgoing struct {
	m    wire.ClientMessage
	done chan error // capacity 1
}

// Send sends m to the server on the live registered session and returns
// once it was written (or failed). It is for extension requests (hole
// punching, the mailbox); the client sends register, heartbeats and
// list_peers itself. Without a registered session it returns
// ErrNotConnected.
func (c *Client) Send(ctx context.Context, m wire.ClientMessage) error {
	c.mu.Lock()
	l := c.live
	c.mu.Unlock()
	if l == nil {
		return ErrNotConnected
	}
	req := outgoing{m: m, done: make(chan error, 1)}
	select {
	case l.out <- req:
	case <-l.closed:
		return ErrNotConnected
	case <-ctx.Done():
		return fmt.Errorf("send %s: %w", m.ClientType(), ctx.Err())
	}
	select {
	case err := <-req.done:
		return err
	case <-l.closed:
		return ErrNotConnected
	case <-ctx.Done():
		return fmt.Errorf("send %s: %w", m.ClientType(), ctx.Err())
	}
}

// Server describes the live registered session; ok is false when there is
// none.
func (c *Client) Server() (info ServerInfo, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.live == nil {
		return ServerInfo{}, false
	}
	return c.live.info, true
}

// goLive publishes the session s as the one Send writes on.
func (c *Client) goLive(s *session, features []string) *live {
	l := &live{
		info:   ServerInfo{URL: s.url, Features: slices.Clone(features), PublicAddr: s.ownAddr},
		out:    make(chan outgoing),
		closed: make(chan struct{}),
	}
	c.mu.Lock()
	c.live = l
	c.mu.Unlock()
	return l
}

// endLive withdraws l (if it is still the live session) and fails the
// Sends waiting on it.
func (c *Client) endLive(l *live) {
	if l == nil {
		return
	}
	c.mu.Lock()
	if c.live == l {
		c.live = nil
	}
	c.mu.Unlock()
	close(l.closed)
}

// requestedFeatures is what register asks for: push and batch, then
// Config.Features.
func (c *Client) requestedFeatures() []string {
	fs := []string{wire.FeaturePush, wire.FeatureBatch}
	for _, f := range c.cfg.Features {
		if !slices.Contains(fs, f) {
			fs = append(fs, f)
		}
	}
	return fs
}
