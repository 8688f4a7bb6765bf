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
	err := s.write("save messages to", func() error {
		for _, m := range ms {
			// Seq is the Version the message is added at (see
			// store.Message.Seq).
			res, err := s.insert.ExecContext(bg, ver+1, ver+1, "text", string(m.Conv), m.ID, m.Peer, m.From, m.Text,
				m.Outgoing, micros(m.Sent), micros(m.At), int(m.State), m.Attempts, m.Error)
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
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.seq, s.version = seq, ver
	return out, nil
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
	var seqs []int64
	for _, id := range ids {
		var seq int64
		var old store.State
		err := s.conn.QueryRowContext(bg, `SELECT seq, state FROM messages WHERE conv = ? AND id = ? AND id <> ''`, string(conv), id).Scan(&seq, &old)
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
	return s.write("save send attempt to", func() error {
		for _, id := range ids {
			if _, err := s.conn.ExecContext(bg, `UPDATE messages SET attempts = attempts + 1 WHERE conv = ? AND id = ? AND id <> ''`,
				string(conv), id); err != nil {
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
	return s.scan("read the outbox from", `SELECT `+messageColumns+` FROM messages
		WHERE conv = ? AND outgoing = 1 AND state IN (1, 2) ORDER BY seq LIMIT ?`, string(conv), limit)
}

// OutboxConvs implements store.Store.
func (s *Store) OutboxConvs() ([]store.ConvID, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	rows, err := s.conn.QueryContext(bg, `SELECT DISTINCT conv FROM messages WHERE outgoing = 1 AND state IN (1, 2) ORDER BY conv`)
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
	if before <= 0 {
		before = math.MaxInt64
	}
	out, err := s.scan("read history from", `SELECT `+messageColumns+` FROM messages
		WHERE conv = ? AND seq < ? ORDER BY seq DESC LIMIT ?`, string(conv), before, limit)
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
	m, err := s.scanOne(`SELECT `+messageColumns+` FROM messages WHERE conv = ? AND id = ? AND id <> ''`, string(conv), id)
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
	rows, err := s.conn.QueryContext(bg, `SELECT conv, peer, nickname, last_seq, last_at, messages, unread
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
	seqs, err := s.seqs("read unread messages from", `SELECT seq FROM messages
		WHERE conv = ? AND seq <= ? AND outgoing = 0 AND state = 0 ORDER BY seq`, string(conv), upTo)
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
	match := ftsQuery(query)
	if match == "" || limit <= 0 {
		return nil, nil
	}
	return s.scan("search", `SELECT `+messageColumns+` FROM messages WHERE seq IN (
		SELECT rowid FROM messages_fts WHERE messages_fts MATCH ? ORDER BY rowid DESC LIMIT ?)
		ORDER BY seq DESC`, match, limit)
}

// ftsQuery turns words typed by the user into an FTS5 query: the words
// (split where the index splits them, at anything but letters, digits and
// '_') each become a quoted string with a prefix match, all of them
// required. Quoting makes FTS5 operators and punctuation plain text.
func ftsQuery(query string) string {
	words := strings.FieldsFunc(query, func(r rune) bool {
		return !(r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r))
	})
	for i, w := range words {
		words[i] = `"` + strings.ReplaceAll(w, `"`, `""`) + `"*`
	}
	return strings.Join(words, " AND ")
}

// scan runs a query for messages.
func (s *Store) scan(doing, query string, args ...any) ([]store.Message, error) {
	rows, err := s.conn.QueryContext(bg, query, args...)
	if err != nil {
		return nil, fileError(doing, s.path, err)
	}
	defer rows.Close()
	var out []store.Message
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, fileError(doing, s.path, err)
		}
		out = append(out, m)
	}
	return out, fileError(doing, s.path, rows.Err())
}

// scanOne runs a query (or an UPDATE … RETURNING) for one message.
func (s *Store) scanOne(query string, args ...any) (store.Message, error) {
	return scanMessage(s.conn.QueryRowContext(bg, query, args...))
}

// seqs runs a query for message seqs.
func (s *Store) seqs(doing, query string, args ...any) ([]int64, error) {
	rows, err := s.conn.QueryContext(bg, query, args...)
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
func scanMessage(r interface{ Scan(...any) error }) (store.Message, error) {
	var m store.Message
	var kind, conv string
	var sent, at int64
	var state int
	err := r.Scan(&m.Seq, &m.Version, &kind, &conv, &m.ID, &m.Peer, &m.From, &m.Text, &m.Outgoing,
		&sent, &at, &state, &m.Attempts, &m.Error)
	m.Conv, m.Sent, m.At, m.State = store.ConvID(conv), fromMicros(sent), fromMicros(at), store.State(state)
	return m, err
}
