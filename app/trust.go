package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
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

// maxClaims bounds the keys remembered as claiming one unpinned nickname.
const maxClaims = 4

// Contacts remembers which key is pinned to each nickname (trust on first
// use) and which keys the user verified. It is safe for concurrent use.
// With an empty path it keeps everything in memory only.
//
// A nickname is pinned to a key by what the user does, never by what
// merely arrives:
//
//   - the user sends to the key (Choose), or verifies it (Verify);
//   - or a message proven to come from the key arrives (Observe) while it
//     is the only key heard using the nickname (Claim: announces and
//     messages of this run), so a stranger messaging first as "carol"
//     is not pinned once the real carol has announced herself.
//
// While two keys claim a nickname that is not pinned, both are new: the
// UIs show them tagged and the node notes once that two peers use the
// name. Only a pinned nickname makes another key "key changed".
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
	// claims maps an unpinned folded nickname to the keys heard using it
	// this run (at most maxClaims each; at most MaxContacts names). It is
	// not saved: what peers claim proves nothing.
	claims map[string][]string
}

// Observation is what Claim, Observe and Choose found.
type Observation struct {
	// Trust is the key's trust as Check said before the call.
	Trust Trust
	// Pinned: this call pinned the nickname to the key.
	Pinned bool
	// Contested: this call found the key to be a second (or later) key
	// claiming a nickname that is not pinned. It is reported once per
	// key and nickname.
	Contested bool
	// Others: other keys were heard claiming the nickname.
	Others bool
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
	c := &Contacts{path: path, data: contactsFile{Pinned: map[string]string{}, Keys: map[string]contactKey{}}, claims: map[string][]string{}}
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
	c.data.Pinned = refold(c.data.Pinned)
	return c, nil
}

// refold folds the pinned nicknames again, in case the fold changed since
// they were written (the confusables skeleton joined it later). When two
// pins now fold alike, the one whose old key sorts first is kept.
func refold(pinned map[string]string) map[string]string {
	keys := slices.Sorted(maps.Keys(pinned))
	out := make(map[string]string, len(pinned))
	for _, k := range keys {
		if f := wire.FoldNickname(k); out[f] == "" {
			out[f] = pinned[k]
		}
	}
	return out
}

// Check says how far a peer seen with nickname nick and identity id (""
// for a peer without a key) is trusted, without remembering anything.
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

// Claim records that key id was heard using nickname nick (an announce
// or a message: not proof of anything) and returns its trust, as Check,
// and whether it makes the nickname contested.
func (c *Contacts) Claim(nick, id string) Observation {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.claimLocked(nick, id)
}

func (c *Contacts) claimLocked(nick, id string) Observation {
	o := Observation{Trust: c.checkLocked(nick, id)}
	fold := wire.FoldNickname(nick)
	if id == "" {
		return o
	}
	if _, pinned := c.data.Pinned[fold]; pinned {
		return o
	}
	ids, known := c.claims[fold]
	for _, x := range ids {
		if x == id {
			o.Others = len(ids) > 1
			return o
		}
	}
	o.Others = len(ids) > 0
	if len(ids) >= maxClaims || (!known && len(c.claims) >= MaxContacts) {
		return o
	}
	if c.claims == nil {
		c.claims = map[string][]string{}
	}
	c.claims[fold] = append(ids, id)
	o.Contested = len(ids) > 0
	return o
}

// Observe records that key id proved itself (an authenticated message)
// while using nickname nick, and pins the nickname to it if it is the
// only key heard using it and no key is pinned to it yet.
func (c *Contacts) Observe(nick, id string, now time.Time) (Observation, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	o := c.claimLocked(nick, id)
	var err error
	o.Pinned, err = c.rememberLocked(nick, id, now, !o.Others)
	return o, err
}

// Choose records that the user sent to key id, known as nick: the
// nickname is pinned to it unless another key is pinned already (then it
// stays "key changed" until the user verifies it).
func (c *Contacts) Choose(nick, id string, now time.Time) (Observation, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	o := c.claimLocked(nick, id)
	var err error
	o.Pinned, err = c.rememberLocked(nick, id, now, true)
	return o, err
}

// rememberLocked writes key id down and, with pin, pins nick to it if
// nothing is pinned to nick yet, reporting whether it did; it saves the
// file when anything changed.
func (c *Contacts) rememberLocked(nick, id string, now time.Time, pin bool) (pinned bool, err error) {
	if id == "" {
		return false, nil
	}
	fold := wire.FoldNickname(nick)
	changed := false
	if _, known := c.data.Keys[id]; !known && len(c.data.Keys) < MaxContacts {
		c.data.Keys[id] = contactKey{Nickname: nick, FirstSeen: now}
		changed = true
	}
	if _, hasPin := c.data.Pinned[fold]; pin && !hasPin && len(c.data.Pinned) < MaxContacts {
		c.data.Pinned[fold] = id
		delete(c.claims, fold)
		changed, pinned = true, true
	}
	if !changed {
		return false, nil
	}
	return pinned, c.saveLocked()
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
	delete(c.claims, wire.FoldNickname(nick))
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
