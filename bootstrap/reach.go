package bootstrap

import (
	"log/slog"
	"net/netip"

	"github.com/parlance-chat/parlance/net/wire"
)

// # Reach: arranging connections between peers behind NATs
//
// A client that proved an identity and asked for wire.FeatureReach may
// send connect naming another such peer of its room (here or, with a Bus,
// on another server). The server answers both at once with a connect
// offer: each gets the other's public address as the server observed it,
// its local address, and the token of a relayed stream reserved for the
// pair (issueRelay; none while the relay is off). The two then punch (and
// fall back on the relay) without the server. A connect the server
// cannot arrange gets connect_failed with a reason, never an error (an
// error ends an original client's session, and ours treats it as fatal).
// Connects are rate-limited per connection (ConnectInterval,
// ConnectBurst): each one costs the other peer a message too. A
// connect's proto (what the connection is for: a stream, or the kept
// message connection) is copied to both offers.

// reachEnd is one side of an arranged connection, taken under Server.mu.
type reachEnd struct {
	id, identity  string
	public, local netip.AddrPort
}

func (e reachEnd) offer(token string, relay bool, proto string) wire.ConnectOffer {
	return wire.ConnectOffer{PeerID: e.identity, PublicAddr: e.public, LocalAddr: e.local, Token: token, Relay: relay, Proto: proto}
}

// onConnect arranges a connection between c's peer and the one m names.
func (c *conn) onConnect(m wire.Connect) {
	s := c.s
	fail := func(reason string) {
		c.sendMsg(wire.ConnectFailed{PeerID: m.PeerID, Reason: reason, Proto: m.Proto})
	}
	if !c.limits().connects.take(s.cfg.Clock.Now(), s.cfg.ConnectInterval, s.cfg.ConnectBurst) {
		s.warn.log(slog.LevelInfo, "client sends connect requests too fast", "ip", c.ip)
		fail(wire.ReasonRateLimited)
		return
	}
	from, to, reason := s.reachEnds(c, m.PeerID)
	if reason != "" {
		fail(reason)
		return
	}
	token, ok := s.issueRelay(from.identity, to.identity)
	relay := ok && token != ""
	if !relay {
		token = ""
	}
	b, err := wire.MarshalServer(from.offer(token, relay, m.Proto))
	if err != nil {
		s.log.Error("encode connect offer", "err", err)
		fail(wire.ReasonOffline)
		return
	}
	if err := s.Deliver(to.id, b); err != nil {
		s.log.Debug("connect offer not delivered", "to", to.identity, "err", err)
		fail(wire.ReasonOffline)
		return
	}
	c.sendMsg(to.offer(token, relay, m.Proto))
	s.log.Debug("connection arranged", "from", from.identity, "to", to.identity, "relay", relay)
}

// reachEnds looks up both ends of a connect from c to the peer whose
// identity is target; reason is set when it cannot be arranged.
func (s *Server) reachEnds(c *conn, target string) (from, to reachEnd, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	self := c.peer.Load()
	if self == nil || self.identity == "" || !c.reach {
		return from, to, wire.ReasonNotAllowed
	}
	if target == self.identity {
		return from, to, wire.ReasonSelf
	}
	other := s.byIdentity[target]
	if other == nil || !other.reach || other.room == nil || other.room != self.room {
		return from, to, wire.ReasonOffline
	}
	from = reachEnd{id: self.id, identity: self.identity, public: self.public, local: self.local}
	to = reachEnd{id: other.id, identity: other.identity, public: other.public, local: other.local}
	return from, to, ""
}
