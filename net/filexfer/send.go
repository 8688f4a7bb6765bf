package filexfer

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// Offer offers the file at path to peer: it hashes the file (reading it
// once), records the transfer and sends the offer. It returns when the
// peer has answered: nil means the offer is recorded there and waits for
// its user (or was auto-accepted); the receiver then fetches the file from
// this engine. A refusal returns ErrRefused with the peer's reason (and
// the transfer stays listed as rejected or failed). An error before the
// offer was delivered leaves nothing behind.
func (e *Engine) Offer(ctx context.Context, peer, path string) (Transfer, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return Transfer{}, fmt.Errorf("offer %s: %w", path, err)
	}
	f, err := os.Open(abs)
	if err != nil {
		return Transfer{}, fmt.Errorf("offer: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Transfer{}, fmt.Errorf("offer: %w", err)
	}
	if !st.Mode().IsRegular() {
		return Transfer{}, fmt.Errorf("offer %s: not a regular file", path)
	}
	h := sha256.New()
	n, err := io.Copy(h, contextReader{ctx, f})
	if err != nil {
		return Transfer{}, fmt.Errorf("offer: hash %s: %w", path, err)
	}
	if n != st.Size() {
		return Transfer{}, fmt.Errorf("offer %s: the file changed while it was read", path)
	}
	now := e.cfg.Now()
	rec := Record{
		ID: newID().String(), Peer: peer, Dir: Send, Name: cut(filepath.Base(abs), MaxNameBytes), Path: abs,
		Size: n, State: StateOffered, Created: now, Updated: now,
	}
	h.Sum(rec.SHA256[:0])
	return e.sendOffer(ctx, rec)
}

// sendOffer records rec and offers it to its peer.
func (e *Engine) sendOffer(ctx context.Context, rec Record) (Transfer, error) {
	id, err := parseID(rec.ID)
	if err != nil {
		return Transfer{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, e.cfg.AnswerTimeout)
	defer cancel()
	conn, err := e.cfg.Dial(ctx, rec.Peer)
	if err != nil {
		return Transfer{}, fmt.Errorf("offer %s: %w", rec.Name, err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	frame := offerFrame{ID: id, Size: rec.Size, SHA256: rec.SHA256, Name: rec.Name}.append(nil)
	if _, err := conn.Write(frame); err != nil {
		return Transfer{}, fmt.Errorf("offer %s: send: %w", rec.Name, err)
	}
	// Recorded before the answer: a fast receiver may get it at once.
	t := &transfer{rec: rec}
	e.mu.Lock()
	e.transfers[rec.ID] = t
	e.mu.Unlock()
	e.save(rec)

	a, err := readAnswer(conn)
	switch {
	case err != nil:
		e.setState(t, StateFailed, "no answer to the offer", EventFailed)
		return t.snapshotLocked(e), fmt.Errorf("offer %s: read answer: %w", rec.Name, err)
	case a.Code == codeOK:
		e.emit(EventOffered, t)
		return t.snapshotLocked(e), nil
	case a.Code == codeRejected:
		e.setState(t, StateRejected, "the peer declined: "+a.Reason, EventRejected)
	default:
		e.setState(t, StateFailed, "the peer refused: "+a.Reason, EventFailed)
	}
	return t.snapshotLocked(e), fmt.Errorf("offer %s: %w: %s", rec.Name, ErrRefused, a.Reason)
}

func (t *transfer) snapshotLocked(e *Engine) Transfer {
	e.mu.Lock()
	defer e.mu.Unlock()
	return t.snapshot()
}

// serveGet sends the file of an offered transfer from the offset the
// receiver asks for, then reads the receiver's verdict.
func (e *Engine) serveGet(ctx context.Context, peer string, conn io.ReadWriteCloser, g getFrame) {
	id := g.ID.String()
	e.mu.Lock()
	t := e.transfers[id]
	var code byte
	var reason string
	switch {
	case t == nil || t.rec.Peer != peer || t.rec.Dir != Send:
		code, reason = codeUnknown, "no such transfer"
	case t.rec.State == StateCancelled || t.rec.State == StateRejected:
		code, reason = codeCancelled, "the sender cancelled it"
	case t.rec.State.final():
		code, reason = codeUnknown, "the transfer is over ("+string(t.rec.State)+")"
	case g.Offset > t.rec.Size:
		code, reason = codeFailed, "offset past the end"
	}
	var upCtx context.Context
	if code == codeOK {
		if t.stop != nil {
			t.stop() // an older connection of the same transfer
		}
		var cancel context.CancelFunc
		upCtx, cancel = context.WithCancel(ctx)
		t.stop = cancel
		defer cancel()
	}
	e.mu.Unlock()
	if code != codeOK {
		writeAnswer(conn, code, reason)
		return
	}
	stop := context.AfterFunc(upCtx, func() { conn.Close() })
	defer stop()

	err := e.upload(upCtx, t, conn, g.Offset)
	var verdict answerFrame
	if err == nil {
		// The receiver syncs the whole file before it answers: on a slow
		// disk that can take longer than a stream's usual deadline.
		if s, ok := conn.(interface{ SetIdleTimeout(time.Duration) }); ok {
			s.SetIdleTimeout(verdictTimeout)
		}
		verdict, err = readAnswer(conn)
	}
	e.mu.Lock()
	cancelled := t.rec.State == StateCancelled
	e.mu.Unlock()
	switch {
	case cancelled:
	case errors.Is(err, errChanged):
		writeAnswer(conn, codeChanged, "the file changed since it was offered")
		e.setState(t, StateFailed, "the file changed since it was offered; offer it again", EventFailed)
	case err != nil:
		// The receiver resumes from its checkpoint when it can.
		e.log.Debug("upload interrupted", "id", id, "peer", peer, "err", err)
	case verdict.Code == codeOK:
		e.setState(t, StateDone, "", EventDone)
	case verdict.Code == codeBadHash:
		e.setState(t, StateFailed, "the receiver's hash did not match: "+verdict.Reason, EventFailed)
	default:
		e.setState(t, StateFailed, "the receiver failed: "+verdict.Reason, EventFailed)
	}
}

var errChanged = errors.New("file changed")

// verdictTimeout bounds the wait for the receiver's verdict after the last
// byte.
const verdictTimeout = 10 * time.Minute

// upload answers OK and writes the data frames from offset to the end.
func (e *Engine) upload(ctx context.Context, t *transfer, conn io.Writer, offset int64) error {
	f, err := os.Open(t.rec.Path)
	if err != nil {
		return errChanged
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || st.Size() != t.rec.Size {
		return errChanged
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return fmt.Errorf("seek: %w", err)
	}
	if err := writeAnswer(conn, codeOK, ""); err != nil {
		return err
	}
	e.mu.Lock()
	started := t.rec.State != StateActive
	t.rec.State = StateActive
	t.done = offset
	t.meter.reset()
	e.mu.Unlock()
	if started {
		e.setState(t, StateActive, "", EventStarted)
	}

	buf := make([]byte, dataHeader+e.cfg.ChunkSize)
	for offset < t.rec.Size {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := int(min(int64(e.cfg.ChunkSize), t.rec.Size-offset))
		if _, err := io.ReadFull(f, buf[dataHeader:dataHeader+n]); err != nil {
			return errChanged // shorter than it was
		}
		putDataHeader(buf, offset, n)
		if _, err := conn.Write(buf[:dataHeader+n]); err != nil {
			return fmt.Errorf("send data: %w", err)
		}
		offset += int64(n)
		e.bytesSent.Add(int64(n))
		e.progress(t, offset)
	}
	return nil
}

// contextReader stops reading when ctx ends.
type contextReader struct {
	ctx context.Context
	r   io.Reader
}

func (c contextReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
