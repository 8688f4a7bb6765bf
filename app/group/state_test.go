package group

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/parlance-chat/parlance/net/identity"
	"github.com/parlance-chat/parlance/net/wire"
)

// graph builds a group op by op for the rule tests.
type graph struct {
	t   testing.TB
	g   *Group
	ids map[string]*identity.Identity
	ops map[string]wire.OpHash
}

func newGraph(t testing.TB, creator string, names ...string) *graph {
	gr := &graph{t: t, ids: make(map[string]*identity.Identity), ops: make(map[string]wire.OpHash)}
	for i, n := range append([]string{creator}, names...) {
		gr.ids[n] = testIdentity(byte(100 + i))
	}
	create := signOp(gr.ids[creator], wire.GroupOp{Group: wire.GroupID{7}, Kind: wire.OpCreate, Name: "g"})
	g, err := newGroup(create, NewMemoryStore(), true)
	if err != nil {
		t.Fatal(err)
	}
	gr.g, gr.ops["create"] = g, create.Hash()
	return gr
}

// op adds an op named label, by who, of kind on target, after the ops
// named in after (the current heads when none).
func (gr *graph) op(label, who, kind, target string, after ...string) {
	gr.t.Helper()
	op := wire.GroupOp{Group: gr.g.id, Kind: kind}
	switch kind {
	case wire.OpRename:
		op.Name = target
	case wire.OpLeave:
	default:
		op.Target = string(gr.ids[target].ID())
	}
	parents := gr.parents(after)
	signed := signOp(gr.ids[who], op, parents...)
	if st, _, err := gr.g.AddOp(signed); err != nil || st != OpAdded {
		gr.t.Fatalf("add %s: %v %v", label, st, err)
	}
	gr.ops[label] = signed.Hash()
}

// parents returns the hashes of the ops named in after, or the heads.
func (gr *graph) parents(after []string) []wire.OpHash {
	if len(after) == 0 {
		return gr.g.Heads()
	}
	var out []wire.OpHash
	for _, a := range after {
		out = append(out, gr.ops[a])
	}
	return out
}

// refused checks that an op by who is not admitted into the graph.
func (gr *graph) refused(who, kind, target string, after ...string) {
	gr.t.Helper()
	op := wire.GroupOp{Group: gr.g.id, Kind: kind, Target: string(gr.ids[target].ID())}
	parents := gr.parents(after)
	if _, _, err := gr.g.AddOp(signOp(gr.ids[who], op, parents...)); !errors.Is(err, ErrNotMember) {
		gr.t.Fatalf("op by %s: %v, want ErrNotMember", who, err)
	}
}

func (gr *graph) members() []string {
	var out []string
	st := gr.g.State()
	for _, m := range st.Members() {
		for n, id := range gr.ids {
			if id.ID() == m.ID {
				if m.Admin {
					n += "*"
				}
				out = append(out, n)
			}
		}
	}
	return out
}

func TestFoldRules(t *testing.T) {
	tests := []struct {
		name    string
		build   func(gr *graph)
		want    []string
		void    []string // ops that must not take effect
		applied []string // ops that must
	}{
		{"creator is the first admin", func(gr *graph) {}, []string{"a*"}, nil, nil},
		{"invite and promote", func(gr *graph) {
			gr.op("ib", "a", wire.OpInvite, "b")
			gr.op("pb", "a", wire.OpPromote, "b")
			gr.op("ic", "b", wire.OpInvite, "c")
		}, []string{"a*", "b*", "c"}, nil, []string{"ib", "pb", "ic"}},
		{"a member who is not admin cannot invite", func(gr *graph) {
			gr.op("ib", "a", wire.OpInvite, "b")
			gr.op("ic", "b", wire.OpInvite, "c")
		}, []string{"a*", "b"}, []string{"ic"}, nil},
		{"a stranger's op is refused", func(gr *graph) {
			gr.refused("b", wire.OpInvite, "c")
		}, []string{"a*"}, nil, nil},
		{"a stranger's op is refused even after an invite it does not follow", func(gr *graph) {
			gr.op("ib", "a", wire.OpInvite, "b", "create")
			gr.refused("b", wire.OpInvite, "c", "create")
		}, []string{"a*", "b"}, nil, nil},
		{"a kicked member's later op is void", func(gr *graph) {
			gr.op("ib", "a", wire.OpInvite, "b")
			gr.op("pb", "a", wire.OpPromote, "b")
			gr.op("kb", "a", wire.OpKick, "b")
			gr.op("ic", "b", wire.OpInvite, "c")
		}, []string{"a*"}, []string{"ic"}, []string{"kb"}},
		{"a junior admin cannot kick or demote a senior", func(gr *graph) {
			gr.op("ib", "a", wire.OpInvite, "b")
			gr.op("pb", "a", wire.OpPromote, "b")
			gr.op("ka", "b", wire.OpKick, "a")
			gr.op("da", "b", wire.OpDemote, "a")
		}, []string{"a*", "b*"}, []string{"ka", "da"}, nil},
		{"concurrent mutual kicks: the senior wins", func(gr *graph) {
			gr.op("ib", "a", wire.OpInvite, "b")
			gr.op("pb", "a", wire.OpPromote, "b")
			gr.op("kb", "a", wire.OpKick, "b", "pb")
			gr.op("ka", "b", wire.OpKick, "a", "pb")
		}, []string{"a*"}, []string{"ka"}, []string{"kb"}},
		{"a kick voids the kicked admin's concurrent ops", func(gr *graph) {
			gr.op("ib", "a", wire.OpInvite, "b")
			gr.op("ic", "a", wire.OpInvite, "c")
			gr.op("pb", "a", wire.OpPromote, "b")
			gr.op("kb", "a", wire.OpKick, "b", "pb")
			gr.op("kc", "b", wire.OpKick, "c", "pb")
			gr.op("id", "b", wire.OpInvite, "d", "pb")
		}, []string{"a*", "c"}, []string{"kc", "id"}, []string{"kb"}},
		{"backdating past a junior's op does not beat a removal", func(gr *graph) {
			// b's kick of c is placed before a's kick of b (it is ready
			// sooner), takes effect, then is voided by it: the fold
			// starts over.
			gr.op("ib", "a", wire.OpInvite, "b")
			gr.op("ic", "a", wire.OpInvite, "c")
			gr.op("pb", "a", wire.OpPromote, "b")
			gr.op("x", "c", wire.OpRename, "cs-name", "pb") // void: c is no admin
			gr.op("kb", "a", wire.OpKick, "b", "x")
			gr.op("kc", "b", wire.OpKick, "c", "pb")
		}, []string{"a*", "c"}, []string{"kc", "x"}, []string{"kb"}},
		{"a leave concurrent with a removal stands", func(gr *graph) {
			gr.op("ib", "a", wire.OpInvite, "b")
			gr.op("pb", "a", wire.OpPromote, "b")
			gr.op("db", "a", wire.OpDemote, "b", "pb")
			gr.op("lb", "b", wire.OpLeave, "", "pb")
		}, []string{"a*"}, nil, []string{"db", "lb"}},
		{"the last admin leaves: the senior member becomes admin", func(gr *graph) {
			gr.op("ib", "a", wire.OpInvite, "b")
			gr.op("ic", "a", wire.OpInvite, "c")
			gr.op("la", "a", wire.OpLeave, "")
			gr.op("ia", "b", wire.OpInvite, "a")
		}, []string{"b*", "c", "a"}, nil, []string{"la", "ia"}},
		{"a kicked member can be invited again", func(gr *graph) {
			gr.op("ib", "a", wire.OpInvite, "b")
			gr.op("kb", "a", wire.OpKick, "b")
			gr.op("ib2", "a", wire.OpInvite, "b")
		}, []string{"a*", "b"}, nil, []string{"kb", "ib2"}},
		{"concurrent renames: the senior's is placed first, the other last", func(gr *graph) {
			gr.op("ib", "a", wire.OpInvite, "b")
			gr.op("pb", "a", wire.OpPromote, "b")
			gr.op("ra", "a", wire.OpRename, "by-a", "pb")
			gr.op("rb", "b", wire.OpRename, "by-b", "pb")
		}, []string{"a*", "b*"}, nil, []string{"ra", "rb"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gr := newGraph(t, "a", "b", "c", "d")
			tt.build(gr)
			if got := gr.members(); !slices.Equal(got, tt.want) {
				t.Errorf("members %v, want %v", got, tt.want)
			}
			for _, l := range tt.void {
				if gr.g.Effective(gr.ops[l]) {
					t.Errorf("op %s took effect", l)
				}
			}
			for _, l := range tt.applied {
				if !gr.g.Effective(gr.ops[l]) {
					t.Errorf("op %s is void", l)
				}
			}
			// The incremental fold agrees with one from scratch.
			full := fold(gr.g.genesis, len(gr.g.nodes))
			if !full.state.equal(gr.g.State()) {
				t.Errorf("from scratch %v, incremental %v", membersOf(full.state), membersOf(gr.g.State()))
			}
		})
	}
	gr := newGraph(t, "a", "b")
	gr.op("ib", "a", wire.OpInvite, "b")
	gr.op("pb", "a", wire.OpPromote, "b")
	gr.op("ra", "a", wire.OpRename, "by-a", "pb")
	gr.op("rb", "b", wire.OpRename, "by-b", "pb")
	if n := gr.g.State().Name; n != "by-b" {
		t.Errorf("name after concurrent renames %q, want by-b (a's rename is placed first)", n)
	}
}

func TestMaxMembers(t *testing.T) {
	_, ps := newTestNet(t, "alice")
	alice := ps[0]
	gid, _, err := alice.e.Create("big", nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < MaxMembers; i++ {
		if _, err := alice.e.Invite(gid, testIdentity(byte(i)).ID()); err != nil && i != 1 {
			t.Fatalf("invite %d: %v", i, err)
		}
	}
	g, _ := alice.e.Group(gid)
	if n := len(g.State().Members()); n != MaxMembers-1 {
		// testIdentity(1) is alice herself: that invite failed.
		t.Fatalf("%d members", n)
	}
	if _, err := alice.e.Invite(gid, testIdentity(0).ID()); err != nil {
		t.Fatal(err)
	}
	_, err = alice.e.Invite(gid, testIdentity(255).ID()) // seeds 0..254 used
	if err == nil || !errors.Is(err, ErrNotAllowed) {
		t.Fatalf("invite beyond the limit: %v", err)
	}
	// An invite beyond the limit from elsewhere is void.
	op := signOp(alice.id, wire.GroupOp{Group: gid, Kind: wire.OpInvite, Target: string(testIdentity(255).ID())}, g.Heads()...)
	if _, _, err := g.AddOp(op); err != nil || g.Effective(op.Hash()) {
		t.Fatalf("invite beyond the limit: %v, effective %v", err, g.Effective(op.Hash()))
	}
}

// TestConvergenceProperty runs random histories: replicas acting as
// different members make random ops (many not allowed) on their partial
// views and exchange partial histories; then fresh replicas get all the ops
// in random orders. Every replica must end with the same state, the same
// effective ops, and the state a fold from scratch gives.
func TestConvergenceProperty(t *testing.T) {
	kinds := []string{wire.OpInvite, wire.OpInvite, wire.OpInvite, wire.OpInvite, wire.OpKick, wire.OpKick, wire.OpPromote, wire.OpPromote, wire.OpDemote, wire.OpLeave, wire.OpRename}
	runs := 100
	switch {
	case raceEnabled: // Ed25519 is some 20 times slower
		runs = 8
	case testing.Short():
		runs = 20
	}
	for seed := range runs {
		rng := rand.New(rand.NewPCG(uint64(seed), 1))
		ids := make([]*identity.Identity, 5)
		for i := range ids {
			ids[i] = testIdentity(byte(200 + i))
		}
		gid := wire.GroupID{byte(seed), byte(seed >> 8), 1}
		create := signOp(ids[0], wire.GroupOp{Group: gid, Kind: wire.OpCreate, Name: "g"})
		newReplica := func() *Group {
			g, err := newGroup(create, NewMemoryStore(), true)
			if err != nil {
				t.Fatal(err)
			}
			return g
		}
		replicas := make([]*Group, len(ids))
		for i := range replicas {
			replicas[i] = newReplica()
		}
		var all []wire.GroupOp
		for step := 0; step < 200 && len(all) < 40; step++ {
			i := rng.IntN(len(ids))
			st := replicas[i].State()
			outside := !st.IsMember(ids[i].ID()) && rng.IntN(4) != 0
			if outside || rng.IntN(3) == 0 { // i hears part of j's history
				j := rng.IntN(len(ids))
				ops, _ := replicas[j].store.Ops(gid)
				for _, op := range ops[:rng.IntN(len(ops)+1)] {
					if _, _, err := replicas[i].AddOp(op); err != nil {
						t.Fatal(err)
					}
				}
				continue
			}
			// Mostly members act (the others mostly listen), and mostly on plausible targets in their
			// own view; the rest are ops that must come out void.
			kind := kinds[rng.IntN(len(kinds))]
			op := wire.GroupOp{Group: gid, Kind: kind, Time: 1700000000000 + int64(rng.IntN(1000))}
			switch kind {
			case wire.OpRename:
				op.Name = []string{"x", "y", "z"}[rng.IntN(3)]
			case wire.OpLeave:
				op.Seq = uint64(rng.IntN(3))
			default:
				plausible := func(id identity.ID) bool { return st.IsMember(id) != (kind == wire.OpInvite) }
				target := ids[rng.IntN(len(ids))].ID()
				for range 5 {
					if plausible(target) {
						break
					}
					target = ids[rng.IntN(len(ids))].ID()
				}
				op.Target = string(target)
			}
			heads := replicas[i].Heads()
			op = signOp(ids[i], op, heads[:min(len(heads), wire.MaxOpParents)]...)
			if _, _, err := replicas[i].AddOp(op); errors.Is(err, ErrNotMember) {
				continue // a stranger's op: refused alike everywhere
			} else if err != nil {
				t.Fatal(err)
			}
			all = append(all, op)
		}
		for range 3 {
			replicas = append(replicas, newReplica())
		}
		for _, r := range replicas {
			for _, p := range rng.Perm(len(all)) {
				if _, _, err := r.AddOp(all[p]); err != nil {
					t.Fatal(err)
				}
			}
		}
		want := replicas[0].State()
		wantEff := effectiveSet(replicas[0], all)
		for k, r := range replicas {
			if len(r.Missing()) > 0 || len(r.pending) > 0 {
				t.Fatalf("seed %d replica %d: %d ops still pending", seed, k, len(r.pending))
			}
			st := r.State()
			if !st.equal(want) || !cutoffsEqual(st, want) {
				t.Fatalf("seed %d: replica %d has %v %q, replica 0 %v %q", seed, k, membersOf(st), st.Name, membersOf(want), want.Name)
			}
			if eff := effectiveSet(r, all); !slices.Equal(eff, wantEff) {
				t.Fatalf("seed %d: replica %d's effective ops differ", seed, k)
			}
			if full := fold(r.genesis, len(r.nodes)); !full.state.equal(st) {
				t.Fatalf("seed %d: replica %d's incremental state differs from a full fold", seed, k)
			}
		}
	}
}

func effectiveSet(g *Group, ops []wire.GroupOp) []bool {
	out := make([]bool, len(ops))
	for i, op := range ops {
		out[i] = g.Effective(op.Hash())
	}
	return out
}

func cutoffsEqual(a, b State) bool {
	if len(a.cutoff) != len(b.cutoff) {
		return false
	}
	for k, v := range a.cutoff {
		if w, ok := b.cutoff[k]; !ok || w != v {
			return false
		}
	}
	return true
}
