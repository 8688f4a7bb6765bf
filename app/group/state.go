package group

import (
	"bytes"
	"slices"

	"github.com/parlance-chat/parlance/net/identity"
	"github.com/parlance-chat/parlance/net/wire"
)

// Member is one member of a group as the fold of its ops left it.
type Member struct {
	ID    identity.ID
	Admin bool
	// joined and adminAt are the fold positions of the op that made the
	// member join and become admin: lower is more senior.
	joined, adminAt int
}

// State is the membership of a group: the deterministic fold of its op
// graph. It is a value: the copies Group hands out do not change.
type State struct {
	Name    string
	Creator identity.ID
	members []Member // by seniority (join order)
	// cutoff holds, for members who were kicked or left, the last of their
	// message sequence numbers still accepted.
	cutoff map[identity.ID]uint64
}

// Members returns the members, most senior first.
func (s State) Members() []Member { return slices.Clone(s.members) }

// Admins returns the admins, most senior first.
func (s State) Admins() []Member {
	var out []Member
	for _, m := range s.members {
		if m.Admin {
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(a, b Member) int { return a.adminAt - b.adminAt })
	return out
}

// IsMember reports whether id is a member.
func (s State) IsMember(id identity.ID) bool { return s.find(id) >= 0 }

// IsAdmin reports whether id is an admin.
func (s State) IsAdmin(id identity.ID) bool {
	i := s.find(id)
	return i >= 0 && s.members[i].Admin
}

// Cutoff returns the last message sequence number of a former member that
// is still accepted (ok is false for someone who never left).
func (s State) Cutoff(id identity.ID) (seq uint64, ok bool) {
	seq, ok = s.cutoff[id]
	return seq, ok
}

func (s State) find(id identity.ID) int {
	for i := range s.members {
		if s.members[i].ID == id {
			return i
		}
	}
	return -1
}

func (s State) clone() State {
	c := s
	c.members = slices.Clone(s.members)
	c.cutoff = make(map[identity.ID]uint64, len(s.cutoff))
	for k, v := range s.cutoff {
		c.cutoff[k] = v
	}
	return c
}

// equal reports whether two states show the same name and members.
func (s State) equal(o State) bool {
	if s.Name != o.Name || s.Creator != o.Creator || len(s.members) != len(o.members) {
		return false
	}
	for i := range s.members {
		if s.members[i].ID != o.members[i].ID || s.members[i].Admin != o.members[i].Admin {
			return false
		}
	}
	return true
}

// rank orders signers for the fold: admins by seniority, then members by
// seniority, then everyone else. It cannot be chosen by the signer, unlike
// a hash that can be ground.
func (s State) rank(id identity.ID) int {
	i := s.find(id)
	switch {
	case i < 0:
		return 1 << 40
	case s.members[i].Admin:
		return s.members[i].adminAt
	default:
		return 1<<30 + s.members[i].joined
	}
}

// authorized reports whether op, signed by signer, may take effect in s.
// The rules (also in the package doc):
//   - every op needs a signer who is a member;
//   - invite, kick, promote, demote and rename need an admin;
//   - kick and demote of an admin need a more senior admin;
//   - invite needs a non-member target and room (MaxMembers);
//   - kick and promote need a member target, demote an admin one;
//   - nobody kicks or demotes themselves (leave instead);
//   - leave needs nothing more.
func (s State) authorized(op *wire.GroupOp, signer identity.ID) bool {
	si := s.find(signer)
	if si < 0 {
		return false
	}
	if op.Kind == wire.OpLeave {
		return true
	}
	me := s.members[si]
	if !me.Admin {
		return false
	}
	target := identity.ID(op.Target)
	ti := s.find(target)
	switch op.Kind {
	case wire.OpRename:
		return true
	case wire.OpInvite:
		return ti < 0 && len(s.members) < MaxMembers
	case wire.OpPromote:
		return ti >= 0 && !s.members[ti].Admin
	case wire.OpKick:
		if ti < 0 || target == signer {
			return false
		}
		return !s.members[ti].Admin || s.members[ti].adminAt > me.adminAt
	case wire.OpDemote:
		return ti >= 0 && target != signer && s.members[ti].Admin && s.members[ti].adminAt > me.adminAt
	}
	return false
}

// apply makes op (authorized) take effect at fold position pos.
func (s *State) apply(op *wire.GroupOp, signer identity.ID, pos int) {
	target := identity.ID(op.Target)
	switch op.Kind {
	case wire.OpCreate:
		s.Name, s.Creator = op.Name, signer
		s.members = []Member{{ID: signer, Admin: true, joined: pos, adminAt: pos}}
	case wire.OpRename:
		s.Name = op.Name
	case wire.OpInvite:
		s.members = append(s.members, Member{ID: target, joined: pos})
		delete(s.cutoff, target)
	case wire.OpPromote:
		i := s.find(target)
		s.members[i].Admin, s.members[i].adminAt = true, pos
	case wire.OpDemote:
		s.members[s.find(target)].Admin = false
	case wire.OpKick:
		s.remove(target, op.Seq, pos)
	case wire.OpLeave:
		s.remove(signer, op.Seq, pos)
	}
}

// remove takes id out of the members, keeping seq as its cutoff. When the
// last admin goes, the most senior remaining member becomes admin, so a
// group with members always has one.
func (s *State) remove(id identity.ID, seq uint64, pos int) {
	i := s.find(id)
	s.members = slices.Delete(s.members, i, i+1)
	if s.cutoff == nil {
		s.cutoff = make(map[identity.ID]uint64)
	}
	s.cutoff[id] = seq
	if len(s.members) > 0 && !slices.ContainsFunc(s.members, func(m Member) bool { return m.Admin }) {
		s.members[0].Admin, s.members[0].adminAt = true, pos
	}
}

// removes returns whom op takes authority from when it takes effect: the
// target of a kick or demote. (A leave is the signer's own choice: the
// signer's concurrent ops stand.)
func removes(op *wire.GroupOp) (identity.ID, bool) {
	if op.Kind == wire.OpKick || op.Kind == wire.OpDemote {
		return identity.ID(op.Target), true
	}
	return "", false
}

// node is one op in a group's graph.
type node struct {
	op       wire.GroupOp
	hash     wire.OpHash
	signer   identity.ID
	parents  []*node
	children []*node
}

// foldResult is the outcome of folding a graph.
type foldResult struct {
	state     State
	order     []*node // a topological order
	effective map[*node]bool
}

// fold computes the state of the graph rooted at genesis. The order is
// Kahn's topological sort, taking among the ops whose parents are all
// placed the one whose signer ranks first in the state so far (State.rank),
// then the lowest hash. Each op takes effect iff its signer is authorized
// in the state so far and it is not void. When a kick or demote of X takes
// effect, every other op by X that is concurrent with it (neither its
// ancestor nor its descendant), leaves aside, becomes void; if such an op
// had already taken effect, the fold starts over with the larger void
// set. The void set only grows, so this ends, and the result depends only
// on the graph.
func fold(genesis *node, size int) foldResult {
	void := make(map[*node]bool)
	for {
		r, again := foldOnce(genesis, size, void)
		if !again {
			return r
		}
	}
}

func foldOnce(genesis *node, size int, void map[*node]bool) (foldResult, bool) {
	r := foldResult{order: make([]*node, 0, size), effective: make(map[*node]bool, size)}
	placed := make(map[*node]int, size) // parents placed so far
	q := readyQueue{{n: genesis}}
	var bySigner map[identity.ID][]*node
	for len(q) > 0 {
		n := q.pop()
		pos := len(r.order)
		r.order = append(r.order, n)
		if !void[n] && (pos == 0 || r.state.authorized(&n.op, n.signer)) {
			r.state.apply(&n.op, n.signer, pos)
			r.effective[n] = true
			if n.op.Kind != wire.OpRename { // ranks changed
				q.rerank(r.state)
			}
			if x, ok := removes(&n.op); ok {
				if bySigner == nil {
					bySigner = signersOf(genesis)
				}
				if voidConcurrent(n, bySigner[x], void, r.effective) {
					return r, true
				}
			}
		}
		for _, c := range n.children {
			placed[c]++
			if placed[c] == len(c.parents) {
				q.push(c, r.state)
			}
		}
	}
	return r, false
}

// readyQueue holds the ops whose parents are all placed, sorted so that
// the next to place (lowest signer rank, then lowest hash) is last.
type readyQueue []readyOp

type readyOp struct {
	n    *node
	rank int
}

func laterFirst(a, b readyOp) int {
	if a.rank != b.rank {
		return b.rank - a.rank
	}
	return bytes.Compare(b.n.hash[:], a.n.hash[:])
}

func (q *readyQueue) push(n *node, s State) {
	r := readyOp{n, s.rank(n.signer)}
	i, _ := slices.BinarySearchFunc(*q, r, laterFirst)
	*q = slices.Insert(*q, i, r)
}

func (q *readyQueue) pop() *node {
	last := (*q)[len(*q)-1]
	*q = (*q)[:len(*q)-1]
	return last.n
}

// rerank recomputes the ranks after a change of members or admins.
func (q readyQueue) rerank(s State) {
	if len(q) < 2 {
		return
	}
	for i := range q {
		q[i].rank = s.rank(q[i].n.signer)
	}
	slices.SortFunc(q, laterFirst)
}

// voidConcurrent voids the ops in ops (all by one signer) that are
// concurrent with removal and not leaves. It reports whether one of them
// had already taken effect.
func voidConcurrent(removal *node, ops []*node, void map[*node]bool, effective map[*node]bool) bool {
	if len(ops) == 0 {
		return false
	}
	anc := reach(removal, func(n *node) []*node { return n.parents })
	desc := reach(removal, func(n *node) []*node { return n.children })
	again := false
	for _, o := range ops {
		if o == removal || o.op.Kind == wire.OpLeave || anc[o] || desc[o] || void[o] {
			continue
		}
		void[o] = true
		again = again || effective[o]
	}
	return again
}

// reach returns the nodes reachable from n by next, n excluded.
func reach(n *node, next func(*node) []*node) map[*node]bool {
	return walk(next(n), next, func(*node) bool { return true })
}

// walk visits each node reachable from start by next (start included)
// once, until visit returns false; it returns the nodes visited.
func walk(start []*node, next func(*node) []*node, visit func(*node) bool) map[*node]bool {
	seen := make(map[*node]bool)
	stack := slices.Clone(start)
	for len(stack) > 0 {
		x := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[x] {
			continue
		}
		seen[x] = true
		if !visit(x) {
			break
		}
		stack = append(stack, next(x)...)
	}
	return seen
}

// signersOf groups the graph's ops by signer.
func signersOf(genesis *node) map[identity.ID][]*node {
	out := make(map[identity.ID][]*node)
	all := reach(genesis, func(n *node) []*node { return n.children })
	all[genesis] = true
	for n := range all {
		out[n.signer] = append(out[n.signer], n)
	}
	return out
}
