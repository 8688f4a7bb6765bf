package app

import "github.com/parlance-chat/parlance/net/discovery"

// Event is something the UI should know about. Events arrive on
// Node.Events in the order they happened.
//
// Messages are not events: the store is the source of truth for them.
// Node.Changed signals that messages were added or changed (a received
// message, a delivery receipt, an expiry), and Node.Changes reads them by
// Version, so a UI that falls behind reads what it missed instead of losing
// it.
type Event interface{ isEvent() }

// PeerJoined: a peer came online (first sighting, or back after leaving).
type PeerJoined struct{ Peer Peer }

// PeerUpdated: an online peer changed nickname, address or trust.
type PeerUpdated struct{ Peer Peer }

// PathChanged: the connection to a peer was made (Peer.Path: direct,
// punched or relayed) or ended (PathNone).
type PathChanged struct{ Peer Peer }

// PeerLeft: a peer went offline. Its conversation stays.
type PeerLeft struct {
	Peer   Peer
	Reason string // "goodbye", "timed out", "left the server", ...
}

// Notice is a line for the user that is not a chat message: a warning
// (key mismatch, refused plaintext) or information. Peer is the
// conversation it concerns, or empty for a general notice.
type Notice struct {
	Peer    PeerKey
	Warning bool
	Text    string
}

// SourceState: the connection state of the bootstrap server changed.
type SourceState struct{ State discovery.State }

// SelfChanged: the local nickname changed.
type SelfChanged struct{ Self Self }

// Resync: the reader fell behind and Dropped events were lost. The UI
// should reload the peer list from Node.Peers. (No message is lost: those
// are read from the store.)
type Resync struct{ Dropped uint64 }

// Mailboxed: outgoing messages to Peer (ids IDs) were left, sealed, in
// its mailbox at the bootstrap server. They stay pending (Queued or Sent)
// until the peer acknowledges them; Node.Mailboxed answers the same for
// one id.
type Mailboxed struct {
	Peer PeerKey
	IDs  []string
}

func (Mailboxed) isEvent()   {}
func (PeerJoined) isEvent()  {}
func (PeerUpdated) isEvent() {}
func (PeerLeft) isEvent()    {}
func (PathChanged) isEvent() {}
func (Notice) isEvent()      {}
func (SourceState) isEvent() {}
func (SelfChanged) isEvent() {}
func (Resync) isEvent()      {}
