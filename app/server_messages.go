package app

import (
	"github.com/parlance-chat/parlance/net/rendezvous"
	"github.com/parlance-chat/parlance/net/wire"
)

// ServerMessage takes the bootstrap client's extension messages (pass it
// as rendezvous.Config.OnMessage): connect offers and failures go to
// reach, mailbox answers to the mailbox; the rest, and those of a part
// that is off, are ignored. It never blocks.
func (n *Node) ServerMessage(_ rendezvous.ServerInfo, m wire.ServerMessage) {
	switch m.(type) {
	case wire.ConnectOffer, wire.ConnectFailed:
		if n.reach != nil {
			n.reach.take(m)
		}
	case wire.MailboxStatus, wire.MailboxItems, wire.MailboxKeyReply, wire.MailboxStored:
		if n.mb != nil {
			n.mb.take(m)
		}
	}
}
