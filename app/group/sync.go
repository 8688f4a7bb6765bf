package group

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/parlance-chat/parlance/net/identity"
	"github.com/parlance-chat/parlance/net/wire"
)

// replyBudget is the room for ops and messages in one GroupSyncReply line,
// leaving space for the frame's own fields.
const replyBudget = wire.MaxLine - 512

// SyncRequest returns the catch-up request this group would send: its
// heads, and for every sender it knows of (members, former members up to
// their cutoff, anyone it holds messages from) the gaps in their sequence
// numbers and everything after the last one it has. Senders are taken in
// ID order, up to wire.MaxSyncWants ranges.
func (g *Group) SyncRequest() wire.GroupSync {
	g.mu.Lock()
	defer g.mu.Unlock()
	req := wire.GroupSync{Group: g.id, Heads: g.headHashes(wire.MaxSyncHeads)}
	st := &g.fr.state
	senders := make(map[identity.ID]bool)
	for _, m := range st.members {
		senders[m.ID] = true
	}
	for id := range st.cutoff {
		senders[id] = true
	}
	for id := range g.tracks {
		senders[id] = true
	}
	ids := make([]identity.ID, 0, len(senders))
	for id := range senders {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		t := g.tracks[id]
		if t == nil {
			t = &seqTrack{}
		}
		want := t.gaps()
		if st.IsMember(id) {
			want = append(want, SeqRange{t.max() + 1, 0})
		} else if cut := st.cutoff[id]; t.max() < cut {
			want = append(want, SeqRange{t.max() + 1, cut})
		}
		for _, r := range want {
			if len(req.Want) == wire.MaxSyncWants {
				return req
			}
			req.Want = append(req.Want, wire.SeqRange{Sender: string(id), From: r.From, To: r.To})
		}
	}
	return req
}

// AnswerSync builds the reply to req from a member: the ops not in the
// past of req's heads (parents first), then the messages it wants, as
// many as fit in one line (More is set when some were left out).
// behind reports that req names heads this group lacks, so the asker has
// ops to give: ask it back.
func (g *Group) AnswerSync(req wire.GroupSync) (reply wire.GroupSyncReply, behind bool, err error) {
	reply.Group = g.id
	budget := replyBudget
	full := false
	add := func(v any) bool {
		b, err := encodedLen(v)
		if err != nil {
			return false
		}
		// One item always fits (see wire.MaxGroupMessageLine).
		if b+1 > budget && (len(reply.Ops) > 0 || len(reply.Messages) > 0) {
			full = true
			return false
		}
		budget -= b + 1
		return true
	}

	g.mu.Lock()
	known := make(map[*node]bool)
	for _, h := range req.Heads {
		n := g.nodes[h]
		if n == nil {
			behind = true
			continue
		}
		known[n] = true
		for a := range reach(n, func(n *node) []*node { return n.parents }) {
			known[a] = true
		}
	}
	for _, n := range g.fr.order {
		if known[n] {
			continue
		}
		if !add(n.op) {
			break
		}
		reply.Ops = append(reply.Ops, n.op)
	}
	g.mu.Unlock()

	for _, w := range req.Want {
		if full {
			break
		}
		for from := w.From; !full; {
			msgs, err := g.store.Range(g.id, identity.ID(w.Sender), from, w.To, 64)
			if err != nil {
				return reply, behind, fmt.Errorf("catch-up for group %s: %w", g.id, err)
			}
			for _, m := range msgs {
				if !add(m) {
					break
				}
				reply.Messages = append(reply.Messages, m)
			}
			if len(msgs) < 64 || full {
				break
			}
			from = msgs[len(msgs)-1].Seq + 1
		}
	}
	reply.More = full
	return reply, behind, nil
}

// encodedLen returns the length of v's JSON as wire encodes it (compact,
// HTML characters not escaped).
func encodedLen(v any) (int, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return 0, err
	}
	return buf.Len() - 1, nil
}
