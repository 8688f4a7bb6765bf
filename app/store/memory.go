package store

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// Limits of Memory, so that messages from the network, however many and
// however large, cannot exhaust memory.
const (
	DefaultHistoryLimit = 100_000  // messages kept per conversation
	DefaultConvBytes    = 16 << 20 // text bytes kept per conversation
	DefaultTotalBytes   = 256 << 20
)

// Memory is a Store in memory: history lasts as long as the process. Each
// conversation keeps at most DefaultHistoryLimit messages and
// DefaultConvBytes of text, dropping its oldest; past DefaultTotalBytes in
// all, the oldest messages of the conversation appended to least recently
// go. Messages still in the outbox are never dropped.
type Memory struct {
	limit, convBytes, totalBytes int

	mu      sync.Mutex
	closed  bool
	version int64
	convs   map[ConvID]*memConv
	total   int
	clock   int64
	// log holds every message in the order of its Version; an entry whose
	// message changed since (or was dropped) is stale and skipped.
	log      []logEntry
	live     int
	contacts map[string]Contact
	pins     map[string]string
}

type logEntry struct {
	version int64
	m       *Message
}

type memConv struct {
	msgs  []*Message // by Seq
	byID  map[string]*Message
	bytes int
	last  int64
}

// NewMemory returns an empty in-memory store keeping at most limit
// messages per conversation (DefaultHistoryLimit when limit <= 0).
func NewMemory(limit int) *Memory {
	if limit <= 0 {
		limit = DefaultHistoryLimit
	}
	return &Memory{
		limit: limit, convBytes: DefaultConvBytes, totalBytes: DefaultTotalBytes,
		convs: map[ConvID]*memConv{}, contacts: map[string]Contact{}, pins: map[string]string{},
	}
}

func msgBytes(m *Message) int { return len(m.Text) + len(m.From) + 64 }

func (s *Memory) check() error {
	if s.closed {
		return ErrClosed
	}
	return nil
}

// touch gives m a new Version and logs it.
func (s *Memory) touch(m *Message) {
	s.version++
	m.Version = s.version
	s.log = append(s.log, logEntry{s.version, m})
	if len(s.log) > 2*s.live+1024 {
		s.compact()
	}
}

// compact drops stale log entries.
func (s *Memory) compact() {
	out := s.log[:0]
	for _, e := range s.log {
		if e.m.Version == e.version && e.m.Seq != 0 {
			out = append(out, e)
		}
	}
	clear(s.log[len(out):])
	s.log = out
}

// Append implements Store.
func (s *Memory) Append(ms []Message) ([]Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return nil, err
	}
	out := make([]Message, 0, len(ms))
	for _, m := range ms {
		c := s.convs[m.Conv]
		if c == nil {
			c = &memConv{byID: map[string]*Message{}}
			s.convs[m.Conv] = c
		}
		if m.ID != "" && c.byID[m.ID] != nil {
			continue
		}
		p := new(Message)
		*p = m
		p.Seq = s.version + 1 // the Version it is added at
		s.touch(p)
		s.live++
		c.msgs = append(c.msgs, p)
		if p.ID != "" {
			c.byID[p.ID] = p
		}
		s.clock++
		c.last = s.clock
		c.bytes += msgBytes(p)
		s.total += msgBytes(p)
		out = append(out, *p)
		if len(c.msgs) > s.limit || c.bytes > s.convBytes {
			s.trim(c, max(len(c.msgs)-s.limit, 0)+len(c.msgs)/10)
		}
		for s.total > s.totalBytes && len(s.convs) > 1 {
			lru := s.lruExcept(m.Conv)
			if lru == nil || !s.trim(lru, max(len(lru.msgs)/2, 1)) {
				break
			}
		}
	}
	return out, nil
}

func (s *Memory) lruExcept(conv ConvID) *memConv {
	var lru *memConv
	for k, c := range s.convs {
		if k != conv && len(c.msgs) > 0 && (lru == nil || c.last < lru.last) {
			lru = c
		}
	}
	return lru
}

// trim drops up to n of the oldest messages of c that are not pending,
// in place; it reports whether it dropped any.
func (s *Memory) trim(c *memConv, n int) bool {
	kept := c.msgs[:0]
	dropped := 0
	for _, m := range c.msgs {
		if dropped < n && !(m.Outgoing && m.State.Pending()) {
			dropped++
			c.bytes -= msgBytes(m)
			s.total -= msgBytes(m)
			s.live--
			if m.ID != "" {
				delete(c.byID, m.ID)
			}
			m.Text, m.Seq = "", 0 // its log entry is now stale
			continue
		}
		kept = append(kept, m)
	}
	clear(c.msgs[len(kept):])
	c.msgs = kept
	return dropped > 0
}

// SetState implements Store.
func (s *Memory) SetState(conv ConvID, ids []string, st State, errText string) ([]Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return nil, err
	}
	c := s.convs[conv]
	if c == nil {
		return nil, nil
	}
	var out []Message
	for _, id := range ids {
		m := c.byID[id]
		if m == nil || m.Seq == 0 || !CanMove(m.State, st) {
			continue
		}
		m.State, m.Error = st, errText
		s.touch(m)
		out = append(out, *m)
	}
	return out, nil
}

// CanMove reports whether a message may go from state a to state b: states
// only go forward, except that Failed and Queued may follow each other
// (expiry and /resend) and a Sent message may be queued again (its
// connection broke before the acknowledgement).
func CanMove(a, b State) bool {
	if a == b {
		return false
	}
	switch b {
	case Queued:
		return a == Failed || a == Sent
	case Sent:
		return a == Queued
	case Delivered:
		return a == Queued || a == Sent || a == Failed
	case Read:
		return a != Read
	case Failed:
		return a == Queued || a == Sent
	case SentNoReceipt:
		return a == Queued || a == Sent
	}
	return false
}

// MarkAttempt implements Store.
func (s *Memory) MarkAttempt(conv ConvID, ids []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return err
	}
	if c := s.convs[conv]; c != nil {
		for _, id := range ids {
			if m := c.byID[id]; m != nil {
				m.Attempts++
			}
		}
	}
	return nil
}

// Outbox implements Store.
func (s *Memory) Outbox(conv ConvID, limit int) ([]Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return nil, err
	}
	var out []Message
	if c := s.convs[conv]; c != nil {
		for _, m := range c.msgs {
			if m.Outgoing && m.State.Pending() {
				out = append(out, *m)
				if len(out) == limit {
					break
				}
			}
		}
	}
	return out, nil
}

// OutboxConvs implements Store.
func (s *Memory) OutboxConvs() ([]ConvID, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return nil, err
	}
	var out []ConvID
	for k, c := range s.convs {
		for _, m := range c.msgs {
			if m.Outgoing && m.State.Pending() {
				out = append(out, k)
				break
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

// ExpireOutbox implements Store.
func (s *Memory) ExpireOutbox(cutoff time.Time, errText string) ([]Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return nil, err
	}
	var out []Message
	for _, c := range s.convs {
		for _, m := range c.msgs {
			if m.Outgoing && m.State.Pending() && m.At.Before(cutoff) {
				m.State, m.Error = Failed, errText
				s.touch(m)
				out = append(out, *m)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out, nil
}

// History implements Store.
func (s *Memory) History(conv ConvID, before int64, limit int) ([]Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return nil, err
	}
	c := s.convs[conv]
	if c == nil || limit <= 0 {
		return nil, nil
	}
	end := len(c.msgs)
	if before > 0 {
		end = sort.Search(len(c.msgs), func(i int) bool { return c.msgs[i].Seq >= before })
	}
	start := max(end-limit, 0)
	out := make([]Message, 0, end-start)
	for _, m := range c.msgs[start:end] {
		out = append(out, *m)
	}
	return out, nil
}

// Changes implements Store.
func (s *Memory) Changes(after int64, limit int) ([]Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return nil, err
	}
	i := sort.Search(len(s.log), func(i int) bool { return s.log[i].version > after })
	var out []Message
	for ; i < len(s.log) && len(out) < limit; i++ {
		e := s.log[i]
		if e.m.Version == e.version && e.m.Seq != 0 {
			out = append(out, *e.m)
		}
	}
	return out, nil
}

// LastVersion implements Store.
func (s *Memory) LastVersion() (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.version, s.check()
}

// Message implements Store.
func (s *Memory) Message(conv ConvID, id string) (Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return Message{}, err
	}
	if c := s.convs[conv]; c != nil {
		if m := c.byID[id]; m != nil && m.Seq != 0 {
			return *m, nil
		}
	}
	return Message{}, fmt.Errorf("message %s in %s: %w", id, conv, ErrNotFound)
}

// Conversations implements Store.
func (s *Memory) Conversations() ([]Conversation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return nil, err
	}
	var out []Conversation
	for k, c := range s.convs {
		if len(c.msgs) == 0 {
			continue
		}
		last := c.msgs[len(c.msgs)-1]
		cv := Conversation{Conv: k, Peer: last.Peer, LastSeq: last.Seq, LastAt: last.At, Messages: len(c.msgs)}
		for i := len(c.msgs) - 1; i >= 0; i-- {
			m := c.msgs[i]
			if !m.Outgoing && cv.Nickname == "" {
				cv.Nickname = m.From
			}
			if !m.Outgoing && m.State == Received {
				cv.Unread++
			}
		}
		out = append(out, cv)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].LastSeq > out[j].LastSeq })
	return out, nil
}

// MarkRead implements Store.
func (s *Memory) MarkRead(conv ConvID, upTo int64) ([]Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return nil, err
	}
	var out []Message
	if c := s.convs[conv]; c != nil {
		for _, m := range c.msgs {
			if m.Seq > upTo {
				break
			}
			if !m.Outgoing && m.State == Received {
				m.State = Read
				s.touch(m)
				out = append(out, *m)
			}
		}
	}
	return out, nil
}

// Search implements Store: every word of query must start a word of the
// text (case-insensitive).
func (s *Memory) Search(query string, limit int) ([]Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return nil, err
	}
	words := strings.Fields(strings.ToLower(query))
	if len(words) == 0 {
		return nil, nil
	}
	var out []Message
	for _, c := range s.convs {
		for _, m := range c.msgs {
			if matchesAll(strings.ToLower(m.Text), words) {
				out = append(out, *m)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq > out[j].Seq })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func matchesAll(text string, words []string) bool {
	fields := strings.FieldsFunc(text, func(r rune) bool {
		return !(r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r > 127)
	})
	for _, w := range words {
		if !slices.ContainsFunc(fields, func(f string) bool { return strings.HasPrefix(f, w) }) {
			return false
		}
	}
	return true
}

// Contacts implements Store.
func (s *Memory) Contacts() ([]Contact, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return nil, err
	}
	out := make([]Contact, 0, len(s.contacts))
	for _, c := range s.contacts {
		c.Nicknames = slices.Clone(c.Nicknames)
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Identity < out[j].Identity })
	return out, nil
}

// SaveContact implements Store.
func (s *Memory) SaveContact(c Contact) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return err
	}
	c.Nicknames = slices.Clone(c.Nicknames)
	s.contacts[c.Identity] = c
	return nil
}

// Pins implements Store.
func (s *Memory) Pins() (map[string]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return nil, err
	}
	out := make(map[string]string, len(s.pins))
	for k, v := range s.pins {
		out[k] = v
	}
	return out, nil
}

// SetPin implements Store.
func (s *Memory) SetPin(fold, identity string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return err
	}
	s.pins[fold] = identity
	return nil
}

// Close implements Store.
func (s *Memory) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}
