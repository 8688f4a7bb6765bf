package bootstrap

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/parlance-chat/parlance/net/wire"
)

// Defaults of MailConfig.
const (
	DefaultMailPerRecipient      = 500
	DefaultMailBytesPerRecipient = 4 << 20
	DefaultMailPerSender         = 1000
	DefaultMailBytesPerSender    = 8 << 20
	DefaultMailTotalBytes        = 256 << 20
	DefaultMailMaxAge            = 30 * 24 * time.Hour
	DefaultMailMaxKeys           = 100_000
	// mailItemOverhead is what one stored item costs beyond its sealed
	// bytes (ids, slices, map entries), counted against the byte limits.
	mailItemOverhead = 256
	// mailFetchBytes bounds the sealed bytes of one mailbox_items.
	mailFetchBytes = 1 << 20
)

// MailConfig configures a MailStore. Zero values take the defaults.
type MailConfig struct {
	// Dir keeps the store on disk (one file per item and per key, written
	// before the put is answered), so a restart loses no mail; "" keeps
	// it in memory only.
	Dir string
	// MaxPerRecipient and MaxBytesPerRecipient bound what waits for one
	// recipient; MaxPerSender and MaxBytesPerSender what one sender has
	// left, for everyone; MaxTotalBytes the whole store.
	MaxPerRecipient      int
	MaxBytesPerRecipient int
	MaxPerSender         int
	MaxBytesPerSender    int
	MaxTotalBytes        int64
	// MaxAge drops an item not fetched and acknowledged within it.
	MaxAge time.Duration
	// MaxKeys bounds the published mailbox keys kept (the oldest
	// published goes first); a key also goes when its record expires.
	MaxKeys int
	Logger  *slog.Logger
}

func (c *MailConfig) setDefaults() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.MaxPerRecipient, DefaultMailPerRecipient)
	def(&c.MaxBytesPerRecipient, DefaultMailBytesPerRecipient)
	def(&c.MaxPerSender, DefaultMailPerSender)
	def(&c.MaxBytesPerSender, DefaultMailBytesPerSender)
	def(&c.MaxKeys, DefaultMailMaxKeys)
	if c.MaxTotalBytes <= 0 {
		c.MaxTotalBytes = DefaultMailTotalBytes
	}
	if c.MaxAge <= 0 {
		c.MaxAge = DefaultMailMaxAge
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Errors of MailStore.Put, sent to the sender in mailbox_stored.
var (
	ErrMailRecipientFull = errors.New("the recipient's mailbox is full")
	ErrMailSenderFull    = errors.New("you have too many messages waiting in mailboxes on this server")
	ErrMailStoreFull     = errors.New("the server's mailbox storage is full")
	ErrMailDuplicate     = errors.New("another sender used this item id for this recipient")
)

// MailItem is one stored item: only routing metadata and ciphertext.
type MailItem struct {
	To     string `json:"to"`
	From   string `json:"from"`
	ID     string `json:"id"`
	At     int64  `json:"at"` // Unix seconds
	Sealed []byte `json:"sealed"`
}

func (it *MailItem) cost() int { return len(it.Sealed) + mailItemOverhead }

type mailKey struct {
	rec wire.MailboxKey
	at  time.Time // when it was published here
}

type usage struct{ count, bytes int }

// MailStore keeps the sealed mailbox: items for recipients that were
// offline, and the mailbox keys peers published. It is safe for
// concurrent use; it never calls the Server (it imports no websocket).
type MailStore struct {
	cfg MailConfig

	mu      sync.Mutex
	boxes   map[string][]*MailItem // by recipient, oldest first
	perTo   map[string]*usage
	perFrom map[string]*usage
	total   int64
	keys    map[string]mailKey // by identity
}

// OpenMailStore returns a store, reading what cfg.Dir holds.
func OpenMailStore(cfg MailConfig) (*MailStore, error) {
	cfg.setDefaults()
	m := &MailStore{cfg: cfg, boxes: map[string][]*MailItem{}, perTo: map[string]*usage{},
		perFrom: map[string]*usage{}, keys: map[string]mailKey{}}
	if cfg.Dir == "" {
		return m, nil
	}
	for _, sub := range []string{"items", "keys"} {
		if err := os.MkdirAll(filepath.Join(cfg.Dir, sub), 0o700); err != nil {
			return nil, fmt.Errorf("create mailbox directory: %w", err)
		}
	}
	if err := m.load(); err != nil {
		return nil, err
	}
	return m, nil
}

// load reads the items and keys of cfg.Dir, oldest first; files that do
// not parse are left alone and logged.
func (m *MailStore) load() error {
	var items []*MailItem
	err := m.readDir("items", func(path string, b []byte) {
		var it MailItem
		if json.Unmarshal(b, &it) != nil || it.To == "" || it.ID == "" || len(it.Sealed) == 0 {
			m.cfg.Logger.Warn("mailbox: ignoring an unreadable item file", "file", path)
			return
		}
		items = append(items, &it)
	})
	if err != nil {
		return err
	}
	slices.SortStableFunc(items, func(a, b *MailItem) int { return int(a.At - b.At) })
	for _, it := range items {
		m.addLocked(it)
	}
	err = m.readDir("keys", func(path string, b []byte) {
		var k struct {
			Key wire.MailboxKey `json:"key"`
			At  int64           `json:"at"`
		}
		if json.Unmarshal(b, &k) != nil || k.Key.Validate() != nil {
			m.cfg.Logger.Warn("mailbox: ignoring an unreadable key file", "file", path)
			return
		}
		m.keys[k.Key.Identity] = mailKey{rec: k.Key, at: time.Unix(k.At, 0)}
	})
	if err != nil {
		return err
	}
	m.cfg.Logger.Info("mailbox loaded", "dir", m.cfg.Dir, "items", len(items), "keys", len(m.keys))
	return nil
}

func (m *MailStore) readDir(sub string, f func(path string, b []byte)) error {
	dir := filepath.Join(m.cfg.Dir, sub)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("read mailbox directory: %w", err)
	}
	for _, e := range ents {
		if !e.Type().IsRegular() || filepath.Ext(e.Name()) != ".json" {
			continue
		}
		path := filepath.Join(dir, e.Name())
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("read mailbox file: %w", err)
		}
		f(path, b)
	}
	return nil
}

// fileName names the file of a key in sub (items: recipient and id; keys:
// identity): a hash, so names from clients never become paths.
func (m *MailStore) fileName(sub string, parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return filepath.Join(m.cfg.Dir, sub, hex.EncodeToString(h.Sum(nil)[:16])+".json")
}

// writeFile writes v as JSON to path through a temporary file and a
// rename, so a crash leaves the old file or the new one.
func writeFile(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func (m *MailStore) addLocked(it *MailItem) {
	m.boxes[it.To] = append(m.boxes[it.To], it)
	count(m.perTo, it.To, it.cost())
	count(m.perFrom, it.From, it.cost())
	m.total += int64(it.cost())
}

func (m *MailStore) removeLocked(it *MailItem) {
	count(m.perTo, it.To, -it.cost())
	count(m.perFrom, it.From, -it.cost())
	m.total -= int64(it.cost())
	if m.cfg.Dir != "" {
		if err := os.Remove(m.fileName("items", it.To, it.ID)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			m.cfg.Logger.Warn("mailbox: remove item file", "err", err)
		}
	}
}

func count(u map[string]*usage, k string, cost int) {
	x := u[k]
	if x == nil {
		x = &usage{}
		u[k] = x
	}
	if cost > 0 {
		x.count++
	} else {
		x.count--
	}
	x.bytes += cost
	if x.count <= 0 {
		delete(u, k)
	}
}

// Put stores sealed, from the proved identity from, for to, under id. The
// same (to, id) from the same sender again is stored once (nil error).
func (m *MailStore) Put(from, to, id string, sealed []byte, now time.Time) error {
	it := &MailItem{To: to, From: from, ID: id, At: now.Unix(), Sealed: slices.Clone(sealed)}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expireBoxLocked(to, now)
	for _, x := range m.boxes[to] {
		if x.ID == id {
			if x.From == from {
				return nil
			}
			return ErrMailDuplicate
		}
	}
	c := it.cost()
	if u := m.perTo[to]; u != nil && (u.count >= m.cfg.MaxPerRecipient || u.bytes+c > m.cfg.MaxBytesPerRecipient) {
		return ErrMailRecipientFull
	}
	if u := m.perFrom[from]; u != nil && (u.count >= m.cfg.MaxPerSender || u.bytes+c > m.cfg.MaxBytesPerSender) {
		return ErrMailSenderFull
	}
	if m.total+int64(c) > m.cfg.MaxTotalBytes {
		return ErrMailStoreFull
	}
	if m.cfg.Dir != "" {
		if err := writeFile(m.fileName("items", to, id), it); err != nil {
			m.cfg.Logger.Warn("mailbox: write item file", "err", err)
			return fmt.Errorf("the server could not save the message: %w", ErrMailStoreFull)
		}
	}
	m.addLocked(it)
	return nil
}

// Status is what waits for to. It changes nothing (no file is removed):
// the server calls it under its own lock.
func (m *MailStore) Status(to string, now time.Time) (items, bytes int) {
	cutoff := now.Add(-m.cfg.MaxAge).Unix()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, it := range m.boxes[to] {
		if it.At >= cutoff {
			items++
			bytes += len(it.Sealed)
		}
	}
	return items, bytes
}

// Fetch returns up to max items for to, oldest first, of at most maxBytes
// sealed bytes together (at least one), and whether more wait.
func (m *MailStore) Fetch(to string, max, maxBytes int, now time.Time) (items []wire.MailboxItem, more bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expireBoxLocked(to, now)
	box := m.boxes[to]
	size := 0
	for i, it := range box {
		if i == max || (i > 0 && size+len(it.Sealed) > maxBytes) {
			return items, true
		}
		size += len(it.Sealed)
		items = append(items, wire.MailboxItem{ID: it.ID, From: it.From, At: it.At, Sealed: it.Sealed})
	}
	return items, false
}

// Ack deletes to's items with these ids and returns how many it deleted.
func (m *MailStore) Ack(to string, ids []string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	box := m.boxes[to]
	n := 0
	box = slices.DeleteFunc(box, func(it *MailItem) bool {
		if !slices.Contains(ids, it.ID) {
			return false
		}
		m.removeLocked(it)
		n++
		return true
	})
	m.setBoxLocked(to, box)
	return n
}

func (m *MailStore) setBoxLocked(to string, box []*MailItem) {
	if len(box) == 0 {
		delete(m.boxes, to)
	} else {
		m.boxes[to] = box
	}
}

// expireBoxLocked drops to's items older than MaxAge.
func (m *MailStore) expireBoxLocked(to string, now time.Time) {
	cutoff := now.Add(-m.cfg.MaxAge).Unix()
	box := m.boxes[to]
	k := 0
	for k < len(box) && box[k].At < cutoff {
		m.removeLocked(box[k])
		k++
	}
	if k > 0 {
		m.setBoxLocked(to, slices.Delete(box, 0, k))
	}
}

// PutKey keeps a published key record (the caller checked it is signed
// by the identity of the connection that published it).
func (m *MailStore) PutKey(rec wire.MailboxKey, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.keys[rec.Identity]; !ok && len(m.keys) >= m.cfg.MaxKeys {
		m.dropOldestKeyLocked()
	}
	m.keys[rec.Identity] = mailKey{rec: rec, at: now}
	if m.cfg.Dir != "" {
		err := writeFile(m.fileName("keys", rec.Identity), struct {
			Key wire.MailboxKey `json:"key"`
			At  int64           `json:"at"`
		}{rec, now.Unix()})
		if err != nil {
			m.cfg.Logger.Warn("mailbox: write key file", "err", err)
		}
	}
}

func (m *MailStore) dropOldestKeyLocked() {
	var oldest string
	var at time.Time
	for id, k := range m.keys {
		if oldest == "" || k.at.Before(at) {
			oldest, at = id, k.at
		}
	}
	m.dropKeyLocked(oldest)
}

func (m *MailStore) dropKeyLocked(id string) {
	delete(m.keys, id)
	if m.cfg.Dir != "" {
		if err := os.Remove(m.fileName("keys", id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			m.cfg.Logger.Warn("mailbox: remove key file", "err", err)
		}
	}
}

// Key returns the key identity published, if the store holds one that
// has not expired.
func (m *MailStore) Key(identity string, now time.Time) (wire.MailboxKey, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k, ok := m.keys[identity]
	if !ok {
		return wire.MailboxKey{}, false
	}
	if now.Unix() >= k.rec.Expires {
		m.dropKeyLocked(identity)
		return wire.MailboxKey{}, false
	}
	return k.rec, true
}

// Sweep drops expired items and keys.
func (m *MailStore) Sweep(now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for to := range m.boxes {
		m.expireBoxLocked(to, now)
	}
	for id, k := range m.keys {
		if now.Unix() >= k.rec.Expires {
			m.dropKeyLocked(id)
		}
	}
}

// MailStats counts what the store holds.
type MailStats struct {
	Items, Recipients, Keys int
	Bytes                   int64 // sealed bytes plus the per-item overhead counted against limits
}

// Stats counts what the store holds.
func (m *MailStore) Stats() MailStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := MailStats{Recipients: len(m.boxes), Keys: len(m.keys), Bytes: m.total}
	for _, box := range m.boxes {
		st.Items += len(box)
	}
	return st
}

// Dump returns a copy of every stored item (for tests and operators: it
// is what the server knows).
func (m *MailStore) Dump() []MailItem {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []MailItem
	for _, box := range m.boxes {
		for _, it := range box {
			c := *it
			c.Sealed = slices.Clone(it.Sealed)
			out = append(out, c)
		}
	}
	return out
}
