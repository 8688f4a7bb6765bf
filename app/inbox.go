package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/parlance-chat/parlance/app/store"
	"github.com/parlance-chat/parlance/net/transport"
	"github.com/parlance-chat/parlance/net/wire"
)

// inboxSize bounds what the committer has not taken yet: past it, the
// connections delivering more wait (TCP pushes back on their senders).
const inboxSize = 4096

// maxCommitBatch is the most items committed in one transaction.
const maxCommitBatch = 4096

// inItem is one thing for the committer: a received message (with where to
// acknowledge it), or receipts for messages we sent.
type inItem struct {
	msg     *Message
	reply   transport.Replier
	receipt *receipt
	// saved, if set, is called once msg is in the store (or was
	// already): a letter from the mailbox is then acknowledged to the
	// server.
	saved func()
}

// receipt: the peer of conv acknowledged (Delivered) or read (Read) ids.
type receipt struct {
	conv  ConvID
	ids   []string
	state store.State
}

// commitLoop is the one writer of received things: it takes what arrived
// in batches, commits each batch in one transaction, then acknowledges the
// messages (duplicates too: their first acknowledgement may have been
// lost) on the connections they came on, and tells the UI and the
// delivery service. Run owns it; it ends with ctx, after committing what
// was already taken.
func (n *Node) commitLoop(ctx context.Context) {
	batch := make([]inItem, 0, maxCommitBatch)
	for {
		select {
		case it := <-n.inbox:
			batch = append(batch, it)
		case <-ctx.Done():
			return
		}
	more:
		for len(batch) < maxCommitBatch {
			select {
			case it := <-n.inbox:
				batch = append(batch, it)
			default:
				break more
			}
		}
		n.commit(batch)
		clear(batch)
		batch = batch[:0]
	}
}

// commit writes one batch and sends its acknowledgements.
func (n *Node) commit(batch []inItem) {
	msgs := make([]Message, 0, len(batch))
	for _, it := range batch {
		if it.msg != nil {
			msgs = append(msgs, *it.msg)
		}
	}
	changed := false
	saved := true
	if len(msgs) > 0 {
		added, err := n.store.Append(msgs)
		if err != nil {
			saved = false
			n.storeFailed(err)
		} else {
			n.storeOK()
			changed = changed || len(added) > 0
		}
	}
	if saved {
		n.acknowledge(batch)
	}
	for _, it := range batch {
		r := it.receipt
		if r == nil {
			continue
		}
		ch, err := n.store.SetState(r.conv, r.ids, r.state, "")
		if err != nil {
			n.storeFailed(err)
			continue
		}
		if len(ch) > 0 {
			changed = true
			n.out.poke(r.conv)
		}
	}
	if changed {
		n.notifyChanged()
	}
}

// acknowledge sends one ack frame (or a few, for many ids) per connection
// for the messages of batch that have an id.
func (n *Node) acknowledge(batch []inItem) {
	var order []transport.Replier
	ids := map[transport.Replier][]string{}
	for _, it := range batch {
		if it.msg != nil && it.saved != nil {
			it.saved()
		}
		if it.msg == nil || it.reply == nil || it.msg.ID == "" {
			continue
		}
		if _, ok := ids[it.reply]; !ok {
			order = append(order, it.reply)
		}
		ids[it.reply] = append(ids[it.reply], it.msg.ID)
	}
	for _, r := range order {
		all := ids[r]
		for len(all) > 0 {
			k := min(len(all), wire.MaxControlIDs)
			if err := r.Reply(wire.Control{Type: wire.ControlAck, IDs: all[:k]}); err != nil {
				// The sender sees its connection close and resends.
				n.log.Debug("acknowledgement not sent", "err", err)
				break
			}
			all = all[k:]
		}
	}
}

// storeFailed reports a failed write once (until a write works again): a
// full disk or a read-only database must not stop the node, but the user
// must know that new messages are not being saved (and are not
// acknowledged, so their senders keep them and send them again later).
func (n *Node) storeFailed(err error) {
	n.log.Warn("store write failed", "err", err)
	if n.saveErr.Swap(true) {
		return
	}
	text := fmt.Sprintf("new messages are not being saved: %v. Senders keep them and resend once this is fixed.", err)
	if errors.Is(err, store.ErrClosed) {
		return
	}
	n.mu.Lock()
	n.emit(Notice{Warning: true, Text: text})
	n.mu.Unlock()
}

// storeOK notes that writes work again after a failure.
func (n *Node) storeOK() {
	if !n.saveErr.Swap(false) {
		return
	}
	n.mu.Lock()
	n.emit(Notice{Text: "messages are being saved again"})
	n.mu.Unlock()
}
