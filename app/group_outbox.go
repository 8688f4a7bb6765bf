package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/parlance-chat/parlance/app/group"
	"github.com/parlance-chat/parlance/net/identity"
	"github.com/parlance-chat/parlance/net/wire"
)

// The group outbox: a message of this node to a member that is offline, or
// whose write failed, stays queued for that member and is pushed to it
// when it is seen again, before and besides the catch-up it asks for. A
// member's queue in a group is a cursor, the number of this node's first
// message there not yet written to the member: the messages themselves
// are the group store's, so the queue costs nothing per message, and it
// survives a restart when the node has GroupRecords. The receiver keeps
// each message once (by id, and by sender and number), so a push that
// meets a catch-up, or is written twice, shows nothing twice.
//
// Bounds: a queue holds the member's last groupOwedMax messages (older
// ones are no longer pushed; the member gets them by asking, per-sender
// catch-up), and at most groupOwedQueues (group, member) queues are kept
// (a member past it gets this node's messages by catch-up alone).
const (
	groupOwedMax    = 4096
	groupOwedQueues = 4096
	// groupOwedBatch is how many messages are pushed at a time; the next
	// batch goes once they were written.
	groupOwedBatch = 256
	// owedKind is the record kind of the queues (one record, id "all").
	owedKind = "group-outbox"
)

// owedKey names one member's queue in one group.
type owedKey struct {
	g  wire.GroupID
	to identity.ID
}

// owed is a member's queue: from is the first message number not yet
// written to it; until, when not 0, the last number of a push on its way
// (pushing while it is being read).
type owed struct{ from, until uint64 }

const pushing = ^uint64(0)

// qframe is one frame queued for a member; own messages carry their group
// and number (seq 0 for other frames), so their fate moves the cursor,
// and push marks those a push from the outbox queued.
type qframe struct {
	line []byte
	g    wire.GroupID
	seq  uint64
	push bool
}

// errOffline: the member is not online, so nothing was written.
var errOffline = errors.New("member offline")

// sendOwn queues this node's message m (its frames out) for the members.
// A member whose queue is full, or a node not running, leaves the message
// in the member's outbox.
func (gs *groups) sendOwn(m wire.GroupMessage, out []group.Outgoing) {
	var missed []identity.ID
	for _, o := range out {
		for _, to := range o.To {
			if !gs.enqueue(to, qframe{line: o.Line, g: m.Group, seq: m.Seq}) {
				missed = append(missed, to)
			}
		}
	}
	if len(missed) == 0 {
		return
	}
	gs.mu.Lock()
	changed := false
	for _, to := range missed {
		changed = gs.owedLocked(owedKey{m.Group, to}, m.Seq) || changed
	}
	gs.mu.Unlock()
	if changed {
		gs.saveOwed()
	}
}

// owedLocked puts message seq back in k's queue; it reports whether the
// set of queues (or a cursor) changed, so they are saved. Caller holds
// gs.mu.
func (gs *groups) owedLocked(k owedKey, seq uint64) bool {
	st := gs.owed[k]
	if st == nil {
		if len(gs.owed) >= groupOwedQueues {
			gs.n.log.Debug("group outbox: too many queues; the member gets this by catch-up", "peer", k.to.Short())
			return false
		}
		gs.owed[k] = &owed{from: seq}
		return true
	}
	st.until = 0 // a push that failed: the next sighting pushes again
	if seq < st.from {
		st.from = seq
		return true
	}
	return false
}

// written records the fate of frames written (err nil) or not to a
// member, and pushes the next batch of its queue after one that went.
func (gs *groups) written(to identity.ID, frames []qframe, err error) {
	type span struct{ lo, hi, pushed uint64 }
	spans := map[wire.GroupID]span{}
	for _, f := range frames {
		if f.seq == 0 {
			continue
		}
		s, ok := spans[f.g]
		if !ok {
			s = span{lo: f.seq, hi: f.seq}
		}
		s.lo, s.hi = min(s.lo, f.seq), max(s.hi, f.seq)
		if f.push {
			s.pushed = max(s.pushed, f.seq)
		}
		spans[f.g] = s
	}
	if len(spans) == 0 {
		return
	}
	changed := false
	var next []owedKey
	gs.mu.Lock()
	if err == nil {
		delete(gs.backoff, to)
	}
	for g, s := range spans {
		k := owedKey{g, to}
		if err != nil {
			changed = gs.owedLocked(k, s.lo) || changed
			continue
		}
		st := gs.owed[k]
		if st == nil {
			continue
		}
		if st.from >= s.lo && st.from <= s.hi {
			st.from = s.hi + 1
		}
		if st.until != 0 && st.until != pushing && s.pushed >= st.until {
			st.until = 0
			next = append(next, k)
		}
	}
	gs.mu.Unlock()
	if changed {
		gs.saveOwed()
	}
	if err != nil && !errors.Is(err, errOffline) {
		gs.retryLater(to)
	}
	for _, k := range next {
		gs.flush(k)
	}
}

// retryLater pushes to's queues again after a back-off (from retryMin,
// doubling, up to the node's RetryMax) if it is still online: a write to a
// member online failed (say, on a connection it had just closed).
func (gs *groups) retryLater(to identity.ID) {
	gs.mu.Lock()
	if gs.ctx == nil || gs.closed || gs.retrying[to] {
		gs.mu.Unlock()
		return
	}
	wait := min(max(2*gs.backoff[to], retryMin), gs.n.cfg.RetryMax)
	gs.backoff[to] = wait
	gs.retrying[to] = true
	ctx := gs.ctx
	gs.wg.Add(1)
	gs.mu.Unlock()
	go func() {
		defer gs.wg.Done()
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		gs.mu.Lock()
		delete(gs.retrying, to)
		gs.mu.Unlock()
		if p, ok := gs.n.Peer(PeerKey("id:" + string(to))); ok && p.Online {
			gs.flushTo(to)
		}
	}()
}

// flushTo pushes every queue of member to (it was seen), off the caller's
// goroutine: the caller may hold the node's lock, and a push reads the
// group store and may save the queues.
func (gs *groups) flushTo(to identity.ID) {
	gs.mu.Lock()
	var keys []owedKey
	for k := range gs.owed {
		if k.to == to {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 || gs.ctx == nil || gs.closed {
		gs.mu.Unlock()
		return
	}
	gs.wg.Add(1)
	gs.mu.Unlock()
	go func() {
		defer gs.wg.Done()
		for _, k := range keys {
			gs.flush(k)
		}
	}()
}

// flush pushes the next batch of k's queue, unless a push is on its way;
// a queue that is empty, or whose member left, is dropped.
func (gs *groups) flush(k owedKey) {
	gs.mu.Lock()
	st := gs.owed[k]
	if st == nil || st.until != 0 {
		gs.mu.Unlock()
		return
	}
	from := st.from
	st.until = pushing // no second push meanwhile
	gs.mu.Unlock()
	ms, last, err := gs.eng.Own(k.g, from, groupOwedBatch)
	if err == nil && last >= gs.owedMax && from <= last-gs.owedMax {
		// Past the bound: the oldest are left to the catch-up.
		from = last - gs.owedMax + 1
		ms, _, err = gs.eng.Own(k.g, from, groupOwedBatch)
	}
	if err != nil {
		gs.n.log.Debug("group outbox: cannot read the messages to push", "peer", k.to.Short(), "err", err)
		gs.mu.Lock()
		if st.until == pushing {
			st.until = 0 // the next sighting tries again
		}
		gs.mu.Unlock()
		return
	}
	gs.mu.Lock()
	if gs.owed[k] != st {
		gs.mu.Unlock()
		return
	}
	if len(ms) == 0 || !gs.eng.IsMember(k.g, k.to) {
		delete(gs.owed, k)
		gs.mu.Unlock()
		gs.saveOwed()
		return
	}
	st.from = max(st.from, from)
	st.until = ms[len(ms)-1].Seq
	gs.mu.Unlock()
	for _, m := range ms {
		line, err := wire.MarshalGroupFrame(m)
		if err == nil && gs.enqueue(k.to, qframe{line: line, g: k.g, seq: m.Seq, push: true}) {
			continue
		}
		gs.mu.Lock()
		if gs.owed[k] == st {
			st.until = 0 // not all queued: the next sighting pushes again
		}
		gs.mu.Unlock()
		return
	}
}

// owedRecord is the saved form of one queue.
type owedRecord struct {
	Group wire.GroupID `json:"group"`
	To    string       `json:"to"`
	From  uint64       `json:"from"`
}

// saveOwed writes every queue to the node's GroupRecords, if it has them.
func (gs *groups) saveOwed() {
	rs := gs.n.cfg.GroupRecords
	if rs == nil {
		return
	}
	gs.saveMu.Lock()
	defer gs.saveMu.Unlock()
	gs.mu.Lock()
	recs := make([]owedRecord, 0, len(gs.owed))
	for k, st := range gs.owed {
		recs = append(recs, owedRecord{Group: k.g, To: string(k.to), From: st.from})
	}
	gs.mu.Unlock()
	data, err := json.Marshal(recs)
	if err == nil {
		err = rs.SaveRecord(owedKind, "all", data)
	}
	if err != nil {
		gs.n.log.Warn("save the group outbox (its messages still come by catch-up)", "err", err)
	}
}

// loadOwed reads the queues saved by saveOwed.
func (gs *groups) loadOwed() error {
	rs := gs.n.cfg.GroupRecords
	if rs == nil {
		return nil
	}
	all, err := rs.Records(owedKind)
	if err != nil {
		return fmt.Errorf("read the group outbox: %w", err)
	}
	for _, d := range all {
		var recs []owedRecord
		if err := json.Unmarshal(d, &recs); err != nil {
			gs.n.log.Warn("group outbox record unreadable; its messages come by catch-up", "err", err)
			continue
		}
		for _, r := range recs {
			if len(gs.owed) < groupOwedQueues && r.From > 0 {
				gs.owed[owedKey{r.Group, identity.ID(r.To)}] = &owed{from: r.From}
			}
		}
	}
	return nil
}
