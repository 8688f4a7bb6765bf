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
)

// ContactsFileName is the trust-on-first-use file in the data directory.
const ContactsFileName = "contacts.json"

// maxContactsFile bounds the contacts file read at start.
const maxContactsFile = 16 << 20

// MaxContacts bounds how many keys are remembered, so a flood of made-up
// identities cannot grow the file without bound. Keys beyond it are
// treated as new each time and not written down.
const MaxContacts = 10_000

// Contacts remembers which key each nickname had when first seen (trust on
// first use) and which keys the user verified. It is safe for concurrent
// use. With an empty path it keeps everything in memory only.
type Contacts struct {
	path string
	mu   sync.Mutex
	data contactsFile
}

type contactsFile struct {
	// Pinned maps a nickname to the identity first seen with it.
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

// Observe records that identity id was seen with nickname nick and says
// how far it is trusted. The first identity seen with a nickname is pinned
// to it; another identity later seen with that nickname is TrustChanged.
func (c *Contacts) Observe(nick, id string, now time.Time) (Trust, error) {
	if id == "" {
		return TrustNone, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	key, known := c.data.Keys[id]
	pinned, hasPin := c.data.Pinned[nick]
	changed := false
	if !known && len(c.data.Keys) >= MaxContacts {
		if hasPin && pinned != id {
			return TrustChanged, nil
		}
		return TrustNew, nil
	}
	if !known {
		key = contactKey{Nickname: nick, FirstSeen: now}
		c.data.Keys[id] = key
		changed = true
	}
	if !hasPin {
		c.data.Pinned[nick] = id
		pinned = id
		changed = true
	}
	var t Trust
	switch {
	case key.Verified:
		t = TrustVerified
	case pinned != id:
		t = TrustChanged
	case known:
		t = TrustKnown
	default:
		t = TrustNew
	}
	if changed {
		return t, c.saveLocked()
	}
	return t, nil
}

// Verify marks identity id as verified by the user.
func (c *Contacts) Verify(id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := c.data.Keys[id]
	key.Verified = true
	c.data.Keys[id] = key
	return c.saveLocked()
}

// saveLocked writes the file atomically (temporary file, then rename).
func (c *Contacts) saveLocked() error {
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
