package group

import (
	"testing"

	"github.com/parlance-chat/parlance/net/wire"
)

// FuzzReceive feeds whatever parses as a group frame to an engine that is
// in a group with some history, as if a member sent it: the engine never
// panics, and what it answers always parses. (The engine keeps what
// earlier inputs added, as a real one would.)
func FuzzReceive(f *testing.F) {
	_, alice, bob, carol, gid := carolMisses(f, 3)
	ga, _ := alice.e.Group(gid)
	hist, _ := ga.History(10)
	carol.offline = false
	seeds := []wire.GroupFrame{
		hist[0],
		ga.genesis.op,
		wire.GroupSync{Group: gid},
		wire.GroupSync{Group: gid, Heads: ga.Heads(), Want: []wire.SeqRange{{Sender: string(bob.id.ID()), From: 1}, {Sender: string(alice.id.ID()), From: 2, To: 3}}},
		wire.GroupSyncReply{Group: gid, Ops: []wire.GroupOp{ga.genesis.op}, Messages: hist, More: true},
	}
	for _, op := range ga.fr.order {
		seeds = append(seeds, op.op)
	}
	for _, s := range seeds {
		line, err := wire.MarshalGroupFrame(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(line)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := wire.ParseGroupFrame(b)
		if err != nil {
			return
		}
		res, _ := carol.e.Receive(bob.id.ID(), fr)
		for _, o := range res.Out {
			if _, err := wire.ParseGroupFrame(o.Line); err != nil {
				t.Fatalf("engine answered %q, which does not parse: %v", o.Line, err)
			}
		}
	})
}
