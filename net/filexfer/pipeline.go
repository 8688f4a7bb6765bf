package filexfer

import (
	"encoding"
	"hash"
	"sync"
)

// buffers is how many chunk buffers a download cycles through: the bytes
// of a download in memory are at most buffers × (MaxChunk + a header),
// whatever the file's size.
const buffers = 4

// diskWriter writes and hashes a download's chunks in a goroutine of its
// own, so that reading (and decrypting) the next chunk overlaps with
// writing and hashing the last; a second goroutine syncs the file and
// saves the newest checkpoint, so that a slow disk's sync never holds up
// the data (checkpoints made while one syncs are folded into the next).
// The download's fetch owns both and ends them with stop.
type diskWriter struct {
	e    *Engine
	t    *transfer
	f    File
	h    hash.Hash
	size int64

	free chan []byte   // buffers to read the next chunk into
	full chan chunk    // chunks read, to be written
	cps  chan struct{} // a newer checkpoint is in latest
	fail chan struct{} // closed at the first error

	// written is how many bytes of the file are written and hashed; the
	// writer goroutine owns it (and h) until stop returns.
	written int64

	writerDone, cpDone chan struct{}

	mu     sync.Mutex
	err    error
	latest cpReq // the newest checkpoint, to be synced and saved
}

type chunk struct{ buf, data []byte }

type cpReq struct {
	offset int64
	state  []byte
}

func newDiskWriter(e *Engine, t *transfer, f File, h hash.Hash, offset, size int64) *diskWriter {
	w := &diskWriter{
		e: e, t: t, f: f, h: h, size: size, written: offset,
		free: make(chan []byte, buffers), full: make(chan chunk, buffers),
		cps: make(chan struct{}, 1), fail: make(chan struct{}),
		writerDone: make(chan struct{}), cpDone: make(chan struct{}),
	}
	for range buffers {
		w.free <- make([]byte, dataHeader+MaxChunk)
	}
	go w.write()
	go w.checkpoints()
	return w
}

func (w *diskWriter) setErr(err error) {
	w.mu.Lock()
	if w.err == nil {
		w.err = err
		close(w.fail)
	}
	w.mu.Unlock()
}

func (w *diskWriter) write() {
	defer close(w.writerDone)
	saved := w.written
	failed := false
	for c := range w.full {
		if !failed {
			if _, err := w.f.Write(c.data); err != nil {
				w.setErr(err)
				failed = true
			} else {
				w.h.Write(c.data)
				w.written += int64(len(c.data))
				if w.written-saved >= w.e.cfg.Checkpoint && w.written < w.size {
					if state, err := w.h.(encoding.BinaryMarshaler).MarshalBinary(); err == nil {
						w.mu.Lock()
						w.latest = cpReq{w.written, state}
						w.mu.Unlock()
						saved = w.written
						select {
						case w.cps <- struct{}{}:
						default: // one is pending: it will take the newest
						}
					}
				}
			}
		}
		w.free <- c.buf
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
			w.setErr(err)
			continue
		}
		w.e.saveCheckpoint(w.t, r.offset, r.state)
		done = r.offset
	}
}

// stop waits for the chunks handed over to be written and the last
// checkpoint to be saved, and returns the first error. Call it once.
func (w *diskWriter) stop() error {
	close(w.full)
	<-w.writerDone
	close(w.cps) // the writer was its only sender
	<-w.cpDone
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}
