package bootstrap

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parlance-chat/parlance/net/wire"
)

// Bus connects servers that share one registry (Config.Bus). Package
// natsbus implements it over NATS core pub/sub; a message published by
// one server reaches every subscriber of the subject, in the order that
// server published it (and in no particular order across servers).
type Bus interface {
	// Publish sends data on subject without waiting for anyone; it may
	// drop it while the bus is down.
	Publish(subject string, data []byte) error
	// Subscribe calls fn with every message on subject, one at a time,
	// until ctx is done.
	Subscribe(ctx context.Context, subject string, fn func(data []byte)) error
}

// # How servers share the registry
//
// Every server publishes its own changes on the events subject: a
// register (join), the end of a registration (leave), and every
// PeerTimeout/3 (and when a server starts or reconnects to the bus and
// says hello) a snapshot of all its registrations (in parts of
// snapshotPart), which refreshes their last_seen, adds what a server
// missed and removes what it holds but the snapshot lacks. A server that
// stops cleanly says bye and its peers go at once; one that dies stops
// sending snapshots, and its peers expire everywhere once it has not
// mentioned them for PeerTimeout (three snapshots), as silent clients do;
// that is measured on the receiving server's clock, not by the client's
// last_seen, so clock skew between servers does not matter. Other
// servers' peers ("remote" peers: no connection here) are in the rooms
// like local ones: listed, and pushed to local push clients.
//
// A proved identity registered on two servers: the newer register wins
// (its time, then the server id), and the server holding the older one
// replaces it as for two connections to one server.
//
// Deliver sends a message to a client wherever it is connected: at once
// if here, else on the holding server's deliver subject.

// Cluster subjects, under Config.BusPrefix.
const (
	subjectEvents  = ".events"
	subjectDeliver = ".deliver." // + server id
)

// DefaultBusPrefix is the default Config.BusPrefix.
const DefaultBusPrefix = "parlance.bootstrap"

// snapshotPart is the most registrations in one snapshot message (NATS
// refuses messages over 1 MB by default; an entry is about 250 bytes).
const snapshotPart = 1000

// Kinds of cluster events.
const (
	evJoin     = "join"
	evLeave    = "leave"
	evSnapshot = "snapshot"
	evBye      = "bye"
	evHello    = "hello" // a server (re)joined: everyone sends a snapshot
)

// clusterEvent is one message on the events subject.
type clusterEvent struct {
	Kind   string        `json:"kind"`
	Server string        `json:"server"`
	Peers  []clusterPeer `json:"peers,omitempty"` // join: one; snapshot: a part
	ID     string        `json:"id,omitempty"`    // leave
	Round  uint64        `json:"round,omitempty"` // snapshot
	Last   bool          `json:"last,omitempty"`  // snapshot: the round's last part
}

// clusterPeer is a registration as servers exchange it.
type clusterPeer struct {
	ID         string         `json:"id"`
	Nickname   string         `json:"nickname"`
	Identity   string         `json:"identity,omitempty"`
	Reach      bool           `json:"reach,omitempty"` // takes connect offers (wire.FeatureReach)
	Room       string         `json:"room,omitempty"`
	Public     netip.AddrPort `json:"public"`
	Local      netip.AddrPort `json:"local"`
	LastSeen   int64          `json:"last_seen"`  // Unix ns
	Registered int64          `json:"registered"` // Unix ns of its last register
}

// deliverMsg is one message on a server's deliver subject.
type deliverMsg struct {
	To   string `json:"to"`
	Data []byte `json:"data"`
}

// ErrNoClient is Deliver's error for a peer id registered nowhere.
var ErrNoClient = errors.New("no such client")

// remoteServer is what this server knows of another.
type remoteServer struct {
	peers map[string]*peer // by peer id
	// The snapshot round being received, and the ids it listed so far.
	round uint64
	seen  map[string]struct{}
}

func (p *peer) clusterPeer() clusterPeer {
	room := ""
	if p.room != nil {
		room = p.room.name
	}
	return clusterPeer{ID: p.id, Nickname: p.nickname, Identity: p.identity, Reach: p.reach, Room: room,
		Public: p.public, Local: p.local, LastSeen: p.lastSeen.Load(), Registered: p.registered}
}

func (cp clusterPeer) validate() error {
	if err := wire.ValidateNickname(cp.Nickname); err != nil {
		return err
	}
	if err := wire.ValidateRoom(cp.Room); err != nil {
		return err
	}
	if cp.ID == "" || len(cp.ID) > 64 || len(cp.Identity) > 128 {
		return errors.New("bad peer id or identity")
	}
	if !cp.Public.IsValid() || !cp.Local.IsValid() {
		return errors.New("bad address")
	}
	return nil
}

// reconnectNotifier is a Bus that can say when it reconnected (and may
// have lost messages): the server then publishes a snapshot.
type reconnectNotifier interface {
	OnReconnect(func())
}

// startCluster subscribes to the cluster subjects; it returns once they
// are subscribed.
func (s *Server) startCluster(ctx context.Context) error {
	bus := s.cfg.Bus
	if rn, ok := bus.(reconnectNotifier); ok {
		rn.OnReconnect(s.hello)
	}
	if err := bus.Subscribe(ctx, s.cfg.BusPrefix+subjectEvents, s.onClusterEvent); err != nil {
		return fmt.Errorf("subscribe to cluster events: %w", err)
	}
	if err := bus.Subscribe(ctx, s.cfg.BusPrefix+subjectDeliver+s.id, s.onDeliver); err != nil {
		return fmt.Errorf("subscribe to cluster deliveries: %w", err)
	}
	if err := s.subscribeMailbox(ctx); err != nil {
		return err
	}
	return s.startRelayCluster(ctx)
}

// maxPublishQueue bounds the events waiting to be published; beyond it
// they are dropped (as a bus drops them while down), and the next
// snapshot repairs what the others missed.
const maxPublishQueue = 1 << 16

// publishLocked queues an event of this server, under s.mu so that
// events are queued in the order of the changes they tell. runCluster
// publishes the queue in that order, encoding each event outside s.mu:
// a slow bus or a big snapshot does not hold up the server.
func (s *Server) publishLocked(ev clusterEvent) {
	if s.cfg.Bus == nil {
		return
	}
	if len(s.publishing) >= maxPublishQueue {
		s.warn.log(slog.LevelWarn, "cluster publish queue full; dropping events until the bus catches up", "kind", ev.Kind)
		return
	}
	ev.Server = s.id
	s.publishing = append(s.publishing, ev)
	select {
	case s.published <- struct{}{}:
	default:
	}
}

// flushPublished publishes the queued events, in order. Only runCluster
// calls it.
func (s *Server) flushPublished() {
	s.mu.Lock()
	evs := s.publishing
	s.publishing = nil
	s.mu.Unlock()
	for _, ev := range evs {
		b, err := json.Marshal(ev)
		if err == nil {
			err = s.cfg.Bus.Publish(s.cfg.BusPrefix+subjectEvents, b)
		}
		if err != nil {
			s.warn.log(slog.LevelWarn, "cluster publish failed", "kind", ev.Kind, "err", err)
		}
	}
}

// hello publishes this server's snapshot and asks the others for theirs:
// at start, and after a reconnect to the bus (messages may have been
// lost meanwhile).
func (s *Server) hello() {
	s.publishSnapshot()
	s.mu.Lock()
	s.publishLocked(clusterEvent{Kind: evHello})
	s.mu.Unlock()
}

// publishSnapshot publishes every local registration, in parts.
func (s *Server) publishSnapshot() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.snapshotRound++
	var part []clusterPeer
	flush := func(last bool) {
		s.publishLocked(clusterEvent{Kind: evSnapshot, Peers: part, Round: s.snapshotRound, Last: last})
		part = nil // queued: not to be reused
	}
	for c := range s.conns {
		p := c.peer.Load()
		if p == nil || p.room == nil {
			continue
		}
		part = append(part, p.clusterPeer())
		if len(part) == snapshotPart {
			flush(false)
		}
	}
	flush(true)
}

// onClusterEvent applies another server's event.
func (s *Server) onClusterEvent(data []byte) {
	var ev clusterEvent
	if err := json.Unmarshal(data, &ev); err != nil || ev.Server == "" {
		s.warn.log(slog.LevelWarn, "unreadable cluster event", "err", err)
		return
	}
	if ev.Kind == evHello {
		if ev.Server != s.id {
			s.publishSnapshot()
		}
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if ev.Server == s.id || s.closing {
		return
	}
	rs := s.remote[ev.Server]
	if rs == nil {
		if ev.Kind == evBye || ev.Kind == evLeave {
			return
		}
		rs = &remoteServer{peers: make(map[string]*peer)}
		s.remote[ev.Server] = rs
	}
	switch ev.Kind {
	case evJoin:
		for _, cp := range ev.Peers {
			s.upsertRemote(ev.Server, rs, cp)
		}
	case evLeave:
		if p := rs.peers[ev.ID]; p != nil {
			s.removeRemote(rs, p)
		}
	case evSnapshot:
		if rs.seen == nil || rs.round != ev.Round {
			rs.round, rs.seen = ev.Round, make(map[string]struct{})
		}
		for _, cp := range ev.Peers {
			if s.upsertRemote(ev.Server, rs, cp) {
				rs.seen[cp.ID] = struct{}{}
			}
		}
		if ev.Last {
			for id, p := range rs.peers {
				if _, ok := rs.seen[id]; !ok {
					s.removeRemote(rs, p)
				}
			}
			rs.seen = nil
		}
	case evBye:
		for _, p := range rs.peers {
			s.removeRemote(rs, p)
		}
		delete(s.remote, ev.Server)
	}
}

// upsertRemote adds or updates a registration of server srv, pushing it
// to the room if it is new or changed. It reports whether cp was valid.
func (s *Server) upsertRemote(srv string, rs *remoteServer, cp clusterPeer) bool {
	if err := cp.validate(); err != nil {
		s.warn.log(slog.LevelWarn, "invalid registration from another server", "server", srv, "err", err)
		return false
	}
	p := rs.peers[cp.ID]
	if p != nil {
		p.heard = s.cfg.Clock.Now().UnixNano()
	}
	if p != nil && p.nickname == cp.Nickname && p.identity == cp.Identity && p.reach == cp.Reach && p.room.name == cp.Room &&
		p.public == cp.Public && p.local == cp.Local && p.registered == cp.Registered {
		p.lastSeen.Store(max(p.lastSeen.Load(), cp.LastSeen))
		return true
	}
	if cp.Identity != "" {
		if other := s.byIdentity[cp.Identity]; other != nil && other != p {
			if !newer(cp.Registered, srv, other.registered, other.server(s)) {
				return true // the other holder is newer: its server replaces this one
			}
			s.replace(other)
		}
	}
	if p == nil {
		p = &peer{id: cp.ID, remote: srv, heard: s.cfg.Clock.Now().UnixNano()}
		rs.peers[cp.ID] = p
	} else {
		if p.room.name != cp.Room {
			s.detach(p)
		}
		if p.identity != "" && s.byIdentity[p.identity] == p {
			delete(s.byIdentity, p.identity)
		}
	}
	p.version++
	p.nickname, p.identity, p.public, p.local, p.registered = cp.Nickname, cp.Identity, cp.Public, cp.Local, cp.Registered
	p.reach = cp.Reach && cp.Identity != ""
	p.lastSeen.Store(cp.LastSeen)
	if p.identity != "" {
		s.byIdentity[p.identity] = p
	}
	if p.room == nil {
		s.attach(p, cp.Room)
	} else {
		p.room.changed()
	}
	s.pushJoined(p)
	return true
}

// newer reports whether a register at time t on server srv is newer than
// one at ot on server osrv.
func newer(t int64, srv string, ot int64, osrv string) bool {
	if t != ot {
		return t > ot
	}
	return srv > osrv
}

// server returns the id of the server holding p.
func (p *peer) server(s *Server) string {
	if p.remote != "" {
		return p.remote
	}
	return s.id
}

// replace ends registration p because its identity registered again
// (newer) elsewhere: a local one's connection gets an error and is
// closed, as the original connection of a takeover is.
func (s *Server) replace(p *peer) {
	s.warn.log(slog.LevelInfo, "identity taken over by a new connection", "identity", p.identity, "old_peer_id", p.id)
	if p.c == nil {
		if rs := s.remote[p.remote]; rs != nil {
			s.removeRemote(rs, p)
		}
		return
	}
	oc := p.c
	s.removePeer(p)
	oc.sendError(errReplaced)
	oc.closeWith(websocket.ClosePolicyViolation, "identity registered from another connection")
}

// removeRemote forgets another server's registration p.
func (s *Server) removeRemote(rs *remoteServer, p *peer) {
	delete(rs.peers, p.id)
	if p.identity != "" && s.byIdentity[p.identity] == p {
		delete(s.byIdentity, p.identity)
	}
	if p.room != nil {
		s.detach(p)
	}
}

// Deliver sends msg (one encoded server message) to the client registered
// as peerID, on this server or, with a Bus, on the server that holds it.
// It is the primitive for messages between clients through the servers
// (hole-punching coordination, a relay, a mailbox): the caller need not
// know where the client is. It returns ErrNoClient if no server known
// here holds peerID; delivery to another server is best effort.
func (s *Server) Deliver(peerID string, msg []byte) error {
	s.mu.Lock()
	var c *conn
	srv := ""
	if p := s.local[peerID]; p != nil {
		c = p.c
	} else {
		for id, rs := range s.remote {
			if rs.peers[peerID] != nil {
				srv = id
				break
			}
		}
	}
	s.mu.Unlock()
	switch {
	case c != nil:
		c.sendRaw(msg)
		return nil
	case srv == "":
		return fmt.Errorf("deliver to %s: %w", peerID, ErrNoClient)
	}
	b, err := json.Marshal(deliverMsg{To: peerID, Data: msg})
	if err != nil {
		return fmt.Errorf("deliver to %s: %w", peerID, err)
	}
	if err := s.cfg.Bus.Publish(s.cfg.BusPrefix+subjectDeliver+srv, b); err != nil {
		return fmt.Errorf("deliver to %s on server %s: %w", peerID, srv, err)
	}
	return nil
}

// onDeliver hands a message from another server to a local client.
func (s *Server) onDeliver(data []byte) {
	var m deliverMsg
	if err := json.Unmarshal(data, &m); err != nil || len(m.Data) > wire.MaxServerMessage {
		s.warn.log(slog.LevelWarn, "unreadable cluster delivery", "err", err)
		return
	}
	s.mu.Lock()
	var c *conn
	if p := s.local[m.To]; p != nil {
		c = p.c
	}
	s.mu.Unlock()
	if c != nil {
		c.sendRaw(m.Data)
	}
}

// runCluster publishes this server's events (see publishLocked) and its
// snapshots until ctx is done, then says bye.
func (s *Server) runCluster(ctx context.Context) {
	t := s.cfg.Clock.NewTicker(max(s.cfg.PeerTimeout/3, time.Second))
	defer t.Stop()
	s.hello()
	for {
		select {
		case <-ctx.Done():
			s.mu.Lock()
			s.publishLocked(clusterEvent{Kind: evBye})
			s.mu.Unlock()
			s.flushPublished()
			return
		case <-s.published:
			s.flushPublished()
		case <-t.C():
			s.publishSnapshot()
		}
	}
}
