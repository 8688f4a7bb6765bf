// Package natsbus shares a bootstrap server's registry with other servers
// over NATS (core publish/subscribe): it implements bootstrap.Bus.
//
// Why core NATS and not JetStream KV: the registry is soft state that
// every server refreshes anyway (a snapshot every PeerTimeout/3), and
// what matters is that a change reaches the other servers within
// milliseconds, not that it survives a restart of NATS. Core NATS keeps
// the order of one publisher's messages, which is all a server's events
// need; it stores nothing, so a restart of NATS loses only the messages
// in flight, and the next snapshots repair that. A KV bucket would add a
// write to disk per register, a watch per server, and keys to expire for
// servers that died (a TTL per key), for no gain.
//
// Failure cases:
//   - NATS unreachable at start: Connect fails and bootstrap-server exits
//     (it does not silently run alone).
//   - NATS restarts or the link drops: the client reconnects for ever
//     (every 2 s, jittered), buffering up to 8 MB of publishes meanwhile.
//     Other servers' peers stay listed for up to PeerTimeout; after that
//     they expire, and come back with the first snapshot after the
//     reconnect, which is published at once.
//   - A server dies: its peers expire everywhere within PeerTimeout (its
//     snapshots stop). A server that stops cleanly says bye: at once.
//
// The NATS server must be private to the bootstrap servers (they trust
// each other's events); use NATS authentication or TLS in the URL's
// options if the network is shared.
package natsbus

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// Bus is a NATS connection used as a bootstrap.Bus.
type Bus struct {
	nc        *nats.Conn
	reconnect atomic.Pointer[func()] // set by OnReconnect
}

// Connect connects to the NATS server at url ("nats://host:4222").
func Connect(url string, name string) (*Bus, error) {
	b := &Bus{}
	nc, err := nats.Connect(url,
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(2*time.Second),
		nats.ReconnectJitter(500*time.Millisecond, time.Second),
		nats.ReconnectBufSize(8<<20),
		nats.RetryOnFailedConnect(false),
		nats.ReconnectHandler(func(*nats.Conn) {
			if fn := b.reconnect.Load(); fn != nil {
				(*fn)()
			}
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w", url, err)
	}
	b.nc = nc
	return b, nil
}

// OnReconnect sets a function called after every reconnect to NATS (the
// server publishes a snapshot then).
func (b *Bus) OnReconnect(fn func()) { b.reconnect.Store(&fn) }

// Publish sends data on subject. While NATS is unreachable, data is
// buffered (up to 8 MB) and sent on reconnect.
func (b *Bus) Publish(subject string, data []byte) error {
	if err := b.nc.Publish(subject, data); err != nil {
		return fmt.Errorf("publish to NATS: %w", err)
	}
	return nil
}

// Subscribe calls fn with each message on subject, one at a time in the
// order NATS delivers them, until ctx is done. It returns once NATS has
// the subscription.
func (b *Bus) Subscribe(ctx context.Context, subject string, fn func([]byte)) error {
	sub, err := b.nc.Subscribe(subject, func(m *nats.Msg) { fn(m.Data) })
	if err != nil {
		return fmt.Errorf("subscribe to NATS subject %s: %w", subject, err)
	}
	// A server of a big cluster may receive snapshots faster than it
	// applies them for a moment: allow a deep backlog.
	if err := sub.SetPendingLimits(1<<20, 512<<20); err != nil {
		return fmt.Errorf("subscribe to NATS subject %s: %w", subject, err)
	}
	if err := b.nc.Flush(); err != nil {
		_ = sub.Unsubscribe()
		return fmt.Errorf("subscribe to NATS subject %s: %w", subject, err)
	}
	go func() {
		<-ctx.Done()
		_ = sub.Unsubscribe()
	}()
	return nil
}

// Close flushes what is buffered (for up to a second) and closes the
// connection.
func (b *Bus) Close() error {
	err := b.nc.FlushTimeout(time.Second)
	b.nc.Close()
	if err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		return fmt.Errorf("flush NATS: %w", err)
	}
	return nil
}
