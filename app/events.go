package app

import "github.com/parlance-chat/parlance/net/discovery"

// Event is something the UI should know about. Events arrive on
// Node.Events in the order they happened.
type Event interface{ isEvent() }

// PeerJoined: a peer came online (first sighting, or back after leaving).
type PeerJoined struct{ Peer Peer }

// PeerUpdated: an online peer changed nickname, address or trust.
type PeerUpdated struct{ Peer Peer }

// PeerLeft: a peer went offline. Its conversation stays.
type PeerLeft struct {
	Peer   Peer
	Reason string // "goodbye", "timed out", "left the server", ...
}

// MessageReceived: a message arrived from a peer.
type MessageReceived struct{ Message Message }

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
// should reload what it shows from Node.Peers (and the history).
type Resync struct{ Dropped uint64 }

func (PeerJoined) isEvent()      {}
func (PeerUpdated) isEvent()     {}
func (PeerLeft) isEvent()        {}
func (MessageReceived) isEvent() {}
func (Notice) isEvent()          {}
func (SourceState) isEvent()     {}
func (SelfChanged) isEvent()     {}
func (Resync) isEvent()          {}
