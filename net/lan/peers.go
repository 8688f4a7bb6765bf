package lan

import (
	"net/netip"
	"time"

	"github.com/parlance-chat/parlance/net/discovery"
)

// peerKey is a peer as the known set sees it: id tells peers apart (the
// discovery.Peer.Key the app uses too); instance and ip are what was heard
// from it, checked against what was heard before.
type peerKey struct {
	id       string
	instance string
	ip       netip.Addr
}

// keyOf is the peerKey of a peer heard from src.
func keyOf(p discovery.Peer, src netip.Addr) peerKey {
	p.Addr = netip.AddrPortFrom(src, 0)
	return peerKey{id: p.Key(), instance: p.Instance, ip: src}
}

// knownPeer is what the known set remembers of a peer.
type knownPeer struct {
	lastSeen time.Time
	instance string
	ip       netip.Addr // where its last announce came from
}

// fullPruneGap is how often, at most, a full set looks for expired entries
// to make room: a flood of made-up announces must not cost a scan of the
// whole set each.
const fullPruneGap = time.Second

// peerSet remembers the peers heard lately, to tell a new peer (worth an
// immediate re-announce) from one heard before, and to check that a
// goodbye comes from where the peer announced. Entries older than ttl
// count as gone, so a peer that comes back after expiry is new again. It
// holds at most max entries: when full, a peer not in it is not added
// (and so not new) until expired entries are pruned, which a full set
// tries at most once per fullPruneGap. The peers already known keep their
// place however many others announce. It is not safe for concurrent use.
type peerSet struct {
	max       int
	ttl       time.Duration
	peers     map[string]knownPeer
	lastPrune time.Time
}

func newPeerSet(max int, ttl time.Duration) *peerSet {
	return &peerSet{max: max, ttl: ttl, peers: make(map[string]knownPeer)}
}

// seen records that k announced at now and reports whether it is new:
// never heard, forgotten, not heard for longer than ttl, or restarted (a
// new instance). A peer the full set has no room for is not new.
func (s *peerSet) seen(k peerKey, now time.Time) (isNew bool) {
	if now.Sub(s.lastPrune) > s.ttl {
		s.prune(now)
	}
	old, ok := s.peers[k.id]
	if !ok && len(s.peers) >= s.max {
		if now.Sub(s.lastPrune) < fullPruneGap {
			return false
		}
		s.prune(now)
		if len(s.peers) >= s.max {
			return false
		}
	}
	s.peers[k.id] = knownPeer{lastSeen: now, instance: k.instance, ip: k.ip}
	return !ok || now.Sub(old.lastSeen) > s.ttl || old.instance != k.instance
}

// goodbye forgets k, so that its next announce counts as new, if the
// goodbye matches the last announce: same source IP and instance. It
// reports whether it did; a goodbye from anywhere else, or from a peer
// not known, is to be ignored.
func (s *peerSet) goodbye(k peerKey) bool {
	old, ok := s.peers[k.id]
	if !ok || old.ip != k.ip || old.instance != k.instance {
		return false
	}
	delete(s.peers, k.id)
	return true
}

func (s *peerSet) len() int { return len(s.peers) }

// prune drops the entries not heard for longer than ttl.
func (s *peerSet) prune(now time.Time) {
	s.lastPrune = now
	for k, p := range s.peers {
		if now.Sub(p.lastSeen) > s.ttl {
			delete(s.peers, k)
		}
	}
}
