package bootstrap

import (
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"github.com/parlance-chat/parlance/net/identity"
	"github.com/parlance-chat/parlance/net/wire"
)

// closeGrace is how long the server waits for a client's close frame after
// sending its own.
const closeGrace = time.Second

// maxErrorText bounds the text of an error reply (a parse error may quote
// the input).
const maxErrorText = 256

// conn is one client's WebSocket connection.
//
// One goroutine at a time, running readLoop, handles the client's
// messages in order (an idle connection's waits in awaitInput).
// Everything sent to the client goes through a bounded queue, drained by a writer goroutine that runs only while the
// queue is not empty; a client that lets the queue fill up is cut off, so
// that no client can stall the server or the others.
type conn struct {
	s  *Server
	ws *websocket.Conn
	ip netip.Addr // the source IP, which becomes the peer's public_addr
	// proxied: ip came from a trusted proxy's X-Forwarded-For, and is
	// counted in Server.perIP apart from the proxy's TCP connection.
	proxied bool

	// signedURL is the server URL an identity proof must name when
	// Config.PublicURLs is empty: the one the upgrade request named.
	signedURL string

	// peer is the registration, or nil. It is written under Server.mu
	// and read without it only by a heartbeat.
	peer atomic.Pointer[peer]
	// Guarded by Server.mu:
	lastPeerID string // the id of a registration the server removed
	ext        bool   // the client's register used extensions
	push       bool   // the client asked for pushes
	batch      bool   // the client asked for peers_joined
	mailbox    bool   // the client was granted the mailbox
	reach      bool   // the client proved an identity and asked for FeatureReach
	// follows is the room whose pushes it takes (see Server.follow), and
	// followsFeed whether from the room's join feed.
	followsFeed bool
	follows     *room
	since       int64 // Unix ns (Config.Clock) since when it has no registration

	mu      sync.Mutex // guards the fields below
	queue   sendQueue
	writing bool // a writer goroutine is running
	// feedIdle: it is on feed's idle list. Guarded by feed.mu.
	feedIdle bool
	// The join feed it follows, and the position of the next entry it
	// has not taken (see feed.go).
	feed   *joinFeed
	feedAt feedPos

	// Owned by the writer goroutine (one at a time, handed over under mu):
	lastJoined int64 // when the last peers_joined was written (Unix ns)
	closing    bool  // a close frame is queued: nothing more is accepted
	dead       bool  // the connection is closed

	// Owned by the reader goroutine:
	pending  *pendingAuth
	lists    bucket // rate limit of list_peers
	beats    bucket // rate limit of heartbeat
	register bucket // rate limit of register (each one is pushed to the room)
	// extra holds the rate limits of the extensions' requests, made at
	// a client's first such request: most clients never send one, and
	// every byte of conn counts in a big room.
	extra *extLimits
}

// extLimits are a connection's rate limits of extension requests; the
// reader goroutine owns them.
type extLimits struct {
	mailPuts bucket // mailbox_put
	mailReqs bucket // the other mailbox requests
	connects bucket // connect (reach.go)
}

// limits returns c's extension rate limits, making them at first use.
// Only the reader goroutine calls it.
func (c *conn) limits() *extLimits {
	if c.extra == nil {
		c.extra = new(extLimits)
	}
	return c.extra
}

// bucket is a token bucket.
type bucket struct {
	tokens float64
	at     int64 // Unix nanoseconds of the last refill, 0 = never
}

// take takes a token if there is one, refilling one per interval up to
// burst.
func (b *bucket) take(now time.Time, interval time.Duration, burst int) bool {
	t := now.UnixNano()
	if b.at == 0 {
		b.tokens = float64(burst)
	} else if t > b.at {
		b.tokens = min(float64(burst), b.tokens+float64(t-b.at)/float64(interval))
	}
	b.at = t
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// pendingAuth is a register waiting for the answer to its challenge.
type pendingAuth struct {
	reg   wire.Register
	sum   [sha256.Size]byte // of the register frame
	nonce []byte
}

func newConn(s *Server, ws *websocket.Conn, ip netip.Addr, signedURL string) *conn {
	c := &conn{s: s, ws: ws, ip: ip, signedURL: signedURL}
	c.queue.maxFrames, c.queue.maxBytes = s.cfg.SendQueue, s.cfg.SendQueueBytes
	return c
}

// readLoop reads and handles the client's messages until the connection
// fails or closes, then unregisters the client. When it would have to
// wait for input on a plain TCP connection, it hands the loop over to a
// fresh goroutine that waits (awaitInput), and ends: the handling of
// messages grows a goroutine's stack to 4 KB or more, and the collector
// would not shrink it back while parked (it halves a stack only when
// less than a quarter of it minus 800 bytes is in use), where a fresh
// goroutine waits on 2 KB. The WaitGroup count goes with the loop.
func (c *conn) readLoop() {
	fc, _ := c.ws.NetConn().(*flushConn)
	for {
		buf, err := c.readMessage()
		if err != nil {
			c.readFailed(err)
			c.s.dropConn(c)
			c.s.wg.Done()
			return
		}
		c.extendRead()
		c.handle(*buf)
		putReadBuf(buf)
		if fc != nil {
			if rc := fc.idleRaw(); rc != nil {
				go c.awaitInput(rc)
				return
			}
		}
	}
}

// awaitInput waits until the socket rc has input (or is closed, or past
// its read deadline: the read that follows meets the error), then goes
// on with readLoop, which reads before it looks for input again.
func (c *conn) awaitInput(rc syscall.RawConn) {
	_ = rc.Read(hasInput)
	c.readLoop()
}

// readBufs holds the buffers client messages are read into: a message
// is handled before the next is read, and nothing keeps its bytes, so
// a heartbeat leaves no garbage behind (io.ReadAll would leave 512
// bytes), and the collector runs less often.
var readBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// maxPooledRead is the biggest read buffer put back in readBufs.
const maxPooledRead = 4 << 10

func putReadBuf(b *[]byte) {
	if cap(*b) <= maxPooledRead {
		*b = (*b)[:0]
		readBufs.Put(b)
	}
}

// readMessage reads one client message whole, into a buffer of readBufs
// (give it back with putReadBuf). Where the connection is not plain TCP,
// the goroutine waits for input in it: its frame is kept small, the
// reading is in readAll.
func (c *conn) readMessage() (*[]byte, error) {
	_, r, err := c.ws.NextReader()
	if err != nil {
		return nil, err
	}
	return readAll(r)
}

// readAll reads r to its end into a buffer of readBufs.
//
//go:noinline
func readAll(r io.Reader) (*[]byte, error) {
	buf := readBufs.Get().(*[]byte)
	b := (*buf)[:0]
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			*buf = b
			return buf, nil
		}
		if err != nil {
			*buf = b
			putReadBuf(buf)
			return nil, err
		}
	}
}

// setupRead sets the read limit, the first read deadline and the ping
// and pong handlers.
//
//go:noinline
func (c *conn) setupRead() {
	ws := c.ws
	ws.SetReadLimit(wire.MaxClientMessage) // above it: close 1009
	c.extendRead()
	ws.SetPongHandler(func(string) error {
		c.extendRead()
		return nil
	})
	pong := ws.PingHandler() // gorilla's: answers, ignoring a closed or slow peer
	ws.SetPingHandler(func(data string) error {
		c.extendRead()
		return pong(data)
	})
}

// readFailed logs why reading ended; after a message over the limit it
// drains the input first (see drain).
func (c *conn) readFailed(err error) {
	c.logReadError(err)
	if errors.Is(err, websocket.ErrReadLimit) {
		c.drain()
	}
}

// extendRead gives the client another PongWait to send something, unless
// the connection is closing.
func (c *conn) extendRead() {
	c.mu.Lock()
	closing := c.closing || c.dead
	c.mu.Unlock()
	if !closing {
		_ = c.ws.SetReadDeadline(time.Now().Add(c.s.cfg.PongWait))
	}
}

// drain reads and discards what the client still sends, for up to
// closeGrace and maxDrain bytes, before the connection is closed: closing
// a socket with unread input resets it, and the client might then lose
// the close frame that tells it why.
func (c *conn) drain() {
	nc := c.ws.NetConn()
	_ = nc.SetReadDeadline(time.Now().Add(closeGrace))
	_, _ = io.CopyN(io.Discard, nc, maxDrain)
}

// maxDrain bounds what drain reads.
const maxDrain = 16 << 20

func (c *conn) logReadError(err error) {
	log := c.s.log
	var ce *websocket.CloseError
	var ne net.Error
	switch {
	case errors.Is(err, websocket.ErrReadLimit):
		c.s.warn.log(slog.LevelWarn, "client sent a message over the limit; closed with 1009", "ip", c.ip, "limit", wire.MaxClientMessage)
	case errors.As(err, &ce):
		log.Debug("client closed the connection", "ip", c.ip, "code", ce.Code)
	case errors.As(err, &ne) && ne.Timeout():
		log.Debug("connection timed out", "ip", c.ip)
	default:
		log.Debug("connection lost", "ip", c.ip, "err", err)
	}
}

// handle answers one message.
func (c *conn) handle(data []byte) {
	msg, err := wire.ParseClientMessage(data)
	if err != nil {
		c.sendError(errInvalidFormat + err.Error())
		return
	}
	switch m := msg.(type) {
	case wire.Register:
		c.onRegister(m, data)
	case wire.Auth:
		c.onAuth(m)
	case wire.ListPeers:
		c.onListPeers()
	case wire.Heartbeat:
		c.onHeartbeat()
	case wire.Unregister:
		c.onUnregister()
	case wire.MailboxKeyPut, wire.MailboxKeyGet, wire.MailboxPut, wire.MailboxFetch, wire.MailboxAck:
		c.onMailbox(m)
	case wire.Connect:
		c.onConnect(m)
	}
}

// onRegister registers at once a client that claims no identity; one that
// does gets a challenge first. frame is the register as received, which
// the proof covers.
func (c *conn) onRegister(m wire.Register, frame []byte) {
	cfg := &c.s.cfg
	if !c.register.take(cfg.Clock.Now(), cfg.RegisterInterval, cfg.RegisterBurst) {
		c.sendError(errRegisterLimited)
		return
	}
	c.pending = nil
	if m.Identity == "" {
		c.s.register(c, m, false)
		return
	}
	if identity.IDFromPublicKey(m.PublicKey) != identity.ID(m.Identity) {
		c.sendError(errIdentityMissing)
		return
	}
	nonce := make([]byte, wire.NonceSize)
	_, _ = rand.Read(nonce) // crypto/rand.Read never fails on supported platforms
	c.pending = &pendingAuth{reg: m, sum: sha256.Sum256(frame), nonce: nonce}
	c.sendMsg(wire.Challenge{Nonce: nonce})
}

func (c *conn) onAuth(m wire.Auth) {
	p := c.pending
	c.pending = nil
	switch {
	case p == nil:
		c.sendError(errNoChallenge)
	case !c.s.urlAccepted(c, m.URL):
		c.s.warn.log(slog.LevelWarn, "identity proof for another server URL", "ip", c.ip, "identity", p.reg.Identity,
			"signed_url", m.URL, "want", c.s.wantURL(c))
		c.sendError(fmt.Sprintf(errAuthURL, m.URL, c.s.wantURL(c)))
	case !identity.Verify(p.reg.PublicKey, wire.AuthMessage(p.nonce, m.URL, p.sum), m.Signature):
		c.s.warn.log(slog.LevelWarn, "identity proof failed", "ip", c.ip, "identity", p.reg.Identity)
		c.sendError(errAuthFailed)
	default:
		c.s.register(c, p.reg, true)
	}
}

func (c *conn) onListPeers() {
	cfg := &c.s.cfg
	if !c.lists.take(cfg.Clock.Now(), cfg.ListInterval, cfg.ListBurst) {
		c.sendError(errRateLimited)
		return
	}
	s := c.s
	s.mu.Lock()
	req := s.requestListLocked(c)
	s.mu.Unlock()
	s.finishList(req)
}

// onHeartbeat refreshes the registration without the server's lock: a
// flood of heartbeats costs its sender's connection, not everyone's.
func (c *conn) onHeartbeat() {
	s := c.s
	now := s.cfg.Clock.Now()
	if !c.beats.take(now, s.cfg.HeartbeatInterval, s.cfg.HeartbeatBurst) {
		c.sendError(errHeartbeatLimited)
		return
	}
	if p := c.peer.Load(); p != nil {
		p.lastSeen.Store(now.UnixNano())
		return
	}
	s.mu.Lock()
	removed := c.lastPeerID != ""
	s.mu.Unlock()
	if removed {
		c.sendError(errPeerNotFound)
	} else {
		c.sendError(errNotRegistered)
	}
}

func (c *conn) onUnregister() {
	c.pending = nil
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := c.peer.Load(); p != nil {
		s.log.Debug("unregistered", "peer_id", p.id)
		s.removePeer(p)
	}
	c.lastPeerID = ""
}

// sendMsg queues one message.
func (c *conn) sendMsg(m wire.ServerMessage) {
	b, err := wire.MarshalServer(m)
	if err != nil {
		c.s.log.Error("encode message", "type", m.ServerType(), "err", err)
		return
	}
	c.sendRaw(b)
}

// sendError queues an error reply; the connection stays open.
func (c *conn) sendError(text string) {
	if len(text) > maxErrorText {
		cut := maxErrorText
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		text = text[:cut] + "…"
	}
	c.sendMsg(wire.Error{Message: text})
}

// sendRaw queues an encoded message.
func (c *conn) sendRaw(msg []byte) {
	c.enqueue(frame{kind: textFrame, data: msg, size: len(msg)})
}

// sendPush queues a push about a change of room r, which is now at
// generation gen.
func (c *conn) sendPush(msg []byte, r *room, gen uint64) {
	c.enqueue(frame{kind: textFrame, data: msg, size: len(msg), room: r, gen: gen})
}

// sendList queues a peer_list (data followed by the parts of more).
func (c *conn) sendList(data []byte, more [][]byte) {
	c.enqueue(frame{kind: textFrame, data: data, more: more, size: msgSize(data, more)})
}

// queueList queues the placeholder of a peer_list request.
func (c *conn) queueList(req *listReq) {
	c.enqueue(frame{kind: textFrame, list: req})
}

// enqueue queues a frame. If the client has let too many messages or
// bytes pile up, it is disconnected instead.
func (c *conn) enqueue(f frame) { c.enqueueIf(nil, f) }

// enqueueIf is enqueue, if ok (called under c.mu) reports true.
func (c *conn) enqueueIf(ok func() bool, f frame) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing || c.dead || (ok != nil && !ok()) {
		return
	}
	if !c.queue.push(f) {
		c.dropSlowLocked()
		return
	}
	c.startWriterLocked()
}

func (c *conn) dropSlowLocked() {
	c.s.warn.log(slog.LevelWarn, "client does not read its messages; disconnecting it",
		"ip", c.ip, "queued_messages", c.queue.len(), "queued_bytes", c.queue.bytes)
	c.killLocked()
}

// fillList turns the placeholder of req into the peer_list data+more,
// which shows the room at generation gen, and drops the pushes queued
// after it that the list already shows.
func (c *conn) fillList(req *listReq, data []byte, more [][]byte, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dead {
		return
	}
	if !c.queue.fill(req, data, more, gen) {
		c.dropSlowLocked()
		return
	}
	c.startWriterLocked()
}

// ping queues a ping unless the connection is busy anyway.
func (c *conn) ping() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing || c.dead || c.queue.len() > 0 {
		return
	}
	c.queue.push(frame{kind: pingFrame})
	c.startWriterLocked()
}

// closeWith queues a close frame after whatever is queued; the connection
// ends when the client answers it or after closeGrace.
func (c *conn) closeWith(code int, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing || c.dead {
		return
	}
	c.closing = true
	c.queue.push(frame{kind: closeFrame, data: websocket.FormatCloseMessage(code, reason)})
	c.startWriterLocked()
}

// kill closes the connection at once.
func (c *conn) kill() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.killLocked()
}

func (c *conn) killLocked() {
	if c.dead {
		return
	}
	c.dead = true
	c.queue.reset()
	_ = c.ws.Close() // unblocks the reader and any writer
}

// startWriterLocked starts the writer goroutine unless it runs already
// or has nothing it may write yet. The reader goroutine is alive whenever
// this is reached (the connection is not dead, and a peer_list
// placeholder is filled by the reader goroutine), so the WaitGroup never
// restarts from zero.
func (c *conn) startWriterLocked() {
	if c.writing || !c.queue.ready() {
		return
	}
	c.writing = true
	c.s.wg.Add(1)
	go c.writeLoop()
}

// writeBatchBytes is about how much one round of the writer takes off
// the queue to write together.
const writeBatchBytes = 64 << 10

// writeLoop writes queued frames until the queue is empty or its head is
// a peer_list not built yet. What it takes in one round goes out in as
// few system calls as the sizes allow (flushConn).
func (c *conn) writeLoop() {
	defer c.s.wg.Done()
	fc, _ := c.ws.NetConn().(*flushConn)
	for {
		c.mu.Lock()
		if c.dead || !c.queue.ready() {
			c.writing = false
			c.mu.Unlock()
			return
		}
		if head := &c.queue.frames[0]; head.feed != nil {
			if wait := head.pace - time.Duration(time.Now().UnixNano()-c.lastJoined); wait > 0 {
				c.mu.Unlock()
				time.Sleep(wait) // more joins may gather meanwhile
				continue
			}
		}
		batch := c.queue.take(writeBatchBytes)
		if batch[0].feed != nil {
			c.takeFeedLocked(&batch[0])
		}
		c.mu.Unlock()

		joined, err := c.writeFrames(fc, batch)
		clear(batch)
		if err != nil {
			c.s.warn.log(slog.LevelInfo, "write failed; the client is disconnected", "ip", c.ip, "err", err)
			c.kill()
			continue
		}
		if joined {
			c.lastJoined = time.Now().UnixNano()
		}
	}
}

// writeFrames writes batch, and reports whether it held a peers_joined.
func (c *conn) writeFrames(fc *flushConn, batch []frame) (joined bool, err error) {
	switch {
	case fc == nil: // not from Serve's listener (cannot happen)
		_ = c.ws.SetWriteDeadline(time.Now().Add(c.s.cfg.WriteWait))
	default: // gorilla writes a big message in frames of WriteBufferSize: hold those too
		fc.hold()
	}
	for _, f := range batch {
		switch f.kind {
		case textFrame:
			if f.feed != nil {
				var n int
				n, err = c.writeJoined(f.feedRange)
				joined = joined || n > 0
			} else {
				err = c.writeText(fc, f)
			}
		case pingFrame:
			err = c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.s.cfg.WriteWait))
		case closeFrame:
			err = c.ws.WriteControl(websocket.CloseMessage, f.data, time.Now().Add(c.s.cfg.WriteWait))
			_ = c.ws.SetReadDeadline(time.Now().Add(closeGrace))
		}
		if err != nil {
			break
		}
	}
	if fc != nil {
		if ferr := fc.flush(); err == nil {
			err = ferr
		}
	}
	return joined, err
}

// writeText writes one text message: f.data and the parts of f.more.
func (c *conn) writeText(fc *flushConn, f frame) error {
	switch {
	case f.more == nil:
		return c.ws.WriteMessage(websocket.TextMessage, f.data)
	case fc != nil:
		return fc.writeText(append([][]byte{f.data}, f.more...))
	}
	w, err := c.ws.NextWriter(websocket.TextMessage)
	if err != nil {
		return err
	}
	write := func(p []byte) {
		if err == nil {
			_, err = w.Write(p)
		}
	}
	write(f.data)
	for _, p := range f.more {
		write(p)
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	return err
}

// writeJoined writes the joins of r (but the client's own) as
// peers_joined messages of up to maxBatchEntries entries, and returns
// how many it wrote. Each is assembled whole, so it goes out as one
// frame, not in frames of WriteBufferSize.
func (c *conn) writeJoined(r feedRange) (int, error) {
	self := c.peer.Load()
	bp := joinedBufs.Get().(*[]byte)
	msg, n, written := (*bp)[:0], 0, 0
	var err error
	flush := func() {
		if n == 0 || err != nil {
			return
		}
		msg = append(msg, wire.PeerListTail...)
		err = c.ws.WriteMessage(websocket.TextMessage, msg)
		msg, written, n = msg[:0], written+n, 0
	}
	r.each(func(e feedEntry) {
		if e.p == self {
			return
		}
		if n == 0 {
			msg = append(msg, wire.PeersJoinedHead...)
		} else {
			msg = append(msg, ',')
		}
		msg = append(msg, e.data...)
		if n++; n == maxBatchEntries {
			flush()
		}
	})
	flush()
	if cap(msg) <= maxJoinedBuf {
		*bp = msg[:0]
		joinedBufs.Put(bp)
	}
	return written, err
}

// joinedBufs holds the buffers in which writeText assembles a
// peers_joined; one bigger than maxJoinedBuf is not kept.
var joinedBufs = sync.Pool{New: func() any { return new([]byte) }}

const maxJoinedBuf = 256 << 10
