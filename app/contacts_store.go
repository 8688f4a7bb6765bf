package app

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/parlance-chat/parlance/app/store"
)

// ContactBackend is where Contacts keeps what it learns: the store.
type ContactBackend interface {
	Contacts() ([]store.Contact, error)
	SaveContact(c store.Contact) error
	Pins() (map[string]string, error)
	SetPin(fold, identity string) error
}

// seenInfo is what the node last saw of a contact.
type seenInfo struct {
	nick      string
	nicknames []string
	addr      string
	at        time.Time
	saved     time.Time // when it was last written
}

// seenEvery is how often a contact's last-seen time is written while
// nothing else about it changes.
const seenEvery = 5 * time.Minute

// NewContacts loads the contacts a backend holds. Changes are kept in
// memory and written by Flush.
func NewContacts(b ContactBackend) (*Contacts, error) {
	c := &Contacts{backend: b, data: contactsFile{Pinned: map[string]string{}, Keys: map[string]contactKey{}}, seen: map[string]seenInfo{}}
	pins, err := b.Pins()
	if err != nil {
		return nil, fmt.Errorf("read trust pins: %w", err)
	}
	cs, err := b.Contacts()
	if err != nil {
		return nil, fmt.Errorf("read contacts: %w", err)
	}
	maps.Copy(c.data.Pinned, pins)
	c.data.Pinned = refold(c.data.Pinned) // pins saved under an older fold
	for _, ct := range cs {
		c.data.Keys[ct.Identity] = contactKey{Nickname: ct.Nickname, FirstSeen: ct.FirstSeen, Verified: ct.Verified}
		c.seen[ct.Identity] = seenInfo{nick: ct.Nickname, nicknames: ct.Nicknames, addr: ct.LastAddr, at: ct.LastSeen, saved: ct.LastSeen}
	}
	c.flushed = cloneContacts(c.data)
	return c, nil
}

func cloneContacts(d contactsFile) contactsFile {
	return contactsFile{Pinned: maps.Clone(d.Pinned), Keys: maps.Clone(d.Keys)}
}

// Seen records that the peer with identity id was seen now, using nick at
// addr ("" when unknown). It only changes memory; Flush writes it.
func (c *Contacts) Seen(id, nick, addr string, now time.Time) {
	if id == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.backend == nil {
		return
	}
	if _, known := c.data.Keys[id]; !known {
		return // only peers that proved their key become contacts
	}
	s := c.seen[id]
	s.nick = nick
	if addr != "" {
		s.addr = addr
	}
	if !slices.Contains(s.nicknames, nick) && len(s.nicknames) < 32 {
		s.nicknames = append(slices.Clone(s.nicknames), nick)
	}
	if s.saved.IsZero() || now.Sub(s.saved) >= seenEvery || s.addr != c.seen[id].addr || len(s.nicknames) != len(c.seen[id].nicknames) {
		c.dirty = true
	}
	s.at = now
	c.seen[id] = s
}

// LastSeen returns what was last seen of a contact.
func (c *Contacts) LastSeen(id string) (nick, addr string, at time.Time, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.seen[id]
	return s.nick, s.addr, s.at, ok
}

// Flush writes what changed since the last Flush to the backend. Call it
// without holding any lock of your own.
func (c *Contacts) Flush() error {
	c.mu.Lock()
	if c.backend == nil || !c.dirty {
		c.mu.Unlock()
		return nil
	}
	c.dirty = false
	var contacts []store.Contact
	for id, k := range c.data.Keys {
		s := c.seen[id]
		if old, ok := c.flushed.Keys[id]; ok && old == k && (s.saved.Equal(s.at) || s.at.IsZero()) {
			continue
		}
		nick := k.Nickname
		if s.nick != "" {
			nick = s.nick
		}
		names := s.nicknames
		if len(names) == 0 {
			names = []string{k.Nickname}
		}
		contacts = append(contacts, store.Contact{Identity: id, Nickname: nick, Nicknames: slices.Clone(names),
			FirstSeen: k.FirstSeen, LastSeen: s.at, LastAddr: s.addr, Verified: k.Verified})
		s.saved = s.at
		if !s.at.IsZero() {
			c.seen[id] = s
		}
	}
	pins := map[string]string{}
	for fold, id := range c.data.Pinned {
		if c.flushed.Pinned[fold] != id {
			pins[fold] = id
		}
	}
	c.flushed = cloneContacts(c.data)
	b := c.backend
	c.mu.Unlock()
	for _, ct := range contacts {
		if err := b.SaveContact(ct); err != nil {
			c.markDirty()
			return fmt.Errorf("save contact: %w", err)
		}
	}
	for fold, id := range pins {
		if err := b.SetPin(fold, id); err != nil {
			c.markDirty()
			return fmt.Errorf("save trust pin: %w", err)
		}
	}
	return nil
}

// markDirty makes the next Flush try everything again (a write failed).
func (c *Contacts) markDirty() {
	c.mu.Lock()
	c.dirty = true
	c.flushed = contactsFile{Pinned: map[string]string{}, Keys: map[string]contactKey{}}
	c.mu.Unlock()
}
