package bootstrap

import (
	"sync"
	"time"
)

// A room's join feed is how its members that take peers_joined learn of
// joins. A join is appended to the feed once; a member reads the feed
// from where it stopped when its writer gets to it. Only a member with
// nothing from the feed pending (an idle one) is touched by a join: one
// peers_joined is queued for it, which then carries every join up to the
// moment it is written. Since the writer paces peers_joined (see
// room.joinPace), a join costs O(members that wrote since the last join)
// instead of O(members): building a room of n costs O(n × build time /
// pace) queue operations, not O(n²).
//
// Locks: Server.mu, then conn.mu, then joinFeed.mu (a leaf: a join takes
// it without conn.mu, a writer under its conn.mu).

// feedBlockLen is the number of entries of a feedBlock.
const feedBlockLen = 64

// joinFeed is the feed of one room.
type joinFeed struct {
	members int // conns following the feed; guarded by Server.mu

	mu   sync.Mutex // guards the fields below and conn.feedIdle
	tail *feedBlock
	n    int     // entries in tail
	idle []*conn // members with nothing pending: a join queues a peers_joined for each
	// spare is the idle list handed to the last join, reused by the next
	// (joins run under Server.mu, one at a time).
	spare []*conn
}

// feedBlock holds feedBlockLen entries of a feed, and links to the next
// block. An entry is written once, under joinFeed.mu, before the feed's
// end passes it; readers read only below an end they took under that
// lock. Blocks that no member will read again are garbage.
type feedBlock struct {
	entries [feedBlockLen]feedEntry
	next    *feedBlock
}

// feedEntry is one join: the peer's encoded entry (extended kind), the
// room generation after the join, and the peer (its own joins are not
// sent to it).
type feedEntry struct {
	data []byte
	gen  uint64
	p    *peer
}

// feedPos is a position in a feed: entry i of block b.
type feedPos struct {
	b *feedBlock
	i int
}

func newJoinFeed() *joinFeed { return &joinFeed{tail: &feedBlock{}} }

// endLocked is the position after the last entry.
func (f *joinFeed) endLocked() feedPos { return feedPos{f.tail, f.n} }

// add appends e and returns the members that were idle, which are idle no
// more: the caller queues a peers_joined for each. Call it under
// Server.mu, and be done with the result before the next add.
func (f *joinFeed) add(e feedEntry) []*conn {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n == feedBlockLen {
		f.tail.next = &feedBlock{}
		f.tail, f.n = f.tail.next, 0
	}
	f.tail.entries[f.n] = e
	f.n++
	woken := f.idle
	for _, c := range woken {
		c.feedIdle = false
	}
	f.idle, f.spare = f.spare[:0], woken
	return woken
}

// markIdleLocked notes that c has nothing from the feed pending, and
// returns the end of the feed: what c has taken. Call it under c.mu.
func (f *joinFeed) markIdleLocked(c *conn) feedPos {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !c.feedIdle {
		c.feedIdle = true
		f.idle = append(f.idle, c)
	}
	return f.endLocked()
}

// forget takes c off the idle list.
func (f *joinFeed) forget(c *conn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !c.feedIdle {
		return
	}
	c.feedIdle = false
	for i, d := range f.idle {
		if d == c {
			last := len(f.idle) - 1
			f.idle[i], f.idle[last] = f.idle[last], nil
			f.idle = f.idle[:last]
			return
		}
	}
}

// feedRange is the part of a feed a peers_joined carries: from up to
// (not including) to, but the entries of generation skip or older (a
// peer_list queued before it shows them).
type feedRange struct {
	from, to feedPos
	skip     uint64
}

// each calls fn for every entry of the range, in order.
func (r feedRange) each(fn func(feedEntry)) {
	for p := r.from; p != r.to; p.i++ {
		if p.i == feedBlockLen {
			p = feedPos{p.b.next, 0}
			if p == r.to {
				return
			}
		}
		if e := p.b.entries[p.i]; e.gen > r.skip {
			fn(e)
		}
	}
}

// follow makes c, the connection of a registration in room r, take r's
// pushes as its flags ask: one peer_joined per join (counted in
// room.plain) or peers_joined from r's feed. A client that keeps its
// room and flags keeps its place. Call it under s.mu.
func (s *Server) follow(c *conn, r *room) {
	feed, want := c.push && c.batch, c.push && r != nil
	if want && c.follows == r && c.followsFeed == feed {
		return
	}
	s.unfollow(c)
	if !want {
		return
	}
	c.follows, c.followsFeed = r, feed
	if !feed {
		r.plain++
		return
	}
	if r.feed == nil {
		r.feed = newJoinFeed()
	}
	f := r.feed
	f.members++
	c.mu.Lock()
	c.feed, c.feedAt = f, f.markIdleLocked(c)
	c.mu.Unlock()
}

// unfollow undoes follow. Call it under s.mu.
func (s *Server) unfollow(c *conn) {
	r := c.follows
	if r == nil {
		return
	}
	c.follows = nil
	if !c.followsFeed {
		r.plain--
		return
	}
	f := r.feed
	f.members--
	c.mu.Lock()
	c.feed, c.feedAt = nil, feedPos{}
	c.mu.Unlock()
	f.forget(c)
}

// queueFeed queues a peers_joined from feed f of room r (now at
// generation gen) for c, which was idle.
func (c *conn) queueFeed(f *joinFeed, r *room, gen uint64, pace time.Duration) {
	c.enqueueIf(func() bool { return c.feed == f }, frame{kind: textFrame, feed: f, room: r, gen: gen, pace: pace})
}

// takeFeedLocked fixes the range of the peers_joined at the head of the
// queue, which the writer has taken off it: what joined since c's last
// one. c is idle from then on. Call it under c.mu.
func (c *conn) takeFeedLocked(fr *frame) {
	if c.feed != fr.feed { // c left the room
		fr.feed = nil
		return
	}
	fr.feedRange.from = c.feedAt
	c.feedAt = c.feed.markIdleLocked(c)
	fr.feedRange.to = c.feedAt
}
