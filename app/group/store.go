package group

import (
	"bytes"
	"slices"
	"sync"

	"github.com/parlance-chat/parlance/net/identity"
	"github.com/parlance-chat/parlance/net/wire"
)

// Store persists the ops and messages of groups. The engine calls it for
// every op that joins a group's graph and every message it accepts, and
// reads it to load groups at start and to answer catch-up requests. It
// must be safe for concurrent use. MemoryStore implements it; a SQLite one
// maps it onto two tables (ops keyed by group and hash in insertion order;
// messages unique on group+id and on group+sender+seq, indexed by
// group+time+id for History).
//
// A node's own next sequence number comes from the store too: a node that
// lost its store learns its last number back from its first catch-up
// (which asks for its own messages as well); until then, what it sends
// repeats numbers the others hold and is refused as duplicates.
type Store interface {
	// PutOp records an op of a group's graph. Ops of one group arrive
	// parents first.
	PutOp(op wire.GroupOp) error
	// Ops returns a group's ops in the order PutOp recorded them.
	Ops(group wire.GroupID) ([]wire.GroupOp, error)
	// Groups lists the groups that have ops.
	Groups() ([]wire.GroupID, error)
	// PutMessage records m unless a message of its group with its id, or
	// with its sender and seq, is stored; added reports whether it was.
	PutMessage(m wire.GroupMessage) (added bool, err error)
	// Range returns, by seq, up to limit messages of sender in group
	// numbered from to to (inclusive; to 0 means no end).
	Range(group wire.GroupID, sender identity.ID, from, to uint64, limit int) ([]wire.GroupMessage, error)
	// Seqs returns, for each sender of the group, the stored sequence
	// numbers as sorted, disjoint ranges.
	Seqs(group wire.GroupID) (map[identity.ID][]SeqRange, error)
	// History returns up to limit of the group's latest messages, in
	// display order (DisplayBefore).
	History(group wire.GroupID, limit int) ([]wire.GroupMessage, error)
}

// DisplayBefore reports whether a is shown before b: by sender timestamp,
// then by id. It is the same order on every member, whatever order the
// messages arrived in.
func DisplayBefore(a, b wire.GroupMessage) bool { return displayCmp(a, b) < 0 }

func displayCmp(a, b wire.GroupMessage) int {
	if a.Time != b.Time {
		if a.Time < b.Time {
			return -1
		}
		return 1
	}
	return bytes.Compare(a.ID[:], b.ID[:])
}

// MemoryStore is a Store in memory, for tests and for history = "off".
type MemoryStore struct {
	mu     sync.Mutex
	ops    map[wire.GroupID][]wire.GroupOp
	groups map[wire.GroupID]*memGroup
}

type senderSeq struct {
	sender identity.ID
	seq    uint64
}

type memGroup struct {
	ids     map[wire.MessageID]bool
	bySeq   map[senderSeq]wire.GroupMessage
	tracks  map[identity.ID]*seqTrack
	display []wire.GroupMessage // in display order once sorted
	sorted  bool                // display is sorted
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{ops: make(map[wire.GroupID][]wire.GroupOp), groups: make(map[wire.GroupID]*memGroup)}
}

func (s *MemoryStore) PutOp(op wire.GroupOp) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ops[op.Group] = append(s.ops[op.Group], op)
	return nil
}

func (s *MemoryStore) Ops(group wire.GroupID) ([]wire.GroupOp, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ops[group]), nil
}

func (s *MemoryStore) Groups() ([]wire.GroupID, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]wire.GroupID, 0, len(s.ops))
	for g := range s.ops {
		out = append(out, g)
	}
	slices.SortFunc(out, func(a, b wire.GroupID) int { return bytes.Compare(a[:], b[:]) })
	return out, nil
}

func (s *MemoryStore) PutMessage(m wire.GroupMessage) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groups[m.Group]
	if g == nil {
		g = &memGroup{ids: make(map[wire.MessageID]bool), bySeq: make(map[senderSeq]wire.GroupMessage), tracks: make(map[identity.ID]*seqTrack), sorted: true}
		s.groups[m.Group] = g
	}
	key := senderSeq{identity.ID(m.Sender), m.Seq}
	if g.ids[m.ID] {
		return false, nil
	}
	if _, ok := g.bySeq[key]; ok {
		return false, nil
	}
	g.ids[m.ID] = true
	g.bySeq[key] = m
	t := g.tracks[key.sender]
	if t == nil {
		t = &seqTrack{}
		g.tracks[key.sender] = t
	}
	t.add(m.Seq, 0)
	// Sorted when read: a catch-up from several senders would otherwise
	// insert in the middle, moving the slice at every message.
	g.sorted = g.sorted && (len(g.display) == 0 || displayCmp(g.display[len(g.display)-1], m) < 0)
	g.display = append(g.display, m)
	return true, nil
}

func (s *MemoryStore) Range(group wire.GroupID, sender identity.ID, from, to uint64, limit int) ([]wire.GroupMessage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groups[group]
	if g == nil {
		return nil, nil
	}
	t := g.tracks[sender]
	if t == nil {
		return nil, nil
	}
	var out []wire.GroupMessage
	for _, r := range t.r {
		for seq := max(r.From, from); seq <= r.To && (to == 0 || seq <= to); seq++ {
			if len(out) >= limit {
				return out, nil
			}
			out = append(out, g.bySeq[senderSeq{sender, seq}])
		}
	}
	return out, nil
}

func (s *MemoryStore) Seqs(group wire.GroupID) (map[identity.ID][]SeqRange, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[identity.ID][]SeqRange)
	if g := s.groups[group]; g != nil {
		for id, t := range g.tracks {
			out[id] = slices.Clone(t.r)
		}
	}
	return out, nil
}

func (s *MemoryStore) History(group wire.GroupID, limit int) ([]wire.GroupMessage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groups[group]
	if g == nil {
		return nil, nil
	}
	if !g.sorted {
		slices.SortFunc(g.display, displayCmp)
		g.sorted = true
	}
	return slices.Clone(g.display[max(0, len(g.display)-limit):]), nil
}
