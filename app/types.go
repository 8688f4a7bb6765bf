// Package app is Parlance's domain: the peers a node knows (keyed by
// identity, never by nickname), the conversations with them, and the Node
// that ties discovery and transport together. It emits Events on a channel
// and takes commands through Node's methods. It never imports a UI toolkit.
//
// Goroutines: Node.Run owns them all and ends them when its context ends:
// the transport's Serve, each discovery source, the committer, the
// delivery service (one writer per conversation with pending messages,
// delivery.go), reach (connection attempts to internet peers behind NATs,
// reach.go), the groups' and files' engines, and the sweep ticker.
package app

import (
	"net/netip"
	"strings"
	"time"

	"github.com/parlance-chat/parlance/app/store"
	"github.com/parlance-chat/parlance/net/identity"
	"github.com/parlance-chat/parlance/net/transport"
)

// PeerKey identifies a peer and its conversation. It is the peer's identity
// when it has one ("id:<peer ID>"); a peer without one (an original peer,
// which speaks plaintext) is keyed by nickname and IP ("orig:<nick>@<ip>").
type PeerKey string

// Peer is a peer the node knows about (online or not).
type Peer struct {
	Key      PeerKey
	Nickname string
	// Identity is the peer ID (hash of the public key); empty for an
	// original peer, which speaks plaintext.
	Identity string
	// Instance is random per start of the peer's process.
	Instance string
	// Addr is the TCP address messages go to; AltAddr is a fallback.
	Addr    netip.AddrPort
	AltAddr netip.AddrPort
	// Source is where the peer was found: "lan" or "internet".
	Source string
	Online bool
	// Unconfirmed: online, but the source in use could not confirm it
	// lately (after a reconnection, the bootstrap server has not listed
	// it yet). Messages still go to it; it goes offline if no source
	// confirms it within a grace period.
	Unconfirmed bool
	LastSeen    time.Time
	// Trust says what the node knows about the peer's key.
	Trust Trust
	// Path is how the kept connection to the peer was made (direct,
	// punched, relayed), or PathNone while there is none; PathChanged
	// reports changes.
	Path transport.Path
}

// Path is how the kept connection to a peer was made (Peer.Path).
type Path = transport.Path

// Paths of a connection (Peer.Path), as the transport names them.
const (
	PathNone    = transport.PathNone
	PathDirect  = transport.PathDirect
	PathPunched = transport.PathPunched
	PathRelayed = transport.PathRelayed
)

// Route says how messages to the peer travel, for display: where it was
// found ("lan", "internet") and, while connected, the connection's path,
// e.g. "internet, punched".
func (p Peer) Route() string {
	if p.Path == transport.PathNone {
		return p.Source
	}
	if p.Source == "" {
		return p.Path.String()
	}
	return p.Source + ", " + p.Path.String()
}

// Original reports whether the peer speaks only the original, unencrypted
// protocol.
func (p Peer) Original() bool { return p.Identity == "" }

// Tag is a short token that tells peers of one nickname apart: the start of
// the peer ID, or for an original peer its IP (its port changes at every
// start; nickname and IP are what key it).
func (p Peer) Tag() string {
	if p.Identity != "" {
		return identity.ID(p.Identity).Short()
	}
	if _, ip, ok := strings.Cut(string(p.Key), "@"); ok {
		return ip
	}
	if p.Addr.IsValid() {
		return p.Addr.Addr().Unmap().String()
	}
	return "?"
}

// Trust is what the node knows about a peer's key.
type Trust int

const (
	// TrustNone: an original peer, no key at all (unencrypted).
	TrustNone Trust = iota
	// TrustNew: first time this key is seen (trust on first use).
	TrustNew
	// TrustKnown: the key was seen before with this nickname.
	TrustKnown
	// TrustVerified: the user compared safety codes and confirmed.
	TrustVerified
	// TrustChanged: the nickname was known with a different key (or with a
	// key, and this peer has none); this is a different person (or a new
	// key) and is kept apart.
	TrustChanged
)

func (t Trust) String() string {
	switch t {
	case TrustNew:
		return "new"
	case TrustKnown:
		return "known"
	case TrustVerified:
		return "verified"
	case TrustChanged:
		return "key changed"
	default:
		return "unencrypted"
	}
}

// Label is how both UIs name the trust: "unencrypted", "encrypted, not
// verified" (new or known: the key is pinned, never compared),
// "verified", "key changed".
func (t Trust) Label() string {
	switch t {
	case TrustNew, TrustKnown:
		return "encrypted, not verified"
	case TrustVerified, TrustChanged:
		return t.String()
	}
	return "unencrypted"
}

// Message is one chat message, as the store keeps it (see store.Message).
type Message = store.Message

// ConvID identifies a conversation (see store.ConvID). A one-to-one
// conversation's id is its peer's key.
type ConvID = store.ConvID

// ConvOf is the conversation with a peer.
func ConvOf(key PeerKey) ConvID { return ConvID(key) }

// PeerOf is the peer of a one-to-one conversation.
func PeerOf(conv ConvID) PeerKey { return PeerKey(conv) }

// Self describes the local node.
type Self struct {
	Nickname   string
	Identity   string // full peer ID, wire form
	Mode       string // "local", "internet" or "both"
	ListenAddr string
	Encrypted  bool
}
