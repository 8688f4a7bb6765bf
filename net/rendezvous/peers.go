package rendezvous

import (
	"log/slog"
	"net/netip"
	"time"

	"github.com/parlance-chat/parlance/net/discovery"
	"github.com/parlance-chat/parlance/net/wire"
)

// peerSet is what the client knows of the server's registry, by peer_id.
// It turns changes into sightings: Seen when a peer is new or changed,
// Gone when it leaves. It holds at most max entries. It belongs to the
// goroutine running Run.
type peerSet struct {
	h    discovery.Handler
	byID map[string]discovery.Peer
	// known counts entries per app-level key (discovery.Peer.Key): two
	// registrations of one key are one peer to the app, so a Gone is
	// reported only when the last one goes.
	known map[string]int
	max   int
	// unconfirmed are the peers (by peer_id) not confirmed by the
	// current connection's server yet, and when their grace ends.
	unconfirmed map[string]time.Time

	log       *slog.Logger
	now       func() time.Time
	warnedAt  time.Time // last warning about ignored peers
	ignored   int       // peers ignored since then
	warnEvery time.Duration
}

func newPeerSet(h discovery.Handler, max int, log *slog.Logger) *peerSet {
	return &peerSet{h: h, byID: make(map[string]discovery.Peer), known: make(map[string]int), max: max,
		unconfirmed: make(map[string]time.Time), log: log, now: time.Now, warnEvery: time.Minute}
}

// toPeer converts a server entry.
func toPeer(pi wire.PeerInfo) discovery.Peer {
	addr := netip.AddrPortFrom(pi.PublicAddr.Addr().Unmap(), pi.PublicAddr.Port())
	return discovery.Peer{
		Nickname: pi.Nickname,
		Identity: pi.Identity,
		Addr:     addr,
		AltAddr:  altAddr(addr, pi.LocalAddr),
	}
}

// altAddr turns a peer's local_addr into a fallback address to dial, or
// the zero value when it adds nothing: when it is the public address
// again, when it is unspecified ("0.0.0.0:port", what the original sends:
// it names no host, and dialing it would reach this machine rather than
// the peer), or when it is a loopback address of a peer that is not on
// the server's machine.
func altAddr(public netip.AddrPort, local netip.AddrPort) netip.AddrPort {
	local = netip.AddrPortFrom(local.Addr().Unmap(), local.Port())
	switch {
	case !local.IsValid(), local.Port() == 0, local.Addr().IsUnspecified():
		return netip.AddrPort{}
	case local == public:
		return netip.AddrPort{}
	case local.Addr().IsLoopback() && !public.Addr().IsLoopback():
		return netip.AddrPort{}
	}
	return local
}

// upsert records a peer and reports it Seen if it is new or changed. A
// new peer beyond max is ignored.
func (s *peerSet) upsert(pi wire.PeerInfo) {
	_, wasUnconfirmed := s.unconfirmed[pi.PeerID]
	delete(s.unconfirmed, pi.PeerID)
	p := toPeer(pi)
	old, ok := s.byID[pi.PeerID]
	if ok && old == p {
		if wasUnconfirmed {
			s.h.Sighting(discovery.Sighting{Kind: discovery.Seen, Peer: p, Source: SourceName}) // confirmed
		}
		return
	}
	if !ok && len(s.byID) >= s.max {
		s.ignore(pi)
		return
	}
	if ok {
		s.forget(pi.PeerID, old, old.Key() != p.Key())
	}
	s.byID[pi.PeerID] = p
	s.known[p.Key()]++
	s.h.Sighting(discovery.Sighting{Kind: discovery.Seen, Peer: p, Source: SourceName})
}

// ignore counts a peer left out because the set is full, and warns at
// most once per warnEvery.
func (s *peerSet) ignore(pi wire.PeerInfo) {
	s.ignored++
	now := s.now()
	if !s.warnedAt.IsZero() && now.Sub(s.warnedAt) < s.warnEvery {
		s.log.Debug("peer ignored: too many peers", "nickname", pi.Nickname, "limit", s.max)
		return
	}
	s.log.Warn("the bootstrap server reports more peers than the limit; ignoring new ones",
		"limit", s.max, "ignored", s.ignored, "nickname", pi.Nickname)
	s.warnedAt, s.ignored = now, 0
}

// clear forgets every peer and reports each Gone with reason.
func (s *peerSet) clear(reason string) {
	for id, p := range s.byID {
		delete(s.byID, id)
		k := p.Key()
		if _, ok := s.known[k]; ok {
			delete(s.known, k)
			s.h.Sighting(discovery.Sighting{Kind: discovery.Gone, Peer: p, Source: SourceName, Reason: reason})
		}
	}
}

// remove forgets a peer and reports it Gone.
func (s *peerSet) remove(id string) {
	if p, ok := s.byID[id]; ok {
		s.forget(id, p, true)
	}
}

// forget drops entry id (peer p); report says whether to report Gone if
// no other entry has p's key.
func (s *peerSet) forget(id string, p discovery.Peer, report bool) {
	s.forgetWith(id, p, report, GoneReason)
}

func (s *peerSet) forgetWith(id string, p discovery.Peer, report bool, reason string) {
	delete(s.byID, id)
	delete(s.unconfirmed, id)
	k := p.Key()
	if s.known[k]--; s.known[k] > 0 {
		return
	}
	delete(s.known, k)
	if report {
		s.h.Sighting(discovery.Sighting{Kind: discovery.Gone, Peer: p, Source: SourceName, Reason: reason})
	}
}

// UnconfirmedReason is the Reason of a Gone sighting for a peer that no
// server listed within the grace period after a reconnection.
const UnconfirmedReason = "not listed by the bootstrap server since it reconnected"

// unconfirmAll marks every peer not confirmed yet as unconfirmed until
// deadline (the connection to the server dropped), and reports each Seen
// as unconfirmed.
func (s *peerSet) unconfirmAll(deadline time.Time) {
	for id, p := range s.byID {
		if _, ok := s.unconfirmed[id]; !ok {
			s.unconfirmed[id] = deadline
			s.h.Sighting(discovery.Sighting{Kind: discovery.Seen, Peer: p, Source: SourceName, Unconfirmed: true})
		}
	}
}

// expire reports gone the unconfirmed peers whose grace ended by now.
func (s *peerSet) expire(now time.Time) {
	for id, deadline := range s.unconfirmed {
		if now.Before(deadline) {
			continue
		}
		if p, ok := s.byID[id]; ok {
			s.forgetWith(id, p, true, UnconfirmedReason)
		} else {
			delete(s.unconfirmed, id)
		}
	}
}

// nextExpiry returns the earliest end of a grace period, if any.
func (s *peerSet) nextExpiry() (time.Time, bool) {
	var next time.Time
	for _, d := range s.unconfirmed {
		if next.IsZero() || d.Before(next) {
			next = d
		}
	}
	return next, !next.IsZero()
}

// reconcile makes the set equal to a full peer list (entries for which
// own is true left out): entries not in the list go first, without a Gone for a peer that
// is still listed under a new peer_id (e.g. after a server restart), then
// new and changed entries are reported Seen. Unconfirmed entries (see
// unconfirmAll) that the list lacks stay until their grace ends.
func (s *peerSet) reconcile(list []wire.PeerInfo, own func(wire.PeerInfo) bool) {
	listed := make(map[string]wire.PeerInfo, len(list))
	keys := make(map[string]bool, len(list))
	for _, pi := range list {
		if own(pi) {
			continue
		}
		listed[pi.PeerID] = pi
		keys[toPeer(pi).Key()] = true
	}
	for id, p := range s.byID {
		if _, ok := listed[id]; ok {
			continue
		}
		if _, waiting := s.unconfirmed[id]; waiting && !keys[p.Key()] {
			continue
		}
		s.forget(id, p, !keys[p.Key()])
	}
	for _, pi := range list {
		if !own(pi) {
			s.upsert(pi)
		}
	}
}
