// Package lan finds peers on the local network by UDP multicast, speaking
// the original's announce/goodbye datagrams (see net/wire).
package lan

import (
	"context"
	"log/slog"
	"net/netip"
	"time"

	"github.com/parlance-chat/parlance/net/discovery"
)

// Defaults of the original.
var (
	DefaultGroup = netip.MustParseAddr("239.255.255.250")
)

const (
	DefaultPort             = 6789
	DefaultAnnounceInterval = 5 * time.Second
	DefaultPeerTimeout      = 15 * time.Second
)

// Config configures LAN discovery. Zero values take the defaults.
type Config struct {
	Group netip.Addr // multicast group (IPv4)
	Port  uint16
	// Interface pins discovery to one interface by name ("lo" in tests);
	// "" means every up, multicast-capable interface.
	Interface        string
	AnnounceInterval time.Duration
	// PeerTimeout is how long a peer stays online without an announce
	// (reported as each sighting's TTL).
	PeerTimeout time.Duration
	// ReannounceGap is the minimum time between two immediate
	// re-announces triggered by new peers (default 100 ms).
	ReannounceGap time.Duration
	// Self is what this node announces.
	Self   discovery.Self
	Logger *slog.Logger
}

// Discovery announces this node and reports the peers it hears. It
// implements discovery.Source.
type Discovery struct{}

// New opens the multicast sockets (so errors show at start) and returns a
// Discovery ready to Run.
func New(cfg Config) (*Discovery, error) { panic("unimplemented") }

// Run announces at start and every AnnounceInterval, re-announces at once
// (rate-limited) when a peer it did not know appears, reports sightings to
// h, and on ctx cancellation sends a goodbye, closes its sockets and
// returns.
func (d *Discovery) Run(ctx context.Context, h discovery.Handler) error { panic("unimplemented") }

// SetNickname changes the announced nickname and announces at once.
func (d *Discovery) SetNickname(name string) { panic("unimplemented") }

var _ discovery.Source = (*Discovery)(nil)
