package app

import "sync"

// Store keeps conversation history. The in-memory MemoryStore is the only
// one today; a database-backed store will implement the same interface.
type Store interface {
	// Append adds a message to its conversation (m.Peer).
	Append(m Message) error
	// History returns a conversation's messages, oldest first.
	History(key PeerKey) ([]Message, error)
	// Forget drops a conversation (its peer was evicted from the
	// registry).
	Forget(key PeerKey) error
}

// Limits of MemoryStore, so that messages from the network, however many
// and however large, cannot exhaust memory.
const (
	DefaultHistoryLimit = 100_000  // messages kept per conversation
	DefaultConvBytes    = 16 << 20 // text bytes kept per conversation
	DefaultTotalBytes   = 256 << 20
)

// MemoryStore is a Store in memory. Each conversation keeps at most
// DefaultHistoryLimit messages and DefaultConvBytes of text, dropping its
// oldest; past DefaultTotalBytes in all, the conversation appended to
// least recently is dropped whole.
type MemoryStore struct {
	limit      int
	convBytes  int
	totalBytes int

	mu    sync.Mutex
	convs map[PeerKey]*memConv
	total int   // text bytes held
	clock int64 // counts appends, to find the least recent conversation
}

type memConv struct {
	msgs  []Message
	bytes int
	last  int64
}

// NewMemoryStore returns a store keeping at most limit messages per
// conversation (DefaultHistoryLimit when limit <= 0).
func NewMemoryStore(limit int) *MemoryStore {
	if limit <= 0 {
		limit = DefaultHistoryLimit
	}
	return &MemoryStore{limit: limit, convBytes: DefaultConvBytes, totalBytes: DefaultTotalBytes, convs: make(map[PeerKey]*memConv)}
}

func msgBytes(m Message) int { return len(m.Text) + len(m.From) + len(m.ID) + 64 }

// Append implements Store.
func (s *MemoryStore) Append(m Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.convs[m.Peer]
	if c == nil {
		c = &memConv{}
		s.convs[m.Peer] = c
	}
	s.clock++
	c.last = s.clock
	c.msgs = append(c.msgs, m)
	c.bytes += msgBytes(m)
	s.total += msgBytes(m)
	if len(c.msgs) > s.limit || c.bytes > s.convBytes {
		// Drop the oldest tenth at once so trimming is amortised O(1),
		// in place: the backing array is kept, so neither the trim nor
		// the appends after it allocate and copy a new one.
		drop := max(len(c.msgs)-s.limit, 0) + len(c.msgs)/10
		for _, old := range c.msgs[:drop] {
			c.bytes -= msgBytes(old)
			s.total -= msgBytes(old)
		}
		n := copy(c.msgs, c.msgs[drop:])
		clear(c.msgs[n:]) // let the dropped messages' strings be collected
		c.msgs = c.msgs[:n]
	}
	for s.total > s.totalBytes && len(s.convs) > 1 {
		var lru PeerKey
		var oldest int64 = -1
		for k, v := range s.convs {
			if k != m.Peer && (oldest < 0 || v.last < oldest) {
				lru, oldest = k, v.last
			}
		}
		s.forgetLocked(lru)
	}
	return nil
}

// History implements Store. The returned slice is a copy.
func (s *MemoryStore) History(key PeerKey) ([]Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.convs[key]; c != nil {
		return append([]Message(nil), c.msgs...), nil
	}
	return nil, nil
}

// Forget implements Store.
func (s *MemoryStore) Forget(key PeerKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forgetLocked(key)
	return nil
}

func (s *MemoryStore) forgetLocked(key PeerKey) {
	if c := s.convs[key]; c != nil {
		s.total -= c.bytes
		delete(s.convs, key)
	}
}
