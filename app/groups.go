package app

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/parlance-chat/parlance/app/group"
	"github.com/parlance-chat/parlance/app/store"
	"github.com/parlance-chat/parlance/internal/ratelog"
	"github.com/parlance-chat/parlance/net/identity"
	"github.com/parlance-chat/parlance/net/transport"
	"github.com/parlance-chat/parlance/net/wire"
)

// Groups: the node owns the group engine (app/group). Group frames arrive
// on two-way TLS connections (the transport hands them to receive with the
// identity the connection proved) and go to the engine; what the engine
// returns to send is queued per member and written, best effort, to the
// members that are online. This node's own messages that a member misses
// (offline, queue full, a write that failed) stay in the member's outbox
// and are pushed when it is seen again (group_outbox.go); anything else
// comes back by the engine's catch-up, which the node starts with every
// keyed peer that comes online (SyncWith).
//
// Goroutines, all owned by groups and ended with Run's context (wait
// waits for them): one per member with frames queued (drain, ended after
// groupQueueIdle without any), the periodic resync, a short one per
// sighting of a member with an outbox (flushTo), and one per member whose
// push waits for its back-off (retryLater).
//
// Group messages are stored like any other message, in the conversation
// GroupConv(id) with Peer the author's key, so Changes, History and Search
// work for groups too. The UIs key a group's conversation by GroupKey(id).

// GroupKeyPrefix starts the PeerKey (and ConvID) of a group conversation.
const GroupKeyPrefix = "group:"

// groupQueueLen bounds the frames waiting for one member; beyond it frames
// are dropped (the member's catch-up brings what they carried).
const groupQueueLen = 1024

// groupQueueIdle is how long a member's queue goroutine waits for more
// before it ends.
const groupQueueIdle = time.Minute

// GroupKey is the key of a group's conversation in the UIs.
func GroupKey(id wire.GroupID) PeerKey { return PeerKey(GroupKeyPrefix + id.String()) }

// GroupConv is a group's conversation in the store.
func GroupConv(id wire.GroupID) ConvID { return ConvID(GroupKey(id)) }

// IsGroupKey reports whether key names a group conversation.
func IsGroupKey(key PeerKey) bool { return strings.HasPrefix(string(key), GroupKeyPrefix) }

// groupIDOf parses a group key.
func groupIDOf(key PeerKey) (wire.GroupID, error) {
	var id wire.GroupID
	h, ok := strings.CutPrefix(string(key), GroupKeyPrefix)
	if !ok {
		return id, fmt.Errorf("%s is not a group", key)
	}
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != len(id) {
		return id, fmt.Errorf("bad group key %q", key)
	}
	copy(id[:], b)
	return id, nil
}

// GroupInfo describes a group for the UIs.
type GroupInfo struct {
	Key     PeerKey // GroupKey(ID)
	ID      wire.GroupID
	Name    string // without "#"
	Members []GroupMember
	// Joined is false once this node left or was kicked (the history
	// stays readable).
	Joined bool
	// Joining: this node accepted the invitation and waits for a member
	// to send the ops its invite follows (it is not Joined until then).
	Joining bool
	Admin   bool
}

// GroupMember is one member of a group.
type GroupMember struct {
	Key      PeerKey // "id:<peer ID>"
	Identity string
	Nickname string
	Admin    bool
	Online   bool
	Self     bool
}

// GroupInvitation is an invitation waiting for JoinGroup.
type GroupInvitation struct {
	Key  PeerKey
	Name string
	// By is who invited this node; Known reports whether this node ever
	// exchanged messages with them.
	By     PeerKey
	ByNick string
	Known  bool
}

// GroupChanged: a group's members or name changed, or this node joined,
// left or was kicked.
type GroupChanged struct{ Group GroupInfo }

// GroupInvited: someone invited this node to a group.
type GroupInvited struct{ Invitation GroupInvitation }

func (GroupChanged) isEvent() {}
func (GroupInvited) isEvent() {}

// ErrNoGroups: this node has no identity key, so it cannot sign group ops.
var ErrNoGroups = errors.New("groups need an identity key (this node runs without one)")

// groups is the node's group engine and the queues that write its frames.
type groups struct {
	n   *Node
	eng *group.Engine

	mu     sync.Mutex
	ctx    context.Context // Run's, set by start; nil before
	closed bool            // wait was called: no new queue goroutines
	queues map[identity.ID]chan qframe
	owed   map[owedKey]*owed // the outbox: see group_outbox.go
	// retrying and backoff: a push to the member is due again after
	// backoff (retryLater).
	retrying map[identity.ID]bool
	backoff  map[identity.ID]time.Duration
	owedMax  uint64         // groupOwedMax (tests lower it)
	wg       sync.WaitGroup // queue and push goroutines

	saveMu sync.Mutex // serialises saveOwed
}

func newGroups(n *Node, st group.Store) (*groups, error) {
	if st == nil {
		st = group.NewMemoryStore()
	}
	drops := ratelog.New(n.log, slog.LevelWarn, ratelog.DefaultEvery)
	cfg := group.Config{Identity: n.cfg.Identity, Store: st, Log: drops, Now: n.cfg.Now}
	if rs := n.cfg.GroupRecords; rs != nil {
		invites, err := loadInvites(rs)
		if err != nil {
			return nil, err
		}
		cfg.Invites = invites
		cfg.SaveInvites = func(fs []wire.GroupInvite) error { return saveInvites(rs, fs) }
	}
	eng, err := group.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("start groups: %w", err)
	}
	gs := &groups{n: n, eng: eng, queues: make(map[identity.ID]chan qframe), owed: make(map[owedKey]*owed),
		retrying: make(map[identity.ID]bool), backoff: make(map[identity.ID]time.Duration), owedMax: groupOwedMax}
	if err := gs.loadOwed(); err != nil {
		return nil, err
	}
	return gs, nil
}

// groupResync is how often the node asks every online member for what
// it may have missed (a catch-up request or reply lost to a refused
// connection would otherwise wait for the member to come online anew).
const groupResync = time.Minute

// start lets frames be written and starts the periodic catch-up; the
// goroutines end with ctx.
func (gs *groups) start(ctx context.Context) {
	gs.mu.Lock()
	gs.ctx = ctx
	gs.wg.Add(1)
	gs.mu.Unlock()
	go gs.resync(ctx)
}

func (gs *groups) resync(ctx context.Context) {
	defer gs.wg.Done()
	t := time.NewTicker(groupResync)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			for _, p := range gs.n.Peers() {
				if p.Online {
					gs.n.groupPeerSeen(p)
				}
			}
		}
	}
}

// wait stops new queue goroutines and waits for those running, which end
// with start's context.
func (gs *groups) wait() {
	gs.mu.Lock()
	gs.closed = true
	gs.mu.Unlock()
	gs.wg.Wait()
}

// send queues each outgoing frame for its recipients.
func (gs *groups) send(out []group.Outgoing) {
	for _, o := range out {
		for _, to := range o.To {
			gs.enqueue(to, qframe{line: o.Line})
		}
	}
}

// enqueue never blocks and never takes n.mu (callers may hold it). It
// reports whether the frame was queued.
func (gs *groups) enqueue(to identity.ID, f qframe) bool {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	ctx := gs.ctx
	if ctx == nil || gs.closed {
		return false // not running: the catch-up at the next start covers it
	}
	q := gs.queues[to]
	if q == nil {
		q = make(chan qframe, groupQueueLen)
		gs.queues[to] = q
		gs.wg.Add(1)
		go gs.drain(ctx, to, q)
	}
	select {
	case q <- f:
		return true
	default:
		gs.n.log.Debug("group queue full; frame dropped (the outbox or catch-up brings it)", "peer", to.Short())
		return false
	}
}

// drain writes the frames queued for one member, several per write, until
// ctx ends or the queue stays empty for groupQueueIdle.
func (gs *groups) drain(ctx context.Context, to identity.ID, q chan qframe) {
	defer gs.wg.Done()
	idle := time.NewTimer(groupQueueIdle)
	defer idle.Stop()
	var buf []byte
	var frames []qframe
	var carry *qframe // taken from q, for the next write
	for {
		var f qframe
		if carry != nil {
			f, carry = *carry, nil
		} else {
			select {
			case <-ctx.Done():
				return
			case <-idle.C:
				gs.mu.Lock()
				if len(q) == 0 {
					delete(gs.queues, to)
					gs.mu.Unlock()
					return
				}
				gs.mu.Unlock()
				idle.Reset(groupQueueIdle)
				continue
			case f = <-q:
			}
		}
		buf = append(buf[:0], f.line...)
		frames = append(frames[:0], f)
		// More frames while they fit: the transport takes at most
		// wire.MaxLine bytes a write.
	more:
		for {
			select {
			case f := <-q:
				if len(buf)+len(f.line) > wire.MaxLine {
					carry = &f
					break more
				}
				buf = append(buf, f.line...)
				frames = append(frames, f)
			default:
				break more
			}
		}
		err := gs.write(ctx, to, buf)
		if ctx.Err() != nil {
			return // not written for sure: the saved outbox keeps them
		}
		gs.written(to, frames, err)
		idle.Reset(groupQueueIdle)
	}
}

// write sends lines to a member if it is online. What it could not send
// stays in the outbox if it is this node's messages (see written), and
// comes by catch-up otherwise.
func (gs *groups) write(ctx context.Context, to identity.ID, lines []byte) error {
	p, ok := gs.n.Peer(PeerKey("id:" + string(to)))
	if !ok || !p.Online || (!p.Addr.IsValid() && !p.AltAddr.IsValid()) {
		return errOffline
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	// An internet peer behind a NAT is punched to, or relayed (reach.go).
	err := gs.n.connectFirst(ctx, p)
	if err == nil {
		d := transport.Dest{Addr: p.Addr, AltAddr: p.AltAddr, Identity: p.Identity}
		err = gs.n.cfg.Transport.SendFrame(ctx, d, lines)
	}
	if err != nil {
		gs.n.log.Debug("group frames not sent (the outbox or catch-up will bring them)", "peer", p.Nickname, "err", err)
	}
	return err
}

// groupPeerSeen starts a catch-up with a keyed peer that came online, for
// every group both are in.
func (n *Node) groupPeerSeen(p Peer) {
	if n.grp == nil || p.Identity == "" {
		return
	}
	n.grp.send(n.grp.eng.SyncWith(identity.ID(p.Identity)))
	n.grp.flushTo(identity.ID(p.Identity))
}

// receiveGroup feeds a group frame to the engine, with the identity its
// TLS connection proved, and acts on the result.
func (n *Node) receiveGroup(in transport.Inbound) {
	if n.grp == nil || in.Identity == "" || in.Identity == n.selfID {
		return
	}
	res, err := n.grp.eng.Receive(identity.ID(in.Identity), in.Group)
	if err != nil {
		n.log.Debug("group frame not used", "from", identity.ID(in.Identity).Short(), "type", in.Group.GroupType(), "err", err)
	}
	n.grp.send(res.Out)
	n.storeGroupMessages(res.Messages)
	for _, id := range res.Changed {
		if info, ok := n.groupInfo(id); ok {
			n.mu.Lock()
			n.emit(GroupChanged{Group: info})
			n.mu.Unlock()
		}
	}
	if inv := res.Invitation; inv != nil {
		gi := n.invitationOf(*inv)
		n.mu.Lock()
		n.emit(GroupInvited{Invitation: gi})
		n.mu.Unlock()
	}
}

// storeGroupMessages hands accepted group messages to the committer, in
// display order.
func (n *Node) storeGroupMessages(ms []wire.GroupMessage) {
	if len(ms) == 0 {
		return
	}
	slices.SortFunc(ms, func(a, b wire.GroupMessage) int {
		if group.DisplayBefore(a, b) {
			return -1
		}
		return 1
	})
	now := n.cfg.Now()
	n.mu.Lock()
	ctx := n.runCtx
	msgs := make([]Message, len(ms))
	for i, m := range ms {
		msgs[i] = n.groupMessageLocked(m, now)
	}
	n.mu.Unlock()
	for i := range msgs {
		n.toCommitter(ctx, inItem{msg: &msgs[i]})
	}
}

// groupMessageLocked is the stored form of a group message. Caller holds
// n.mu.
func (n *Node) groupMessageLocked(m wire.GroupMessage, now time.Time) Message {
	sender := identity.ID(m.Sender)
	msg := Message{ID: m.ID.String(), Conv: GroupConv(m.Group), Peer: "id:" + m.Sender,
		From: n.nickLocked(sender), Text: m.Text, Sent: time.UnixMilli(m.Time), At: now, State: store.Received}
	if m.Sender == n.selfID {
		msg.Outgoing, msg.State = true, store.SentNoReceipt
	}
	return msg
}

// nickLocked is the nickname of a peer ID as best known. Caller holds n.mu.
func (n *Node) nickLocked(id identity.ID) string {
	if string(id) == n.selfID {
		return n.self.Nickname
	}
	if st := n.reg.peers[PeerKey("id:"+string(id))]; st != nil && st.Nickname != "" {
		return st.Nickname
	}
	if nick, _, _, ok := n.cfg.Contacts.LastSeen(string(id)); ok && nick != "" {
		return nick
	}
	return id.Short()
}

// groupInfo describes group id.
func (n *Node) groupInfo(id wire.GroupID) (GroupInfo, bool) {
	for _, i := range n.grp.eng.Groups() {
		if i.ID == id {
			return n.infoOf(i), true
		}
	}
	return GroupInfo{}, false
}

func (n *Node) infoOf(i group.Info) GroupInfo {
	gi := GroupInfo{Key: GroupKey(i.ID), ID: i.ID, Name: i.Name, Joined: i.Joined, Joining: i.Joining, Admin: i.Admin}
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, m := range i.Members {
		key := PeerKey("id:" + string(m.ID))
		gm := GroupMember{Key: key, Identity: string(m.ID), Nickname: n.nickLocked(m.ID), Admin: m.Admin, Self: string(m.ID) == n.selfID}
		if st := n.reg.peers[key]; st != nil {
			gm.Online = st.Online
		}
		gi.Members = append(gi.Members, gm)
	}
	return gi
}

func (n *Node) invitationOf(inv group.Invitation) GroupInvitation {
	by := PeerKey("id:" + string(inv.By))
	gi := GroupInvitation{Key: GroupKey(inv.Group), Name: inv.Name, By: by}
	n.mu.Lock()
	gi.ByNick = n.nickLocked(inv.By)
	n.mu.Unlock()
	if ms, err := n.store.History(ConvOf(by), 0, 1); err == nil && len(ms) > 0 {
		gi.Known = true
	}
	return gi
}

// Groups lists the groups this node is or was in, by name.
func (n *Node) Groups() []GroupInfo {
	if n.grp == nil {
		return nil
	}
	var out []GroupInfo
	for _, i := range n.grp.eng.Groups() {
		out = append(out, n.infoOf(i))
	}
	return out
}

// Group returns the group of a group key.
func (n *Node) Group(key PeerKey) (GroupInfo, bool) {
	id, err := groupIDOf(key)
	if err != nil || n.grp == nil {
		return GroupInfo{}, false
	}
	return n.groupInfo(id)
}

// ResolveGroup finds a group by its name (with or without "#"). Names are
// not unique: the error says so when several groups have it.
func (n *Node) ResolveGroup(name string) (GroupInfo, error) {
	if n.grp == nil {
		return GroupInfo{}, ErrNoGroups
	}
	name = strings.TrimPrefix(name, "#")
	var found []GroupInfo
	for _, g := range n.Groups() {
		if g.Name == name {
			found = append(found, g)
		}
	}
	switch len(found) {
	case 0:
		return GroupInfo{}, fmt.Errorf("no group #%s; /groups lists yours", name)
	case 1:
		return found[0], nil
	}
	// Prefer the one this node is still in.
	var joined []GroupInfo
	for _, g := range found {
		if g.Joined {
			joined = append(joined, g)
		}
	}
	if len(joined) == 1 {
		return joined[0], nil
	}
	return GroupInfo{}, fmt.Errorf("%d groups are named #%s; this version cannot tell them apart by name", len(found), name)
}

// GroupMembers lists the members of a group, most senior first.
func (n *Node) GroupMembers(key PeerKey) ([]GroupMember, error) {
	g, ok := n.Group(key)
	if !ok {
		return nil, fmt.Errorf("%s: %w", key, group.ErrUnknownGroup)
	}
	return g.Members, nil
}

// Invitations lists the invitations waiting for JoinGroup, oldest first.
func (n *Node) Invitations() []GroupInvitation {
	if n.grp == nil {
		return nil
	}
	var out []GroupInvitation
	for _, inv := range n.grp.eng.Invitations() {
		out = append(out, n.invitationOf(inv))
	}
	return out
}

// memberIDs turns peer keys into group member identities; an original
// peer has none and cannot be a member.
func (n *Node) memberIDs(peers []PeerKey) ([]identity.ID, error) {
	ids := make([]identity.ID, 0, len(peers))
	for _, k := range peers {
		p, ok := n.Peer(k)
		if !ok {
			return nil, fmt.Errorf("%s: %w", k, ErrUnknownPeer)
		}
		if p.Identity == "" {
			return nil, fmt.Errorf("%s: %w", p.Nickname, group.ErrOriginalPeer)
		}
		ids = append(ids, identity.ID(p.Identity))
	}
	return ids, nil
}

// CreateGroup makes a group named name (without "#") with this node as its
// first admin, and invites members.
func (n *Node) CreateGroup(name string, members []PeerKey) (GroupInfo, error) {
	if n.grp == nil {
		return GroupInfo{}, ErrNoGroups
	}
	name = strings.TrimPrefix(name, "#")
	ids, err := n.memberIDs(members)
	if err != nil {
		return GroupInfo{}, err
	}
	id, out, err := n.grp.eng.Create(name, ids)
	n.grp.send(out)
	if err != nil {
		return GroupInfo{}, fmt.Errorf("create #%s: %w", name, err)
	}
	info, _ := n.groupInfo(id)
	n.emitGroupChanged(info)
	return info, nil
}

// InviteToGroup adds a peer to a group (admins only).
func (n *Node) InviteToGroup(key, peer PeerKey) error {
	return n.groupOp(key, "invite", func(id wire.GroupID) ([]group.Outgoing, error) {
		ids, err := n.memberIDs([]PeerKey{peer})
		if err != nil {
			return nil, err
		}
		return n.grp.eng.Invite(id, ids[0])
	})
}

// KickFromGroup removes a member from a group (admins only).
func (n *Node) KickFromGroup(key, peer PeerKey) error {
	return n.groupOp(key, "kick", func(id wire.GroupID) ([]group.Outgoing, error) {
		who, err := memberOf(peer)
		if err != nil {
			return nil, err
		}
		return n.grp.eng.Kick(id, who)
	})
}

// memberOf is the identity of a member's peer key ("id:<peer ID>"; a
// member may be offline or unknown to the registry).
func memberOf(peer PeerKey) (identity.ID, error) {
	who, ok := strings.CutPrefix(string(peer), "id:")
	if !ok {
		return "", fmt.Errorf("%s is not a member: %w", peer, group.ErrOriginalPeer)
	}
	return identity.ID(who), nil
}

// PromoteInGroup makes a member an admin (admins only).
func (n *Node) PromoteInGroup(key, peer PeerKey) error {
	return n.groupOp(key, "promote", func(id wire.GroupID) ([]group.Outgoing, error) {
		who, err := memberOf(peer)
		if err != nil {
			return nil, err
		}
		return n.grp.eng.Promote(id, who)
	})
}

// RenameGroup renames a group (admins only); name is without "#".
func (n *Node) RenameGroup(key PeerKey, name string) error {
	return n.groupOp(key, "rename", func(id wire.GroupID) ([]group.Outgoing, error) {
		return n.grp.eng.Rename(id, strings.TrimPrefix(name, "#"))
	})
}

// LeaveGroup takes this node out of a group; its history stays.
func (n *Node) LeaveGroup(key PeerKey) error {
	return n.groupOp(key, "leave", func(id wire.GroupID) ([]group.Outgoing, error) { return n.grp.eng.Leave(id) })
}

func (n *Node) groupOp(key PeerKey, what string, do func(wire.GroupID) ([]group.Outgoing, error)) error {
	if n.grp == nil {
		return ErrNoGroups
	}
	id, err := groupIDOf(key)
	if err != nil {
		return err
	}
	out, err := do(id)
	n.grp.send(out)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if info, ok := n.groupInfo(id); ok {
		n.emitGroupChanged(info)
	}
	return nil
}

func (n *Node) emitGroupChanged(info GroupInfo) {
	n.mu.Lock()
	n.emit(GroupChanged{Group: info})
	n.mu.Unlock()
}

// JoinGroup accepts the invitation to the group named name (with or
// without "#"), and asks the inviter for the group's history.
func (n *Node) JoinGroup(name string) (GroupInfo, error) {
	if n.grp == nil {
		return GroupInfo{}, ErrNoGroups
	}
	name = strings.TrimPrefix(name, "#")
	var match []group.Invitation
	for _, inv := range n.grp.eng.Invitations() {
		if inv.Name == name {
			match = append(match, inv)
		}
	}
	switch len(match) {
	case 0:
		return GroupInfo{}, fmt.Errorf("no invitation to #%s", name)
	case 1:
	default:
		return GroupInfo{}, fmt.Errorf("%d invitations to groups named #%s; this version cannot tell them apart by name", len(match), name)
	}
	out, err := n.grp.eng.Join(match[0].Group)
	n.grp.send(out)
	if err != nil {
		return GroupInfo{}, fmt.Errorf("join #%s: %w", name, err)
	}
	info, _ := n.groupInfo(match[0].Group)
	n.emitGroupChanged(info)
	return info, nil
}

// SendToGroup posts text to a group: it is stored at once and written to
// the members that are online; the others get it by catch-up.
func (n *Node) SendToGroup(key PeerKey, text string) (Message, error) {
	if n.grp == nil {
		return Message{}, ErrNoGroups
	}
	if strings.TrimSpace(text) == "" {
		return Message{}, errors.New("nothing to send")
	}
	if len(text) > wire.MaxGroupText {
		return Message{}, fmt.Errorf("message is %d bytes; the limit for a group is %d", len(text), wire.MaxGroupText)
	}
	id, err := groupIDOf(key)
	if err != nil {
		return Message{}, err
	}
	m, out, err := n.grp.eng.Send(id, text)
	if err != nil {
		return Message{}, fmt.Errorf("send: %w", err)
	}
	n.grp.sendOwn(m, out)
	n.mu.Lock()
	msg := n.groupMessageLocked(m, n.cfg.Now())
	n.mu.Unlock()
	added, err := n.store.Append([]Message{msg})
	if err != nil {
		return msg, fmt.Errorf("save the group message: %w (it was sent)", err)
	}
	if len(added) == 1 {
		msg = added[0]
	}
	n.notifyChanged()
	return msg, nil
}

// DisplayOrder sorts a group conversation's messages in the order every
// member shows them: by the sender's timestamp, then by id. The store
// keeps them in arrival order, and a catch-up can bring a message that
// belongs among earlier ones.
func DisplayOrder(ms []Message) {
	slices.SortStableFunc(ms, func(a, b Message) int {
		if c := a.Sent.Compare(b.Sent); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}

// GroupAPI is what the UIs use of a Node's groups (an interface, so UI
// tests can fake it).
type GroupAPI interface {
	Groups() []GroupInfo
	Group(key PeerKey) (GroupInfo, bool)
	ResolveGroup(name string) (GroupInfo, error)
	Invitations() []GroupInvitation
	CreateGroup(name string, members []PeerKey) (GroupInfo, error)
	InviteToGroup(group, peer PeerKey) error
	KickFromGroup(group, peer PeerKey) error
	PromoteInGroup(group, peer PeerKey) error
	RenameGroup(group PeerKey, name string) error
	LeaveGroup(group PeerKey) error
	JoinGroup(name string) (GroupInfo, error)
	SendToGroup(group PeerKey, text string) (Message, error)
}

var _ GroupAPI = (*Node)(nil)
