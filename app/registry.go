package app

import (
	"net/netip"
	"time"

	"github.com/parlance-chat/parlance/net/discovery"
)

// MaxPeers bounds the registry. When it is full, the longest-offline peer
// is forgotten to make room; a flood of made-up announces cannot grow
// memory without bound.
const MaxPeers = 10_000

// KeyOf derives the registry key of a peer as a source reports it.
func KeyOf(p discovery.Peer) PeerKey {
	switch {
	case p.Identity != "":
		return PeerKey("id:" + p.Identity)
	case p.Instance != "":
		return PeerKey("inst:" + p.Instance)
	default:
		return originalKey(p.Nickname, p.Addr.Addr())
	}
}

// originalKey keys an original peer, which has no identity, by nickname
// and IP: its port changes at every start.
func originalKey(nick string, ip netip.Addr) PeerKey {
	return PeerKey("orig:" + nick + "@" + ip.Unmap().String())
}

// peerState is a registry entry: the peer and, for each source that sees
// it, when that sighting expires (zero: never, until the source says gone).
type peerState struct {
	Peer
	seenBy map[string]time.Time
}

// registry holds every known peer. It is not safe for concurrent use; the
// Node guards it with its mutex.
type registry struct {
	peers map[PeerKey]*peerState
}

func newRegistry() *registry { return &registry{peers: make(map[PeerKey]*peerState)} }

// change says what applying a sighting did, for the Node to turn into an
// event.
type change int

const (
	unchanged change = iota
	joined
	updated
	left
)

// seen applies a Seen sighting. trust is called for a new peer or a
// nickname change to learn the peer's trust.
func (r *registry) seen(s discovery.Sighting, now time.Time, trust func(nick, id string) Trust) (*peerState, change) {
	key := KeyOf(s.Peer)
	st := r.peers[key]
	if st == nil {
		if !r.makeRoom() {
			return nil, unchanged
		}
		st = &peerState{Peer: Peer{Key: key, Identity: s.Peer.Identity}, seenBy: map[string]time.Time{}}
		r.peers[key] = st
	}
	var expires time.Time
	if s.TTL > 0 {
		expires = now.Add(s.TTL)
	}
	st.seenBy[s.Source] = expires
	st.LastSeen = now
	p := s.Peer
	what := unchanged
	if st.Nickname != p.Nickname || st.Addr != p.Addr || st.AltAddr != p.AltAddr || st.Instance != p.Instance || st.Source != s.Source {
		if st.Nickname != p.Nickname {
			st.Trust = trust(p.Nickname, p.Identity)
		}
		st.Nickname, st.Addr, st.AltAddr, st.Instance, st.Source = p.Nickname, p.Addr, p.AltAddr, p.Instance, s.Source
		what = updated
	}
	if !st.Online {
		st.Online = true
		what = joined
	}
	return st, what
}

// gone applies a Gone sighting.
func (r *registry) gone(s discovery.Sighting) (*peerState, change) {
	st := r.peers[KeyOf(s.Peer)]
	if st == nil || !st.Online {
		return st, unchanged
	}
	// A goodbye from an earlier run of the peer must not remove the
	// current one.
	if s.Peer.Instance != "" && st.Instance != "" && s.Peer.Instance != st.Instance {
		return st, unchanged
	}
	delete(st.seenBy, s.Source)
	if len(st.seenBy) > 0 {
		return st, unchanged
	}
	st.Online = false
	return st, left
}

// expire takes offline every peer whose every sighting has expired, and
// returns them.
func (r *registry) expire(now time.Time) []*peerState {
	var out []*peerState
	for _, st := range r.peers {
		if !st.Online {
			continue
		}
		for src, exp := range st.seenBy {
			if !exp.IsZero() && !now.Before(exp) {
				delete(st.seenBy, src)
			}
		}
		if len(st.seenBy) == 0 {
			st.Online = false
			out = append(out, st)
		}
	}
	return out
}

// ensure returns the entry for key, creating an offline one (for a message
// from a peer no source has reported), or nil when the registry is full.
func (r *registry) ensure(key PeerKey, init Peer) *peerState {
	if st := r.peers[key]; st != nil {
		return st
	}
	if !r.makeRoom() {
		return nil
	}
	init.Key = key
	st := &peerState{Peer: init, seenBy: map[string]time.Time{}}
	r.peers[key] = st
	return st
}

// makeRoom forgets the longest-offline peer when the registry is full. It
// reports false when there is still no room (every peer is online).
func (r *registry) makeRoom() bool {
	if len(r.peers) < MaxPeers {
		return true
	}
	var oldest *peerState
	for _, st := range r.peers {
		if !st.Online && (oldest == nil || st.LastSeen.Before(oldest.LastSeen)) {
			oldest = st
		}
	}
	if oldest == nil {
		return false
	}
	delete(r.peers, oldest.Key)
	return true
}
