// Package store keeps what Parlance must not lose: the messages of every
// conversation (both directions, with their delivery state), the outbox of
// messages not yet acknowledged, and the contacts (keys, nicknames, trust).
//
// The Store interface has two implementations: Memory (this package; the
// default for tests and for a node run without a data directory) and the
// SQLite one in app/store/sqlite. The database is the source of truth: the
// node commits a received message before it acknowledges it or tells the UI,
// and the UIs read what changed from the store by Version (Changes), so a UI
// that fell behind catches up instead of losing anything.
//
// Conversations are keyed by ConvID, not by peer, so that groups and file
// transfers can live beside one-to-one chats.
//
// A Store is safe for concurrent use. Callers never hold a lock of their
// own while calling it (a disk write may take milliseconds).
package store

import (
	"errors"
	"time"
)

// ConvID identifies a conversation. A one-to-one conversation uses its
// peer's key ("id:<peer ID>", or "orig:<nickname>@<IP>" for an original
// peer); later kinds (groups) use their own prefix.
type ConvID string

// State is how far a message got.
type State uint8

// Delivery states. Incoming messages are Received (or Read once the user
// saw them); outgoing ones move Queued → Sent → Delivered (→ Read), or end
// Failed, or SentNoReceipt for an original peer, which sends no
// acknowledgements.
const (
	Received      State = iota // incoming, committed
	Queued                     // outgoing, in the outbox, not written yet
	Sent                       // outgoing, written to the peer's connection (✓)
	Delivered                  // outgoing, acknowledged by the peer (✓✓)
	Read                       // the user (ours or the peer's) read it
	Failed                     // outgoing, given up (expired or refused); /resend retries
	SentNoReceipt              // outgoing to an original peer: written, no receipts exist
)

var stateNames = [...]string{"received", "queued", "sent", "delivered", "read", "failed", "sent (no receipts)"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "unknown"
}

// Pending reports whether an outgoing message in this state is still in the
// outbox (to be sent, or sent and waiting for its acknowledgement).
func (s State) Pending() bool { return s == Queued || s == Sent }

// Message is one chat message, incoming or outgoing.
type Message struct {
	// Seq orders the store's messages by when they were committed: it is
	// the Version at which Append added the message, and never changes
	// (so Seqs have gaps, and a message with Seq > v was added after
	// version v). History pages by it.
	Seq int64
	// Version is the store-wide change counter of the last change to the
	// message (its commit, or a state change). Changes reads by it.
	Version int64
	// ID is the wire message id (random, unique per message); empty for a
	// message from an original peer, which has none.
	ID   string
	Conv ConvID
	// Peer is the key of the author of an incoming message, or of the
	// recipient of an outgoing one (in a one-to-one conversation, the same
	// as Conv).
	Peer string
	// From is the author's nickname when the message was made.
	From     string
	Text     string
	Outgoing bool
	// Sent is the author's timestamp (whole seconds on the wire); At is
	// when this node committed it.
	Sent, At time.Time
	State    State
	// Attempts counts the times an outgoing message was written; Error
	// says why the last attempt failed (or why it was given up).
	Attempts int
	Error    string
}

// Conversation summarises a conversation that has messages.
type Conversation struct {
	Conv     ConvID
	Peer     string // for one-to-one conversations, the peer's key
	Nickname string // the peer's last nickname, as stored with its messages
	LastSeq  int64
	LastAt   time.Time
	Messages int
	Unread   int // incoming messages not yet Read
}

// Contact is what is remembered of a peer with a key.
type Contact struct {
	Identity  string // peer ID
	Nickname  string // the last nickname it used
	Nicknames []string
	FirstSeen time.Time
	LastSeen  time.Time
	LastAddr  string // "ip:port" it was last reached at, or ""
	Verified  bool
}

// Errors the stores return (wrapped).
var (
	// ErrNotFound: no message with that id in that conversation.
	ErrNotFound = errors.New("not found")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("store closed")
)

// Store is the interface both implementations satisfy.
type Store interface {
	// Append commits messages in one transaction and returns those it
	// added, with Seq and Version set, in order. A message whose
	// (Conv, ID) is already stored is skipped (a retry from the sender,
	// or our own resend): it is not returned. Messages without an ID are
	// always added.
	Append(ms []Message) ([]Message, error)
	// SetState changes the state of the messages with the given ids in
	// conv and returns those that changed (with their new Version). A
	// state never goes back: Delivered does not become Sent, Read does
	// not become Delivered; Failed and Queued may follow each other
	// (expiry, /resend). errText is stored in Error ("" clears it).
	SetState(conv ConvID, ids []string, st State, errText string) ([]Message, error)
	// MarkAttempt records that outgoing messages were written once more.
	MarkAttempt(conv ConvID, ids []string) error
	// Outbox returns the outgoing messages of conv still pending (Queued
	// or Sent), oldest first, at most limit.
	Outbox(conv ConvID, limit int) ([]Message, error)
	// OutboxConvs lists the conversations with pending outgoing messages.
	OutboxConvs() ([]ConvID, error)
	// ExpireOutbox marks Failed (with errText) every pending outgoing
	// message committed before cutoff, and returns them.
	ExpireOutbox(cutoff time.Time, errText string) ([]Message, error)

	// History returns up to limit messages of conv with Seq < before
	// (before <= 0: the newest), oldest first.
	History(conv ConvID, before int64, limit int) ([]Message, error)
	// Changes returns up to limit messages, of every conversation, that
	// were added or changed after version, in Version order.
	Changes(after int64, limit int) ([]Message, error)
	// LastVersion is the newest Version in the store.
	LastVersion() (int64, error)
	// Message returns one message by conversation and id.
	Message(conv ConvID, id string) (Message, error)
	// Conversations lists the conversations that have messages, the most
	// recent first.
	Conversations() ([]Conversation, error)
	// MarkRead marks the incoming messages of conv up to Seq upTo Read and
	// returns them.
	MarkRead(conv ConvID, upTo int64) ([]Message, error)
	// Search finds messages whose text matches query (words, all of
	// them, prefix matches allowed), newest first, at most limit.
	Search(query string, limit int) ([]Message, error)

	// Contacts returns every remembered contact.
	Contacts() ([]Contact, error)
	// SaveContact adds or replaces a contact (by Identity).
	SaveContact(c Contact) error
	// Pins returns the trust-on-first-use pins: folded nickname → peer ID.
	Pins() (map[string]string, error)
	// SetPin pins a folded nickname to a peer ID.
	SetPin(fold, identity string) error

	// Close releases the store. Calls after Close fail with ErrClosed.
	Close() error
}
