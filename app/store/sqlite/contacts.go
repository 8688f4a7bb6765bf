package sqlite

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/parlance-chat/parlance/app/store"
)

// Contacts implements store.Store.
func (s *Store) Contacts() ([]store.Contact, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	rows, err := s.conn.QueryContext(bg, `SELECT identity, nickname, nicknames, first_seen, last_seen, last_addr, verified
		FROM main.contacts ORDER BY identity`)
	if err != nil {
		return nil, fileError("read contacts from", s.path, err)
	}
	defer rows.Close()
	var out []store.Contact
	for rows.Next() {
		var c store.Contact
		var nicks string
		var first, last int64
		if err := rows.Scan(&c.Identity, &c.Nickname, &nicks, &first, &last, &c.LastAddr, &c.Verified); err != nil {
			return nil, fileError("read contacts from", s.path, err)
		}
		if err := json.Unmarshal([]byte(nicks), &c.Nicknames); err != nil {
			return nil, fileError("read contacts from", s.path, fmt.Errorf("nicknames of %s: %w", c.Identity, err))
		}
		c.FirstSeen, c.LastSeen = fromMicros(first), fromMicros(last)
		out = append(out, c)
	}
	return out, fileError("read contacts from", s.path, rows.Err())
}

// SaveContact implements store.Store.
func (s *Store) SaveContact(c store.Contact) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	return s.write("save a contact to", func() error { return s.saveContact(c) })
}

func (s *Store) saveContact(c store.Contact) error {
	nicks, err := json.Marshal(c.Nicknames)
	if err != nil {
		return err
	}
	if c.Nicknames == nil {
		nicks = []byte("[]")
	}
	_, err = s.conn.ExecContext(bg, `INSERT OR REPLACE INTO main.contacts
		(identity, nickname, nicknames, first_seen, last_seen, last_addr, verified) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		c.Identity, c.Nickname, string(nicks), micros(c.FirstSeen), micros(c.LastSeen), c.LastAddr, c.Verified)
	return err
}

// Pins implements store.Store.
func (s *Store) Pins() (map[string]string, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	rows, err := s.conn.QueryContext(bg, `SELECT fold, identity FROM main.pins`)
	if err != nil {
		return nil, fileError("read pins from", s.path, err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var fold, id string
		if err := rows.Scan(&fold, &id); err != nil {
			return nil, fileError("read pins from", s.path, err)
		}
		out[fold] = id
	}
	return out, fileError("read pins from", s.path, rows.Err())
}

// SetPin implements store.Store.
func (s *Store) SetPin(fold, identity string) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	return s.write("save a pin to", func() error {
		_, err := s.conn.ExecContext(bg, `INSERT OR REPLACE INTO main.pins (fold, identity) VALUES (?, ?)`, fold, identity)
		return err
	})
}

// maxContactsJSON bounds the contacts.json ImportContactsJSON reads (the
// limit app.OpenContacts had).
const maxContactsJSON = 16 << 20

// contactsJSON is the contacts.json a data directory of an earlier
// Parlance holds (app/trust.go wrote it).
type contactsJSON struct {
	Pinned map[string]string `json:"pinned"`
	Keys   map[string]struct {
		Nickname  string    `json:"nickname"`
		FirstSeen time.Time `json:"first_seen"`
		Verified  bool      `json:"verified"`
	} `json:"keys"`
}

// importedKey is the meta key recording that contacts.json was imported.
const importedKey = "contacts_json_imported"

// ImportContactsJSON imports the contacts and pins of an earlier data
// directory's contacts.json, once: it records the import in the database,
// and later calls do nothing. A missing file is nothing to import. The file
// is left where it is. It reports whether it imported the file. Contacts and
// pins already in the database win over the file's.
func (s *Store) ImportContactsJSON(path string) (bool, error) {
	if err := s.lock(); err != nil {
		return false, err
	}
	defer s.mu.Unlock()
	var done string
	err := s.conn.QueryRowContext(bg, `SELECT coalesce((SELECT value FROM main.meta WHERE key = ?), '')`, importedKey).Scan(&done)
	if err != nil {
		return false, fileError("read the import record from", s.path, err)
	}
	if done != "" {
		return false, nil
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("import contacts: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxContactsJSON+1))
	if err != nil {
		return false, fmt.Errorf("import contacts: %w", err)
	}
	if len(b) > maxContactsJSON {
		return false, fmt.Errorf("import contacts: %s is over %d bytes; move it away to start afresh", path, maxContactsJSON)
	}
	var cf contactsJSON
	if err := json.Unmarshal(b, &cf); err != nil {
		return false, fmt.Errorf("import contacts: %s is corrupt (%v); fix or move it away to start afresh (known keys will be trusted anew)", path, err)
	}
	err = s.write("import contacts into", func() error {
		for id, k := range cf.Keys {
			nicks, err := json.Marshal([]string{k.Nickname})
			if err != nil {
				return err
			}
			if _, err := s.conn.ExecContext(bg, `INSERT OR IGNORE INTO main.contacts
				(identity, nickname, nicknames, first_seen, verified) VALUES (?, ?, ?, ?, ?)`,
				id, k.Nickname, string(nicks), micros(k.FirstSeen), k.Verified); err != nil {
				return err
			}
		}
		for fold, id := range cf.Pinned {
			if _, err := s.conn.ExecContext(bg, `INSERT OR IGNORE INTO main.pins (fold, identity) VALUES (?, ?)`, fold, id); err != nil {
				return err
			}
		}
		record := fmt.Sprintf("%s from %s", s.opts.Now().UTC().Format(time.RFC3339), path)
		_, err := s.conn.ExecContext(bg, `INSERT INTO main.meta (key, value) VALUES (?, ?)`, importedKey, record)
		return err
	})
	if err != nil {
		return false, err
	}
	s.log.Info("imported contacts.json", "from", path, "into", s.path, "contacts", len(cf.Keys), "pins", len(cf.Pinned))
	return true, nil
}
