package filexfer

import "time"

// offerLimiter is a token bucket per peer: Burst offers at once, then one
// every Every. It tracks at most maxTracked peers (then forgets those whose
// bucket is full again, or else all). Guarded by Engine.mu.
type offerLimiter struct {
	burst int
	every time.Duration
	peers map[string]bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

const maxTracked = 4096

func (l *offerLimiter) allow(peer string, now time.Time) bool {
	if l.peers == nil {
		l.peers = make(map[string]bucket)
	}
	b, ok := l.peers[peer]
	if !ok {
		if len(l.peers) >= maxTracked {
			l.prune(now)
		}
		b = bucket{tokens: float64(l.burst), at: now}
	}
	b.tokens = min(float64(l.burst), b.tokens+now.Sub(b.at).Seconds()/l.every.Seconds())
	b.at = now
	if b.tokens < 1 {
		l.peers[peer] = b
		return false
	}
	b.tokens--
	l.peers[peer] = b
	return true
}

func (l *offerLimiter) prune(now time.Time) {
	for p, b := range l.peers {
		if b.tokens+now.Sub(b.at).Seconds()/l.every.Seconds() >= float64(l.burst) {
			delete(l.peers, p)
		}
	}
	if len(l.peers) >= maxTracked {
		clear(l.peers)
	}
}
