package group

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/parlance-chat/parlance/net/wire"
)

func TestSeqTrack(t *testing.T) {
	tests := []struct {
		name  string
		add   []uint64
		limit int
		want  []SeqRange
		gaps  []SeqRange
	}{
		{"empty", nil, 0, nil, nil},
		{"in order", []uint64{1, 2, 3}, 0, []SeqRange{{1, 3}}, nil},
		{"late start", []uint64{3, 4}, 0, []SeqRange{{3, 4}}, []SeqRange{{1, 2}}},
		{"gap filled", []uint64{1, 3, 2}, 0, []SeqRange{{1, 3}}, nil},
		{"two gaps", []uint64{1, 4, 7, 8}, 0, []SeqRange{{1, 1}, {4, 4}, {7, 8}}, []SeqRange{{2, 3}, {5, 6}}},
		{"duplicates", []uint64{5, 5, 1, 1}, 0, []SeqRange{{1, 1}, {5, 5}}, []SeqRange{{2, 4}}},
		{"join both sides", []uint64{1, 3, 5, 2, 4}, 0, []SeqRange{{1, 5}}, nil},
		{"oldest gap given up", []uint64{1, 3, 5, 7}, 3, []SeqRange{{1, 3}, {5, 5}, {7, 7}}, []SeqRange{{4, 4}, {6, 6}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tr seqTrack
			for _, s := range tt.add {
				tr.add(s, tt.limit)
			}
			if !slices.Equal(tr.r, tt.want) {
				t.Errorf("ranges %v, want %v", tr.r, tt.want)
			}
			if g := tr.gaps(); !slices.Equal(g, tt.gaps) {
				t.Errorf("gaps %v, want %v", g, tt.gaps)
			}
		})
	}
	// Random order gives the same ranges as sorted order.
	rng := rand.New(rand.NewPCG(1, 2))
	var a, b seqTrack
	seqs := rng.Perm(500)
	for _, s := range seqs[:300] {
		a.add(uint64(s+1), 0)
	}
	kept := slices.Clone(seqs[:300])
	slices.Sort(kept)
	for _, s := range kept {
		b.add(uint64(s+1), 0)
	}
	if !slices.Equal(a.r, b.r) {
		t.Error("order changes the ranges")
	}
}

// memberGroup returns a group of alice (admin) and bob.
func memberGroup(t *testing.T) (*Group, *graph) {
	gr := newGraph(t, "alice", "bob", "mallory")
	gr.op("ib", "alice", wire.OpInvite, "bob")
	return gr.g, gr
}

func TestAcceptMessage(t *testing.T) {
	g, gr := memberGroup(t)
	alice, bob := gr.ids["alice"], gr.ids["bob"]
	msg := func(who string, seq uint64, time int64) wire.GroupMessage {
		return signMessage(gr.ids[who], g.id, seq, time, fmt.Sprint(who, seq))
	}
	steps := []struct {
		name      string
		m         wire.GroupMessage
		added     bool
		gap       bool
		wantErr   error
		errSubstr string
	}{
		{"first", msg("alice", 1, 100), true, false, nil, ""},
		{"duplicate", msg("alice", 1, 100), false, false, nil, ""},
		{"same id, other seq", func() wire.GroupMessage {
			m := msg("alice", 2, 100)
			m.ID = msg("alice", 1, 100).ID
			m.Sig = alice.Sign(m.SignedBytes())
			return m
		}(), false, false, nil, ""},
		{"same seq, other text (equivocation)", func() wire.GroupMessage {
			m := msg("alice", 1, 100)
			m.ID[15] ^= 1
			m.Text = "other"
			m.Sig = alice.Sign(m.SignedBytes())
			return m
		}(), false, false, nil, ""},
		{"bob, past a gap", msg("bob", 3, 50), true, true, nil, ""},
		{"bob fills it", msg("bob", 1, 10), true, false, nil, ""},
		{"non-member", msg("mallory", 1, 1), false, false, ErrNotMember, ""},
		{"bad signature", func() wire.GroupMessage { m := msg("bob", 4, 1); m.Sig[3] ^= 1; return m }(), false, false, ErrForged, ""},
		{"too far ahead", msg("bob", 4+MaxSeqJump, 1), false, false, nil, "past the last one"},
		{"other group", func() wire.GroupMessage {
			m := msg("bob", 4, 1)
			m.Group[0]++
			return m
		}(), false, false, nil, "given to group"},
	}
	for _, s := range steps {
		added, gap, err := g.AcceptMessage(s.m)
		switch {
		case s.wantErr != nil && !errors.Is(err, s.wantErr):
			t.Errorf("%s: %v, want %v", s.name, err, s.wantErr)
		case s.errSubstr != "" && (err == nil || !strings.Contains(err.Error(), s.errSubstr)):
			t.Errorf("%s: %v, want %q", s.name, err, s.errSubstr)
		case s.wantErr == nil && s.errSubstr == "" && err != nil:
			t.Errorf("%s: %v", s.name, err)
		case added != s.added || gap != s.gap:
			t.Errorf("%s: added %v gap %v, want %v %v", s.name, added, gap, s.added, s.gap)
		}
	}
	// Display order: by sender time, then id, whatever the arrival order.
	hist, _ := g.History(10)
	var texts []string
	for _, m := range hist {
		texts = append(texts, m.Text)
	}
	if want := []string{"bob1", "bob3", "alice1"}; !slices.Equal(texts, want) {
		t.Errorf("history %q, want %q", texts, want)
	}
	// The catch-up request asks for bob's gap and what follows.
	req := g.SyncRequest()
	var wants []string
	for _, w := range req.Want {
		who := "alice"
		if w.Sender == string(bob.ID()) {
			who = "bob"
		}
		wants = append(wants, fmt.Sprintf("%s %d-%d", who, w.From, w.To))
	}
	slices.Sort(wants)
	if want := []string{"alice 2-0", "bob 2-2", "bob 4-0"}; !slices.Equal(wants, want) {
		t.Errorf("catch-up wants %v, want %v", wants, want)
	}

}

func TestCutoff(t *testing.T) {
	gr := newGraph(t, "alice", "bob")
	gr.op("ib", "alice", wire.OpInvite, "bob")
	g := gr.g
	bob := gr.ids["bob"]
	for _, s := range []uint64{1, 3} {
		if _, _, err := g.AcceptMessage(signMessage(bob, g.id, s, 1, "x")); err != nil {
			t.Fatal(err)
		}
	}
	kick := signOp(gr.ids["alice"], wire.GroupOp{Group: g.id, Kind: wire.OpKick, Target: string(bob.ID()), Seq: 3}, g.Heads()...)
	if _, _, err := g.AddOp(kick); err != nil {
		t.Fatal(err)
	}
	if added, _, err := g.AcceptMessage(signMessage(bob, g.id, 2, 1, "late but before the kick")); err != nil || !added {
		t.Errorf("message 2 (under the cutoff): %v %v", added, err)
	}
	if _, _, err := g.AcceptMessage(signMessage(bob, g.id, 4, 1, "after")); !errors.Is(err, ErrNotMember) {
		t.Errorf("message 4 (over the cutoff): %v", err)
	}
	// A former member's range is asked for up to the cutoff only.
	for _, w := range g.SyncRequest().Want {
		if w.Sender == string(bob.ID()) {
			t.Errorf("asks for bob's %d-%d though it has all up to the cutoff", w.From, w.To)
		}
	}
}

func TestPendingOps(t *testing.T) {
	gr := newGraph(t, "alice", "bob")
	alice := gr.ids["alice"]
	g := gr.g
	// A chain of ops delivered backwards: all wait, then all apply.
	var chain []wire.GroupOp
	heads := g.Heads()
	for i := range 10 {
		op := signOp(alice, wire.GroupOp{Group: g.id, Kind: wire.OpRename, Name: fmt.Sprint("n", i)}, heads...)
		chain = append(chain, op)
		heads = []wire.OpHash{op.Hash()}
	}
	for i := len(chain) - 1; i > 0; i-- {
		st, _, err := g.AddOp(chain[i])
		if err != nil || st != OpPending {
			t.Fatalf("op %d: %v %v", i, st, err)
		}
	}
	if m := g.Missing(); len(m) != 1 || m[0] != chain[0].Hash() {
		t.Fatalf("missing %v, want the first op", m)
	}
	_, changed, err := g.AddOp(chain[0])
	if err != nil || !changed || g.State().Name != "n9" || len(g.Missing()) != 0 {
		t.Fatalf("after the first op: changed %v name %q missing %d err %v", changed, g.State().Name, len(g.Missing()), err)
	}
	// Beyond MaxPending the oldest held op is dropped.
	heads = g.Heads()
	var long []wire.GroupOp
	for i := range MaxPending + 2 {
		op := signOp(alice, wire.GroupOp{Group: g.id, Kind: wire.OpRename, Name: fmt.Sprint("m", i)}, heads...)
		long = append(long, op)
		heads = []wire.OpHash{op.Hash()}
	}
	for _, op := range long[1:] {
		g.AddOp(op)
	}
	if len(g.pending) != MaxPending {
		t.Fatalf("%d held, want %d", len(g.pending), MaxPending)
	}
	g.AddOp(long[0])
	if g.State().Name != "m0" {
		t.Errorf("name %q: the ops after the dropped one should still wait", g.State().Name)
	}
	if m := g.Missing(); len(m) != 1 || m[0] != long[1].Hash() {
		t.Errorf("missing %v, want the dropped op", m)
	}
}

func TestAnswerSyncBounded(t *testing.T) {
	g, gr := memberGroup(t)
	bob := gr.ids["bob"]
	text := strings.Repeat("x", 2000)
	for s := uint64(1); s <= 100; s++ {
		if _, _, err := g.AcceptMessage(signMessage(bob, g.id, s, int64(s), text)); err != nil {
			t.Fatal(err)
		}
	}
	// A fresh member asks for everything: it takes several replies, each a
	// line within the limit, and ends with all 100.
	fresh, err := newGroup(g.genesis.op, NewMemoryStore(), true)
	if err != nil {
		t.Fatal(err)
	}
	for rounds := 1; ; rounds++ {
		reply, behind, err := g.AnswerSync(fresh.SyncRequest())
		if err != nil || behind {
			t.Fatal(err, behind)
		}
		line, err := wire.MarshalGroupFrame(reply)
		if err != nil {
			t.Fatalf("reply does not encode: %v", err)
		}
		if len(line) > wire.MaxLine {
			t.Fatalf("reply of %d bytes", len(line))
		}
		changed := false
		for _, op := range reply.Ops {
			_, c, _ := fresh.AddOp(op)
			changed = changed || c
		}
		for _, m := range reply.Messages {
			fresh.AcceptMessage(m)
		}
		if !reply.More && !changed { // new members mean new senders to ask for
			if rounds < 3 {
				t.Errorf("%d rounds for 200 KB", rounds)
			}
			break
		}
		if rounds > 10 {
			t.Fatal("no end")
		}
	}
	hist, _ := fresh.History(1000)
	if len(hist) != 100 || !fresh.State().equal(g.State()) {
		t.Fatalf("fresh member has %d messages, members %v", len(hist), membersOf(fresh.State()))
	}
}
