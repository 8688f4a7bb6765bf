package app

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/parlance-chat/parlance/app/store"
	"github.com/parlance-chat/parlance/net/transport"
	"github.com/parlance-chat/parlance/net/wire"
)

// Delivery tuning.
const (
	// outboxWindow is how many pending messages of one conversation a
	// writer loads at a time: at most this many are written and not yet
	// acknowledged.
	outboxWindow = 4096
	// maxBatchBytes bounds the text written in one transport batch.
	maxBatchBytes = 1 << 20
	// retryMin is the first back-off after a failed attempt.
	retryMin = time.Second
)

// delivery drains the outbox: one writer goroutine per conversation with
// pending messages, started when a message is queued (or, at Run, for
// what the store still holds) and ended when nothing is pending. Writers
// write in Seq order; a message written to a peer that acknowledges waits
// for its acknowledgement, and is written again (with everything after it,
// to keep the order) after AckTimeout, when the peer is seen anew, or when
// the connection it went on is gone: new messages are only ever written
// behind unacknowledged ones on the same connection (transport's
// SendBatchOn), so the receiver, which drops duplicates by id, commits
// them in order. Messages to an original peer, which sends no receipts,
// end SentNoReceipt once written.
type delivery struct {
	n *Node

	mu      sync.Mutex
	ctx     context.Context // run's; nil before run
	workers map[ConvID]*writer
	wg      sync.WaitGroup
}

// writer is the goroutine that delivers one conversation's outbox.
type writer struct {
	conv ConvID
	// wake is signalled when there may be work: a new message, an
	// acknowledgement, /resend.
	wake chan struct{}
	// seen is signalled when the peer was seen anew: write again at once
	// what waits for an acknowledgement, and retry now.
	seen chan struct{}
}

func newDelivery(n *Node) *delivery {
	return &delivery{n: n, workers: map[ConvID]*writer{}}
}

// run starts writers for what the store has pending, then waits for ctx
// and for every writer to end.
func (d *delivery) run(ctx context.Context) {
	d.mu.Lock()
	d.ctx = ctx
	d.mu.Unlock()
	convs, err := d.n.store.OutboxConvs()
	if err != nil {
		d.n.log.Warn("read outbox", "err", err)
	}
	for _, c := range convs {
		d.poke(c)
	}
	<-ctx.Done()
	// The writers were started under mu, and none starts once ctx is
	// done: taking mu orders every wg.Add before the Wait.
	d.mu.Lock()
	d.mu.Unlock()
	d.wg.Wait()
}

// pokeAll pokes every conversation with pending messages (the mailbox
// became available).
func (d *delivery) pokeAll() {
	convs, err := d.n.store.OutboxConvs()
	if err != nil {
		d.n.log.Warn("read outbox", "err", err)
		return
	}
	for _, c := range convs {
		d.poke(c)
	}
}

// poke makes sure conv's writer runs and looks at the outbox again.
func (d *delivery) poke(conv ConvID) { d.signal(conv, false) }

// peerSeen tells conv's writer, if there is one, that its peer was seen
// anew (joined, or changed address or instance).
func (d *delivery) peerSeen(conv ConvID) { d.signal(conv, true) }

func (d *delivery) signal(conv ConvID, seen bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	w := d.workers[conv]
	if w == nil {
		if seen || d.ctx == nil || d.ctx.Err() != nil {
			return // nothing waits for the peer; run starts what the store holds
		}
		w = &writer{conv: conv, wake: make(chan struct{}, 1), seen: make(chan struct{}, 1)}
		d.workers[conv] = w
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			d.deliver(d.ctx, w)
		}()
	}
	ch := w.wake
	if seen {
		ch = w.seen
	}
	select {
	case ch <- struct{}{}:
	default:
	}
}

// retire removes w when its conversation has nothing pending. It reports
// false when a poke came in meanwhile (keep going).
func (d *delivery) retire(w *writer) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	select {
	case <-w.wake:
		return false
	default:
	}
	delete(d.workers, w.conv)
	return true
}

// deliver is a writer's loop.
func (d *delivery) deliver(ctx context.Context, w *writer) {
	n := d.n
	written := map[string]time.Time{} // ids written and waiting for their ack
	var gen uint64                    // the connection they were written on
	backoff := time.Duration(0)
	var failing time.Time // when the attempts that keep failing began
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	// wait blocks until a signal, or until after (if > 0).
	wait := func(after time.Duration) bool {
		var tc <-chan time.Time
		if after > 0 {
			if timer == nil {
				timer = time.NewTimer(after)
			} else {
				timer.Reset(after)
			}
			tc = timer.C
		}
		select {
		case <-ctx.Done():
			return false
		case <-w.wake:
		case <-w.seen:
			clear(written)
			gen = 0
			backoff = 0
		case <-tc:
		}
		if timer != nil && !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		return true
	}
	key := PeerOf(w.conv)
	for ctx.Err() == nil {
		pending, err := n.store.Outbox(w.conv, outboxWindow)
		if err != nil {
			n.log.Warn("read outbox", "conv", w.conv, "err", err)
			if !wait(d.n.cfg.RetryMax) {
				return
			}
			continue
		}
		if len(pending) == 0 {
			if d.retire(w) {
				return
			}
			continue
		}
		if len(written) > 2*len(pending) {
			keep := make(map[string]bool, len(pending))
			for _, m := range pending {
				keep[m.ID] = true
			}
			for id := range written {
				if !keep[id] {
					delete(written, id)
				}
			}
		}
		p, ok := n.Peer(key)
		if !ok || !p.Online {
			// Offline: the messages stay queued until the peer is
			// seen again (or they expire); after a while they are
			// also left, sealed, in its mailbox at the server.
			after := time.Duration(0)
			if ok && n.mb != nil {
				after = n.mb.offline(ctx, p, pending)
			}
			if !wait(after) {
				return
			}
			continue
		}
		now := time.Now()
		// Write from the first message not written, or written too
		// long ago without an acknowledgement, to the end: the order
		// holds, and the receiver drops what it already has.
		from := len(pending)
		nextDue := time.Duration(0)
		for i, m := range pending {
			at, ok := written[m.ID]
			if !ok || now.Sub(at) >= n.cfg.AckTimeout {
				from = i
				break
			}
			if due := n.cfg.AckTimeout - now.Sub(at); nextDue == 0 || due < nextDue {
				nextDue = due
			}
		}
		if from == len(pending) {
			if !wait(nextDue) {
				return
			}
			continue
		}
		if from == 0 {
			gen = 0 // nothing in flight: any connection will do
		}
		attempt := time.Now()
		if err := d.write(ctx, p, pending[from:], written, &gen); err != nil {
			if ctx.Err() != nil {
				return
			}
			if failing.IsZero() {
				failing = attempt
			}
			if errors.Is(err, transport.ErrConnChanged) {
				// What was in flight may be lost: all of it again,
				// in order, on whatever connection comes next.
				clear(written)
				gen = 0
				continue
			}
			backoff = min(max(2*backoff, retryMin), n.cfg.RetryMax)
			n.log.Debug("delivery attempt failed", "peer", p.Nickname, "err", err, "retry_in", backoff)
			if n.mb != nil {
				// Listed but unreachable (behind a NAT, say) for a
				// while: the mailbox too, as for a peer offline.
				n.mb.unreachable(ctx, p, pending, time.Since(failing))
			}
			if !wait(backoff) {
				return
			}
			continue
		}
		backoff = 0
		failing = time.Time{}
	}
}

// write sends ms to p in batches of at most maxBatchBytes, on the
// connection of generation *gen (0: any; it is then set to the one used),
// and records what happened in the store.
func (d *delivery) write(ctx context.Context, p Peer, ms []Message, written map[string]time.Time, gen *uint64) error {
	n := d.n
	dest := transport.Dest{Addr: p.Addr, AltAddr: p.AltAddr, Identity: p.Identity}
	for len(ms) > 0 {
		k, size := 0, 0
		for k < len(ms) && (k == 0 || size+len(ms[k].Text) <= maxBatchBytes) {
			size += len(ms[k].Text)
			k++
		}
		batch := ms[:k]
		ms = ms[k:]
		wms := make([]wire.Message, len(batch))
		for i, m := range batch {
			wms[i] = wire.Message{From: m.From, Content: m.Text, Timestamp: m.Sent.Unix(), ID: m.ID}
		}
		ids := make([]string, len(batch))
		for i, m := range batch {
			ids[i] = m.ID
		}
		sendCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
		var sent transport.Sent
		var err error
		if *gen == 0 {
			// No connection in use: an internet peer behind a NAT is
			// reached by punching or through the relay (reach.go).
			err = n.connectFirst(sendCtx, p)
		}
		if err == nil {
			sent, err = n.cfg.Transport.SendBatchOn(sendCtx, dest, wms, *gen)
		}
		cancel()
		if err != nil {
			if errors.Is(err, transport.ErrKeyMismatch) {
				n.mu.Lock()
				n.emit(Notice{Peer: p.Key, Warning: true, Text: fmt.Sprintf(
					"key mismatch: possible impersonation: the peer at %s is not %s#%s; nothing was delivered, the messages stay queued", p.Addr, p.Nickname, p.Tag())})
				n.mu.Unlock()
			}
			return err
		}
		if err := n.store.MarkAttempt(ConvOf(p.Key), ids); err != nil {
			n.log.Warn("record a delivery attempt", "err", err)
		}
		if *gen != sent.Gen {
			n.notePath(p.Key)
		}
		*gen = sent.Gen
		state := store.Sent
		if !sent.TwoWay {
			state = store.SentNoReceipt
		}
		now := time.Now()
		for _, id := range ids {
			written[id] = now
		}
		ch, err := n.store.SetState(ConvOf(p.Key), ids, state, "")
		if err != nil {
			n.storeFailed(err)
		}
		if len(ch) > 0 {
			n.notifyChanged()
		}
		if p.Identity != "" { // the handshake proved the key
			n.mu.Lock()
			if st := n.reg.peers[p.Key]; st != nil {
				n.provenLocked(st, st.Nickname, n.cfg.Now(), true) // the user sent to it
			}
			n.mu.Unlock()
		}
	}
	return nil
}
