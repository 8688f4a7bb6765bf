package filexfer

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Direction says which side of a transfer this node is.
type Direction string

const (
	Send    Direction = "send"
	Receive Direction = "receive"
)

// State is where a transfer stands.
type State string

const (
	// StateQueued: an offer not delivered yet (the peer is offline or
	// could not be reached); it goes out when the peer is seen again, until
	// Config.QueueFor has passed.
	StateQueued State = "queued"
	// StateOffered: sent, or received and waiting for Accept or Reject
	// (until Config.OfferFor has passed).
	StateOffered State = "offered"
	// StateActive: accepted; bytes flow, or the receiver retries the
	// connection (after a drop or a restart) from its last checkpoint.
	StateActive State = "active"
	// StateDone: the whole file's SHA-256 matched and it is saved (Path).
	StateDone      State = "done"
	StateRejected  State = "rejected"
	StateCancelled State = "cancelled"
	// StateFailed: Error says why. A download that failed on the disk
	// (full) keeps its checkpoint: Accept resumes it.
	StateFailed State = "failed"
	// StateExpired: queued longer than Config.QueueFor, or offered and
	// neither accepted nor rejected within Config.OfferFor.
	StateExpired State = "expired"
)

func (s State) final() bool {
	return s == StateDone || s == StateRejected || s == StateCancelled || s == StateFailed || s == StateExpired
}

// Transfer is a snapshot of a transfer, for lists and events.
type Transfer struct {
	ID     string
	Peer   string
	Dir    Direction
	Name   string // the saved name's base for a download, sanitised
	Path   string // upload: the source; download: the saved file once done
	Size   int64
	SHA256 string // hex
	State  State
	Error  string
	// Group is the id (32 hex digits) of the group the file was offered
	// in, "" for none; Batch ties the offers of one file to a group's
	// members together (the sender's, "" on the receiving side).
	Group, Batch string

	Done int64         // bytes transferred (a download: verified and on disk)
	Rate float64       // bytes a second, recent
	ETA  time.Duration // 0 when unknown

	Created, Updated time.Time
}

// EventKind says what happened to a transfer.
type EventKind int

const (
	EventOffered   EventKind = iota // an offer was sent or received
	EventStarted                    // bytes begin to flow (again, after a resume)
	EventProgress                   // Done grew (at most every Config.ProgressEvery)
	EventDone                       // the hash matched; the file is saved
	EventRejected                   // the receiver declined
	EventCancelled                  // either side cancelled
	EventFailed                     // Transfer.Error says why
	EventExpired                    // queued or unanswered too long (Transfer.Error says which)
	EventQueued                     // an offer waits for its peer (Transfer.Error says why)
)

func (k EventKind) String() string {
	return [...]string{"offered", "started", "progress", "done", "rejected", "cancelled", "failed", "expired", "queued"}[k]
}

// Final reports whether the event ends its transfer.
func (k EventKind) Final() bool { return k >= EventDone && k <= EventExpired }

// Event reports a change of a transfer.
type Event struct {
	Kind     EventKind
	Transfer Transfer
}

// Dialer opens a file-transfer stream to a peer by ID: in the node,
// transport.OpenStream(ctx, the peer's Dest, ALPN).
type Dialer func(ctx context.Context, peer string) (io.ReadWriteCloser, error)

// Config configures an Engine. Zero values take defaults.
type Config struct {
	// DownloadDir is where received files are saved (required).
	DownloadDir string
	// Store keeps transfers across restarts; nil: NewMemStore().
	Store Store
	// Dial opens streams to peers (required).
	Dial Dialer
	// OnEvent is called for every event, from the engine's goroutines; it
	// must not block (hand the event to a buffered channel).
	OnEvent func(Event)
	// AutoAccept, if set, is asked about every incoming offer; true
	// accepts it at once (e.g. verified contacts, up to a size).
	AutoAccept func(Transfer) bool

	MaxSize        int64         // largest offer accepted (default 4096 MiB)
	MaxPending     int           // offers waiting for a decision, per peer (default 16)
	OfferBurst     int           // offers a peer may make at once (default 10)
	OfferEvery     time.Duration // then one per (default 6 s)
	Checkpoint     int64         // a download syncs and saves its state every so many bytes (default 8 MiB)
	ProgressEvery  time.Duration // progress events per transfer at most this often (default 250 ms)
	RetryMin       time.Duration // first wait before a download reconnects (default 1 s)
	RetryMax       time.Duration // longest wait (default 1 min)
	ChunkSize      int           // bytes per data frame sent (default and most: MaxChunk)
	FS             FS            // where downloads are written (default OSFS)
	Logger         *slog.Logger  // nil: discard
	Now            func() time.Time
	AnswerTimeout  time.Duration // how long to wait for the peer's answer (default 30 s)
	NoticeAttempts int           // tries to deliver a reject or cancel notice (default 3)

	QueueFor   time.Duration // an offer waits for an offline peer this long, then expires (default 7 days)
	OfferFor   time.Duration // an offer neither accepted nor rejected expires after (default 7 days)
	MaxQueued  int           // offers waiting for one offline peer (default 16)
	SweepEvery time.Duration // how often offers are expired and queued ones retried (default 1 min)
}

// Defaults.
const (
	DefaultMaxSize    = 4096 << 20
	DefaultCheckpoint = 8 << 20
	DefaultExpiry     = 7 * 24 * time.Hour
)

func (c Config) withDefaults() Config {
	if c.Store == nil {
		c.Store = NewMemStore()
	}
	if c.OnEvent == nil {
		c.OnEvent = func(Event) {}
	}
	if c.MaxSize <= 0 {
		c.MaxSize = DefaultMaxSize
	}
	if c.MaxPending <= 0 {
		c.MaxPending = 16
	}
	if c.OfferBurst <= 0 {
		c.OfferBurst = 10
	}
	if c.OfferEvery <= 0 {
		c.OfferEvery = 6 * time.Second
	}
	if c.Checkpoint <= 0 {
		c.Checkpoint = DefaultCheckpoint
	}
	if c.ProgressEvery <= 0 {
		c.ProgressEvery = 250 * time.Millisecond
	}
	if c.RetryMin <= 0 {
		c.RetryMin = time.Second
	}
	if c.RetryMax <= 0 {
		c.RetryMax = time.Minute
	}
	if c.ChunkSize <= 0 || c.ChunkSize > MaxChunk {
		c.ChunkSize = MaxChunk
	}
	if c.FS == nil {
		c.FS = OSFS{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.AnswerTimeout <= 0 {
		c.AnswerTimeout = 30 * time.Second
	}
	if c.NoticeAttempts <= 0 {
		c.NoticeAttempts = 3
	}
	if c.QueueFor <= 0 {
		c.QueueFor = DefaultExpiry
	}
	if c.OfferFor <= 0 {
		c.OfferFor = DefaultExpiry
	}
	if c.MaxQueued <= 0 {
		c.MaxQueued = 16
	}
	if c.SweepEvery <= 0 {
		c.SweepEvery = time.Minute
	}
	return c
}

// Errors the engine's methods return (wrapped).
var (
	ErrUnknown  = errors.New("no such transfer")
	ErrState    = errors.New("not possible in the transfer's state")
	ErrRefused  = errors.New("the peer refused the offer")
	ErrDiskFull = errors.New("disk full")
	ErrBadHash  = errors.New("hash mismatch: the file was discarded")
	// ErrOffline is what a Dialer returns (wrapped) for a peer it knows
	// to be offline: an offer to it is queued.
	ErrOffline = errors.New("the peer is offline")
	// ErrQueueFull: Config.MaxQueued offers already wait for the peer.
	ErrQueueFull = errors.New("too many offers wait for this peer")
)

// Engine sends and receives files. Its methods are safe for concurrent
// use.
type Engine struct {
	cfg Config
	log *slog.Logger

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // downloads and notices

	mu        sync.Mutex
	closed    bool // Close was called: no new goroutines
	transfers map[string]*transfer
	offers    offerLimiter
	// retrying: the peers whose queued offers a goroutine delivers; true
	// when it should try once more before it ends.
	retrying map[string]bool

	bytesSent, bytesReceived atomic.Int64
}

// transfer is the engine's state of one transfer, guarded by Engine.mu.
type transfer struct {
	rec   Record
	done  int64 // bytes moved so far (for progress)
	meter meter
	// stop ends the goroutine working on it (a download, or the upload
	// serving the receiver's current get); nil when none.
	stop context.CancelFunc
	wake chan struct{} // a download's retry wait ends early (PeerOnline)
	// offering: a goroutine is delivering this (queued) offer.
	offering bool
}

func (t *transfer) snapshot() Transfer {
	r := &t.rec
	return Transfer{
		ID: r.ID, Peer: r.Peer, Dir: r.Dir, Name: r.Name, Path: r.Path, Size: r.Size,
		SHA256: fmt.Sprintf("%x", r.SHA256), State: r.State, Error: r.Error, Group: r.Group, Batch: r.Batch,
		Done: t.done, Rate: t.meter.rate, ETA: t.meter.eta(t.done, r.Size),
		Created: r.Created, Updated: r.Updated,
	}
}

// New loads the transfers in cfg.Store, resumes the downloads that were
// active, and starts the sweep that expires old offers and retries queued
// ones (at once, then every Config.SweepEvery).
func New(cfg Config) (*Engine, error) {
	cfg = cfg.withDefaults()
	if cfg.DownloadDir == "" || cfg.Dial == nil {
		return nil, errors.New("filexfer: Config needs DownloadDir and Dial")
	}
	if err := cfg.FS.MkdirAll(cfg.DownloadDir, 0o700); err != nil {
		return nil, fmt.Errorf("download directory: %w", err)
	}
	recs, err := cfg.Store.Load()
	if err != nil {
		return nil, fmt.Errorf("load transfers: %w", err)
	}
	e := &Engine{
		cfg:       cfg,
		log:       cfg.Logger,
		transfers: make(map[string]*transfer, len(recs)),
		offers:    offerLimiter{burst: cfg.OfferBurst, every: cfg.OfferEvery},
		retrying:  make(map[string]bool),
	}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	for _, r := range recs {
		t := &transfer{rec: r, done: r.Offset}
		e.transfers[r.ID] = t
	}
	e.mu.Lock()
	for _, t := range e.transfers {
		if t.rec.Dir == Receive && t.rec.State == StateActive {
			e.startDownloadLocked(t)
		}
	}
	e.wg.Add(1)
	e.mu.Unlock()
	go e.sweeps()
	return e, nil
}

// Close stops every download (keeping its checkpoint, so the next New
// resumes it) and waits for the engine's goroutines.
func (e *Engine) Close() error {
	e.mu.Lock()
	e.closed = true // no wg.Add after this
	e.mu.Unlock()
	e.cancel()
	e.wg.Wait()
	return nil
}

// Transfers lists every transfer, oldest first.
func (e *Engine) Transfers() []Transfer {
	e.mu.Lock()
	out := make([]Transfer, 0, len(e.transfers))
	for _, t := range e.transfers {
		out = append(out, t.snapshot())
	}
	e.mu.Unlock()
	slices.SortFunc(out, func(a, b Transfer) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// Get returns one transfer.
func (e *Engine) Get(id string) (Transfer, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	t, ok := e.transfers[id]
	if !ok {
		return Transfer{}, false
	}
	return t.snapshot(), true
}

// ErrAmbiguous: more than one transfer id starts with the prefix given.
var ErrAmbiguous = errors.New("more than one transfer starts with that id")

// Lookup returns the id of the one transfer whose id starts with prefix
// (what a user types after /accept: ShortID or more).
func (e *Engine) Lookup(prefix string) (string, error) {
	prefix = strings.ToLower(strings.TrimSpace(prefix))
	if prefix == "" {
		return "", fmt.Errorf("transfer %q: %w", prefix, ErrUnknown)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	found := ""
	for id := range e.transfers {
		if strings.HasPrefix(id, prefix) {
			if found != "" {
				return "", fmt.Errorf("transfer %s: %w", prefix, ErrAmbiguous)
			}
			found = id
		}
	}
	if found == "" {
		return "", fmt.Errorf("transfer %s: %w", prefix, ErrUnknown)
	}
	return found, nil
}

// Stats are the bytes of file data written to and read from streams.
func (e *Engine) Stats() (sent, received int64) {
	return e.bytesSent.Load(), e.bytesReceived.Load()
}

// PeerOnline ends the retry wait of the downloads from peer and sends the
// offers queued for it (call it when the peer is seen again).
func (e *Engine) PeerOnline(peer string) {
	e.mu.Lock()
	queued := false
	for _, t := range e.transfers {
		if t.rec.Peer != peer {
			continue
		}
		queued = queued || t.rec.State == StateQueued
		if t.wake != nil {
			select {
			case t.wake <- struct{}{}:
			default:
			}
		}
	}
	e.mu.Unlock()
	if queued {
		e.retryQueued(peer)
	}
}

// lookupLocked returns the transfer id; e.mu is held.
func (e *Engine) lookupLocked(id string) (*transfer, error) {
	t, ok := e.transfers[id]
	if !ok {
		return nil, fmt.Errorf("transfer %s: %w", id, ErrUnknown)
	}
	return t, nil
}

// setState changes a transfer's state (and error), saves it and emits
// kind. Called without e.mu.
func (e *Engine) setState(t *transfer, s State, errText string, kind EventKind) {
	e.mu.Lock()
	t.rec.State, t.rec.Error, t.rec.Updated = s, errText, e.cfg.Now()
	rec, snap := t.rec, t.snapshot()
	e.mu.Unlock()
	e.save(rec)
	e.cfg.OnEvent(Event{Kind: kind, Transfer: snap})
}

// transition changes a transfer's state like setState, only if it is
// still from; it reports whether it did.
func (e *Engine) transition(t *transfer, from, to State, errText string, kind EventKind) bool {
	e.mu.Lock()
	if t.rec.State != from {
		e.mu.Unlock()
		return false
	}
	t.rec.State, t.rec.Error, t.rec.Updated = to, errText, e.cfg.Now()
	rec, snap := t.rec, t.snapshot()
	e.mu.Unlock()
	e.save(rec)
	e.cfg.OnEvent(Event{Kind: kind, Transfer: snap})
	return true
}

// save stores a record, logging a failure (a transfer goes on without its
// state being saved; a restart then repeats more of it).
func (e *Engine) save(r Record) {
	if err := e.cfg.Store.Save(r); err != nil {
		e.log.Warn("could not save transfer state", "id", r.ID, "err", err)
	}
}

func (e *Engine) emit(kind EventKind, t *transfer) {
	e.mu.Lock()
	snap := t.snapshot()
	e.mu.Unlock()
	e.cfg.OnEvent(Event{Kind: kind, Transfer: snap})
}

// progress records done bytes and emits a progress event when one is due.
func (e *Engine) progress(t *transfer, done int64) {
	e.mu.Lock()
	t.done = done
	due := t.meter.update(e.cfg.Now(), done, t.rec.Size, e.cfg.ProgressEvery)
	var snap Transfer
	if due {
		snap = t.snapshot()
	}
	e.mu.Unlock()
	if due {
		e.cfg.OnEvent(Event{Kind: EventProgress, Transfer: snap})
	}
}

func newID() transferID {
	var id transferID
	rand.Read(id[:])
	return id
}

// ServeConn serves one inbound stream from peer (the ID its TLS handshake
// proved): an offer, a get or a notice. It returns when the exchange is
// over; the caller closes conn. Wire it to transport.HandleStream(ALPN, …).
func (e *Engine) ServeConn(ctx context.Context, peer string, conn io.ReadWriteCloser) {
	stop := context.AfterFunc(e.ctx, func() { conn.Close() })
	defer stop()
	buf := make([]byte, headerLen+idLen+8+32+MaxNameBytes)
	typ, p, err := readFrame(conn, buf)
	if err != nil {
		e.log.Debug("file stream ended before its request", "peer", peer, "err", err)
		return
	}
	switch typ {
	case frameOffer, frameGroupOffer:
		o, err := parseOffer(p, typ == frameGroupOffer)
		if err == nil {
			e.serveOffer(peer, conn, o)
			return
		}
	case frameGet:
		g, err := parseGet(p)
		if err == nil {
			e.serveGet(ctx, peer, conn, g)
			return
		}
	case frameNotice:
		n, err := parseNotice(p)
		if err == nil {
			e.serveNotice(peer, n)
			return
		}
	}
	e.log.Info("file stream closed: bad request", "peer", peer, "type", typ)
}

// writeAnswer sends an answer frame.
func writeAnswer(w io.Writer, code byte, reason string) error {
	_, err := w.Write(answerFrame{Code: code, Reason: reason}.append(nil))
	return err
}

// readAnswer reads an answer frame.
func readAnswer(r io.Reader) (answerFrame, error) {
	buf := make([]byte, headerLen+1+maxReason)
	typ, p, err := readFrame(r, buf)
	if err != nil {
		return answerFrame{}, err
	}
	if typ != frameAnswer {
		return answerFrame{}, fmt.Errorf("%w: got type %c, want an answer", errBadFrame, typ)
	}
	return parseAnswer(p)
}

// Reject declines an incoming offer and tells the sender.
func (e *Engine) Reject(id string) error {
	e.mu.Lock()
	t, err := e.lookupLocked(id)
	if err == nil && (t.rec.Dir != Receive || t.rec.State != StateOffered) {
		err = fmt.Errorf("reject %s (%s, %s): %w", id, t.rec.Dir, t.rec.State, ErrState)
	}
	e.mu.Unlock()
	if err != nil {
		return err
	}
	e.setState(t, StateRejected, "you declined it", EventRejected)
	e.notify(t, codeRejected, "declined")
	return nil
}

// Cancel stops a transfer in either direction that is not over yet,
// removes a download's partial file and tells the peer.
func (e *Engine) Cancel(id string) error {
	e.mu.Lock()
	t, err := e.lookupLocked(id)
	if err == nil && t.rec.State.final() && !(t.rec.State == StateFailed && t.rec.Dir == Receive) {
		err = fmt.Errorf("cancel %s (%s): %w", id, t.rec.State, ErrState)
	}
	var stop context.CancelFunc
	queued := false
	if err == nil {
		stop, t.stop = t.stop, nil
		queued = t.rec.State == StateQueued // the peer never had it (or its delivery tells it)
		t.rec.State = StateCancelled        // before stop: the goroutine sees it
	}
	e.mu.Unlock()
	if err != nil {
		return err
	}
	if stop != nil {
		stop()
	}
	if t.rec.Dir == Receive {
		e.removePartial(t)
	}
	e.setState(t, StateCancelled, "you cancelled it", EventCancelled)
	if !queued {
		e.notify(t, codeCancelled, "cancelled")
	}
	return nil
}

// notify tells the peer a transfer was rejected or cancelled, in the
// background, a few times at most.
func (e *Engine) notify(t *transfer, code byte, reason string) {
	id, err := parseID(t.rec.ID)
	if err != nil {
		return
	}
	peer := t.rec.Peer
	frame := noticeFrame{ID: id, Code: code, Reason: reason}.append(nil)
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	e.wg.Add(1)
	e.mu.Unlock()
	go func() {
		defer e.wg.Done()
		wait := e.cfg.RetryMin
		for range e.cfg.NoticeAttempts {
			ctx, cancel := context.WithTimeout(e.ctx, e.cfg.AnswerTimeout)
			conn, err := e.cfg.Dial(ctx, peer)
			if err == nil {
				_, err = conn.Write(frame)
				conn.Close()
			}
			cancel()
			if err == nil {
				return
			}
			e.log.Debug("could not tell the peer about a transfer", "peer", peer, "id", t.rec.ID, "err", err)
			select {
			case <-time.After(wait):
				wait = min(2*wait, e.cfg.RetryMax)
			case <-e.ctx.Done():
				return
			}
		}
	}()
}

// serveNotice handles the peer's reject or cancel.
func (e *Engine) serveNotice(peer string, n noticeFrame) {
	e.mu.Lock()
	t := e.transfers[n.ID.String()]
	if t == nil || t.rec.Peer != peer || t.rec.State.final() {
		e.mu.Unlock()
		return
	}
	stop := t.stop
	t.stop = nil
	e.mu.Unlock()
	if stop != nil {
		stop()
	}
	why := "the peer " + map[byte]string{codeRejected: "declined", codeCancelled: "cancelled"}[n.Code] + " it"
	if n.Code == codeRejected && t.rec.Dir == Send {
		e.setState(t, StateRejected, why, EventRejected)
		return
	}
	if t.rec.Dir == Receive {
		e.removePartial(t)
	}
	e.setState(t, StateCancelled, why, EventCancelled)
}
