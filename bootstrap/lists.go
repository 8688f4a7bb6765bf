package bootstrap

import (
	"fmt"
	"slices"
	"time"

	"github.com/parlance-chat/parlance/net/wire"
)

// listMaxAge is how long an encoded peer_list is reused while only
// last_seen values changed (heartbeats do not invalidate it; every other
// change does). last_seen has one-second resolution, so a reused list is
// never much staler than a fresh one.
const listMaxAge = time.Second

// listCacheMin is the fewest entries a peer_list must have to be kept
// for reuse: smaller ones cost less to encode again than to keep.
const listCacheMin = 64

// emptyPeerList is the peer_list of a room that does not exist.
var emptyPeerList = []byte(wire.PeerListHead + wire.PeerListTail)

// peerListHead and peerListTail start and end a chunked peer_list.
var (
	peerListHead = []byte(wire.PeerListHead)
	peerListTail = []byte(wire.PeerListTail)
)

// listChunk is the least size of a chunk of a big uncut peer_list. A
// list in chunks is extended by the peers that joined since it was built
// (appended to its last chunk, or to a new one a quarter the size of the
// list) instead of being built again: building a room of n one join at a
// time then costs O(n) in all, not O(n²), and no list is copied whole.
// The chunks go out in one frame, gathered by writev (flushConn.writeText).
const listChunk = 64 << 10

// Kinds of peer_list: the original's fields only, or with identities.
const (
	listOriginal = iota
	listExtended
	listKinds
)

// peerList is one encoded peer_list of a room, shared by every client
// that gets it. Immutable once built.
type peerList struct {
	gen uint64 // the room generation it shows
	at  int64  // Unix ns (Config.Clock) when its entries were taken
	// The message: msg, or for a big uncut list peerListHead followed by
	// parts (chunks of entries, the first without its leading comma,
	// then peerListTail).
	msg   []byte
	parts [][]byte
	size  int // of parts
	// extended: a newer list shares this one's last chunk and appends
	// to it. Only a list not extended yet may be extended (each byte of
	// a chunk is written once). Guarded by Server.mu.
	extended bool
	// For a list cut at MaxListPeers (nil otherwise): the peers in it,
	// and where its last entry starts in msg, so that a client left out
	// can be sent its own entry first and the rest of the list after.
	members   map[*peer]struct{}
	lastEntry int
}

// listBuild is a peer_list being built: its entries are taken under
// Server.mu, encoded outside it, and done is closed when list is set.
type listBuild struct {
	done    chan struct{}
	list    *peerList
	kind    int
	entries []entryOf
	members map[*peer]struct{}
	gen     uint64
	at      int64
}

// listCache is the state of one kind of a room's peer_list.
type listCache struct {
	ready   *peerList  // the last one built, if kept
	running *listBuild // being encoded
	queued  *listBuild // to be taken when running is done
}

// listReq is a peer_list queued for a client (as a placeholder frame)
// before its bytes exist. The goroutine that queued it completes it with
// Server.finishList once it no longer holds Server.mu.
type listReq struct {
	c     *conn
	r     *room
	kind  int
	build *listBuild
	run   bool       // this request encodes build
	after *listBuild // a running build to wait for before taking build's entries
	// The caller's own entry, for a cut list that leaves it out.
	self     *peer
	selfInfo wire.PeerInfo
}

// requestListLocked queues room r's peer_list for c: at once when a fresh
// one is cached, else as a placeholder that finishList fills. It returns
// the request to finish, or nil.
func (s *Server) requestListLocked(c *conn) *listReq {
	var r *room
	if p := c.peer.Load(); p != nil {
		r = p.room
	} else {
		r = s.rooms[""]
	}
	if r == nil {
		c.sendRaw(emptyPeerList)
		return nil
	}
	kind := listOriginal
	if c.ext {
		kind = listExtended
	}
	req := &listReq{c: c, r: r, kind: kind}
	if p := c.peer.Load(); p != nil && p.room == r {
		req.self, req.selfInfo = p, p.info(c.ext)
	}
	lc := &r.lists[kind]
	if l := lc.ready; l != nil && s.cfg.Clock.Now().UnixNano()-l.at < int64(listMaxAge) {
		if l.gen != r.gen {
			l = s.extendLocked(r, kind, l)
		}
		if l != nil {
			data, more := req.frameFor(l)
			c.sendList(data, more)
			return nil
		}
	}
	switch {
	case lc.queued != nil:
		// Its entries are taken later, so it shows at least r.gen.
		req.build = lc.queued
	case lc.running != nil && lc.running.gen == r.gen:
		req.build = lc.running
	case lc.running != nil:
		req.build = &listBuild{done: make(chan struct{})}
		req.run, req.after = true, lc.running
		lc.queued = req.build
	default:
		req.build = &listBuild{done: make(chan struct{})}
		req.run = true
		s.takeEntriesLocked(r, kind, req.build)
		lc.running = req.build
	}
	c.queueList(req)
	return req
}

// extendLocked returns l, a list of room r at an earlier generation, with
// the entries of the peers that joined r since, when nothing else changed
// and the list stays uncut and in bounds; the result becomes r's cached
// list. It returns nil when l cannot be extended.
func (s *Server) extendLocked(r *room, kind int, l *peerList) *peerList {
	if l.parts == nil || l.extended || l.gen < r.joinedBase || len(r.peers) > s.cfg.MaxListPeers {
		return nil
	}
	parts := slices.Clone(l.parts[:len(l.parts)-1])
	last, size := len(parts)-1, l.size
	for _, p := range r.joined[l.gen-r.joinedBase:] {
		entry, err := entryOf{p, p.version, p.info(kind == listExtended)}.encode(kind, true)
		if err != nil {
			return nil // cannot happen: every field was validated at register
		}
		if len(parts[last])+1+len(entry) > cap(parts[last]) {
			parts = append(parts, make([]byte, 0, max(listChunk, size/4, 1+len(entry))))
			last++
		}
		parts[last] = append(append(parts[last], ','), entry...)
		size += 1 + len(entry)
	}
	if len(peerListHead)+size > wire.MaxServerMessage {
		return nil
	}
	l.extended = true
	nl := &peerList{gen: r.gen, at: l.at, parts: append(parts, peerListTail), size: size}
	r.lists[kind].ready = nl
	return nl
}

// takeEntriesLocked copies the entries of r's list into b.
func (s *Server) takeEntriesLocked(r *room, kind int, b *listBuild) {
	n := min(len(r.peers), s.cfg.MaxListPeers)
	b.entries = make([]entryOf, 0, n)
	b.kind = kind
	cut := len(r.peers) > n
	if cut {
		b.members = make(map[*peer]struct{}, n)
	}
	for _, p := range r.peers {
		if len(b.entries) == n {
			break
		}
		b.entries = append(b.entries, entryOf{p, p.version, p.info(kind == listExtended)})
		if cut {
			b.members[p] = struct{}{}
		}
	}
	b.gen = r.gen
	b.at = s.cfg.Clock.Now().UnixNano()
}

// finishList completes a request of requestListLocked: it builds the
// list or waits for the build it joined, then fills the client's
// placeholder. Call it without Server.mu.
func (s *Server) finishList(req *listReq) {
	if req == nil {
		return
	}
	b := req.build
	if req.run {
		lc := &req.r.lists[req.kind]
		if req.after != nil {
			<-req.after.done
			s.mu.Lock()
			s.takeEntriesLocked(req.r, req.kind, b)
			lc.queued, lc.running = nil, b
			s.mu.Unlock()
		}
		l := s.encodeList(b)
		s.mu.Lock()
		if lc.running == b {
			lc.running = nil
		}
		if len(b.entries) >= listCacheMin && (lc.ready == nil || lc.ready.gen <= l.gen) {
			lc.ready = l
			s.listed[req.r] = struct{}{}
		}
		s.mu.Unlock()
		b.list, b.entries, b.members = l, nil, nil
		close(b.done)
	} else {
		<-b.done
	}
	data, more := req.frameFor(b.list)
	req.c.fillList(req, data, more, b.list.gen)
}

// encodeList encodes the entries taken into b, reusing the entries that
// did not change since the peer's last list.
func (s *Server) encodeList(b *listBuild) *peerList {
	l := &peerList{gen: b.gen, at: b.at, members: b.members}
	parts := make([][]byte, len(b.entries))
	size := len(wire.PeerListHead) + len(wire.PeerListTail) + len(parts)
	var err error
	for i, e := range b.entries {
		if parts[i], err = e.encode(b.kind, len(b.entries) >= listCacheMin); err != nil {
			break
		}
		size += len(parts[i])
	}
	if err == nil && len(parts) >= listCacheMin && b.members == nil && size <= wire.MaxServerMessage {
		l.parts = chunk(parts)
		l.size = msgSize(nil, l.parts)
		return l
	}
	var msg []byte
	if err == nil {
		msg = make([]byte, 0, size)
		msg = append(msg, wire.PeerListHead...)
		for i, p := range parts {
			if i > 0 {
				msg = append(msg, ',')
			}
			l.lastEntry = len(msg)
			msg = append(msg, p...)
		}
		msg = append(msg, wire.PeerListTail...)
		if len(msg) > wire.MaxServerMessage {
			err = fmt.Errorf("peer_list of %d bytes is over the %d byte limit", len(msg), wire.MaxServerMessage)
		}
	}
	if err != nil {
		// Cannot happen: every field was validated at register.
		s.log.Error("encode peer_list", "err", err)
		msg, l.members = emptyPeerList, nil
	}
	l.msg = msg
	return l
}

// chunk returns the parts of a chunked list of the given entries: one
// chunk, with a quarter more room for the joins that extend it.
func chunk(entries [][]byte) [][]byte {
	size := len(entries)
	for _, e := range entries {
		size += len(e)
	}
	cur := make([]byte, 0, max(listChunk, size+size/4))
	for i, e := range entries {
		if i > 0 {
			cur = append(cur, ',')
		}
		cur = append(cur, e...)
	}
	return [][]byte{cur, peerListTail}
}

// frameFor returns the message of list l for the request's client: the
// shared bytes, or for a cut list that leaves the client out, its own
// entry followed by all of l's but the last (data, then the parts of
// more, which share l's bytes).
func (req *listReq) frameFor(l *peerList) ([]byte, [][]byte) {
	if l.parts != nil {
		return peerListHead, l.parts
	}
	if l.members == nil || req.self == nil {
		return l.msg, nil
	}
	if _, in := l.members[req.self]; in {
		return l.msg, nil
	}
	own, err := wire.MarshalPeerInfo(req.selfInfo)
	if err != nil {
		return l.msg, nil
	}
	head := len(wire.PeerListHead)
	data := make([]byte, 0, head+len(own)+1)
	data = append(data, wire.PeerListHead...)
	data = append(data, own...)
	if l.lastEntry <= head { // the list had one entry: the client's replaces it
		return append(data, wire.PeerListTail...), nil
	}
	data = append(data, ',')
	return data, [][]byte{l.msg[head : l.lastEntry-1], []byte(wire.PeerListTail)}
}

// expireLists forgets cached lists too old to be reused.
func (s *Server) expireLists(now time.Time) {
	cutoff := now.UnixNano() - int64(listMaxAge)
	s.mu.Lock()
	defer s.mu.Unlock()
	for r := range s.listed {
		keep := false
		for i := range r.lists {
			lc := &r.lists[i]
			if lc.ready != nil && lc.ready.at <= cutoff {
				lc.ready = nil
			}
			keep = keep || lc.ready != nil
		}
		if !keep {
			delete(s.listed, r)
		}
	}
}
