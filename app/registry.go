package app

import (
	"maps"
	"net/netip"
	"slices"
	"sort"
	"time"

	"github.com/parlance-chat/parlance/net/discovery"
	"github.com/parlance-chat/parlance/net/lan"
)

// MaxPeers bounds the registry, so a flood of made-up announces cannot
// grow memory without bound. When it is full, the longest-offline tenth is
// forgotten; if every peer is online, the longest-silent tenth of the peers
// that never proved a key is.
const MaxPeers = 10_000

// KeyOf derives the registry key of a peer as a source reports it: its
// identity, or for a peer without one, nickname and IP (see
// discovery.Peer.Key).
func KeyOf(p discovery.Peer) PeerKey { return PeerKey(p.Key()) }

// plainKey keys a peer without an identity (an original peer, which speaks
// plaintext) by nickname and IP, as discovery.Peer.Key does.
func plainKey(nick string, ip netip.Addr) PeerKey {
	return KeyOf(discovery.Peer{Nickname: nick, Addr: netip.AddrPortFrom(ip, 0)})
}

// peerState is a registry entry.
type peerState struct {
	Peer
	// seenBy holds, for each source that sees the peer, when that sighting
	// expires (zero: never, until the source says gone).
	seenBy map[string]time.Time
	// sightings holds the peer as each source in seenBy last reported
	// it: the path to fall back on when the one in use goes.
	sightings map[string]discovery.Peer
	// doubted holds the sources whose last sighting was unconfirmed
	// (see discovery.Sighting.Unconfirmed).
	doubted map[string]bool
	// addrHeard is when an announce last came from Addr.
	addrHeard time.Time
	// proven: the peer proved its key in a TLS handshake this run.
	proven bool
	// warnedSelfName: the user was warned that this peer uses their own
	// nickname.
	warnedSelfName bool
}

// registry holds every known peer. It is not safe for concurrent use; the
// Node guards it with its mutex.
type registry struct {
	peers map[PeerKey]*peerState
	// forget is called for every peer the registry evicts.
	forget func(*peerState)
}

func newRegistry(forget func(*peerState)) *registry {
	return &registry{peers: make(map[PeerKey]*peerState), forget: forget}
}

// change says what applying a sighting did, for the Node to turn into an
// event.
type change int

const (
	unchanged change = iota
	joined
	updated
	left
)

// seen applies a Seen sighting. trust tells the trust of a nickname and
// identity; it is asked for a new peer and on a nickname change.
func (r *registry) seen(s discovery.Sighting, now time.Time, trust func(nick, id string) Trust) (*peerState, change) {
	key := KeyOf(s.Peer)
	st := r.peers[key]
	if st == nil {
		if !r.makeRoom() {
			return nil, unchanged
		}
		st = newPeerState(Peer{Key: key, Identity: s.Peer.Identity})
		r.peers[key] = st
	}
	var expires time.Time
	if s.TTL > 0 {
		expires = now.Add(s.TTL)
	}
	st.seenBy[s.Source] = expires
	st.sightings[s.Source] = s.Peer
	if s.Unconfirmed {
		st.doubted[s.Source] = true
	} else {
		delete(st.doubted, s.Source)
	}
	st.LastSeen = now
	// The LAN path is preferred: while the LAN sees the peer, another
	// source's sighting keeps it online but does not move it.
	if s.Source != lan.SourceName && st.Online && st.Source == lan.SourceName {
		if _, ok := st.seenBy[lan.SourceName]; ok {
			return st, unchanged
		}
	}
	p := s.Peer
	// One process heard on several interfaces arrives from several source
	// IPs: keep the address in use while it is still heard, so the peer
	// does not flip between them.
	if st.Online && st.Source == s.Source && p.Addr != st.Addr && p.Instance != "" && p.Instance == st.Instance &&
		s.TTL > 0 && now.Sub(st.addrHeard) < s.TTL {
		p.Addr = st.Addr
	}
	if p.Addr == st.Addr || !st.Online {
		st.addrHeard = now
	}
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
	if st.recheck() && what == unchanged {
		what = updated
	}
	return st, what
}

// recheck sets Unconfirmed from the source in use, and reports whether it
// changed.
func (st *peerState) recheck() bool {
	u := st.Online && st.doubted[st.Source]
	changed := u != st.Unconfirmed
	st.Unconfirmed = u
	return changed
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
	delete(st.sightings, s.Source)
	delete(st.doubted, s.Source)
	if len(st.seenBy) > 0 {
		if moved := st.fallBack(); st.recheck() || moved {
			return st, updated
		}
		return st, unchanged
	}
	st.Online = false
	st.recheck()
	return st, left
}

// expire takes offline every peer whose every sighting has expired
// (gone), and moves to another source's path every peer whose sighting
// in use expired while another source still sees it (moved).
func (r *registry) expire(now time.Time) (gone, moved []*peerState) {
	for _, st := range r.peers {
		if !st.Online {
			continue
		}
		for src, exp := range st.seenBy {
			if !exp.IsZero() && !now.Before(exp) {
				delete(st.seenBy, src)
				delete(st.sightings, src)
				delete(st.doubted, src)
			}
		}
		switch {
		case len(st.seenBy) == 0:
			st.Online = false
			st.recheck()
			gone = append(gone, st)
		case st.fallBack():
			st.recheck()
			moved = append(moved, st)
		}
	}
	return gone, moved
}

func newPeerState(p Peer) *peerState {
	return &peerState{Peer: p, seenBy: map[string]time.Time{}, sightings: map[string]discovery.Peer{}, doubted: map[string]bool{}}
}

// fallBack moves the peer to the path of a source that still sees it
// (the LAN if it does, else the first by name) when the source in use no
// longer does. It reports whether the peer moved.
func (st *peerState) fallBack() bool {
	if _, ok := st.seenBy[st.Source]; ok || len(st.sightings) == 0 {
		return false
	}
	src := lan.SourceName
	if _, ok := st.sightings[src]; !ok {
		src = slices.Min(slices.Collect(maps.Keys(st.sightings)))
	}
	p := st.sightings[src]
	st.Addr, st.AltAddr, st.Instance, st.Source = p.Addr, p.AltAddr, p.Instance, src
	st.addrHeard = time.Time{}
	return true
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
	st := newPeerState(init)
	r.peers[key] = st
	return st
}

// makeRoom evicts a tenth of the registry when it is full: the
// longest-offline peers, else the longest-silent online peers that never
// proved a key (made-up announces). It reports false when there is still no
// room.
func (r *registry) makeRoom() bool {
	if len(r.peers) < MaxPeers {
		return true
	}
	var offline, unproven []*peerState
	for _, st := range r.peers {
		switch {
		case !st.Online:
			offline = append(offline, st)
		case !st.proven:
			unproven = append(unproven, st)
		}
	}
	victims := offline
	if len(victims) == 0 {
		victims = unproven
	}
	if len(victims) == 0 {
		return false
	}
	sort.Slice(victims, func(i, j int) bool { return victims[i].LastSeen.Before(victims[j].LastSeen) })
	for _, st := range victims[:min(len(victims), max(1, MaxPeers/10))] {
		delete(r.peers, st.Key)
		if r.forget != nil {
			r.forget(st)
		}
	}
	return true
}
