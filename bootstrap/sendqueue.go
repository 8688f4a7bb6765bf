package bootstrap

import (
	"slices"
	"time"

	"github.com/parlance-chat/parlance/net/wire"
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
	// joined is a peers_joined being gathered (for a client that asked
	// for wire.FeatureBatch): the entries, in order. The message is
	// assembled when it is written, no sooner than pace after the
	// client's previous peers_joined.
	joined []joinEntry
	pace   time.Duration
}

// joinEntry is one peer of a peers_joined: its encoded wire.PeerInfo,
// and the generation of its room after the join.
type joinEntry struct {
	data []byte
	gen  uint64
}

// maxBatchEntries bounds the entries of one peers_joined, so that a
// message stays far below wire.MaxServerMessage.
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

// pushJoined queues the entry of a peer that joined room r, now at
// generation gen: into the peers_joined at the tail of the queue if that
// is one of r's with room for it, else as a new peers_joined. It reports
// false as push does.
func (q *sendQueue) pushJoined(entry []byte, r *room, gen uint64, pace time.Duration) bool {
	if n := len(q.frames); n > 0 {
		t := &q.frames[n-1]
		if t.joined != nil && t.room == r && len(t.joined) < maxBatchEntries {
			if !q.admit(0, len(entry)+1) {
				return false
			}
			t.joined = append(t.joined, joinEntry{entry, gen})
			t.gen = gen
			t.pace = max(t.pace, pace)
			t.size += len(entry) + 1
			q.bytes += len(entry) + 1
			return true
		}
	}
	size := len(wire.PeersJoinedHead) + len(entry) + len(wire.PeerListTail)
	return q.push(frame{kind: textFrame, joined: []joinEntry{{entry, gen}}, room: r, gen: gen, size: size, pace: pace})
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
		if f.room == req.r && f.gen <= gen {
			q.bytes -= f.size
			q.waited = max(0, q.waited-1)
			continue
		}
		if f.joined != nil && f.room == req.r && f.joined[0].gen <= gen {
			f = dropShown(f, gen, &q.bytes)
		}
		kept = append(kept, f)
	}
	if n := len(tail) - len(kept); n > 0 {
		clear(tail[len(kept):])
		q.frames = slices.Delete(q.frames, i+1+len(kept), i+1+len(tail))
	}
	return true
}

// dropShown removes from the peers_joined f the entries a list at
// generation gen shows already (f has entries after gen), adjusting
// *bytes.
func dropShown(f frame, gen uint64, bytes *int) frame {
	cut := 0
	for cut < len(f.joined) && f.joined[cut].gen <= gen {
		n := len(f.joined[cut].data) + 1
		f.size -= n
		*bytes -= n
		cut++
	}
	f.joined = slices.Clone(f.joined[cut:])
	return f
}

// take removes and returns the frames at the head that can be written
// now, at least one (the caller checks ready), and more while they add
// up to at most maxBytes. A peers_joined is taken only at the head (the
// writer paces them).
func (q *sendQueue) take(maxBytes int) []frame {
	n, size := 0, 0
	for n < len(q.frames) && q.frames[n].list == nil {
		if n > 0 && (size+q.frames[n].size > maxBytes || q.frames[n].joined != nil) {
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
