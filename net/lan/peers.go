package lan

import "time"

// peerSet remembers the peers heard lately, to tell a new peer (worth an
// immediate re-announce) from one heard before. Entries older than ttl
// count as gone, so a peer that comes back after expiry is new again. It
// holds at most max entries. It is not safe for concurrent use.
type peerSet struct {
	max       int
	ttl       time.Duration
	lastSeen  map[string]time.Time
	lastPrune time.Time
}

func newPeerSet(max int, ttl time.Duration) *peerSet {
	return &peerSet{max: max, ttl: ttl, lastSeen: make(map[string]time.Time)}
}

// seen records that key was heard at now and reports whether it is new:
// never heard, forgotten, or not heard for longer than ttl.
func (s *peerSet) seen(key string, now time.Time) (isNew bool) {
	if now.Sub(s.lastPrune) > s.ttl {
		s.prune(now)
	}
	last, ok := s.lastSeen[key]
	isNew = !ok || now.Sub(last) > s.ttl
	if !ok && len(s.lastSeen) >= s.max {
		s.prune(now)
		if len(s.lastSeen) >= s.max {
			s.evictOldest()
		}
	}
	s.lastSeen[key] = now
	return isNew
}

// forget drops key, so that its next announce counts as new.
func (s *peerSet) forget(key string) { delete(s.lastSeen, key) }

func (s *peerSet) len() int { return len(s.lastSeen) }

// prune drops the entries not heard for longer than ttl.
func (s *peerSet) prune(now time.Time) {
	s.lastPrune = now
	for k, t := range s.lastSeen {
		if now.Sub(t) > s.ttl {
			delete(s.lastSeen, k)
		}
	}
}

func (s *peerSet) evictOldest() {
	var (
		oldestKey string
		oldest    time.Time
		found     bool
	)
	for k, t := range s.lastSeen {
		if !found || t.Before(oldest) {
			oldestKey, oldest, found = k, t, true
		}
	}
	if found {
		delete(s.lastSeen, oldestKey)
	}
}
