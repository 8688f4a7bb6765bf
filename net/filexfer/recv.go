package filexfer

import (
	"context"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/parlance-chat/parlance/net/transport"
)

// serveOffer records an incoming offer, or refuses it with a reason.
func (e *Engine) serveOffer(peer string, conn io.Writer, o offerFrame) {
	id := o.ID.String()
	now := e.cfg.Now()
	e.mu.Lock()
	if t := e.transfers[id]; t != nil {
		// The same offer again (its answer was lost): the same answer.
		same := t.rec.Peer == peer && t.rec.Dir == Receive
		e.mu.Unlock()
		if same {
			writeAnswer(conn, codeOK, "")
		} else {
			writeAnswer(conn, codeFailed, "transfer id in use")
		}
		return
	}
	pending := 0
	for _, t := range e.transfers {
		if t.rec.Peer == peer && t.rec.Dir == Receive && t.rec.State == StateOffered {
			pending++
		}
	}
	var code byte
	var reason string
	switch {
	case !e.offers.allow(peer, now): // every offer counts, refused ones too
		code, reason = codeBusy, "too many offers; try again in a minute"
	case o.Size > e.cfg.MaxSize:
		code, reason = codeTooBig, fmt.Sprintf("the file is %s, over the %d MB this peer accepts", FormatBytes(o.Size), e.cfg.MaxSize>>20)
	case pending >= e.cfg.MaxPending:
		code, reason = codeBusy, fmt.Sprintf("%d offers are already waiting for an answer; try later", pending)
	}
	if code != codeOK {
		e.mu.Unlock()
		e.log.Info("file offer refused", "peer", peer, "reason", reason)
		writeAnswer(conn, code, reason)
		return
	}
	t := &transfer{rec: Record{
		ID: id, Peer: peer, Dir: Receive, Name: SanitizeName(o.Name), Size: o.Size, SHA256: o.SHA256,
		State: StateOffered, Created: now, Updated: now,
	}}
	if o.InGroup {
		t.rec.Group = hex.EncodeToString(o.Group[:])
	}
	e.transfers[id] = t
	rec, snap := t.rec, t.snapshot()
	e.mu.Unlock()
	e.save(rec)
	if err := writeAnswer(conn, codeOK, ""); err != nil {
		e.log.Debug("could not answer an offer", "peer", peer, "err", err)
	}
	// Decided before the offer is shown: what the user does once it is
	// shown (verifying the sender, say) applies to the next offer.
	auto := e.cfg.AutoAccept != nil && e.cfg.AutoAccept(snap)
	e.cfg.OnEvent(Event{Kind: EventOffered, Transfer: snap})
	if auto {
		if err := e.Accept(id); err != nil {
			e.log.Warn("auto-accept failed", "id", id, "err", err)
		}
	}
}

// Accept starts (or, after a disk-full failure, resumes) downloading an
// incoming offer. It returns at once; events report the rest.
func (e *Engine) Accept(id string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	t, err := e.lookupLocked(id)
	if err != nil {
		return err
	}
	if t.rec.Dir != Receive || !(t.rec.State == StateOffered || t.rec.State == StateFailed && t.rec.Offset > 0) {
		return fmt.Errorf("accept %s (%s, %s): %w", id, t.rec.Dir, t.rec.State, ErrState)
	}
	if e.closed {
		return fmt.Errorf("accept %s: the engine is closed", id)
	}
	t.rec.State, t.rec.Error, t.rec.Updated = StateActive, "", e.cfg.Now()
	e.startDownloadLocked(t)
	return nil
}

// startDownloadLocked starts the goroutine that downloads t until it is
// done, fails for good, is cancelled, or the engine closes. e.mu is held.
func (e *Engine) startDownloadLocked(t *transfer) {
	ctx, cancel := context.WithCancel(e.ctx)
	t.stop = cancel
	t.wake = make(chan struct{}, 1)
	rec := t.rec
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		defer cancel()
		e.save(rec)
		e.download(ctx, t)
	}()
}

// errFinal marks errors that end a download for good (no retry).
type errFinal struct {
	state State
	kind  EventKind
	err   error
}

func (f *errFinal) Error() string { return f.err.Error() }
func (f *errFinal) Unwrap() error { return f.err }

func final(state State, kind EventKind, err error) error {
	return &errFinal{state: state, kind: kind, err: err}
}

// download fetches t, reconnecting with back-off after interruptions.
func (e *Engine) download(ctx context.Context, t *transfer) {
	wait := e.cfg.RetryMin
	for {
		err := e.fetch(ctx, t)
		if err == nil {
			return
		}
		if ctx.Err() != nil {
			return // cancelled (Cancel set the state) or closing (stays active)
		}
		var f *errFinal
		if errors.As(err, &f) {
			e.setState(t, f.state, f.err.Error(), f.kind)
			return
		}
		if errors.Is(err, transport.ErrKeyMismatch) { // someone else holds the peer's address
			e.setState(t, StateFailed, "stopped: "+err.Error(), EventFailed)
			return
		}
		e.log.Info("download interrupted; will resume", "id", t.rec.ID, "in", wait, "err", err)
		select {
		case <-time.After(wait):
			wait = min(2*wait, e.cfg.RetryMax)
		case <-t.wake:
			wait = e.cfg.RetryMin
		case <-ctx.Done():
			return
		}
	}
}

// partialPath is where a download is written until its hash matches.
func (e *Engine) partialPath(id string) string {
	return filepath.Join(e.cfg.DownloadDir, ".parlance-"+id+".part")
}

func (e *Engine) removePartial(t *transfer) {
	if err := e.cfg.FS.Remove(e.partialPath(t.rec.ID)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		e.log.Warn("could not remove a partial download", "path", e.partialPath(t.rec.ID), "err", err)
	}
	e.mu.Lock()
	t.rec.Offset, t.rec.HashState, t.done = 0, nil, 0
	e.mu.Unlock()
}

// fetch is one attempt: open the partial file at the checkpoint, ask
// the sender for the rest, write and hash it, and on the last byte check
// the hash and give the file its name.
func (e *Engine) fetch(ctx context.Context, t *transfer) error {
	e.mu.Lock()
	rec := t.rec
	e.mu.Unlock()
	f, h, offset, err := e.openPartial(rec)
	if err != nil {
		return final(StateFailed, EventFailed, err)
	}
	closed := false
	defer func() {
		if !closed {
			f.Close()
		}
	}()
	id, _ := parseID(rec.ID)

	conn, err := e.cfg.Dial(ctx, rec.Peer)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if _, err := conn.Write(getFrame{ID: id, Offset: offset}.append(nil)); err != nil {
		return fmt.Errorf("send get: %w", err)
	}
	a, err := readAnswer(conn)
	if err != nil {
		return fmt.Errorf("read answer: %w", err)
	}
	switch a.Code {
	case codeOK:
	case codeCancelled:
		e.removePartial(t)
		return final(StateCancelled, EventCancelled, errors.New("the sender cancelled it"))
	default:
		e.removePartial(t)
		return final(StateFailed, EventFailed, fmt.Errorf("the sender refused: %s", a.Reason))
	}
	e.mu.Lock()
	t.done = offset
	t.meter.reset()
	e.mu.Unlock()
	e.emit(EventStarted, t)

	w := newDiskWriter(e, t, f, h, offset, rec.Size)
	buf := make([]byte, dataHeader+MaxChunk)
	var readErr, writeErr error
	for offset < rec.Size && readErr == nil && writeErr == nil {
		typ, p, err := readFrame(conn, buf)
		if err != nil {
			readErr = fmt.Errorf("read data: %w", noEOF(err))
			break
		}
		at, data, err := parseData(p)
		switch {
		case typ != frameData || err != nil:
			readErr = fmt.Errorf("%w: want data at %d (type %c, %v)", errBadFrame, offset, typ, err)
		case at != offset || int64(len(data)) > rec.Size-offset:
			readErr = fmt.Errorf("%w: data at %d+%d, want %d (size %d)", errBadFrame, at, len(data), offset, rec.Size)
		default:
			writeErr = w.write(data)
			offset += int64(len(data))
			e.bytesReceived.Add(int64(len(data)))
			e.progress(t, offset)
		}
	}
	if err := w.stop(); writeErr == nil {
		writeErr = err
	}
	switch {
	case writeErr != nil:
		return e.writeFailed(t, f, h, w.written, writeErr)
	case readErr != nil:
		if err := e.checkpoint(t, f, h, w.written); err != nil {
			return e.writeFailed(t, f, h, w.written, err)
		}
		return readErr
	}

	var sum [32]byte
	h.Sum(sum[:0])
	if sum != rec.SHA256 {
		writeAnswer(conn, codeBadHash, "SHA-256 mismatch")
		closed = true
		f.Close()
		e.removePartial(t)
		return final(StateFailed, EventFailed, fmt.Errorf("%w (got %x, offered %x)", ErrBadHash, sum[:8], rec.SHA256[:8]))
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	closed = true
	if err != nil {
		return e.writeFailed(t, nil, nil, 0, err)
	}
	path, err := place(e.cfg.FS, e.partialPath(rec.ID), e.cfg.DownloadDir, rec.Name)
	if err != nil {
		writeAnswer(conn, codeFailed, "could not save the file")
		e.removePartial(t)
		return final(StateFailed, EventFailed, err)
	}
	writeAnswer(conn, codeOK, "")
	e.mu.Lock()
	t.rec.Path, t.rec.Offset, t.rec.HashState = path, rec.Size, nil
	t.stop = nil
	e.mu.Unlock()
	e.setState(t, StateDone, "", EventDone)
	return nil
}

// openPartial opens the temporary file at the last checkpoint, with the
// hash of the bytes before it; a missing or shorter file, or a hash state
// that does not load, starts from zero.
func (e *Engine) openPartial(rec Record) (File, hash.Hash, int64, error) {
	path := e.partialPath(rec.ID)
	f, err := e.cfg.FS.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("open %s: %w", path, err)
	}
	h := sha256.New()
	offset := rec.Offset
	if offset > 0 {
		st, err := f.Stat()
		if err != nil || st.Size() < offset || h.(encoding.BinaryUnmarshaler).UnmarshalBinary(rec.HashState) != nil {
			e.log.Info("partial download unusable; starting over", "id", rec.ID)
			h.Reset()
			offset = 0
		}
	}
	if err := f.Truncate(offset); err == nil {
		_, err = f.Seek(offset, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, nil, 0, fmt.Errorf("prepare %s: %w", path, err)
	}
	return f, h, offset, nil
}

// checkpoint syncs the partial file and saves offset and the hash state,
// so a resume starts there.
func (e *Engine) checkpoint(t *transfer, f File, h hash.Hash, offset int64) error {
	if err := f.Sync(); err != nil {
		return err
	}
	state, err := h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return err
	}
	e.saveCheckpoint(t, offset, state)
	return nil
}

// saveCheckpoint records that offset bytes, hashed to state, are synced.
func (e *Engine) saveCheckpoint(t *transfer, offset int64, state []byte) {
	e.mu.Lock()
	if t.rec.State != StateActive { // cancelled meanwhile: nothing to resume
		e.mu.Unlock()
		return
	}
	t.rec.Offset, t.rec.HashState, t.rec.Updated = offset, state, e.cfg.Now()
	rec := t.rec
	e.mu.Unlock()
	e.save(rec)
}

// writeFailed ends a download whose file could not be written: a full
// disk keeps the partial file and checkpoint (Accept resumes it once there
// is room), anything else discards it.
func (e *Engine) writeFailed(t *transfer, f File, h hash.Hash, offset int64, err error) error {
	if errors.Is(err, syscall.ENOSPC) {
		if f != nil {
			e.checkpoint(t, f, h, offset) // what was written before is whole
		}
		return final(StateFailed, EventFailed, fmt.Errorf("%w: free space in %s, then accept %s again to resume: %v", ErrDiskFull, e.cfg.DownloadDir, t.rec.ID, err))
	}
	e.removePartial(t)
	return final(StateFailed, EventFailed, fmt.Errorf("write %s: %w", e.partialPath(t.rec.ID), err))
}
