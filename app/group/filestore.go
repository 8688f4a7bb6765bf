package group

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/parlance-chat/parlance/net/wire"
)

// FileStore is a MemoryStore that survives restarts: every op and every
// message added is appended to a file as its group frame line, and the
// file is read back into memory when opened. A line cut short by a crash
// is skipped when the file is read (the catch-up brings what it held back
// from the other members). The file only grows; a group's history is
// bounded by MaxOps and by what members send.
type FileStore struct {
	*MemoryStore
	mu sync.Mutex // serialises appends
	f  *os.File
	w  *bufio.Writer
	// Skipped counts the lines of the file that did not parse at open.
	Skipped int
}

// OpenFileStore opens (or creates) the file at path and loads it.
func OpenFileStore(path string) (*FileStore, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open group store: %w", err)
	}
	s := &FileStore{MemoryStore: NewMemoryStore(), f: f}
	if err := s.load(); err != nil {
		f.Close()
		return nil, err
	}
	s.w = bufio.NewWriter(f)
	return s, nil
}

func (s *FileStore) load() error {
	r := bufio.NewReaderSize(s.f, 64<<10)
	for {
		line, err := r.ReadBytes('\n')
		if len(line) > 0 && line[len(line)-1] == '\n' {
			s.apply(line)
		} else if len(bytes.TrimSpace(line)) > 0 {
			s.Skipped++ // the last line, cut short
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read group store: %w", err)
		}
	}
}

func (s *FileStore) apply(line []byte) {
	f, err := wire.ParseGroupFrame(line)
	if err != nil {
		s.Skipped++
		return
	}
	switch f := f.(type) {
	case wire.GroupOp:
		_ = s.MemoryStore.PutOp(f)
	case wire.GroupMessage:
		_, _ = s.MemoryStore.PutMessage(f)
	default:
		s.Skipped++
	}
}

// PutOp implements Store.
func (s *FileStore) PutOp(op wire.GroupOp) error {
	if err := s.append(op); err != nil {
		return err
	}
	return s.MemoryStore.PutOp(op)
}

// PutMessage implements Store.
func (s *FileStore) PutMessage(m wire.GroupMessage) (bool, error) {
	added, err := s.MemoryStore.PutMessage(m)
	if err != nil || !added {
		return added, err
	}
	return true, s.append(m)
}

// append writes one frame line and flushes it to the operating system.
func (s *FileStore) append(f wire.GroupFrame) error {
	line, err := wire.MarshalGroupFrame(f)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.w == nil {
		return errors.New("group store is closed")
	}
	if _, err := s.w.Write(line); err != nil {
		return fmt.Errorf("save group %s: %w", f.GroupType(), err)
	}
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("save group %s: %w", f.GroupType(), err)
	}
	return nil
}

// Close syncs and closes the file.
func (s *FileStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.w == nil {
		return nil
	}
	s.w = nil
	err := s.f.Sync()
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	return err
}
