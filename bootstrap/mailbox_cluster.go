package bootstrap

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/parlance-chat/parlance/net/identity"
	"github.com/parlance-chat/parlance/net/mailbox"
	"github.com/parlance-chat/parlance/net/wire"
)

// The mailbox in a cluster (Config.Bus): each server stores the items put
// on it, and the servers tell each other, on the mailbox subject:
//
//   - key: a client published its mailbox key here; every server keeps it,
//     so a sender on any server gets it;
//   - want: a client with the mailbox registered here (as peer_id); every
//     server holding items for it sends them, as one mailbox_items, to
//     this server's deliver subject, which hands them to the client;
//   - ack: the client acknowledged these ids here; every server deletes
//     them.
//
// All best effort, like the rest of the bus: an item a server could not
// send waits for the recipient's next registration.

const subjectMailbox = ".mailbox"

type mailboxEvent struct {
	Kind     string           `json:"kind"` // "key", "want", "ack"
	Server   string           `json:"server"`
	Identity string           `json:"identity"`
	PeerID   string           `json:"peer_id,omitempty"`
	Key      *wire.MailboxKey `json:"key,omitempty"`
	IDs      []string         `json:"ids,omitempty"`
}

// subscribeMailbox listens to the other servers' mailbox events.
func (s *Server) subscribeMailbox(ctx context.Context) error {
	if s.cfg.Bus == nil || s.cfg.Mailbox == nil {
		return nil
	}
	if err := s.cfg.Bus.Subscribe(ctx, s.cfg.BusPrefix+subjectMailbox, s.onMailboxEvent); err != nil {
		return fmt.Errorf("subscribe to cluster mailbox events: %w", err)
	}
	return nil
}

// publishMailbox tells the other servers.
func (s *Server) publishMailbox(ev mailboxEvent) {
	if s.cfg.Bus == nil {
		return
	}
	ev.Server = s.id
	b, err := json.Marshal(ev)
	if err == nil {
		err = s.cfg.Bus.Publish(s.cfg.BusPrefix+subjectMailbox, b)
	}
	if err != nil {
		s.warn.log(slog.LevelWarn, "cluster publish failed", "kind", "mailbox "+ev.Kind, "err", err)
	}
}

// onMailboxEvent applies another server's mailbox event.
func (s *Server) onMailboxEvent(data []byte) {
	var ev mailboxEvent
	if err := json.Unmarshal(data, &ev); err != nil {
		s.warn.log(slog.LevelWarn, "unreadable cluster mailbox event", "err", err)
		return
	}
	if ev.Server == s.id || ev.Identity == "" {
		return
	}
	mail := s.cfg.Mailbox
	now := s.cfg.Clock.Now()
	switch ev.Kind {
	case "key":
		if ev.Key == nil {
			return
		}
		if _, err := mailbox.VerifyKey(*ev.Key, identity.ID(ev.Identity), now); err != nil {
			s.warn.log(slog.LevelWarn, "cluster mailbox key refused", "identity", ev.Identity, "err", err)
			return
		}
		mail.PutKey(*ev.Key, now)
	case "ack":
		mail.Ack(ev.Identity, ev.IDs)
	case "want":
		items, more := mail.Fetch(ev.Identity, wire.MaxMailboxItems, mailFetchBytes, now)
		if len(items) == 0 {
			return
		}
		msg, err := wire.MarshalServer(wire.MailboxItems{Items: items, More: more})
		if err == nil {
			var b []byte
			if b, err = json.Marshal(deliverMsg{To: ev.PeerID, Data: msg}); err == nil {
				err = s.cfg.Bus.Publish(s.cfg.BusPrefix+subjectDeliver+ev.Server, b)
			}
		}
		if err != nil {
			s.warn.log(slog.LevelWarn, "cluster mailbox delivery failed", "identity", ev.Identity, "err", err)
		}
	}
}
