// Package discovery holds what every way of finding peers has in common:
// the description of a peer as a source sees it, the sightings a source
// reports, and the Source interface that the LAN (multicast) and internet
// (bootstrap server) finders implement.
package discovery

import (
	"context"
	"net/netip"
	"time"
)

// Peer is a peer as a discovery source sees it.
type Peer struct {
	Nickname string
	// Identity is the peer's ID (hash of its public key), empty for an
	// original peer.
	Identity string
	// Instance is random per start of the peer's process; empty for an
	// original peer.
	Instance string
	// Addr is the TCP address to dial first.
	Addr netip.AddrPort
	// AltAddr is a fallback address (the local_addr a bootstrap server
	// reports), or the zero value.
	AltAddr netip.AddrPort
}

// Original reports whether the peer speaks only the original protocol.
func (p Peer) Original() bool { return p.Identity == "" && p.Instance == "" }

// Key says who the peer is, the same way for every source and for the
// app: "id:<identity>" for a peer with an identity, else
// "orig:<nickname>@<IP of Addr>" (a peer without a key, original or not:
// its port and instance change at every start, its nickname and IP do
// not). Two sightings with one Key are the same peer.
func (p Peer) Key() string {
	if p.Identity != "" {
		return "id:" + p.Identity
	}
	return "orig:" + p.Nickname + "@" + p.Addr.Addr().Unmap().String()
}

// Kind says what a Sighting reports.
type Kind int

const (
	// Seen: the peer is online (first seen, or seen again).
	Seen Kind = iota
	// Gone: the peer said goodbye or its source dropped it.
	Gone
)

func (k Kind) String() string {
	if k == Gone {
		return "gone"
	}
	return "seen"
}

// Sighting is one observation of a peer by a source.
type Sighting struct {
	Kind   Kind
	Peer   Peer
	Source string // "lan" or "internet"
	// TTL is how long the peer counts as online without another sighting;
	// zero means until a Gone sighting.
	TTL time.Duration
	// Reason says why a peer is gone ("goodbye", "left the server", ...).
	Reason string
	// Unconfirmed, on a Seen sighting: the source still counts the peer
	// but could not confirm it lately (the bootstrap client after a
	// reconnection, until the server lists the peer again or a grace
	// period ends). A Seen sighting without it confirms the peer again.
	Unconfirmed bool
}

// State is the connection state of a source that has one (the bootstrap
// client).
type State struct {
	Phase   Phase
	RetryIn time.Duration // for Retrying
	Err     error         // the last error, for Retrying; why, for Stopped
	// Note is a warning about a connection that works but not as asked,
	// for the user to see next to the phase (e.g. "this server ignores
	// rooms"); empty when there is none.
	Note string
}

// Phase is the coarse state of a source's connection.
type Phase int

const (
	Connecting Phase = iota
	Online
	Retrying
	// Stopped: the source gave up for this run and will not reconnect;
	// Err says why (e.g. the identity is online elsewhere).
	Stopped
)

func (p Phase) String() string {
	switch p {
	case Online:
		return "online"
	case Retrying:
		return "retrying"
	case Stopped:
		return "stopped"
	default:
		return "connecting"
	}
}

// Handler receives what a source reports. Its methods are called from the
// source's goroutine and must return quickly.
type Handler interface {
	Sighting(Sighting)
	State(State)
}

// Self is what a node tells sources about itself.
type Self struct {
	Nickname string
	Identity string
	Instance string
	TCPPort  uint16
}

// Source finds peers.
type Source interface {
	// Run reports sightings to h until ctx is cancelled, then says goodbye
	// (where the protocol has one) and returns.
	Run(ctx context.Context, h Handler) error
	// SetNickname changes the nickname the source announces, at once.
	SetNickname(name string)
}
