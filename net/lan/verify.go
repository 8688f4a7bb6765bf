package lan

import (
	"net/netip"
	"time"

	"github.com/parlance-chat/parlance/net/identity"
	"github.com/parlance-chat/parlance/net/wire"
)

// Signed datagrams. A Parlance node with an identity key signs every
// announce and goodbye (wire.Datagram.Sign) over its nickname, port,
// instance, identity, the source address it sends from, and the time. A
// receiver accepts a signed datagram only when
//
//   - the public key hashes to the identity it claims,
//   - its time is within SignatureWindow of the receiver's clock,
//   - it is not older than the last datagram accepted from that identity
//     (a replay of an earlier announce never undoes a later one),
//   - the signature is valid for the UDP source address it came from
//     (copied to another address, it fails),
//
// and it ignores unsigned datagrams that claim an identity it has heard
// signed. Unsigned datagrams of other identities (a Parlance without
// signing) and of original peers (no identity) are taken as before.
//
// Checking a signature costs tens of microseconds, so checks are rate
// limited per source address and in all (verifyLimiter): a flood of
// forged signed datagrams costs a bounded share of a core.

// Defaults of the signature checks.
const (
	// DefaultSignatureWindow is how far a signed datagram's time may be
	// from the receiver's clock (clocks on a LAN differ a little).
	DefaultSignatureWindow = 2 * time.Minute
	// verifyPerSource and verifyBurstPerSource bound the signature checks
	// for datagrams from one source address: per second, and at once.
	verifyPerSource      = 128
	verifyBurstPerSource = 256
	// verifyTotal and verifyBurstTotal bound all checks together.
	verifyTotal      = 1024
	verifyBurstTotal = 1024
	// maxVerifySources bounds the per-source buckets; sources beyond it
	// share one.
	maxVerifySources = 1024
)

// verdict says what the signature checks made of a datagram.
type verdict int

const (
	accepted  verdict = iota
	unsigned          // no signature, and none expected: take it as before
	rejected          // drop it
	throttled         // dropped unchecked: too many checks from its source
)

// checkSignature applies the rules above to a datagram from a Parlance
// peer (one with an identity); last is what the known set holds for it.
func (d *Discovery) checkSignature(dg wire.Datagram, src netip.Addr, now time.Time, last knownPeer, hasLast bool) (verdict, string) {
	if !dg.Signed() {
		if hasLast && last.signedMs != 0 {
			return rejected, "unsigned datagram of a peer heard signed"
		}
		return unsigned, ""
	}
	t := time.UnixMilli(dg.Time)
	if t.Before(now.Add(-d.cfg.SignatureWindow)) || t.After(now.Add(d.cfg.SignatureWindow)) {
		return rejected, "signed time outside the window (a replay, or a wrong clock)"
	}
	if hasLast && dg.Time < last.signedMs {
		return rejected, "older than the last datagram accepted from the peer"
	}
	if hasLast && dg.Signature == last.signature && src == last.ip {
		return accepted, "" // the same datagram again (sent once per interface, or replayed as is)
	}
	pub := dg.PublicKeyBytes()
	if pub == nil || identity.IDFromPublicKey(pub).String() != dg.Identity {
		return rejected, "public key is not the identity's"
	}
	if !d.limiter.allow(src, now) {
		return throttled, "too many signature checks"
	}
	if _, err := dg.Verify(src); err != nil {
		return rejected, err.Error()
	}
	return accepted, ""
}

// verifyLimiter is a token bucket per source address plus one for all. It
// is not safe for concurrent use (the reader owns it).
type verifyLimiter struct {
	sources  map[netip.Addr]*bucket
	overflow bucket // for sources beyond maxVerifySources
	total    bucket
	lastTidy time.Time
}

func newVerifyLimiter() *verifyLimiter {
	return &verifyLimiter{
		sources:  make(map[netip.Addr]*bucket),
		overflow: bucket{tokens: verifyBurstPerSource},
		total:    bucket{tokens: verifyBurstTotal},
	}
}

// allow takes a token from src's bucket and from the total; it reports
// false (taking none) when either is empty.
func (l *verifyLimiter) allow(src netip.Addr, now time.Time) bool {
	b := l.sources[src]
	if b == nil {
		if len(l.sources) >= maxVerifySources {
			l.tidy(now)
		}
		if len(l.sources) < maxVerifySources {
			b = &bucket{tokens: verifyBurstPerSource, last: now}
			l.sources[src] = b
		} else {
			b = &l.overflow
		}
	}
	b.refill(now, verifyPerSource, verifyBurstPerSource)
	l.total.refill(now, verifyTotal, verifyBurstTotal)
	if b.tokens < 1 || l.total.tokens < 1 {
		return false
	}
	b.tokens--
	l.total.tokens--
	return true
}

// tidy drops the buckets that are full again (sources quiet for a
// while), at most once a second.
func (l *verifyLimiter) tidy(now time.Time) {
	if now.Sub(l.lastTidy) < time.Second {
		return
	}
	l.lastTidy = now
	for a, b := range l.sources {
		b.refill(now, verifyPerSource, verifyBurstPerSource)
		if b.tokens >= verifyBurstPerSource {
			delete(l.sources, a)
		}
	}
}

// bucket is a token bucket.
type bucket struct {
	tokens float64
	last   time.Time
}

func (b *bucket) refill(now time.Time, rate, burst float64) {
	if b.last.IsZero() {
		b.last = now
	}
	if dt := now.Sub(b.last); dt > 0 {
		b.tokens = min(burst, b.tokens+dt.Seconds()*rate)
		b.last = now
	}
}
