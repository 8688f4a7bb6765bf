package filexfer

import (
	"encoding"
	"hash"
	"sync"
)

// writeAhead is how many chunks a download reads ahead of its disk
// writes: the reading goroutine decrypts the next chunks while the
// writing one writes and hashes the last, so a download uses two cores
// instead of one. Memory stays flat: writeAhead+1 buffers of a chunk.
const writeAhead = 3

// diskWriter writes and hashes a download's chunks in a goroutine of its
// own (the download's goroutine reads and decrypts the next ones
// meanwhile), and saves checkpoints from a third: syncing the file can
// take long on a slow disk, and the data must not wait for it
// (checkpoints made while one syncs are folded into the next).
//
// Both goroutines end in stop; the download's goroutine owns the
// diskWriter and calls buffer, write and stop.
type diskWriter struct {
	e    *Engine
	t    *transfer
	f    File
	h    hash.Hash
	size int64

	free chan []byte // buffers to read the next chunk into
	work chan chunk  // chunks read, to be written
	done chan struct{}

	// Owned by the writing goroutine until done is closed.
	written, saved int64 // bytes of the file written and hashed; at the last checkpoint
	err            error // the first write or sync error

	failed chan struct{} // closed on the first error, so the reader stops

	cps    chan struct{} // a newer checkpoint is in latest
	cpDone chan struct{}

	mu      sync.Mutex
	latest  cpReq // the newest checkpoint, to be synced and saved
	syncErr error
}

type chunk struct {
	buf  []byte // to give back to free
	data []byte // within buf
}

type cpReq struct {
	offset int64
	state  []byte
}

func newDiskWriter(e *Engine, t *transfer, f File, h hash.Hash, offset, size int64) *diskWriter {
	w := &diskWriter{
		e: e, t: t, f: f, h: h, size: size, written: offset, saved: offset,
		free: make(chan []byte, writeAhead+1), work: make(chan chunk, writeAhead), done: make(chan struct{}),
		failed: make(chan struct{}),
		cps:    make(chan struct{}, 1), cpDone: make(chan struct{}),
	}
	for range writeAhead + 1 {
		w.free <- make([]byte, dataHeader+MaxChunk)
	}
	go w.checkpoints()
	go w.writes()
	return w
}

// buffer returns a buffer to read the next frame into; nil once writing
// failed (stop returns why).
func (w *diskWriter) buffer() []byte {
	select {
	case b := <-w.free:
		return b
	case <-w.failed:
		return nil
	}
}

// write hands over data (a slice of buf, from buffer) to be written and
// hashed.
func (w *diskWriter) write(buf, data []byte) {
	w.work <- chunk{buf, data}
}

// writes writes and hashes the chunks in order, makes a checkpoint every
// Config.Checkpoint bytes, and reports progress. After an error it only
// gives the buffers back.
func (w *diskWriter) writes() {
	defer close(w.done)
	for c := range w.work {
		if w.err == nil {
			w.writeChunk(c.data)
			if w.err != nil {
				close(w.failed)
			} else {
				w.e.progress(w.t, w.written)
			}
		}
		w.free <- c.buf
	}
}

func (w *diskWriter) writeChunk(data []byte) {
	w.mu.Lock()
	w.err = w.syncErr
	w.mu.Unlock()
	if w.err != nil {
		return
	}
	if _, err := w.f.Write(data); err != nil {
		w.err = err
		return
	}
	w.h.Write(data)
	w.written += int64(len(data))
	if w.written-w.saved < w.e.cfg.Checkpoint || w.written >= w.size {
		return
	}
	state, err := w.h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return // no checkpoint this time
	}
	w.mu.Lock()
	w.latest = cpReq{w.written, state}
	w.mu.Unlock()
	w.saved = w.written
	select {
	case w.cps <- struct{}{}:
	default: // one is pending: it will take the newest
	}
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

// stop writes what was handed over, waits for the checkpoint being saved,
// and returns how many bytes of the file are written and hashed, and the
// first error. Call it once.
func (w *diskWriter) stop() (int64, error) {
	close(w.work)
	<-w.done
	close(w.cps)
	<-w.cpDone
	if w.err == nil {
		w.err = w.syncErr
	}
	return w.written, w.err
}
