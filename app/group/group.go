package group

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/parlance-chat/parlance/net/identity"
	"github.com/parlance-chat/parlance/net/wire"
)

// Limits of one group. What happens beyond each is said beside it and in
// the package doc.
const (
	// MaxMembers is the most members a group has: an invite beyond it is
	// refused locally and void (no effect) when it comes from elsewhere.
	MaxMembers = 256
	// MaxOps is the most membership ops a group's graph holds; beyond it
	// new ops are refused (ErrHistoryFull): make a new group.
	MaxOps = 4096
	// MaxPending is the most ops held per group while their parents are
	// missing; beyond it the oldest is dropped (a later catch-up brings
	// it back).
	MaxPending = 64
	// MaxGapsPerSender is the most gaps in one sender's sequence numbers
	// a group remembers to ask for; beyond it the oldest gap is given up.
	MaxGapsPerSender = 256
	// MaxSeqJump is how far past the highest sequence number seen from a
	// sender a message may be; a message beyond it is refused, so a
	// member cannot make the others ask for a billion missing messages.
	MaxSeqJump = 1 << 20
)

// Errors of the engine. Errors about frames from the network wrap ErrForged
// or ErrNotMember; errors for the user say what to do next.
var (
	// ErrForged is wrapped by errors about a frame whose signature or
	// signer does not check out: it is dropped and logged (rate-limited).
	ErrForged = errors.New("forged group frame")
	// ErrNotMember is wrapped by errors about a message or op whose signer
	// is not (or no longer) a member.
	ErrNotMember = errors.New("not a member of the group")
	// ErrNotAllowed is wrapped by errors about an action the user's role
	// does not allow.
	ErrNotAllowed = errors.New("not allowed")
	// ErrOriginalPeer is returned for an attempt to add a peer without an
	// identity (an original Parlance peer): it has no key to sign or check
	// group frames with.
	ErrOriginalPeer = errors.New("an original Parlance peer has no identity key, so it cannot be a group member; it must run this version of Parlance first")
	// ErrHistoryFull is wrapped when a group's graph holds MaxOps ops.
	ErrHistoryFull = errors.New("group history is full")
	// ErrUnknownGroup is wrapped by errors about a group this node is not
	// in (and has no invitation to).
	ErrUnknownGroup = errors.New("unknown group")
)

// Group is one group's op graph, membership state and message tracking.
// It is safe for concurrent use.
type Group struct {
	id    wire.GroupID
	store Store

	mu      sync.Mutex
	nodes   map[wire.OpHash]*node
	genesis *node
	heads   []*node // sorted by hash
	fr      foldResult
	pending []pendingOp // oldest first
	tracks  map[identity.ID]*seqTrack
	// invites holds, per peer, the invite ops naming it (see admitted).
	invites map[identity.ID][]*node
	// changed is set when an insert changes the members or name.
	changed bool
}

type pendingOp struct {
	op     wire.GroupOp
	hash   wire.OpHash
	signer identity.ID
}

// verifyOp checks op's fields, that its key derives its signer and that
// the signature holds; it returns the signer and the op's hash.
func verifyOp(op *wire.GroupOp) (identity.ID, wire.OpHash, error) {
	if err := op.Validate(); err != nil {
		return "", wire.OpHash{}, err
	}
	signed := op.SignedBytes()
	signer := identity.IDFromPublicKey(op.Key)
	if string(signer) != op.Signer {
		return "", wire.OpHash{}, fmt.Errorf("%w: op signer %s does not match its key", ErrForged, identity.ID(op.Signer).Short())
	}
	if !identity.Verify(op.Key, signed, op.Sig) {
		return "", wire.OpHash{}, fmt.Errorf("%w: bad signature on %s op by %s", ErrForged, op.Kind, signer.Short())
	}
	return signer, sha256.Sum256(signed), nil
}

// verifyMessage checks m's fields, that its key derives its sender and
// that the signature holds.
func verifyMessage(m *wire.GroupMessage) (identity.ID, error) {
	if err := m.Validate(); err != nil {
		return "", err
	}
	sender := identity.IDFromPublicKey(m.Key)
	if string(sender) != m.Sender {
		return "", fmt.Errorf("%w: message sender %s does not match its key", ErrForged, identity.ID(m.Sender).Short())
	}
	if !identity.Verify(m.Key, m.SignedBytes(), m.Sig) {
		return "", fmt.Errorf("%w: bad signature on message %d from %s", ErrForged, m.Seq, sender.Short())
	}
	return sender, nil
}

// newGroup starts a group from its (verified) create op. It stores the
// op when store is true.
func newGroup(create wire.GroupOp, st Store, store bool) (*Group, error) {
	if create.Kind != wire.OpCreate {
		return nil, fmt.Errorf("group %s starts with a %s op, not create", create.Group, create.Kind)
	}
	signer, h, err := verifyOp(&create)
	if err != nil {
		return nil, err
	}
	if store {
		if err := st.PutOp(create); err != nil {
			return nil, fmt.Errorf("store group %s: %w", create.Group, err)
		}
	}
	n := &node{op: create, hash: h, signer: signer}
	g := &Group{
		id: create.Group, store: st,
		nodes:   map[wire.OpHash]*node{h: n},
		genesis: n,
		heads:   []*node{n},
		tracks:  make(map[identity.ID]*seqTrack),
		invites: make(map[identity.ID][]*node),
	}
	g.fr = fold(n, 1)
	return g, nil
}

// loadGroup rebuilds a group from its stored ops and message sequence
// numbers.
func loadGroup(id wire.GroupID, st Store) (*Group, error) {
	ops, err := st.Ops(id)
	if err != nil {
		return nil, fmt.Errorf("load group %s: %w", id, err)
	}
	if len(ops) == 0 {
		return nil, fmt.Errorf("load group %s: %w", id, ErrUnknownGroup)
	}
	g, err := newGroup(ops[0], st, false)
	if err != nil {
		return nil, fmt.Errorf("load group %s: %w", id, err)
	}
	for _, op := range ops[1:] {
		signer, h, err := verifyOp(&op)
		if err != nil {
			return nil, fmt.Errorf("load group %s: %w", id, err)
		}
		if _, err := g.insertLocked(op, h, signer, false); err != nil {
			return nil, fmt.Errorf("load group %s: %w", id, err)
		}
	}
	g.fr = fold(g.genesis, len(g.nodes))
	seqs, err := st.Seqs(id)
	if err != nil {
		return nil, fmt.Errorf("load group %s: %w", id, err)
	}
	for sender, rs := range seqs {
		g.tracks[sender] = &seqTrack{r: rs}
	}
	return g, nil
}

// ID returns the group's id.
func (g *Group) ID() wire.GroupID { return g.id }

// State returns the group's current membership.
func (g *Group) State() State {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.fr.state.clone()
}

// Heads returns the hashes of the ops no other op follows yet, sorted.
func (g *Group) Heads() []wire.OpHash {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.headHashes(len(g.heads))
}

func (g *Group) headHashes(limit int) []wire.OpHash {
	out := make([]wire.OpHash, 0, min(limit, len(g.heads)))
	for _, h := range g.heads[:min(limit, len(g.heads))] {
		out = append(out, h.hash)
	}
	return out
}

// Missing returns the hashes of ops that held-back ops name as parents
// and that this group does not have: what a catch-up must bring.
func (g *Group) Missing() []wire.OpHash {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []wire.OpHash
	for _, p := range g.pending {
		for _, h := range p.op.Parents {
			if g.nodes[h] == nil && !g.isPending(h) && !slices.Contains(out, h) {
				out = append(out, h)
			}
		}
	}
	return out
}

// Joining reports whether an op inviting me waits for its parents: me
// accepted an invitation and is not a member until a catch-up brings the
// ops the invite follows.
func (g *Group) Joining(me identity.ID) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.ContainsFunc(g.pending, func(p pendingOp) bool {
		return p.op.Kind == wire.OpInvite && identity.ID(p.op.Target) == me
	})
}

func (g *Group) isPending(h wire.OpHash) bool {
	return slices.ContainsFunc(g.pending, func(p pendingOp) bool { return p.hash == h })
}

// OpStatus says what became of an op given to a group.
type OpStatus int

const (
	OpAdded     OpStatus = iota // joined the graph (effective or void)
	OpDuplicate                 // already in the graph or held back
	OpPending                   // held back until its parents arrive
)

// AddOp verifies op and adds it to the graph, or holds it back while its
// parents are missing. changed reports whether the membership or name
// changed (including by held-back ops that op completed).
func (g *Group) AddOp(op wire.GroupOp) (status OpStatus, changed bool, err error) {
	if op.Group != g.id {
		return 0, false, fmt.Errorf("op of group %s given to group %s", op.Group, g.id)
	}
	// Duplicates are common (every catch-up resends some): tell them by
	// hash before paying for the signature check.
	g.mu.Lock()
	dup := g.nodes[op.Hash()] != nil || g.isPending(op.Hash())
	g.mu.Unlock()
	if dup {
		return OpDuplicate, false, nil
	}
	signer, h, err := verifyOp(&op)
	if err != nil {
		return 0, false, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.changed = false
	status, err = g.insertLocked(op, h, signer, true)
	if err != nil || status != OpAdded {
		return status, false, err
	}
	err = g.drainPendingLocked()
	return status, g.changed, err
}

// insertLocked adds a verified op to the graph and updates the fold.
func (g *Group) insertLocked(op wire.GroupOp, h wire.OpHash, signer identity.ID, store bool) (OpStatus, error) {
	if g.nodes[h] != nil || g.isPending(h) {
		return OpDuplicate, nil
	}
	if op.Kind == wire.OpCreate {
		return 0, fmt.Errorf("%w: a second create op for group %s", ErrForged, g.id)
	}
	if len(g.nodes) >= MaxOps {
		return 0, fmt.Errorf("%w: group %s has %d ops; make a new group", ErrHistoryFull, g.id, MaxOps)
	}
	parents := make([]*node, 0, len(op.Parents))
	for _, p := range op.Parents {
		pn := g.nodes[p]
		if pn == nil {
			g.holdLocked(pendingOp{op, h, signer})
			return OpPending, nil
		}
		parents = append(parents, pn)
	}
	// The common case: the op follows every head, so it comes last in any
	// order and the fold extends by one op.
	extends := len(parents) == len(g.heads)
	for _, hd := range g.heads {
		extends = extends && slices.Contains(parents, hd)
	}
	if !g.admitted(signer, parents, extends) {
		return 0, fmt.Errorf("%w: %s op by %s, who is not invited in the ops before it", ErrNotMember, op.Kind, signer.Short())
	}
	if store {
		if err := g.store.PutOp(op); err != nil {
			return 0, fmt.Errorf("store op of group %s: %w", g.id, err)
		}
	}
	n := &node{op: op, hash: h, signer: signer, parents: parents}
	if op.Kind == wire.OpInvite {
		g.invites[identity.ID(op.Target)] = append(g.invites[identity.ID(op.Target)], n)
	}
	for _, p := range parents {
		p.children = append(p.children, n)
	}
	g.nodes[h] = n
	g.heads = slices.DeleteFunc(g.heads, func(hd *node) bool { return slices.Contains(parents, hd) })
	i, _ := slices.BinarySearchFunc(g.heads, n, func(a, b *node) int { return bytes.Compare(a.hash[:], b.hash[:]) })
	g.heads = slices.Insert(g.heads, i, n)
	if !store {
		return OpAdded, nil // loadGroup folds once at the end
	}
	if extends {
		g.fr.order = append(g.fr.order, n)
		if g.fr.state.authorized(&op, signer) {
			before := g.fr.state.Name
			g.fr.state.apply(&op, signer, len(g.fr.order)-1)
			g.fr.effective[n] = true
			g.changed = g.changed || op.Kind != wire.OpRename || op.Name != before
		}
		return OpAdded, nil
	}
	before := g.fr.state
	g.fr = fold(g.genesis, len(g.nodes)) // a new state: before is intact
	g.changed = g.changed || !before.equal(g.fr.state)
	return OpAdded, nil
}

// admitted reports whether an op by signer with these parents may join
// the graph at all: its signer must be the creator or named by an invite
// among its ancestors. This depends on the op's past only, so every member
// decides alike, and it keeps strangers from filling a group's history
// with ops (MaxOps) that would be void anyway.
func (g *Group) admitted(signer identity.ID, parents []*node, extends bool) bool {
	if signer == g.genesis.signer {
		return true
	}
	invites := g.invites[signer]
	if len(invites) == 0 {
		return false
	}
	if extends {
		return true // every op is an ancestor
	}
	found := false
	walk(parents, func(n *node) []*node { return n.parents }, func(n *node) bool {
		found = slices.Contains(invites, n)
		return !found
	})
	return found
}

// holdLocked keeps an op whose parents are missing, dropping the oldest
// held op beyond MaxPending.
func (g *Group) holdLocked(p pendingOp) {
	if len(g.pending) >= MaxPending {
		g.pending = slices.Delete(g.pending, 0, 1)
	}
	g.pending = append(g.pending, p)
}

// drainPendingLocked adds the held-back ops whose parents have all arrived.
func (g *Group) drainPendingLocked() error {
	for progress := true; progress; {
		progress = false
		for i := 0; i < len(g.pending); i++ {
			p := g.pending[i]
			ready := true
			for _, h := range p.op.Parents {
				ready = ready && g.nodes[h] != nil
			}
			if !ready {
				continue
			}
			g.pending = slices.Delete(g.pending, i, i+1)
			if _, err := g.insertLocked(p.op, p.hash, p.signer, true); err != nil {
				return err
			}
			progress = true
			i--
		}
	}
	return nil
}

// Effective reports whether the op with hash h is in the graph and took
// effect (false for an op that is void or unknown).
func (g *Group) Effective(h wire.OpHash) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := g.nodes[h]
	return n != nil && g.fr.effective[n]
}

// AcceptMessage verifies m and stores it if it is new and its sender may
// post: a member, or a former member up to the cutoff its removal
// recorded. added is false for a duplicate (same id, or same sender and
// seq). gap reports that m's seq is past the next one expected from its
// sender, so a catch-up is due.
func (g *Group) AcceptMessage(m wire.GroupMessage) (added, gap bool, err error) {
	if m.Group != g.id {
		return false, false, fmt.Errorf("message of group %s given to group %s", m.Group, g.id)
	}
	sender, err := verifyMessage(&m)
	if err != nil {
		return false, false, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.acceptLocked(m, sender)
}

func (g *Group) acceptLocked(m wire.GroupMessage, sender identity.ID) (added, gap bool, err error) {
	st := &g.fr.state
	if !st.IsMember(sender) {
		cut, ok := st.cutoff[sender]
		if !ok || m.Seq > cut {
			return false, false, fmt.Errorf("%w: message %d from %s to #%s", ErrNotMember, m.Seq, sender.Short(), st.Name)
		}
	}
	t := g.tracks[sender]
	if t == nil {
		t = &seqTrack{}
		g.tracks[sender] = t
	}
	top := t.max()
	if m.Seq > top+MaxSeqJump {
		return false, false, fmt.Errorf("message %d from %s to #%s is over %d past the last one (%d); refused", m.Seq, sender.Short(), st.Name, MaxSeqJump, top)
	}
	added, err = g.store.PutMessage(m)
	if err != nil {
		return false, false, fmt.Errorf("store message of #%s: %w", st.Name, err)
	}
	if added {
		t.add(m.Seq, MaxGapsPerSender)
	}
	return added, added && m.Seq > top+1, nil
}

// nextSeq returns the sequence number of sender's next message.
func (g *Group) nextSeq(sender identity.ID) uint64 {
	if t := g.tracks[sender]; t != nil {
		return t.max() + 1
	}
	return 1
}

// History returns up to limit of the latest messages in display order.
func (g *Group) History(limit int) ([]wire.GroupMessage, error) {
	return g.store.History(g.id, limit)
}
