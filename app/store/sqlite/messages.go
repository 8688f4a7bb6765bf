package sqlite

import (
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/parlance-chat/parlance/app/store"
)

// Append implements store.Store.
func (s *Store) Append(ms []store.Message) ([]store.Message, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	if len(ms) == 0 {
		return nil, nil
	}
	seq, ver := s.seq, s.version
	out := make([]store.Message, 0, len(ms))
	var created []*convRef // remembered once committed
	err := s.write("save messages to", func() error {
		for _, m := range ms {
			c, err := s.convFor(m, &created)
			if err != nil {
				return err
			}
			var peer any // NULL: the conversation's
			if m.Peer != c.peer {
				peer = m.Peer
			}
			// Seq is the Version the message is added at (see
			// store.Message.Seq).
			args := []any{ver + 1, ver + 1, "text", c.cid, m.ID, peer, m.From, m.Text,
				m.Outgoing, micros(m.Sent), micros(m.At), int(m.State), m.Attempts, m.Error}
			if !s.opts.History {
				args = append(args, string(m.Conv))
			}
			res, err := s.insert.ExecContext(bg, args...)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil || n == 0 {
				continue // a duplicate
			}
			ver++
			seq = ver
			m.Seq, m.Version = seq, ver
			out = append(out, m)
		}
		if _, err := s.exec(`INSERT INTO messages_fts (rowid, body) SELECT seq, body FROM messages WHERE seq > ?`, s.seq); err != nil {
			return err
		}
		return s.addToConversations(out)
	})
	if err != nil {
		return nil, err
	}
	s.seq, s.version = seq, ver
	for _, c := range created {
		s.remember(c)
	}
	return out, nil
}

// convFor returns the conversation of m, adding it to the table (and to
// created) if it is new. The caller holds s.mu, in a write transaction.
func (s *Store) convFor(m store.Message, created *[]*convRef) (*convRef, error) {
	if c := s.convs[m.Conv]; c != nil {
		return c, nil
	}
	for _, c := range *created {
		if c.conv == m.Conv {
			return c, nil
		}
	}
	kind, _, ok := strings.Cut(string(m.Conv), ":")
	if !ok {
		kind = ""
	}
	c := &convRef{conv: m.Conv, peer: m.Peer}
	err := s.queryRow(`INSERT INTO conversations (conv, kind, peer) VALUES (?, ?, ?) RETURNING cid`,
		string(m.Conv), kind, m.Peer).Scan(&c.cid)
	if err != nil {
		return nil, err
	}
	*created = append(*created, c)
	return c, nil
}

// added adds the messages after seq, put in by SQL alone, to the search
// index and the conversation summaries (the caller holds s.mu, in a write
// transaction).
func (s *Store) added(after int64) error {
	if _, err := s.exec(`INSERT INTO messages_fts (rowid, body) SELECT seq, body FROM messages WHERE seq > ?`, after); err != nil {
		return err
	}
	_, err := s.exec(`UPDATE conversations SET
		nickname = coalesce((SELECT sender FROM messages i
			WHERE i.cid = conversations.cid AND i.seq > ?1 AND i.outgoing = 0 ORDER BY i.seq DESC LIMIT 1), nickname),
		last_seq = n.last_seq, last_at = n.last_at,
		messages = conversations.messages + n.messages, unread = conversations.unread + n.unread
	FROM (SELECT cid, max(seq) AS last_seq, committed_at AS last_at, count(*) AS messages,
			total(outgoing = 0 AND state = 0) AS unread
		FROM messages WHERE seq > ?1 GROUP BY +cid) AS n -- "+": read the new rows by seq, not all by cid
	WHERE conversations.cid = n.cid`, after)
	return err
}

// addToConversations adds the messages just appended to the conversation
// summaries, one statement per conversation (the caller holds s.mu, in a
// write transaction).
func (s *Store) addToConversations(ms []store.Message) error {
	type sum struct {
		last             store.Message
		nickname         string
		messages, unread int
	}
	var order []store.ConvID
	sums := map[store.ConvID]*sum{}
	for _, m := range ms {
		c := sums[m.Conv]
		if c == nil {
			c = &sum{}
			sums[m.Conv] = c
			order = append(order, m.Conv)
		}
		c.last = m
		c.messages++
		if !m.Outgoing {
			c.nickname = m.From
			if m.State == store.Received {
				c.unread++
			}
		}
	}
	for _, conv := range order {
		c := sums[conv]
		if _, err := s.exec(`UPDATE conversations SET nickname = iif(?1 = '', nickname, ?1), last_seq = ?2, last_at = ?3,
			messages = messages + ?4, unread = unread + ?5 WHERE conv = ?6`,
			c.nickname, c.last.Seq, micros(c.last.At), c.messages, c.unread, string(conv)); err != nil {
			return err
		}
	}
	return nil
}

// change gives the messages with the given seqs the state st (and
// errText), each a new Version, in one transaction, and returns them. The
// caller holds s.mu.
func (s *Store) change(doing string, seqs []int64, st store.State, errText string) ([]store.Message, error) {
	if len(seqs) == 0 {
		return nil, nil
	}
	ver := s.version
	out := make([]store.Message, 0, len(seqs))
	err := s.write(doing, func() error {
		for _, seq := range seqs {
			ver++
			m, err := s.scanOne(`UPDATE messages SET state = ?, error = ?, version = ? WHERE seq = ? RETURNING `+messageColumns,
				int(st), errText, ver, seq)
			if err != nil {
				return err
			}
			out = append(out, m)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.version = ver
	return out, nil
}

// SetState implements store.Store.
func (s *Store) SetState(conv store.ConvID, ids []string, st store.State, errText string) ([]store.Message, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	c := s.convs[conv]
	if c == nil {
		return nil, nil
	}
	var seqs []int64
	for _, id := range ids {
		var seq int64
		var old store.State
		err := s.queryRow(`SELECT seq, state FROM messages WHERE cid = ? AND id = ? AND id <> ''`, c.cid, id).Scan(&seq, &old)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, fileError("read message state from", s.path, err)
		}
		if store.CanMove(old, st) && !slices.Contains(seqs, seq) {
			seqs = append(seqs, seq)
		}
	}
	return s.change("save message state to", seqs, st, errText)
}

// MarkAttempt implements store.Store.
func (s *Store) MarkAttempt(conv store.ConvID, ids []string) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	c := s.convs[conv]
	if c == nil {
		return nil
	}
	return s.write("save send attempt to", func() error {
		for _, id := range ids {
			if _, err := s.exec(`UPDATE messages SET attempts = attempts + 1 WHERE cid = ? AND id = ? AND id <> ''`,
				c.cid, id); err != nil {
				return err
			}
		}
		return nil
	})
}

// Outbox implements store.Store.
func (s *Store) Outbox(conv store.ConvID, limit int) ([]store.Message, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	c := s.convs[conv]
	if c == nil {
		return nil, nil
	}
	return s.scan("read the outbox from", `SELECT `+messageColumns+` FROM messages
		WHERE cid = ? AND outgoing = 1 AND state IN (1, 2) ORDER BY seq LIMIT ?`, c.cid, limit)
}

// OutboxConvs implements store.Store.
func (s *Store) OutboxConvs() ([]store.ConvID, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	rows, err := s.query(`SELECT conv FROM conversations
		WHERE cid IN (SELECT cid FROM messages WHERE outgoing = 1 AND state IN (1, 2)) ORDER BY conv`)
	if err != nil {
		return nil, fileError("read the outbox from", s.path, err)
	}
	defer rows.Close()
	var out []store.ConvID
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, fileError("read the outbox from", s.path, err)
		}
		out = append(out, store.ConvID(c))
	}
	return out, fileError("read the outbox from", s.path, rows.Err())
}

// ExpireOutbox implements store.Store.
func (s *Store) ExpireOutbox(cutoff time.Time, errText string) ([]store.Message, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	seqs, err := s.seqs("read the outbox from", `SELECT seq FROM messages
		WHERE outgoing = 1 AND state IN (1, 2) AND committed_at < ? ORDER BY seq`, micros(cutoff))
	if err != nil {
		return nil, err
	}
	return s.change("expire the outbox in", seqs, store.Failed, errText)
}

// History implements store.Store.
func (s *Store) History(conv store.ConvID, before int64, limit int) ([]store.Message, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	c := s.convs[conv]
	if c == nil {
		return nil, nil
	}
	if before <= 0 {
		before = math.MaxInt64
	}
	out, err := s.scan("read history from", `SELECT `+messageColumns+` FROM messages
		WHERE cid = ? AND seq < ? ORDER BY seq DESC LIMIT ?`, c.cid, before, limit)
	slices.Reverse(out)
	return out, err
}

// Changes implements store.Store.
func (s *Store) Changes(after int64, limit int) ([]store.Message, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	return s.scan("read changes from", `SELECT `+messageColumns+` FROM messages
		WHERE version > ? ORDER BY version LIMIT ?`, after, limit)
}

// LastVersion implements store.Store.
func (s *Store) LastVersion() (int64, error) {
	if err := s.lock(); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	return s.version, nil
}

// Message implements store.Store.
func (s *Store) Message(conv store.ConvID, id string) (store.Message, error) {
	if err := s.lock(); err != nil {
		return store.Message{}, err
	}
	defer s.mu.Unlock()
	var m store.Message
	err := sql.ErrNoRows
	if c := s.convs[conv]; c != nil {
		m, err = s.scanOne(`SELECT `+messageColumns+` FROM messages WHERE cid = ? AND id = ? AND id <> ''`, c.cid, id)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return m, fmt.Errorf("message %s in %s: %w", id, conv, store.ErrNotFound)
	}
	return m, fileError("read a message from", s.path, err)
}

// Conversations implements store.Store.
func (s *Store) Conversations() ([]store.Conversation, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	rows, err := s.query(`SELECT conv, peer, nickname, last_seq, last_at, messages, unread
		FROM conversations WHERE messages > 0 ORDER BY last_seq DESC`)
	if err != nil {
		return nil, fileError("read conversations from", s.path, err)
	}
	defer rows.Close()
	var out []store.Conversation
	for rows.Next() {
		var c store.Conversation
		var at int64
		if err := rows.Scan(&c.Conv, &c.Peer, &c.Nickname, &c.LastSeq, &at, &c.Messages, &c.Unread); err != nil {
			return nil, fileError("read conversations from", s.path, err)
		}
		c.LastAt = fromMicros(at)
		out = append(out, c)
	}
	return out, fileError("read conversations from", s.path, rows.Err())
}

// MarkRead implements store.Store.
func (s *Store) MarkRead(conv store.ConvID, upTo int64) ([]store.Message, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	c := s.convs[conv]
	if c == nil {
		return nil, nil
	}
	seqs, err := s.seqs("read unread messages from", `SELECT seq FROM messages
		WHERE cid = ? AND seq <= ? AND outgoing = 0 AND state = 0 ORDER BY seq`, c.cid, upTo)
	if err != nil {
		return nil, err
	}
	return s.change("save read messages to", seqs, store.Read, "")
}

// Search implements store.Store: every word of query must start a word of
// the text (case-insensitive, diacritics ignored), newest first.
func (s *Store) Search(query string, limit int) ([]store.Message, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	words := queryWords(query)
	if len(words) == 0 || limit <= 0 {
		return nil, nil
	}
	parts := make([]string, len(words))
	for i, w := range words {
		terms, err := s.expand(w)
		if err != nil {
			return nil, fileError("search", s.path, err)
		}
		parts[i] = ftsWord(w, terms)
	}
	return s.scan("search", `SELECT `+messageColumns+` FROM messages WHERE seq IN (
		SELECT rowid FROM messages_fts WHERE messages_fts MATCH ? ORDER BY rowid DESC LIMIT ?)
		ORDER BY seq DESC`, strings.Join(parts, " AND "), limit)
}

// queryWords splits what the user typed where the index splits text, at
// anything but letters, digits and '_'.
func queryWords(query string) []string {
	return strings.FieldsFunc(query, func(r rune) bool {
		return !(r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r))
	})
}

// ftsWord is the FTS5 query for one word: a quoted string (so operators
// and punctuation are plain text) with a prefix match; or, when expand
// listed the longer words of the index it starts (terms != nil), the word
// or any of them.
func ftsWord(w string, terms []string) string {
	quote := func(t string) string { return `"` + strings.ReplaceAll(t, `"`, `""`) + `"` }
	if terms == nil {
		return quote(w) + "*"
	}
	alts := []string{quote(strings.ToLower(w))}
	for _, t := range terms {
		alts = append(alts, quote(t))
	}
	return "(" + strings.Join(alts, " OR ") + ")"
}

// maxExpansion is the most longer words expand lists before leaving the
// prefix match to FTS5.
const maxExpansion = 16

// expand lists the words of the index that are longer than w and start
// with it, when w is longer than the index's prefixes (3 characters), plain
// ASCII (which the index folds as strings.ToLower does) and there are at
// most maxExpansion of them; otherwise it returns nil. A prefix query in
// FTS5 reads every occurrence of every word it matches before it can give
// the newest, 30 ms for a word in most of a million messages; the same
// words as alternatives are read newest first, and the query stops at its
// limit.
func (s *Store) expand(w string) ([]string, error) {
	if len(w) <= 3 {
		return nil, nil
	}
	w = strings.ToLower(w)
	for _, r := range w {
		if !(r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z') {
			return nil, nil
		}
	}
	// "0" is the least character a longer word can go on with: the
	// lower bound skips w itself, whose occurrences the table counts.
	rows, err := s.query(`SELECT term FROM messages_vocab WHERE term >= ? AND term < ? LIMIT ?`, w+"0", w+"\U0010FFFF", maxExpansion+1)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	terms := []string{}
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, err
		}
		terms = append(terms, t)
	}
	if len(terms) > maxExpansion {
		return nil, rows.Err()
	}
	return terms, rows.Err()
}

// scan runs a query for messages.
func (s *Store) scan(doing, query string, args ...any) ([]store.Message, error) {
	rows, err := s.query(query, args...)
	if err != nil {
		return nil, fileError(doing, s.path, err)
	}
	defer rows.Close()
	var out []store.Message
	for rows.Next() {
		m, err := s.scanMessage(rows)
		if err != nil {
			return nil, fileError(doing, s.path, err)
		}
		out = append(out, m)
	}
	return out, fileError(doing, s.path, rows.Err())
}

// scanOne runs a query (or an UPDATE … RETURNING) for one message.
func (s *Store) scanOne(query string, args ...any) (store.Message, error) {
	return s.scanMessage(s.queryRow(query, args...))
}

// seqs runs a query for message seqs.
func (s *Store) seqs(doing, query string, args ...any) ([]int64, error) {
	rows, err := s.query(query, args...)
	if err != nil {
		return nil, fileError(doing, s.path, err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var seq int64
		if err := rows.Scan(&seq); err != nil {
			return nil, fileError(doing, s.path, err)
		}
		out = append(out, seq)
	}
	return out, fileError(doing, s.path, rows.Err())
}

// scanMessage reads the messageColumns of a row.
func (s *Store) scanMessage(r interface{ Scan(...any) error }) (store.Message, error) {
	var m store.Message
	var kind string
	var cid, sent, at int64
	var peer sql.NullString
	var state int
	err := r.Scan(&m.Seq, &m.Version, &kind, &cid, &m.ID, &peer, &m.From, &m.Text, &m.Outgoing,
		&sent, &at, &state, &m.Attempts, &m.Error)
	if err != nil {
		return m, err
	}
	c := s.cids[cid]
	if c == nil {
		return m, fmt.Errorf("message %d: no conversation %d", m.Seq, cid)
	}
	m.Conv, m.Peer = c.conv, c.peer
	if peer.Valid {
		m.Peer = peer.String
	}
	m.Sent, m.At, m.State = fromMicros(sent), fromMicros(at), store.State(state)
	return m, nil
}
