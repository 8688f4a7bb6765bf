package group

import (
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/parlance-chat/parlance/net/identity"
	"github.com/parlance-chat/parlance/net/wire"
)

// MaxInvitations is the most invitations kept waiting for /group join;
// beyond it the oldest is forgotten (the inviter can invite again).
const MaxInvitations = 64

// DropLogger logs frames the engine drops. It is called for every forged
// frame and every message or request from a non-member, so it must be
// rate-limited: internal/ratelog's *Limiter has this method.
type DropLogger interface {
	Log(msg string, args ...any)
}

// Config configures an Engine.
type Config struct {
	// Identity signs this node's ops and messages. Required.
	Identity *identity.Identity
	// Store keeps ops and messages. Required.
	Store Store
	// Log receives dropped frames (nil: not logged).
	Log DropLogger
	// Now is the clock for timestamps (nil: time.Now).
	Now func() time.Time
	// Invites are the invitations SaveInvites saved, to wait again for an
	// answer (each is checked again; one that does not check out is
	// dropped).
	Invites []wire.GroupInvite
	// SaveInvites, if set, is given every invitation waiting whenever
	// they change (at most MaxInvitations), so they survive a restart.
	SaveInvites func([]wire.GroupInvite) error
}

// Engine holds every group of one node: it makes this node's ops and
// messages, and takes in the frames of other members. It opens no sockets
// and starts no goroutines: what it has to send comes back as Outgoing
// lines for the node to write. It is safe for concurrent use.
type Engine struct {
	self  *identity.Identity
	me    identity.ID
	store Store
	log   DropLogger
	now   func() time.Time

	saveInvites func([]wire.GroupInvite) error
	saveMu      sync.Mutex // serialises saveInvites calls

	mu      sync.Mutex
	groups  map[wire.GroupID]*Group
	invites []Invitation // oldest first
}

// Outgoing is one encoded frame (a line, "\n" included) and the peers to
// write it to. A fan-out is encoded once for all its recipients.
type Outgoing struct {
	To   []identity.ID
	Line []byte
}

// Invitation is an invite to this node that waits for Join or Decline.
type Invitation struct {
	Group   wire.GroupID
	Name    string
	By      identity.ID // who signed the invite
	Creator identity.ID
	frame   wire.GroupInvite
}

// Result is what a received frame led to.
type Result struct {
	// Out are frames to send: replies, catch-up requests.
	Out []Outgoing
	// Messages are newly accepted messages, to show in display order
	// (DisplayBefore) among the group's history.
	Messages []wire.GroupMessage
	// Changed lists the groups whose members or name changed.
	Changed []wire.GroupID
	// Invitation is set for a new invitation to this node.
	Invitation *Invitation
}

// Info describes a group for a list.
type Info struct {
	ID      wire.GroupID
	Name    string
	Members []Member
	// Joined reports whether this node is a member (false after it left
	// or was kicked: the history stays readable).
	Joined bool
	// Joining reports whether this node accepted the invitation and waits
	// for the ops its invite follows (then it is not Joined yet).
	Joining bool
	Admin   bool
}

// New returns an Engine with the groups found in cfg.Store.
func New(cfg Config) (*Engine, error) {
	if cfg.Identity == nil || cfg.Store == nil {
		return nil, errors.New("group engine: identity and store are required")
	}
	e := &Engine{
		self: cfg.Identity, me: cfg.Identity.ID(), store: cfg.Store, log: cfg.Log, now: cfg.Now,
		saveInvites: cfg.SaveInvites,
		groups:      make(map[wire.GroupID]*Group),
	}
	if e.now == nil {
		e.now = time.Now
	}
	ids, err := cfg.Store.Groups()
	if err != nil {
		return nil, fmt.Errorf("list stored groups: %w", err)
	}
	for _, id := range ids {
		g, err := loadGroup(id, cfg.Store)
		if err != nil {
			return nil, err
		}
		e.groups[id] = g
	}
	for _, f := range cfg.Invites {
		if err := e.addInvite(f); err != nil && e.log != nil {
			e.log.Log("group: a saved invitation was dropped", "err", err)
		}
	}
	return e, nil
}

// saveInvitesNow gives the invitations waiting to Config.SaveInvites.
func (e *Engine) saveInvitesNow() {
	if e.saveInvites == nil {
		return
	}
	e.saveMu.Lock()
	defer e.saveMu.Unlock()
	e.mu.Lock()
	frames := make([]wire.GroupInvite, len(e.invites))
	for i, inv := range e.invites {
		frames[i] = inv.frame
	}
	e.mu.Unlock()
	if err := e.saveInvites(frames); err != nil && e.log != nil {
		e.log.Log("group: invitations not saved (they last until a restart)", "err", err)
	}
}

// Group returns a group this node is or was in.
func (e *Engine) Group(id wire.GroupID) (*Group, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	g, ok := e.groups[id]
	return g, ok
}

// Groups lists the groups this node is or was in, by name then id.
func (e *Engine) Groups() []Info {
	e.mu.Lock()
	gs := make([]*Group, 0, len(e.groups))
	for _, g := range e.groups {
		gs = append(gs, g)
	}
	e.mu.Unlock()
	out := make([]Info, 0, len(gs))
	for _, g := range gs {
		st := g.State()
		out = append(out, Info{ID: g.id, Name: st.Name, Members: st.members, Joined: st.IsMember(e.me), Joining: !st.IsMember(e.me) && g.Joining(e.me), Admin: st.IsAdmin(e.me)})
	}
	slices.SortFunc(out, func(a, b Info) int {
		if a.Name != b.Name {
			if a.Name < b.Name {
				return -1
			}
			return 1
		}
		return slices.Compare(a.ID[:], b.ID[:])
	})
	return out
}

// ByName returns the groups named name (without "#"): names are not
// unique, so the UI asks which one when there are several.
func (e *Engine) ByName(name string) []Info {
	return slices.DeleteFunc(e.Groups(), func(i Info) bool { return i.Name != name })
}

// Invitations returns the invitations waiting for an answer, oldest first.
func (e *Engine) Invitations() []Invitation {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.invites)
}

// CheckMember returns ErrOriginalPeer for a peer without an identity (the
// empty ID): the error to show when someone tries to add one.
func CheckMember(id identity.ID) error {
	if id == "" {
		return ErrOriginalPeer
	}
	if p, err := identity.ParseID(string(id)); err != nil {
		return fmt.Errorf("bad peer ID %q: %w", id, err)
	} else if p != id {
		return fmt.Errorf("peer ID %q is not in wire form (%s)", id, p)
	}
	return nil
}

// Create makes a new group named name with this node as creator and first
// admin, and invites members. Out holds an invitation for each.
func (e *Engine) Create(name string, members []identity.ID) (wire.GroupID, []Outgoing, error) {
	if err := wire.ValidateGroupName(name); err != nil {
		return wire.GroupID{}, nil, err
	}
	var invitees []identity.ID
	for _, m := range members {
		if err := CheckMember(m); err != nil {
			return wire.GroupID{}, nil, err
		}
		if m != e.me && !slices.Contains(invitees, m) {
			invitees = append(invitees, m)
		}
	}
	if len(invitees)+1 > MaxMembers {
		return wire.GroupID{}, nil, fmt.Errorf("%w: %d members is over the limit of %d", ErrNotAllowed, len(invitees)+1, MaxMembers)
	}
	var id wire.GroupID
	_, _ = rand.Read(id[:]) // crypto/rand.Read never fails on supported platforms
	create := e.sign(wire.GroupOp{Group: id, Kind: wire.OpCreate, Name: name})
	g, err := newGroup(create, e.store, true)
	if err != nil {
		return id, nil, err
	}
	e.mu.Lock()
	e.groups[id] = g
	e.mu.Unlock()
	var out []Outgoing
	for _, m := range invitees {
		o, err := e.Invite(id, m)
		if err != nil {
			return id, out, err
		}
		out = append(out, o...)
	}
	return id, out, nil
}

// Invite adds who to the group (this node must be an admin). Out holds the
// op for the other members and the invitation for who.
func (e *Engine) Invite(id wire.GroupID, who identity.ID) ([]Outgoing, error) {
	if err := CheckMember(who); err != nil {
		return nil, err
	}
	g, st, err := e.groupOf(id)
	if err != nil {
		return nil, err
	}
	op, out, err := e.act(g, st, wire.GroupOp{Kind: wire.OpInvite, Target: string(who), Name: st.Name})
	if err != nil {
		return nil, err
	}
	inv, err := e.encode([]identity.ID{who}, wire.GroupInvite{Create: g.genesis.op, Invite: op})
	if err != nil {
		return out, err
	}
	return append(out, inv), nil
}

// Kick removes who from the group (this node must be an admin, and more
// senior than who if who is one). Messages of who numbered up to the last
// one this node has stay accepted; later ones are refused.
func (e *Engine) Kick(id wire.GroupID, who identity.ID) ([]Outgoing, error) {
	return e.do(id, wire.GroupOp{Kind: wire.OpKick, Target: string(who)})
}

// Leave takes this node out of the group; its history stays readable.
func (e *Engine) Leave(id wire.GroupID) ([]Outgoing, error) {
	return e.do(id, wire.GroupOp{Kind: wire.OpLeave})
}

// Rename renames the group (admins only).
func (e *Engine) Rename(id wire.GroupID, name string) ([]Outgoing, error) {
	if err := wire.ValidateGroupName(name); err != nil {
		return nil, err
	}
	return e.do(id, wire.GroupOp{Kind: wire.OpRename, Name: name})
}

// Promote makes a member an admin (admins only).
func (e *Engine) Promote(id wire.GroupID, who identity.ID) ([]Outgoing, error) {
	return e.do(id, wire.GroupOp{Kind: wire.OpPromote, Target: string(who)})
}

// Demote takes admin rights from a less senior admin.
func (e *Engine) Demote(id wire.GroupID, who identity.ID) ([]Outgoing, error) {
	return e.do(id, wire.GroupOp{Kind: wire.OpDemote, Target: string(who)})
}

// do makes op in group id and returns its fan-out.
func (e *Engine) do(id wire.GroupID, op wire.GroupOp) ([]Outgoing, error) {
	g, st, err := e.groupOf(id)
	if err != nil {
		return nil, err
	}
	_, out, err := e.act(g, st, op)
	return out, err
}

func (e *Engine) groupOf(id wire.GroupID) (*Group, State, error) {
	g, ok := e.Group(id)
	if !ok {
		return nil, State{}, fmt.Errorf("%w %s", ErrUnknownGroup, id)
	}
	return g, g.State(), nil
}

// act signs an op of this node on top of the group's heads, checks that it
// would take effect, adds it, and returns it with its fan-out: every
// member before the op (the target of a kick included), but not this node.
func (e *Engine) act(g *Group, st State, op wire.GroupOp) (wire.GroupOp, []Outgoing, error) {
	op.Group = g.id
	if err := explain(st, &op, e.me); err != nil {
		return op, nil, err
	}
	g.mu.Lock()
	op.Parents = g.headHashes(wire.MaxOpParents)
	// A removal records the last message number still accepted: for a
	// kick the last this node has from the target, for a leave its own.
	switch op.Kind {
	case wire.OpKick:
		op.Seq = g.nextSeq(identity.ID(op.Target)) - 1
	case wire.OpLeave:
		op.Seq = g.nextSeq(e.me) - 1
	}
	g.mu.Unlock()
	op = e.sign(op)
	if _, _, err := g.AddOp(op); err != nil {
		return op, nil, err
	}
	if !g.Effective(op.Hash()) {
		// A concurrent op arrived between explain and AddOp.
		return op, nil, fmt.Errorf("%w: the group changed meanwhile; try again", ErrNotAllowed)
	}
	var to []identity.ID
	for _, m := range st.members {
		if m.ID != e.me {
			to = append(to, m.ID)
		}
	}
	if len(to) == 0 {
		return op, nil, nil
	}
	o, err := e.encode(to, op)
	if err != nil {
		return op, nil, err
	}
	return op, []Outgoing{o}, nil
}

// explain returns, for an op this node cannot make, an error that says
// why and what to do.
func explain(st State, op *wire.GroupOp, me identity.ID) error {
	if st.authorized(op, me) {
		return nil
	}
	target := identity.ID(op.Target)
	switch {
	case !st.IsMember(me):
		return fmt.Errorf("%w: you are not a member of #%s", ErrNotMember, st.Name)
	case op.Kind != wire.OpLeave && !st.IsAdmin(me):
		return fmt.Errorf("%w: only an admin of #%s can %s; ask one of: %s", ErrNotAllowed, st.Name, op.Kind, adminList(st))
	case op.Kind == wire.OpInvite && st.IsMember(target):
		return fmt.Errorf("%w: %s is already a member of #%s", ErrNotAllowed, target.Short(), st.Name)
	case op.Kind == wire.OpInvite:
		return fmt.Errorf("%w: #%s has %d members, the limit", ErrNotAllowed, st.Name, MaxMembers)
	case op.Kind != wire.OpRename && !st.IsMember(target):
		return fmt.Errorf("%w: %s is not a member of #%s", ErrNotAllowed, target.Short(), st.Name)
	case target == me:
		return fmt.Errorf("%w: use leave to take yourself out of #%s", ErrNotAllowed, st.Name)
	default:
		return fmt.Errorf("%w: %s of %s needs an admin more senior than they are", ErrNotAllowed, op.Kind, target.Short())
	}
}

func adminList(st State) string {
	var s string
	for i, a := range st.Admins() {
		if i > 0 {
			s += ", "
		}
		s += a.ID.Short()
	}
	return s
}

// Send posts text to the group. Out holds one frame for every other member.
func (e *Engine) Send(id wire.GroupID, text string) (wire.GroupMessage, []Outgoing, error) {
	g, ok := e.Group(id)
	if !ok {
		return wire.GroupMessage{}, nil, fmt.Errorf("%w %s", ErrUnknownGroup, id)
	}
	m := wire.GroupMessage{Group: id, Sender: string(e.me), Key: e.self.PublicKey(), Time: e.now().UnixMilli(), Text: text}
	_, _ = rand.Read(m.ID[:])
	g.mu.Lock()
	st := &g.fr.state
	if !st.IsMember(e.me) {
		g.mu.Unlock()
		return m, nil, fmt.Errorf("%w: you are not a member of #%s", ErrNotMember, st.Name)
	}
	m.Seq = g.nextSeq(e.me)
	m.Sig = e.self.Sign(m.SignedBytes())
	line, err := wire.MarshalGroupFrame(m) // checks the size before it is stored
	if err == nil {
		_, _, err = g.acceptLocked(m, e.me)
	}
	var to []identity.ID
	for _, mem := range st.members {
		if mem.ID != e.me {
			to = append(to, mem.ID)
		}
	}
	g.mu.Unlock()
	if err != nil {
		return m, nil, err
	}
	if len(to) == 0 {
		return m, nil, nil
	}
	return m, []Outgoing{{To: to, Line: line}}, nil
}

// Join accepts the invitation to group id: it adopts the group and asks
// the inviter for its ops and messages. This node is a member once the
// invite is known to be effective (it usually is: the catch-up tells).
func (e *Engine) Join(id wire.GroupID) ([]Outgoing, error) {
	e.mu.Lock()
	i := slices.IndexFunc(e.invites, func(v Invitation) bool { return v.Group == id })
	if i < 0 {
		e.mu.Unlock()
		return nil, fmt.Errorf("%w: no invitation to group %s", ErrUnknownGroup, id)
	}
	inv := e.invites[i]
	g, ok := e.groups[id]
	if !ok {
		var err error
		if g, err = newGroup(inv.frame.Create, e.store, true); err != nil {
			e.mu.Unlock()
			return nil, err
		}
		e.groups[id] = g
	}
	e.invites = slices.Delete(e.invites, i, i+1)
	e.mu.Unlock()
	e.saveInvitesNow()
	if _, _, err := g.AddOp(inv.frame.Invite); err != nil {
		return nil, err
	}
	o, err := e.encode([]identity.ID{inv.By}, g.SyncRequest())
	if err != nil {
		return nil, err
	}
	return []Outgoing{o}, nil
}

// Decline forgets the invitation to group id.
func (e *Engine) Decline(id wire.GroupID) {
	e.mu.Lock()
	e.invites = slices.DeleteFunc(e.invites, func(v Invitation) bool { return v.Group == id })
	e.mu.Unlock()
	e.saveInvitesNow()
}

// SyncWith returns a catch-up request to peer for every group both are
// members of (or this node is joining). The node calls it when a peer with
// an identity connects, so what either missed while apart comes across.
func (e *Engine) SyncWith(peer identity.ID) []Outgoing {
	e.mu.Lock()
	gs := make([]*Group, 0, len(e.groups))
	for _, g := range e.groups {
		gs = append(gs, g)
	}
	e.mu.Unlock()
	var out []Outgoing
	for _, g := range gs {
		st := g.State()
		// A node that joined but has not yet caught up (its invite waits
		// for its parents) asks too.
		joining := len(g.Missing()) > 0
		if !(st.IsMember(e.me) || joining) || !st.IsMember(peer) || peer == e.me {
			continue
		}
		if o, err := e.encode([]identity.ID{peer}, g.SyncRequest()); err == nil {
			out = append(out, o)
		}
	}
	return out
}

// Receive takes in a group frame that arrived from peer from (the
// identity its TLS connection proved). A frame that is forged, or from or
// by a non-member, is dropped with a log line through Config.Log and an
// error wrapping ErrForged or ErrNotMember; other errors say why a frame
// was not used. The Result holds what to send and show.
func (e *Engine) Receive(from identity.ID, f wire.GroupFrame) (Result, error) {
	var res Result
	err := e.receive(from, f, &res)
	if err != nil && (errors.Is(err, ErrForged) || errors.Is(err, ErrNotMember)) && e.log != nil {
		e.log.Log("group: dropped frame", "from", from.Short(), "type", f.GroupType(), "err", err)
	}
	return res, err
}

func (e *Engine) receive(from identity.ID, f wire.GroupFrame, res *Result) error {
	switch f := f.(type) {
	case wire.GroupOp:
		g, ok := e.Group(f.Group)
		if !ok {
			return fmt.Errorf("%w %s: op dropped", ErrUnknownGroup, f.Group)
		}
		e.takeOp(g, from, f, res)
		if len(res.Out) == 0 && len(g.Missing()) > 0 {
			e.askBack(g, from, res)
		}
		return nil // errors logged by takeOp
	case wire.GroupMessage:
		g, ok := e.Group(f.Group)
		if !ok {
			return fmt.Errorf("%w %s: message dropped", ErrUnknownGroup, f.Group)
		}
		added, gap, err := g.AcceptMessage(f)
		if err != nil {
			return err
		}
		if added {
			res.Messages = append(res.Messages, f)
		}
		if gap {
			e.askBack(g, from, res)
		}
		return nil
	case wire.GroupInvite:
		return e.takeInvite(f, res)
	case wire.GroupSync:
		g, ok := e.Group(f.Group)
		if !ok {
			return fmt.Errorf("%w %s: catch-up request dropped", ErrUnknownGroup, f.Group)
		}
		if !g.State().IsMember(from) {
			return fmt.Errorf("%w: catch-up request from %s", ErrNotMember, from.Short())
		}
		reply, behind, err := g.AnswerSync(f)
		if err != nil {
			return err
		}
		if len(reply.Ops) > 0 || len(reply.Messages) > 0 {
			o, err := e.encode([]identity.ID{from}, reply)
			if err != nil {
				return err
			}
			res.Out = append(res.Out, o)
		}
		if behind {
			e.askBack(g, from, res)
		}
		return nil
	case wire.GroupSyncReply:
		g, ok := e.Group(f.Group)
		if !ok {
			return fmt.Errorf("%w %s: catch-up reply dropped", ErrUnknownGroup, f.Group)
		}
		progress := false
		for _, op := range f.Ops {
			progress = e.takeOp(g, from, op, res) || progress
		}
		// New members are new senders to ask for.
		changed := slices.Contains(res.Changed, g.id)
		var firstErr error
		for _, m := range f.Messages {
			added, _, err := g.AcceptMessage(m)
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				continue
			}
			if added {
				res.Messages = append(res.Messages, m)
				progress = true
			}
		}
		// Ask again only after a reply that brought something, so two
		// nodes never trade the same reply forever (say, ops this one
		// refuses because its history is full).
		if progress && (f.More || changed || len(g.Missing()) > 0) {
			e.askBack(g, from, res)
		}
		return firstErr
	}
	return fmt.Errorf("unknown group frame %T", f)
}

// takeOp adds an op, noting a change in res, and reports whether the op
// was new; errors are logged when they are forgeries or ops of strangers
// (the others, e.g. history full, are dropped quietly).
func (e *Engine) takeOp(g *Group, from identity.ID, op wire.GroupOp, res *Result) bool {
	status, changed, err := g.AddOp(op)
	if err != nil && (errors.Is(err, ErrForged) || errors.Is(err, ErrNotMember)) && e.log != nil {
		e.log.Log("group: dropped op", "from", from.Short(), "err", err)
	}
	if changed && !slices.Contains(res.Changed, g.id) {
		res.Changed = append(res.Changed, g.id)
	}
	return err == nil && status != OpDuplicate
}

// askBack adds a catch-up request to peer, once per Result.
func (e *Engine) askBack(g *Group, peer identity.ID, res *Result) {
	o, err := e.encode([]identity.ID{peer}, g.SyncRequest())
	if err == nil {
		res.Out = append(res.Out, o)
	}
}

func (e *Engine) takeInvite(f wire.GroupInvite, res *Result) error {
	if err := e.addInvite(f); err != nil {
		return err
	}
	e.mu.Lock()
	i := slices.IndexFunc(e.invites, func(v Invitation) bool { return v.Group == f.Create.Group })
	var inv *Invitation
	if i >= 0 {
		v := e.invites[i]
		inv = &v
	}
	e.mu.Unlock()
	if inv != nil {
		res.Invitation = inv
		e.saveInvitesNow()
	}
	return nil
}

// addInvite checks an invitation and keeps it (the newest of a group;
// beyond MaxInvitations the oldest is forgotten). An invitation to a
// group this node is in is ignored.
func (e *Engine) addInvite(f wire.GroupInvite) error {
	creator, _, err := verifyOp(&f.Create)
	if err != nil {
		return err
	}
	by, _, err := verifyOp(&f.Invite)
	if err != nil {
		return err
	}
	if identity.ID(f.Invite.Target) != e.me {
		return fmt.Errorf("invitation to #%s for someone else (%s)", f.Invite.Name, identity.ID(f.Invite.Target).Short())
	}
	if g, ok := e.Group(f.Create.Group); ok && g.State().IsMember(e.me) {
		return nil // already in: nothing to ask
	}
	name := f.Invite.Name
	if name == "" {
		name = f.Create.Name
	}
	inv := Invitation{Group: f.Create.Group, Name: name, By: by, Creator: creator, frame: f}
	e.mu.Lock()
	e.invites = slices.DeleteFunc(e.invites, func(v Invitation) bool { return v.Group == inv.Group })
	if len(e.invites) >= MaxInvitations {
		e.invites = slices.Delete(e.invites, 0, 1)
	}
	e.invites = append(e.invites, inv)
	e.mu.Unlock()
	return nil
}

// sign fills in this node's signer, key and time, and signs op.
func (e *Engine) sign(op wire.GroupOp) wire.GroupOp {
	op.Signer, op.Key, op.Time = string(e.me), e.self.PublicKey(), e.now().UnixMilli()
	op.Sig = e.self.Sign(op.SignedBytes())
	return op
}

func (e *Engine) encode(to []identity.ID, f wire.GroupFrame) (Outgoing, error) {
	line, err := wire.MarshalGroupFrame(f)
	if err != nil {
		return Outgoing{}, err
	}
	return Outgoing{To: to, Line: line}, nil
}

// Own returns up to limit of this node's own messages to group id
// numbered from from on, by number, and the number of its last message
// (0: none). The node's outbox for an offline member pushes them when the
// member comes back (see app's group outbox).
func (e *Engine) Own(id wire.GroupID, from uint64, limit int) ([]wire.GroupMessage, uint64, error) {
	g, ok := e.Group(id)
	if !ok {
		return nil, 0, fmt.Errorf("%w %s", ErrUnknownGroup, id)
	}
	g.mu.Lock()
	last := g.nextSeq(e.me) - 1
	g.mu.Unlock()
	if from > last {
		return nil, last, nil
	}
	ms, err := g.store.Range(id, e.me, from, last, limit)
	if err != nil {
		return nil, last, fmt.Errorf("read own messages of group %s: %w", id, err)
	}
	return ms, last, nil
}

// IsMember reports whether who is a member of group id.
func (e *Engine) IsMember(id wire.GroupID, who identity.ID) bool {
	g, ok := e.Group(id)
	return ok && g.State().IsMember(who)
}
