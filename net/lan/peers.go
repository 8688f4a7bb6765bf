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
	// signedMs and signature are the signed datagram's time and signature
	// (zero and "" for an unsigned one).
	signedMs  int64
	signature string
}

// keyOf is the peerKey of a peer heard from src in dg.
func keyOf(p discovery.Peer, src netip.Addr, signedMs int64, signature string) peerKey {
	p.Addr = netip.AddrPortFrom(src, 0)
	return peerKey{id: p.Key(), instance: p.Instance, ip: src, signedMs: signedMs, signature: signature}
}

// knownPeer is what the known set remembers of a peer.
type knownPeer struct {
	lastSeen time.Time
	instance string
	ip       netip.Addr // where its last announce came from
	// signedMs is the time of the last signed datagram accepted from the
	// peer (0: it never signed), signature that datagram's signature.
	signedMs  int64
	signature string
	// gone: the peer said goodbye. A peer never heard signed is
	// forgotten instead; one heard signed is kept, so it stays signed.
	gone bool
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
//
// A peer heard signed is kept for signedTTL (longer than ttl), so that
// unsigned or replayed datagrams claiming it are refused for at least the
// signature window after it was last heard.
type peerSet struct {
	max       int
	ttl       time.Duration
	signedTTL time.Duration
	peers     map[string]knownPeer
	lastPrune time.Time
}

func newPeerSet(limit int, ttl, signedTTL time.Duration) *peerSet {
	return &peerSet{max: limit, ttl: ttl, signedTTL: max(ttl, signedTTL), peers: make(map[string]knownPeer)}
}

// get returns what is known of the peer with id.
func (s *peerSet) get(id string) (knownPeer, bool) {
	p, ok := s.peers[id]
	return p, ok
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
	kp := knownPeer{lastSeen: now, instance: k.instance, ip: k.ip, signedMs: k.signedMs, signature: k.signature}
	if kp.signedMs == 0 { // an unsigned datagram only reaches here for a peer never heard signed
		kp.signedMs, kp.signature = old.signedMs, old.signature
	}
	s.peers[k.id] = kp
	return !ok || old.gone || now.Sub(old.lastSeen) > s.ttl || old.instance != k.instance
}

// goodbye marks k gone, so that its next announce counts as new, if the
// goodbye matches the last announce: same source IP and instance. It
// reports whether it did; a goodbye from anywhere else, or from a peer
// not known or already gone, is to be ignored.
func (s *peerSet) goodbye(k peerKey) bool {
	old, ok := s.peers[k.id]
	if !ok || old.gone || old.ip != k.ip || old.instance != k.instance {
		return false
	}
	if old.signedMs == 0 && k.signedMs == 0 {
		delete(s.peers, k.id) // nothing worth keeping: make room
		return true
	}
	old.gone = true
	if k.signedMs != 0 {
		old.signedMs, old.signature = k.signedMs, k.signature
	}
	s.peers[k.id] = old
	return true
}

func (s *peerSet) len() int { return len(s.peers) }

// prune drops the entries not heard for longer than ttl (signedTTL for
// peers heard signed).
func (s *peerSet) prune(now time.Time) {
	s.lastPrune = now
	for k, p := range s.peers {
		ttl := s.ttl
		if p.signedMs != 0 {
			ttl = s.signedTTL
		}
		if now.Sub(p.lastSeen) > ttl {
			delete(s.peers, k)
		}
	}
}
