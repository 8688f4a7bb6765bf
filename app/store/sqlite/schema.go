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

// messageColumns are the columns of messages, in the order scanMessage
// reads them.
const messageColumns = `seq, version, kind, cid, id, peer, sender, body, outgoing, sent_at, committed_at, state, attempts, error`

// outboxColumns are the columns of outbox: those of messages, with the
// conversation by name (the outbox outlives the in-memory conversation
// numbers of a session with history off). A migration that adds a column
// to messages adds it here too.
const outboxColumns = `seq, version, kind, conv, id, peer, sender, body, outgoing, sent_at, committed_at, state, attempts, error`

var migrations = []migration{
	// Version 1: conversations, messages, contacts, pins.
	{
		history: `
-- One row per conversation: its name, and a summary, so that start-up
-- lists conversations without reading every message. Messages refer to
-- it by number (cid), which keeps the long names out of every row and
-- index entry.
CREATE TABLE {S}.conversations (
	cid      INTEGER PRIMARY KEY,
	conv     TEXT NOT NULL UNIQUE, -- ConvID: 'id:<peer>', 'orig:<nick>@<ip>', later groups
	kind     TEXT NOT NULL,        -- the ConvID's prefix: 'id', 'orig', later 'group'
	peer     TEXT NOT NULL,        -- the peer of its first message; messages store theirs only when different
	nickname TEXT NOT NULL DEFAULT '', -- the sender of the last incoming message
	last_seq INTEGER NOT NULL DEFAULT 0,
	last_at  INTEGER NOT NULL DEFAULT 0,
	messages INTEGER NOT NULL DEFAULT 0,
	unread   INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE {S}.messages (
	seq          INTEGER PRIMARY KEY, -- Message.Seq: commit order, never reused
	version      INTEGER NOT NULL,    -- Message.Version: the last change
	kind         TEXT NOT NULL DEFAULT 'text', -- what the row holds (later: 'file', 'event')
	cid          INTEGER NOT NULL REFERENCES conversations (cid),
	id           TEXT NOT NULL DEFAULT '', -- wire id; '' for original peers
	peer         TEXT,                -- NULL: the conversation's peer
	sender       TEXT NOT NULL DEFAULT '', -- Message.From
	body         TEXT NOT NULL DEFAULT '',
	outgoing     INTEGER NOT NULL DEFAULT 0,
	sent_at      INTEGER NOT NULL DEFAULT 0, -- Unix microseconds; 0 = unknown
	committed_at INTEGER NOT NULL DEFAULT 0,
	state        INTEGER NOT NULL,
	attempts     INTEGER NOT NULL DEFAULT 0,
	error        TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX {S}.messages_cid_id ON messages (cid, id) WHERE id <> '';
CREATE INDEX {S}.messages_cid_seq ON messages (cid, seq);
CREATE INDEX {S}.messages_version ON messages (version);
CREATE INDEX {S}.messages_outbox ON messages (cid, seq) WHERE outgoing = 1 AND state IN (1, 2);
CREATE INDEX {S}.messages_unread ON messages (cid, seq) WHERE outgoing = 0 AND state = 0;
CREATE TRIGGER {S}.messages_read AFTER UPDATE OF state ON messages
WHEN (old.outgoing = 0 AND old.state = 0) <> (new.outgoing = 0 AND new.state = 0) BEGIN
	UPDATE conversations SET unread = unread + iif(new.state = 0, 1, -1) WHERE cid = new.cid;
END;
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
-- With history off, the pending outgoing messages live here and the ids
-- of the messages received, for dropping duplicates after a restart, in
-- seen.
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
	// Version 2: full-text search (FTS5), filled from the messages already
	// there. It is not kept by a trigger: FTS5 writes its pending changes
	// out at every statement, which per message costs more than the
	// message. Append indexes its batch in one statement, in the same
	// transaction.
	{
		history: `
CREATE VIRTUAL TABLE {S}.messages_fts USING fts5 (
	body, content = 'messages', content_rowid = 'seq',
	tokenize = "unicode61 tokenchars '_'", prefix = '1 2 3', columnsize = 0
);
INSERT INTO {S}.messages_fts (messages_fts) VALUES ('rebuild');
`,
	},
	// Version 3: records, for what other parts of Parlance keep beside the
	// messages, by kind (file transfers: one JSON record a transfer). In
	// the file whatever the history setting: a transfer resumes after a
	// restart either way.
	{
		file: `
CREATE TABLE records (kind TEXT NOT NULL, id TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (kind, id)) WITHOUT ROWID;
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
