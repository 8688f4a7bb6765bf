package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// A migration takes the schema from its version to the next. Migrations
// are never edited once released: a change to the schema is a new one at
// the end of the list, which also fills in what it adds from the data
// already stored (as version 2 does for search).
//
// The history part (messages, their search index and the conversation
// summary) is applied to the file's "main" schema when history is kept,
// and to a fresh "temp" schema at every open when it is not; the file part
// (contacts, pins, the persisted outbox, the ids seen) is only ever in the
// file. In the history part, "{S}" stands for the schema.
type migration struct {
	history string
	file    string
}

// messageColumns are the columns of messages and of outbox, in the order
// scanMessage reads them. A migration that adds a column to messages adds
// it to outbox too.
const messageColumns = `seq, version, kind, conv, id, peer, sender, body, outgoing, sent_at, committed_at, state, attempts, error`

var migrations = []migration{
	// Version 1: messages, contacts, pins.
	{
		history: `
CREATE TABLE {S}.messages (
	seq          INTEGER PRIMARY KEY, -- Message.Seq: commit order, never reused
	version      INTEGER NOT NULL,    -- Message.Version: the last change
	kind         TEXT NOT NULL DEFAULT 'text', -- what the row holds (later: 'file', 'event')
	conv         TEXT NOT NULL,       -- ConvID ('id:<peer>', 'orig:<nick>@<ip>', later groups)
	id           TEXT NOT NULL DEFAULT '', -- wire id; '' for original peers
	peer         TEXT NOT NULL DEFAULT '',
	sender       TEXT NOT NULL DEFAULT '', -- Message.From
	body         TEXT NOT NULL DEFAULT '',
	outgoing     INTEGER NOT NULL DEFAULT 0,
	sent_at      INTEGER NOT NULL DEFAULT 0, -- Unix microseconds; 0 = unknown
	committed_at INTEGER NOT NULL DEFAULT 0,
	state        INTEGER NOT NULL,
	attempts     INTEGER NOT NULL DEFAULT 0,
	error        TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX {S}.messages_conv_id ON messages (conv, id) WHERE id <> '';
CREATE INDEX {S}.messages_conv_seq ON messages (conv, seq);
CREATE INDEX {S}.messages_version ON messages (version);
CREATE INDEX {S}.messages_outbox ON messages (conv, seq) WHERE outgoing = 1 AND state IN (1, 2);
CREATE INDEX {S}.messages_unread ON messages (conv, seq) WHERE outgoing = 0 AND state = 0;
`,
		file: `
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE contacts (
	identity   TEXT PRIMARY KEY,
	nickname   TEXT NOT NULL DEFAULT '',
	nicknames  TEXT NOT NULL DEFAULT '[]', -- JSON array of every nickname seen
	first_seen INTEGER NOT NULL DEFAULT 0,
	last_seen  INTEGER NOT NULL DEFAULT 0,
	last_addr  TEXT NOT NULL DEFAULT '',
	verified   INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE pins (fold TEXT PRIMARY KEY, identity TEXT NOT NULL) WITHOUT ROWID;
-- With history off, the pending outgoing messages live here (same columns
-- as messages) and the ids of the messages received, for dropping
-- duplicates after a restart, in seen.
CREATE TABLE outbox (
	seq INTEGER PRIMARY KEY, version INTEGER NOT NULL, kind TEXT NOT NULL DEFAULT 'text',
	conv TEXT NOT NULL, id TEXT NOT NULL DEFAULT '', peer TEXT NOT NULL DEFAULT '',
	sender TEXT NOT NULL DEFAULT '', body TEXT NOT NULL DEFAULT '', outgoing INTEGER NOT NULL DEFAULT 0,
	sent_at INTEGER NOT NULL DEFAULT 0, committed_at INTEGER NOT NULL DEFAULT 0, state INTEGER NOT NULL,
	attempts INTEGER NOT NULL DEFAULT 0, error TEXT NOT NULL DEFAULT ''
);
CREATE TABLE seen (conv TEXT NOT NULL, id TEXT NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (conv, id)) WITHOUT ROWID;
CREATE INDEX seen_at ON seen (at);
`,
	},
	// Version 2: full-text search (FTS5, kept by a trigger) and a summary
	// per conversation, so that start-up lists conversations without
	// reading every message.
	{
		history: `
CREATE VIRTUAL TABLE {S}.messages_fts USING fts5 (
	body, content = 'messages', content_rowid = 'seq',
	tokenize = "unicode61 tokenchars '_'", prefix = '2'
);
INSERT INTO {S}.messages_fts (messages_fts) VALUES ('rebuild');
CREATE TABLE {S}.conversations (
	conv     TEXT PRIMARY KEY,
	peer     TEXT NOT NULL,  -- of the last message
	nickname TEXT NOT NULL,  -- the sender of the last incoming message
	last_seq INTEGER NOT NULL,
	last_at  INTEGER NOT NULL,
	messages INTEGER NOT NULL,
	unread   INTEGER NOT NULL
);
INSERT INTO {S}.conversations (conv, peer, nickname, last_seq, last_at, messages, unread)
	SELECT conv, peer, '', max(seq), committed_at, count(*), total(outgoing = 0 AND state = 0)
	FROM {S}.messages GROUP BY conv;
UPDATE {S}.conversations SET nickname = coalesce((SELECT sender FROM {S}.messages m
	WHERE m.conv = conversations.conv AND m.outgoing = 0 ORDER BY seq DESC LIMIT 1), '');
CREATE TRIGGER {S}.messages_added AFTER INSERT ON messages BEGIN
	INSERT INTO messages_fts (rowid, body) VALUES (new.seq, new.body);
	INSERT INTO conversations (conv, peer, nickname, last_seq, last_at, messages, unread)
	VALUES (new.conv, new.peer, iif(new.outgoing, '', new.sender), new.seq, new.committed_at, 1,
		new.outgoing = 0 AND new.state = 0)
	ON CONFLICT (conv) DO UPDATE SET
		peer = excluded.peer,
		nickname = iif(new.outgoing, nickname, excluded.nickname),
		last_seq = max(last_seq, excluded.last_seq),
		last_at = excluded.last_at,
		messages = messages + 1,
		unread = unread + excluded.unread;
END;
CREATE TRIGGER {S}.messages_read AFTER UPDATE OF state ON messages
WHEN (old.outgoing = 0 AND old.state = 0) <> (new.outgoing = 0 AND new.state = 0) BEGIN
	UPDATE conversations SET unread = unread + iif(new.state = 0, 1, -1) WHERE conv = new.conv;
END;
`,
	},
}

// schemaVersion is the version this build writes.
var schemaVersion = len(migrations)

// historySQL returns the history part of migration i for schema.
func historySQL(i int, schema string) string {
	return strings.ReplaceAll(migrations[i].history, "{S}", schema)
}

// migrate brings the file from version from to schemaVersion (the caller
// holds a write transaction).
func migrate(ctx context.Context, c *sql.Conn, from int, history bool) error {
	for i := from; i < schemaVersion; i++ {
		if _, err := c.ExecContext(ctx, migrations[i].file); err != nil {
			return fmt.Errorf("migrate to version %d: %w", i+1, err)
		}
		// The history tables are in the file even when history is off,
		// so that turning it on later finds them.
		if _, err := c.ExecContext(ctx, historySQL(i, "main")); err != nil {
			return fmt.Errorf("migrate to version %d: %w", i+1, err)
		}
		if _, err := c.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", i+1)); err != nil {
			return fmt.Errorf("migrate to version %d: %w", i+1, err)
		}
	}
	return nil
}

// createTemp creates the history tables in the connection's temp schema,
// for a session with history off.
func createTemp(ctx context.Context, c *sql.Conn) error {
	for i := range migrations {
		if _, err := c.ExecContext(ctx, historySQL(i, "temp")); err != nil {
			return fmt.Errorf("create the in-memory history: %w", err)
		}
	}
	return nil
}
