package group

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/parlance-chat/parlance/net/wire"
)

// FileStore is a MemoryStore that survives restarts: every op and every
// message added is appended to a file as its group frame line, and the
// file is read back into memory when opened. A line cut short by a crash
// is skipped when the file is read (the catch-up brings what it held back
// from the other members).
//
// Compaction: the file gains a line only for what is added, so what it
// holds beyond the live state are lines a crash cut short, lines that do
// not parse, and repeats. When opening finds such dead lines, over a
// quarter as many as the live ones, or a last line cut short (the next
// line appended would be glued to it), the file is rewritten with the
// live state alone, atomically: a temporary file beside it is written,
// synced and renamed over it (and the directory synced), so a crash
// leaves the old file or the new one, never half of either.
type FileStore struct {
	*MemoryStore
	path string
	mu   sync.Mutex // serialises appends
	f    *os.File
	w    *bufio.Writer
	// Skipped counts the lines of the file that did not parse at open.
	Skipped int
	// Dead counts the lines of the file at open that held nothing live
	// (Skipped, and repeats); Compacted reports that the file was
	// rewritten without them.
	Dead      int
	Compacted bool
}

// OpenFileStore opens (or creates) the file at path and loads it.
func OpenFileStore(path string) (*FileStore, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open group store: %w", err)
	}
	s := &FileStore{MemoryStore: NewMemoryStore(), path: path, f: f}
	live, cut, err := s.load()
	if err != nil {
		f.Close()
		return nil, err
	}
	if cut || s.Dead > 0 && s.Dead*4 >= live {
		if err := s.compact(); err != nil {
			s.f.Close() // closing twice only errs
			return nil, err
		}
		s.Compacted = true
	}
	s.w = bufio.NewWriter(s.f)
	return s, nil
}

// load reads the file into memory and counts its live lines; cut reports
// a last line without its newline.
func (s *FileStore) load() (live int, cut bool, err error) {
	r := bufio.NewReaderSize(s.f, 64<<10)
	ops := make(map[wire.OpHash]bool)
	for {
		line, err := r.ReadBytes('\n')
		if len(line) > 0 && line[len(line)-1] == '\n' {
			if s.apply(line, ops) {
				live++
			} else {
				s.Dead++
			}
		} else if len(line) > 0 {
			cut = true // the last line, cut short
			if len(bytes.TrimSpace(line)) > 0 {
				s.Skipped++
				s.Dead++
			}
		}
		if errors.Is(err, io.EOF) {
			return live, cut, nil
		}
		if err != nil {
			return live, cut, fmt.Errorf("read group store: %w", err)
		}
	}
}

// apply adds a line's frame to memory and reports whether it was live
// (parsed, and not a repeat).
func (s *FileStore) apply(line []byte, ops map[wire.OpHash]bool) bool {
	f, err := wire.ParseGroupFrame(line)
	if err != nil {
		s.Skipped++
		return false
	}
	switch f := f.(type) {
	case wire.GroupOp:
		h := f.Hash()
		if ops[h] {
			return false
		}
		ops[h] = true
		_ = s.MemoryStore.PutOp(f)
		return true
	case wire.GroupMessage:
		added, _ := s.MemoryStore.PutMessage(f)
		return added
	}
	s.Skipped++
	return false
}

// compact rewrites the file with what memory holds (every group's ops in
// the order they were added, then its messages), atomically, and goes on
// appending to the new file.
func (s *FileStore) compact() error {
	tmp, err := os.CreateTemp(filepath.Dir(s.path), filepath.Base(s.path)+".compact-*")
	if err != nil {
		return fmt.Errorf("compact group store: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	w := bufio.NewWriterSize(tmp, 64<<10)
	if err := s.writeAll(w); err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = tmp.Chmod(0o600)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("compact group store: %w", err)
	}
	s.f.Close() // some systems cannot rename over an open file
	if err := os.Rename(tmp.Name(), s.path); err != nil {
		return fmt.Errorf("compact group store: %w", err)
	}
	if d, err := os.Open(filepath.Dir(s.path)); err == nil {
		_ = d.Sync() // the rename is durable once the directory is
		d.Close()
	}
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("reopen group store after compacting: %w", err)
	}
	s.f = f
	return nil
}

// writeAll writes memory's ops and messages as frame lines.
func (s *FileStore) writeAll(w io.Writer) error {
	groups, err := s.MemoryStore.Groups()
	if err != nil {
		return err
	}
	for _, g := range groups {
		ops, _ := s.MemoryStore.Ops(g)
		for _, op := range ops {
			if err := writeFrame(w, op); err != nil {
				return err
			}
		}
	}
	s.MemoryStore.mu.Lock()
	defer s.MemoryStore.mu.Unlock()
	for _, mg := range s.MemoryStore.groups {
		for _, m := range mg.display {
			if err := writeFrame(w, m); err != nil {
				return err
			}
		}
	}
	return nil
}

func writeFrame(w io.Writer, f wire.GroupFrame) error {
	line, err := wire.MarshalGroupFrame(f)
	if err != nil {
		return err
	}
	_, err = w.Write(line)
	return err
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
