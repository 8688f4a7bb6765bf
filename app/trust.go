package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/parlance-chat/parlance/net/wire"
)

// ContactsFileName is the trust-on-first-use file in the data directory.
const ContactsFileName = "contacts.json"

// maxContactsFile bounds the contacts file read at start.
const maxContactsFile = 16 << 20

// MaxContacts bounds how many keys and nickname pins are remembered, so the
// file cannot grow without bound. Keys beyond it are treated as new each
// time and not written down.
const MaxContacts = 10_000

// Contacts remembers which key first proved itself under each nickname
// (trust on first use) and which keys the user verified. It is safe for concurrent
// use. With an empty path it keeps everything in memory only.
type Contacts struct {
	path string
	mu   sync.Mutex
	data contactsFile

	// With a backend (NewContacts), changes are written by Flush, never
	// while the caller holds a lock of its own; see contacts_store.go.
	backend ContactBackend
	dirty   bool
	flushed contactsFile        // what the backend holds
	seen    map[string]seenInfo // last nickname, address and time, by identity
}

type contactsFile struct {
	// Pinned maps a nickname, folded (wire.FoldNickname, so look-alikes
	// share a pin), to the identity first proven with it.
	Pinned map[string]string `json:"pinned"`
	// Keys holds what is known of each identity.
	Keys map[string]contactKey `json:"keys"`
}

type contactKey struct {
	Nickname  string    `json:"nickname"`
	FirstSeen time.Time `json:"first_seen"`
	Verified  bool      `json:"verified,omitempty"`
}

// OpenContacts loads the contacts file at path (a missing file is an empty
// one). path "" keeps contacts in memory only.
func OpenContacts(path string) (*Contacts, error) {
	c := &Contacts{path: path, data: contactsFile{Pinned: map[string]string{}, Keys: map[string]contactKey{}}}
	if path == "" {
		return c, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read contacts: %w", err)
	}
	if len(b) > maxContactsFile {
		return nil, fmt.Errorf("contacts file %s is %d bytes, over the %d limit; move it away to start afresh", path, len(b), maxContactsFile)
	}
	if err := json.Unmarshal(b, &c.data); err != nil {
		return nil, fmt.Errorf("contacts file %s is corrupt (%v); fix or move it away to start afresh (known keys will be trusted anew)", path, err)
	}
	if c.data.Pinned == nil {
		c.data.Pinned = map[string]string{}
	}
	if c.data.Keys == nil {
		c.data.Keys = map[string]contactKey{}
	}
	return c, nil
}

// Check says how far a peer seen with nickname nick and identity id (""
// for a peer without a key) is trusted, without remembering anything: what
// announces claim is not proof, so only Observe, called once a peer has
// proven its key, pins a nickname.
//
//   - a key the user verified, under its pinned nickname or a free one: verified
//   - the key pinned to this nickname: known
//   - a nickname pinned to another key, or a keyless peer using a pinned
//     nickname: key changed (a different person; kept apart)
//   - otherwise: new (with a key) or none (without)
func (c *Contacts) Check(nick, id string) Trust {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.checkLocked(nick, id)
}

func (c *Contacts) checkLocked(nick, id string) Trust {
	pinned, hasPin := c.data.Pinned[wire.FoldNickname(nick)]
	switch {
	case hasPin && pinned != id:
		return TrustChanged
	case id == "":
		return TrustNone
	case c.data.Keys[id].Verified:
		return TrustVerified
	case hasPin:
		return TrustKnown
	default:
		return TrustNew
	}
}

// Observe records that identity id proved its key while using nickname
// nick (trust on first use: the first key proven with a nickname is pinned
// to it) and returns the trust as Check would have before.
func (c *Contacts) Observe(nick, id string, now time.Time) (Trust, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.checkLocked(nick, id)
	if id == "" {
		return t, nil
	}
	changed := false
	if _, known := c.data.Keys[id]; !known && len(c.data.Keys) < MaxContacts {
		c.data.Keys[id] = contactKey{Nickname: nick, FirstSeen: now}
		changed = true
	}
	if _, hasPin := c.data.Pinned[wire.FoldNickname(nick)]; !hasPin && len(c.data.Pinned) < MaxContacts {
		c.data.Pinned[wire.FoldNickname(nick)] = id
		changed = true
	}
	if !changed {
		return t, nil
	}
	return t, c.saveLocked()
}

// Verify records that the user compared safety codes with the peer that
// holds id and uses nickname nick: the key is verified, and the nickname is
// pinned to it (replacing an earlier key, which the user has now vetted
// this one against).
func (c *Contacts) Verify(nick, id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	key, known := c.data.Keys[id]
	if !known {
		key = contactKey{Nickname: nick, FirstSeen: time.Now()}
	}
	key.Verified = true
	c.data.Keys[id] = key
	c.data.Pinned[wire.FoldNickname(nick)] = id
	return c.saveLocked()
}

// saveLocked writes the file atomically (temporary file, then rename), or
// with a backend marks the contacts for the next Flush.
func (c *Contacts) saveLocked() error {
	if c.backend != nil {
		c.dirty = true
		return nil
	}
	if c.path == "" {
		return nil
	}
	b, err := json.MarshalIndent(c.data, "", "  ")
	if err != nil {
		return fmt.Errorf("encode contacts: %w", err)
	}
	dir := filepath.Dir(c.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".contacts-*.json")
	if err != nil {
		return fmt.Errorf("save contacts: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("save contacts: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save contacts: %w", err)
	}
	if err := os.Rename(tmp.Name(), c.path); err != nil {
		return fmt.Errorf("save contacts: %w", err)
	}
	return nil
}
