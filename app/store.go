package app

import "sync"

// Store keeps conversation history. The in-memory MemoryStore is the only
// one today; a database-backed store will implement the same interface.
type Store interface {
	// Append adds a message to its conversation (m.Peer).
	Append(m Message) error
	// History returns a conversation's messages, oldest first.
	History(key PeerKey) ([]Message, error)
}

// DefaultHistoryLimit is how many messages MemoryStore keeps per
// conversation; older ones are dropped so a flood cannot exhaust memory.
const DefaultHistoryLimit = 100_000

// MemoryStore is a Store in memory, bounded per conversation.
type MemoryStore struct {
	limit int
	mu    sync.Mutex
	convs map[PeerKey][]Message
}

// NewMemoryStore returns a store keeping at most limit messages per
// conversation (DefaultHistoryLimit when limit <= 0).
func NewMemoryStore(limit int) *MemoryStore {
	if limit <= 0 {
		limit = DefaultHistoryLimit
	}
	return &MemoryStore{limit: limit, convs: make(map[PeerKey][]Message)}
}

// Append implements Store.
func (s *MemoryStore) Append(m Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.convs[m.Peer]
	if len(c) >= s.limit {
		// Drop the oldest tenth at once so trimming is amortised O(1),
		// in place: the backing array is kept, so neither the trim nor
		// the appends after it allocate and copy a new one.
		drop := len(c) - s.limit + 1 + s.limit/10
		n := copy(c, c[drop:])
		clear(c[n:]) // let the dropped messages' strings be collected
		c = c[:n]
	}
	s.convs[m.Peer] = append(c, m)
	return nil
}

// History implements Store. The returned slice is a copy.
func (s *MemoryStore) History(key PeerKey) ([]Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.convs[key]...), nil
}
