package bootstrap

import (
	"log/slog"
	"time"

	"github.com/parlance-chat/parlance/net/identity"
	"github.com/parlance-chat/parlance/net/mailbox"
	"github.com/parlance-chat/parlance/net/wire"
)

// The sealed mailbox (wire.FeatureMailbox) on a connection: granted to a
// client with a proved identity that asks for it, when Config.Mailbox is
// set. The server checks who publishes a key and who puts an item (the
// connection's proved identity) and keeps only what MailStore keeps.
//
// In a cluster (Config.Bus) each server stores what was put on it, and
// the servers share keys, wants and acks (mailbox_cluster.go).

// Rate limits of mailbox requests per connection.
const (
	mailPutInterval = 20 * time.Millisecond
	mailPutBurst    = DefaultMailPerRecipient
	mailReqInterval = 100 * time.Millisecond
	mailReqBurst    = 50
)

const (
	errMailboxOff     = "Mailbox not available: ask for the feature with a proved identity"
	errMailboxLimited = "Too many mailbox requests, slow down"
)

// grantMailboxLocked reports whether c, registering reg with the proved
// identity ident, gets the mailbox. Caller holds s.mu.
func (s *Server) grantMailboxLocked(c *conn, reg wire.Register, ident string) bool {
	c.mailbox = s.cfg.Mailbox != nil && ident != "" && c.ext && wire.HasFeature(reg.Features, wire.FeatureMailbox)
	return c.mailbox
}

// mailboxIdentity returns the proved identity of c when c was granted the
// mailbox.
func (c *conn) mailboxIdentity() (string, bool) {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	p := c.peer.Load()
	if !c.mailbox || p == nil || p.identity == "" {
		return "", false
	}
	return p.identity, true
}

// onMailbox answers one mailbox request.
func (c *conn) onMailbox(msg wire.ClientMessage) {
	s := c.s
	mail := s.cfg.Mailbox
	ident, ok := c.mailboxIdentity()
	if !ok {
		c.sendError(errMailboxOff)
		return
	}
	now := s.cfg.Clock.Now()
	// Over a rate limit, a request gets its usual answer, empty or
	// refused: an error would end the client's session.
	var limited bool
	if _, put := msg.(wire.MailboxPut); put {
		limited = !c.limits().mailPuts.take(now, mailPutInterval, mailPutBurst)
	} else {
		limited = !c.limits().mailReqs.take(now, mailReqInterval, mailReqBurst)
	}
	if limited {
		s.warn.log(slog.LevelInfo, "mailbox requests rate-limited", "ip", c.ip, "identity", ident)
	}
	switch m := msg.(type) {
	case wire.MailboxKeyPut:
		if limited {
			return
		}
		if _, err := mailbox.VerifyKey(m.Key, identity.ID(ident), now); err != nil {
			// Not kept (no answer: the client cannot fix its key by
			// reconnecting). Senders use the key they verified last.
			s.warn.log(slog.LevelWarn, "mailbox key refused", "ip", c.ip, "identity", ident, "err", err)
			return
		}
		mail.PutKey(m.Key, now)
		s.publishMailbox(mailboxEvent{Kind: "key", Identity: ident, Key: &m.Key})
	case wire.MailboxKeyGet:
		reply := wire.MailboxKeyReply{Identity: m.Identity}
		if k, ok := mail.Key(m.Identity, now); ok && !limited {
			reply.Key = &k
		}
		c.sendMsg(reply)
	case wire.MailboxPut:
		reply := wire.MailboxStored{To: m.To, ID: m.ID}
		if limited {
			reply.Error = errMailboxLimited
		} else if err := mail.Put(ident, m.To, m.ID, m.Sealed, now); err != nil {
			s.warn.log(slog.LevelInfo, "mailbox put refused", "ip", c.ip, "from", ident, "err", err)
			reply.Error = err.Error()
		} else {
			s.mailArrived(m.To, now)
		}
		c.sendMsg(reply)
	case wire.MailboxFetch:
		if limited {
			c.sendMsg(wire.MailboxItems{More: true})
			return
		}
		items, more := mail.Fetch(ident, wire.MaxMailboxItems, mailFetchBytes, now)
		c.sendMsg(wire.MailboxItems{Items: items, More: more})
	case wire.MailboxAck:
		mail.Ack(ident, m.IDs) // not limited: it only frees room
		s.publishMailbox(mailboxEvent{Kind: "ack", Identity: ident, IDs: m.IDs})
	}
}

// sendMailStatusLocked tells c, just granted the mailbox as ident, what
// waits for it. Caller holds s.mu.
func (s *Server) sendMailStatusLocked(c *conn, ident string) {
	n, b := s.cfg.Mailbox.Status(ident, s.cfg.Clock.Now())
	c.sendMsg(wire.MailboxStatus{Count: n, Bytes: b})
	if p := c.peer.Load(); p != nil {
		// The other servers send what they hold for it.
		s.publishMailbox(mailboxEvent{Kind: "want", Identity: ident, PeerID: p.id})
	}
}

// mailArrived tells the recipient, if it is connected here with the
// mailbox, that mail waits (a sender that thought it offline).
func (s *Server) mailArrived(to string, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.byIdentity[to]
	if p == nil || p.c == nil || !p.c.mailbox {
		return
	}
	s.sendMailStatusLocked(p.c, to)
}
