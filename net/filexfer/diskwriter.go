package filexfer

import (
	"encoding"
	"hash"
	"sync"
)

// diskWriter writes and hashes a download's chunks in the download's
// goroutine, and saves checkpoints from a goroutine of its own: syncing
// the file can take long on a slow disk, and the data must not wait for it
// (checkpoints made while one syncs are folded into the next).
//
// Writing in the reading goroutine rather than a third one is deliberate:
// with one busy goroutine per transfer a 2-core machine keeps a core for
// chat (measured: chat p99 during a transfer 4 ms instead of 13 ms, the
// same throughput; see bench_test.go).
type diskWriter struct {
	e    *Engine
	t    *transfer
	f    File
	h    hash.Hash
	size int64

	// written is how many bytes of the file are written and hashed.
	written, saved int64
	err            error // the first write or sync error

	cps    chan struct{} // a newer checkpoint is in latest
	cpDone chan struct{}

	mu      sync.Mutex
	latest  cpReq // the newest checkpoint, to be synced and saved
	syncErr error
}

type cpReq struct {
	offset int64
	state  []byte
}

func newDiskWriter(e *Engine, t *transfer, f File, h hash.Hash, offset, size int64) *diskWriter {
	w := &diskWriter{
		e: e, t: t, f: f, h: h, size: size, written: offset, saved: offset,
		cps: make(chan struct{}, 1), cpDone: make(chan struct{}),
	}
	go w.checkpoints()
	return w
}

// write writes and hashes one chunk, and makes a checkpoint every
// Config.Checkpoint bytes. After an error it does nothing and returns it.
func (w *diskWriter) write(data []byte) error {
	if w.err == nil {
		w.mu.Lock()
		w.err = w.syncErr
		w.mu.Unlock()
	}
	if w.err != nil {
		return w.err
	}
	if _, err := w.f.Write(data); err != nil {
		w.err = err
		return err
	}
	w.h.Write(data)
	w.written += int64(len(data))
	if w.written-w.saved < w.e.cfg.Checkpoint || w.written >= w.size {
		return nil
	}
	state, err := w.h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return nil // no checkpoint this time
	}
	w.mu.Lock()
	w.latest = cpReq{w.written, state}
	w.mu.Unlock()
	w.saved = w.written
	select {
	case w.cps <- struct{}{}:
	default: // one is pending: it will take the newest
	}
	return nil
}

func (w *diskWriter) checkpoints() {
	defer close(w.cpDone)
	var done int64
	for range w.cps {
		w.mu.Lock()
		r := w.latest
		w.mu.Unlock()
		if r.offset <= done {
			continue
		}
		// Every byte up to r.offset was written before r was made.
		if err := w.f.Sync(); err != nil {
			w.mu.Lock()
			w.syncErr = err
			w.mu.Unlock()
			continue
		}
		w.e.saveCheckpoint(w.t, r.offset, r.state)
		done = r.offset
	}
}

// stop waits for the checkpoint being saved, and returns the first error.
// Call it once.
func (w *diskWriter) stop() error {
	close(w.cps)
	<-w.cpDone
	if w.err == nil {
		w.err = w.syncErr
	}
	return w.err
}
