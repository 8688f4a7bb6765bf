package bootstrap

import (
	"slices"
	"time"
)

// frameKind is the kind of a queued WebSocket message.
type frameKind uint8

const (
	textFrame frameKind = iota
	pingFrame
	closeFrame
)

// frame is one queued outgoing message.
type frame struct {
	kind frameKind
	// The message is data followed by the parts of more (nil but for a
	// peer_list that shares parts with other clients' lists).
	data []byte
	more [][]byte
	size int // bytes counted in sendQueue.bytes (text frames)
	// A peer_list whose bytes are not ready yet: the writer stops before
	// it until fill makes it a text frame.
	list *listReq
	// For a push: the room and its generation after the change pushed,
	// so that a peer_list that already shows the change can drop it.
	room *room
	gen  uint64
	// feed is a peers_joined (for a client that asked for
	// wire.FeatureBatch): the joins of room's feed that the client has
	// not had, up to when the writer takes the frame (feedRange is set
	// then). It is written no sooner than pace after the client's
	// previous peers_joined.
	feed      *joinFeed
	feedRange feedRange
	pace      time.Duration
}

// maxBatchEntries bounds the entries of one peers_joined, so that a
// message stays far below wire.MaxServerMessage: more joins go in
// several.
const maxBatchEntries = 1024

// sendQueue is what waits to be written to one client, with the limits
// that tell a client that does not read. The caller serialises access
// (conn.mu); the writer takes frames off the head.
//
// The limits are about what the client could have read and did not:
//
//   - maxFrames messages. Frames queued while the head of the queue was a
//     peer_list not built yet (waited) do not count until written: the
//     client could not read them, the server was building its list.
//   - maxBytes bytes behind the next frame to write, which does not
//     count, so one message bigger than the limit (a big room's
//     peer_list) passes when nothing else waits, and pushes may follow it.
type sendQueue struct {
	frames    []frame
	bytes     int // of the text frames in frames
	waited    int // frames queued behind a peer_list not built yet
	maxFrames int
	maxBytes  int
}

func (q *sendQueue) len() int { return len(q.frames) }

// ready reports whether the head of the queue can be written.
func (q *sendQueue) ready() bool { return len(q.frames) > 0 && q.frames[0].list == nil }

// admit reports whether frames more messages of size bytes in all fit.
func (q *sendQueue) admit(frames, size int) bool {
	n := len(q.frames)
	blocked := n > 0 && q.frames[0].list != nil
	behind := q.bytes
	if n > 0 {
		behind -= q.frames[0].size
	}
	return (blocked || n-q.waited+frames <= q.maxFrames) && (behind == 0 || behind+size <= q.maxBytes)
}

// push queues f, or reports false if the client has let too much pile
// up (the caller disconnects it). Control frames always fit.
func (q *sendQueue) push(f frame) bool {
	if f.kind == textFrame && !q.admit(1, f.size) {
		return false
	}
	q.append(f)
	return true
}

func (q *sendQueue) append(f frame) {
	if len(q.frames) > 0 && q.frames[0].list != nil {
		q.waited++
	}
	q.frames = append(q.frames, f)
	q.bytes += f.size
}

// fill turns the placeholder of req into the peer_list data+more, which
// shows req.r at generation gen, and drops the pushes queued after it
// that the list already shows. It reports false if the list does not
// fit (the caller disconnects the client); true, too, if the placeholder
// is gone.
func (q *sendQueue) fill(req *listReq, data []byte, more [][]byte, gen uint64) bool {
	i := slices.IndexFunc(q.frames, func(f frame) bool { return f.list == req })
	if i < 0 {
		return true
	}
	// The byte limit of admit, for what waits ahead of the list (what
	// follows it came later and was admitted on its own).
	size := msgSize(data, more)
	ahead := 0
	for _, f := range q.frames[min(i, 1):i] {
		ahead += f.size
	}
	if ahead > 0 && ahead+size > q.maxBytes {
		return false
	}
	q.frames[i] = frame{kind: textFrame, data: data, more: more, size: size}
	q.bytes += size
	tail := q.frames[i+1:]
	if end := slices.IndexFunc(tail, func(f frame) bool { return f.list != nil }); end >= 0 {
		tail = tail[:end]
	}
	kept := tail[:0]
	for _, f := range tail {
		switch {
		case f.feed != nil && f.room == req.r:
			// Kept: it carries the joins after the list too.
			f.feedRange.skip = max(f.feedRange.skip, gen)
		case f.room == req.r && f.gen <= gen:
			q.bytes -= f.size
			q.waited = max(0, q.waited-1)
			continue
		}
		kept = append(kept, f)
	}
	if n := len(tail) - len(kept); n > 0 {
		clear(tail[len(kept):])
		q.frames = slices.Delete(q.frames, i+1+len(kept), i+1+len(tail))
	}
	return true
}

// take removes and returns the frames at the head that can be written
// now, at least one (the caller checks ready), and more while they add
// up to at most maxBytes. A peers_joined is taken only at the head (the
// writer paces them).
func (q *sendQueue) take(maxBytes int) []frame {
	n, size := 0, 0
	for n < len(q.frames) && q.frames[n].list == nil {
		if n > 0 && (size+q.frames[n].size > maxBytes || q.frames[n].feed != nil) {
			break
		}
		size += q.frames[n].size
		n++
	}
	out := slices.Clone(q.frames[:n])
	clear(q.frames[:n])
	q.frames = q.frames[n:]
	q.bytes -= size
	q.waited = max(0, q.waited-n)
	if len(q.frames) == 0 {
		q.frames = nil
	}
	return out
}

// reset forgets everything queued.
func (q *sendQueue) reset() {
	q.frames, q.bytes, q.waited = nil, 0, 0
}

func msgSize(data []byte, more [][]byte) int {
	n := len(data)
	for _, p := range more {
		n += len(p)
	}
	return n
}
