package filexfer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/parlance-chat/parlance/net/transport"
)

// Source is a file read and hashed once, to be offered to one peer or to
// many (the members of a group) with OfferSource.
type Source struct {
	Path   string // absolute
	Name   string // the file's base name, cut to MaxNameBytes
	Size   int64
	SHA256 [32]byte
}

// HashFile reads the regular file at path once and returns it hashed.
func HashFile(ctx context.Context, path string) (Source, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return Source{}, fmt.Errorf("offer %s: %w", path, err)
	}
	f, err := os.Open(abs)
	if err != nil {
		return Source{}, fmt.Errorf("offer: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Source{}, fmt.Errorf("offer: %w", err)
	}
	if !st.Mode().IsRegular() {
		return Source{}, fmt.Errorf("offer %s: not a regular file", path)
	}
	h := sha256.New()
	n, err := io.Copy(h, contextReader{ctx, f})
	if err != nil {
		return Source{}, fmt.Errorf("offer: hash %s: %w", path, err)
	}
	if n != st.Size() {
		return Source{}, fmt.Errorf("offer %s: the file changed while it was read", path)
	}
	src := Source{Path: abs, Name: cut(filepath.Base(abs), MaxNameBytes), Size: n}
	h.Sum(src.SHA256[:0])
	return src, nil
}

// OfferOptions are the optional parts of an offer.
type OfferOptions struct {
	// Group, 32 hex digits, makes it an offer in that group (the receiver
	// is told which); "" for none.
	Group string
	// Batch ties together the offers of one file to a group's members
	// (kept on this side only).
	Batch string
}

// Offer hashes the file at path (reading it once) and offers it to peer
// (see OfferSource).
func (e *Engine) Offer(ctx context.Context, peer, path string) (Transfer, error) {
	src, err := HashFile(ctx, path)
	if err != nil {
		return Transfer{}, err
	}
	return e.OfferSource(ctx, peer, src, OfferOptions{})
}

// OfferSource records a transfer of src to peer and sends the offer. It
// returns when the peer has answered: nil means the offer is recorded
// there and waits for its user (or was auto-accepted); the receiver then
// fetches the file from this engine. A refusal returns ErrRefused with the
// peer's reason (the transfer stays listed as rejected or failed). When
// the peer cannot be reached (the Dialer's ErrOffline, a failed dial, no
// answer) the offer is queued (EventQueued, StateQueued, nil error): it is
// sent again when PeerOnline(peer) is called or at the next sweep, and
// expires after Config.QueueFor. At most Config.MaxQueued offers wait for
// one peer (ErrQueueFull).
func (e *Engine) OfferSource(ctx context.Context, peer string, src Source, o OfferOptions) (Transfer, error) {
	if o.Group != "" {
		if b, err := hex.DecodeString(o.Group); err != nil || len(b) != groupLen {
			return Transfer{}, fmt.Errorf("offer %s: bad group id %q", src.Name, o.Group)
		}
	}
	now := e.cfg.Now()
	rec := Record{
		ID: newID().String(), Peer: peer, Dir: Send, Name: src.Name, Path: src.Path, Size: src.Size, SHA256: src.SHA256,
		Group: o.Group, Batch: o.Batch, State: StateQueued, Created: now, Updated: now,
	}
	t := &transfer{rec: rec, offering: true}
	e.mu.Lock()
	if n := e.queuedLocked(peer); n >= e.cfg.MaxQueued {
		e.mu.Unlock()
		return Transfer{}, fmt.Errorf("offer %s: %w (%d); cancel some or wait until the peer is back", src.Name, ErrQueueFull, n)
	}
	e.transfers[rec.ID] = t
	e.mu.Unlock()
	e.save(rec)
	return e.deliver(ctx, t, true)
}

// queuedLocked counts the offers queued for peer. e.mu is held.
func (e *Engine) queuedLocked(peer string) int {
	n := 0
	for _, t := range e.transfers {
		if t.rec.Peer == peer && t.rec.State == StateQueued {
			n++
		}
	}
	return n
}

// deliver sends a queued offer (t.offering is set) and acts on the answer.
// A failure to reach the peer leaves it queued (first: with an
// EventQueued saying why).
func (e *Engine) deliver(ctx context.Context, t *transfer, first bool) (Transfer, error) {
	defer func() {
		e.mu.Lock()
		t.offering = false
		e.mu.Unlock()
	}()
	e.mu.Lock()
	rec := t.rec
	e.mu.Unlock()
	a, err := e.sendOffer(ctx, rec)
	if err == nil && a.Code == codeBusy { // too many offers: the next sweep tries again
		err = fmt.Errorf("%w: %s", errBusy, a.Reason)
	}
	switch {
	case errors.Is(err, transport.ErrKeyMismatch): // someone else holds the peer's address
		e.transition(t, StateQueued, StateFailed, "stopped: "+err.Error(), EventFailed)
		return t.snapshotLocked(e), fmt.Errorf("offer %s: %w", rec.Name, err)
	case err != nil:
		why := "waiting for the peer to come online"
		switch {
		case errors.Is(err, errBusy):
			why = "waiting: " + err.Error()
		case !errors.Is(err, ErrOffline):
			why = "waiting: the peer could not be reached (" + err.Error() + ")"
		}
		if first {
			e.mu.Lock()
			t.rec.Error = why
			e.mu.Unlock()
			e.emit(EventQueued, t)
			return t.snapshotLocked(e), nil
		}
		e.log.Debug("queued offer not delivered", "id", rec.ID, "err", err)
		return t.snapshotLocked(e), err
	}
	var done bool
	switch a.Code {
	case codeOK:
		done = e.transition(t, StateQueued, StateOffered, "", EventOffered)
		// Cancelled (or expired) while it was being delivered: tell the
		// peer. (Another state means the peer already fetches it: an
		// earlier delivery's answer was lost.)
		if st := t.snapshotLocked(e).State; !done && (st == StateCancelled || st == StateExpired) {
			e.notify(t, codeCancelled, "cancelled")
		}
	case codeRejected:
		done = e.transition(t, StateQueued, StateRejected, "the peer declined: "+a.Reason, EventRejected)
	default:
		done = e.transition(t, StateQueued, StateFailed, "the peer refused: "+a.Reason, EventFailed)
	}
	if done && a.Code != codeOK {
		return t.snapshotLocked(e), fmt.Errorf("offer %s: %w: %s", rec.Name, ErrRefused, a.Reason)
	}
	return t.snapshotLocked(e), nil
}

// sendOffer opens a stream to rec's peer, sends the offer and reads the
// answer.
func (e *Engine) sendOffer(ctx context.Context, rec Record) (answerFrame, error) {
	id, err := parseID(rec.ID)
	if err != nil {
		return answerFrame{}, err
	}
	o := offerFrame{ID: id, Size: rec.Size, SHA256: rec.SHA256, Name: rec.Name}
	if rec.Group != "" {
		_, err := hex.Decode(o.Group[:], []byte(rec.Group))
		o.InGroup = err == nil
	}
	ctx, cancel := context.WithTimeout(ctx, e.cfg.AnswerTimeout)
	defer cancel()
	conn, err := e.cfg.Dial(ctx, rec.Peer)
	if err != nil {
		return answerFrame{}, fmt.Errorf("connect: %w", err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if _, err := conn.Write(o.append(nil)); err != nil {
		return answerFrame{}, fmt.Errorf("send: %w", err)
	}
	a, err := readAnswer(conn)
	if err != nil {
		return answerFrame{}, fmt.Errorf("read the answer: %w", err)
	}
	return a, nil
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
	case t.rec.State == StateExpired:
		code, reason = codeFailed, "the offer expired; ask for it again"
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

// errBusy: the peer has too many offers from this node for now.
var errBusy = errors.New("the peer is busy")

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
