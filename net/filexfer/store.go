package filexfer

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// Record is what the engine keeps of a transfer so that it survives a
// restart: the offer, the state and, for a download, the last checkpoint
// (how many bytes are verified on disk and the SHA-256 state over them).
type Record struct {
	ID     string    `json:"id"`
	Peer   string    `json:"peer"` // the other side's peer ID
	Dir    Direction `json:"dir"`
	Name   string    `json:"name"` // sanitised for a download; the file's base name for an upload
	Path   string    `json:"path"` // upload: the source; download: the saved file once done
	Size   int64     `json:"size"`
	SHA256 [32]byte  `json:"sha256"`
	State  State     `json:"state"`
	Error  string    `json:"error,omitempty"` // why it failed, was rejected or cancelled
	// Group is the group (32 hex digits) the file was offered in; Batch
	// ties together the offers of one file to a group's members (the
	// sender's only).
	Group string `json:"group,omitempty"`
	Batch string `json:"batch,omitempty"`

	// Download checkpoint: Offset bytes of the temporary file are written
	// and synced, and HashState is the marshalled SHA-256 over them.
	Offset    int64  `json:"offset,omitempty"`
	HashState []byte `json:"hash_state,omitempty"`

	// Created is when the offer was made (or queued); Updated when the
	// state last changed (an offer expires Config.OfferFor after it
	// became "offered") or a checkpoint was saved.
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
}

// Store keeps Records. Save inserts or replaces by ID; Load returns them
// all (at start). The engine calls them from its own goroutines, never
// while holding its lock, and at most once per checkpoint of each
// transfer. It must be safe for concurrent use.
type Store interface {
	Load() ([]Record, error)
	Save(Record) error
}

// MemStore keeps Records in memory (history off, tests).
type MemStore struct {
	mu   sync.Mutex
	recs map[string]Record
}

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore { return &MemStore{recs: make(map[string]Record)} }

func (s *MemStore) Load() ([]Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Record, 0, len(s.recs))
	for _, r := range s.recs {
		r.HashState = slices.Clone(r.HashState)
		out = append(out, r)
	}
	return out, nil
}

func (s *MemStore) Save(r Record) error {
	r.HashState = slices.Clone(r.HashState)
	s.mu.Lock()
	s.recs[r.ID] = r
	s.mu.Unlock()
	return nil
}

// FileStore keeps each Record as a JSON file, <id>.json, in a directory
// (mode 0700, files 0600), replaced atomically (temporary file, sync,
// rename). It stands in until the node's database holds transfers.
type FileStore struct{ dir string }

// NewFileStore opens (creating) the directory.
func NewFileStore(dir string) (*FileStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("transfer state directory: %w", err)
	}
	return &FileStore{dir: dir}, nil
}

func (s *FileStore) Load() ([]Record, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("read transfer state: %w", err)
	}
	var out []Record
	var errs []error
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(s.dir, e.Name()))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var r Record
		if err := json.Unmarshal(b, &r); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", filepath.Join(s.dir, e.Name()), err))
			continue
		}
		out = append(out, r)
	}
	if len(errs) > 0 {
		return out, fmt.Errorf("read transfer state: %w", errors.Join(errs...))
	}
	return out, nil
}

func (s *FileStore) Save(r Record) error {
	if _, err := parseID(r.ID); err != nil {
		return fmt.Errorf("save transfer: %w", err)
	}
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("save transfer %s: %w", r.ID, err)
	}
	f, err := os.CreateTemp(s.dir, r.ID+".*.tmp")
	if err != nil {
		return fmt.Errorf("save transfer %s: %w", r.ID, err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), filepath.Join(s.dir, r.ID+".json"))
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("save transfer %s: %w", r.ID, err)
	}
	return nil
}
