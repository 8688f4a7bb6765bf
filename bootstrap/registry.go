package bootstrap

import (
	"crypto/rand"
	"encoding/hex"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/parlance-chat/parlance/net/wire"
)

// peer is one registration. All fields are guarded by Server.mu.
type peer struct {
	id       string // uuid v4, kept for the life of the registration
	nickname string
	identity string // proved peer ID, or ""
	reach    bool   // a proved identity that takes connect offers (wire.FeatureReach)
	room     *room  // nil while being moved between rooms
	public   netip.AddrPort
	local    netip.AddrPort
	// lastSeen is the Unix nanoseconds of the last register or
	// heartbeat; a heartbeat sets it without Server.mu.
	lastSeen atomic.Int64
	c        *conn  // nil for a remote registration
	remote   string // the id of the server holding a remote registration
	heard    int64  // Unix ns (Config.Clock) its server last mentioned a remote registration
	// registered is the Unix ns of its last register: of two servers
	// holding one identity, the newer register wins.
	registered int64
	// version counts the registers of this registration (a rename, a
	// new address): with last_seen it says whether encoded is current.
	version uint64
	// encoded caches the entry of each kind of list: a big room's list
	// is rebuilt on every join, but only the entries that changed are
	// encoded again. Read and written by list builds without Server.mu.
	encoded [listKinds]atomic.Pointer[encodedEntry]
}

// encodedEntry is a peer's entry as MarshalPeerInfo encodes it, for its
// registration's version and last_seen (Unix seconds).
type encodedEntry struct {
	version  uint64
	lastSeen int64
	data     []byte
}

// entryOf is the info of a peer taken for a list under Server.mu, to be
// encoded without it.
type entryOf struct {
	p       *peer
	version uint64
	info    wire.PeerInfo
}

// encode returns e's entry of the given kind, from the peer's cache when
// it is current; keep stores a new encoding there (for big rooms only:
// a small room's list costs less to encode again than to keep).
func (e entryOf) encode(kind int, keep bool) ([]byte, error) {
	slot := &e.p.encoded[kind]
	if c := slot.Load(); c != nil && c.version == e.version && c.lastSeen == e.info.LastSeen {
		return c.data, nil
	}
	data, err := wire.MarshalPeerInfo(e.info)
	if err != nil {
		return nil, err
	}
	if keep {
		slot.Store(&encodedEntry{version: e.version, lastSeen: e.info.LastSeen, data: data})
	}
	return data, nil
}

// room is a set of peers that see each other. The default room is "".
// All fields are guarded by Server.mu.
type room struct {
	name  string
	peers map[string]*peer // by peer id
	// gen counts the changes of the room (a peer joined, left or changed
	// its registration), for the peer_list cache and the pushes.
	gen   uint64
	lists [listKinds]listCache
	// joined lists the peers that joined since generation joinedBase, in
	// order: the room at generation joinedBase+i+1 is the room at
	// joinedBase with joined[:i+1] added. Any other change empties it.
	// A cached peer_list is extended by them instead of being built
	// again (see extendLocked).
	joined     []*peer
	joinedBase uint64
	// The members that take pushes: plain counts those that take one
	// peer_joined per join; feed serves those that take peers_joined
	// (nil until one comes).
	plain int
	feed  *joinFeed
	// When the last join was pushed (Unix ns) and the mean time
	// between joins (a moving average), for joinPace.
	lastJoin int64
	joinGap  int64
}

// maxJoined bounds room.joined.
const maxJoined = 4096

// added notes that p joined r.
func (r *room) added(p *peer) {
	if len(r.joined) == maxJoined {
		r.forgetJoined()
	}
	r.gen++
	r.joined = append(r.joined, p)
}

// changed notes a change of r other than a join.
func (r *room) changed() {
	r.gen++
	r.forgetJoined()
}

func (r *room) forgetJoined() {
	clear(r.joined)
	r.joined = r.joined[:0]
	r.joinedBase = r.gen
}

// Pacing of peers_joined (see joinPace).
const (
	quietPace   = 50 * time.Millisecond
	pacePerPeer = 100 * time.Microsecond
	maxPace     = time.Second
)

// joinPace notes a join in r at now (Unix ns) and returns the least time
// between two peers_joined to one member (the first goes at once): joins
// that arrive meanwhile are gathered into the next. The pace grows with
// the room, 100 µs a member (at least quietPace, at most a second), so
// the whole room takes at most about 10,000 writes a second however big
// it is, and building a room of n costs each member about (build time /
// pace) messages instead of n. A room whose joins come no faster than
// that pace (a moving average of the time between joins) is quiet: its
// pace is quietPace, so that a lone join goes out at once and the next
// soon after. (An earlier rule called a room quiet when joins came more
// than 20 ms apart; on a loaded machine a big room's build slowed to
// that, every member then wrote every 50 ms, and the build slowed
// further.)
func (r *room) joinPace(now int64) time.Duration {
	if r.lastJoin != 0 {
		r.joinGap = (7*r.joinGap + max(now-r.lastJoin, 0)) / 8
	}
	r.lastJoin = now
	busy := min(max(time.Duration(len(r.peers))*pacePerPeer, quietPace), maxPace)
	if r.joinGap >= int64(busy) {
		return quietPace
	}
	return busy
}

// info describes p for a peer_list or peer_joined; withIdentity is false
// for original clients, which get exactly the original's fields.
func (p *peer) info(withIdentity bool) wire.PeerInfo {
	pi := wire.PeerInfo{
		PeerID:     p.id,
		Nickname:   p.nickname,
		PublicAddr: p.public,
		LocalAddr:  p.local,
		LastSeen:   time.Unix(0, p.lastSeen.Load()).Unix(),
	}
	if withIdentity {
		pi.Identity = p.identity
	}
	return pi
}

// register completes a register on c: a new registration, or an update of
// c's current one (same peer_id). proved says whether reg.Identity was
// proved by a signature; an unproved identity is never recorded.
//
// A proved identity that is already online on another connection is taken
// over: the older registration is removed, its connection gets an error
// and is closed. Only a signature by the key can do this, so the newest
// holder of the key wins (e.g. a restarted client whose old connection
// has not timed out yet).
func (s *Server) register(c *conn, reg wire.Register, proved bool) {
	s.mu.Lock()
	req := s.registerLocked(c, reg, proved)
	s.mu.Unlock()
	s.finishList(req)
}

// registerLocked does register's work under s.mu, and returns the
// peer_list request to finish without it (or nil).
func (s *Server) registerLocked(c *conn, reg wire.Register, proved bool) *listReq {
	if s.closing {
		return nil
	}
	ident := ""
	if proved {
		ident = reg.Identity
	}
	p := c.peer.Load()
	if p == nil && s.npeers >= s.cfg.MaxPeers {
		c.sendError(errServerFull)
		return nil
	}
	if ident != "" {
		if other := s.byIdentity[ident]; other != nil && other != p {
			s.replace(other)
		}
	}
	if p == nil {
		p = &peer{id: newPeerID(), c: c}
		s.npeers++
		s.local[p.id] = p
		c.peer.Store(p)
	} else {
		if p.room.name != reg.Room {
			s.detach(p)
		}
		if p.identity != "" {
			delete(s.byIdentity, p.identity)
		}
	}
	p.version++
	p.nickname = reg.Nickname
	p.identity = ident
	p.public = netip.AddrPortFrom(c.ip, reg.LocalAddr.Port())
	p.local = reg.LocalAddr
	p.registered = s.cfg.Clock.Now().UnixNano()
	p.lastSeen.Store(p.registered)
	if ident != "" {
		s.byIdentity[ident] = p
	}
	if p.room == nil {
		s.attach(p, reg.Room)
	} else {
		p.room.changed()
	}
	c.ext = reg.Extended()
	c.push = c.ext && wire.HasFeature(reg.Features, wire.FeaturePush)
	c.batch = c.push && wire.HasFeature(reg.Features, wire.FeatureBatch)
	c.reach = c.ext && ident != "" && wire.HasFeature(reg.Features, wire.FeatureReach)
	p.reach = c.reach
	s.log.Debug("registered", "peer_id", p.id, "nickname", p.nickname, "room", reg.Room, "identity", ident, "addr", p.public)

	reply := wire.Registered{PeerID: p.id, PublicAddr: p.public}
	switch {
	case c.batch:
		reply.Features = []string{wire.FeaturePush, wire.FeatureBatch}
	case c.push:
		reply.Features = []string{wire.FeaturePush}
	}
	if s.grantMailboxLocked(c, reg, ident) {
		reply.Features = append(reply.Features, wire.FeatureMailbox)
	}
	if c.reach {
		reply.Features = append(reply.Features, wire.FeatureReach)
	}
	c.sendMsg(reply)
	if c.mailbox {
		s.sendMailStatusLocked(c, ident)
	}
	s.pushJoined(p)
	s.follow(c, p.room)
	s.publishLocked(clusterEvent{Kind: evJoin, Peers: []clusterPeer{p.clusterPeer()}})
	if !c.push {
		return nil
	}
	// The full list once, queued under the lock so that every later push
	// to c follows it (and is dropped if the list shows it already).
	return s.requestListLocked(c)
}

// attach puts p into the named room, creating it if needed.
func (s *Server) attach(p *peer, name string) {
	r := s.rooms[name]
	if r == nil {
		r = &room{name: name, peers: make(map[string]*peer)}
		s.rooms[name] = r
	}
	r.peers[p.id] = p
	r.added(p)
	p.room = r
}

// detach takes p out of its room and tells the room.
func (s *Server) detach(p *peer) {
	r := p.room
	if p.c != nil {
		s.unfollow(p.c)
	}
	delete(r.peers, p.id)
	r.changed()
	p.room = nil
	if len(r.peers) == 0 {
		delete(s.rooms, r.name)
		delete(s.listed, r)
	}
	s.pushLeft(r, p.id)
}

// removePeer ends p's registration. p.c keeps its connection and
// remembers the peer id, so that a later heartbeat gets "Peer not
// registered".
//
// The connection forgets p first, before the room hears that p left: a
// client that sees its own peer_left and then sends a heartbeat must get
// the error, not have the heartbeat taken for the registration going
// away (onHeartbeat reads c.peer without s.mu).
func (s *Server) removePeer(p *peer) {
	p.c.peer.Store(nil)
	p.c.lastPeerID = p.id
	p.c.since = s.cfg.Clock.Now().UnixNano()
	s.detach(p)
	if p.identity != "" && s.byIdentity[p.identity] == p {
		delete(s.byIdentity, p.identity)
	}
	s.npeers--
	delete(s.local, p.id)
	if !s.closing { // at shutdown, the cluster hears one bye instead
		s.publishLocked(clusterEvent{Kind: evLeave, ID: p.id})
	}
}

// pushJoined tells every pushing client in p's room (but p) about p. The
// message (or, for clients that take peers_joined, the entry) is encoded
// once and shared. A client that takes peer_joined gets one queue entry
// per join; one that takes peers_joined reads the room's join feed
// (feed.go), and gets the joins that pile up in one message.
func (s *Server) pushJoined(p *peer) {
	if s.closing {
		return
	}
	r := p.room
	pace := r.joinPace(s.cfg.Clock.Now().UnixNano())
	if r.plain > 0 {
		msg, err := wire.MarshalServer(wire.PeerJoined{Peer: p.info(true)})
		if err != nil {
			s.log.Error("encode peer_joined", "err", err)
			return
		}
		for _, q := range r.peers {
			if q != p && q.c != nil && q.c.follows == r && !q.c.followsFeed {
				q.c.sendPush(msg, r, r.gen)
			}
		}
	}
	if f := r.feed; f != nil && f.members > 0 {
		entry, err := entryOf{p, p.version, p.info(true)}.encode(listExtended, len(r.peers) >= listCacheMin)
		if err != nil {
			s.log.Error("encode peer_joined", "err", err)
			return
		}
		for _, c := range f.add(feedEntry{entry, r.gen, p}) {
			c.queueFeed(f, r, r.gen, pace)
		}
	}
}

// pushLeft tells every pushing client left in r that peer id left.
func (s *Server) pushLeft(r *room, id string) {
	if s.closing || r.plain == 0 && (r.feed == nil || r.feed.members == 0) {
		return // no member takes pushes
	}
	var msg []byte
	for _, q := range r.peers {
		if q.c == nil || !q.c.push {
			continue
		}
		if msg == nil {
			var err error
			if msg, err = wire.MarshalServer(wire.PeerLeft{PeerID: id}); err != nil {
				s.log.Error("encode peer_left", "err", err)
				return
			}
		}
		q.c.sendPush(msg, r, r.gen)
	}
}

// newPeerID returns a random (version 4) UUID.
func newPeerID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:])
}
