package group

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/parlance-chat/parlance/net/identity"
	"github.com/parlance-chat/parlance/net/wire"
)

// newTeam makes alice create #team with the others, who all join.
func newTeam(t testing.TB, n *testNet, alice *testPeer, others ...*testPeer) wire.GroupID {
	t.Helper()
	var ids []identity.ID
	for _, p := range others {
		ids = append(ids, p.id.ID())
	}
	gid, out, err := alice.e.Create("team", ids)
	if err != nil {
		t.Fatal(err)
	}
	n.send(alice, out)
	n.run()
	for _, p := range others {
		if len(p.invites) != 1 || p.invites[0].By != alice.id.ID() || p.invites[0].Name != "team" {
			t.Fatalf("%s's invitations: %+v", p.name, p.invites)
		}
		n.send(p, must(t)(p.e.Join(gid)))
	}
	n.run()
	return gid
}

// carolMisses makes #team of alice, bob and carol, where carol is offline
// while the others send count messages ("message 0", ...) in turn.
func carolMisses(t testing.TB, count int) (n *testNet, alice, bob, carol *testPeer, gid wire.GroupID) {
	n, ps := newTestNet(t, "alice", "bob", "carol")
	alice, bob, carol = ps[0], ps[1], ps[2]
	gid = newTeam(t, n, alice, bob, carol)
	carol.offline = true
	for i := range count {
		n.say([]*testPeer{alice, bob}[i%2], gid, fmt.Sprintf("message %d", i))
	}
	return n, alice, bob, carol, gid
}

// sameState fails unless every peer shows the same members.
func sameState(t *testing.T, gid wire.GroupID, want []string, peers ...*testPeer) {
	t.Helper()
	for _, p := range peers {
		g, ok := p.e.Group(gid)
		if !ok {
			t.Fatalf("%s has no group", p.name)
		}
		if got := membersOf(g.State()); !slices.Equal(got, want) {
			t.Fatalf("%s sees members %v, want %v", p.name, got, want)
		}
	}
}

func short(ps ...*testPeer) []string {
	var out []string
	for i, p := range ps {
		s := p.id.ID().Short()
		if i == 0 {
			s += "*"
		}
		out = append(out, s)
	}
	return out
}

func TestThreeMembers(t *testing.T) {
	n, ps := newTestNet(t, "alice", "bob", "carol")
	alice, bob, carol := ps[0], ps[1], ps[2]
	gid := newTeam(t, n, alice, bob, carol)
	sameState(t, gid, short(alice, bob, carol), alice, bob, carol)

	// Messages from each reach the other two exactly once.
	for _, p := range ps {
		_, out, err := p.e.Send(gid, "hello from "+p.name)
		if err != nil {
			t.Fatal(err)
		}
		n.send(p, out)
	}
	n.run()
	for _, p := range ps {
		var texts []string
		for _, m := range p.got {
			texts = append(texts, m.Text)
		}
		slices.Sort(texts)
		var want []string
		for _, q := range ps {
			if q != p {
				want = append(want, "hello from "+q.name)
			}
		}
		if !slices.Equal(texts, want) {
			t.Errorf("%s got %q, want %q", p.name, texts, want)
		}
		h, _ := p.e.Group(gid)
		if hist, _ := h.History(10); len(hist) != 3 {
			t.Errorf("%s's history holds %d messages, want 3", p.name, len(hist))
		}
	}

	// Carol leaves and gets nothing after.
	n.send(carol, must(t)(carol.e.Leave(gid)))
	n.run()
	sameState(t, gid, short(alice, bob), alice, bob, carol)
	carol.got = nil
	n.say(alice, gid, "after carol left")
	if len(carol.got) != 0 {
		t.Errorf("carol got %d messages after leaving", len(carol.got))
	}
	if _, _, err := carol.e.Send(gid, "still here?"); !errors.Is(err, ErrNotMember) {
		t.Errorf("carol sends after leaving: %v, want ErrNotMember", err)
	}

	// A kicked member's messages are refused by the rest.
	n.send(alice, must(t)(alice.e.Kick(gid, bob.id.ID())))
	n.run()
	sameState(t, gid, short(alice), alice, bob)
	bob.got = nil
	n.say(alice, gid, "after bob was kicked")
	if len(bob.got) != 0 {
		t.Errorf("bob got %d messages after the kick", len(bob.got))
	}
	if _, _, err := bob.e.Send(gid, "kicked"); !errors.Is(err, ErrNotMember) {
		t.Errorf("bob sends after the kick: %v, want ErrNotMember", err)
	}
	forged := signMessage(bob.id, gid, 2, 1700000009999, "I am still here")
	if _, err := alice.e.Receive(bob.id.ID(), forged); !errors.Is(err, ErrNotMember) {
		t.Errorf("kicked member's message: %v, want ErrNotMember", err)
	}
	if alice.log.count() == 0 {
		t.Error("the refused message was not logged")
	}
	// Bob's first message (seq 1, before the kick) is still accepted by a
	// member who catches up late: the kick recorded it as the cutoff.
	g, _ := alice.e.Group(gid)
	if cut, ok := g.State().Cutoff(bob.id.ID()); !ok || cut != 1 {
		t.Errorf("bob's cutoff %d %v, want 1", cut, ok)
	}
}

func TestOfflineCatchUp(t *testing.T) {
	n, alice, bob, carol, gid := carolMisses(t, 100)
	if len(carol.got) != 0 {
		t.Fatalf("offline carol got %d", len(carol.got))
	}
	carol.offline = false
	n.send(carol, carol.e.SyncWith(alice.id.ID()))
	n.run()
	if len(carol.got) != 100 {
		t.Fatalf("carol got %d messages, want 100", len(carol.got))
	}
	seen := make(map[wire.MessageID]bool)
	for _, m := range carol.got {
		if seen[m.ID] {
			t.Fatalf("message %q shown twice", m.Text)
		}
		seen[m.ID] = true
	}
	ga, _ := alice.e.Group(gid)
	gc, _ := carol.e.Group(gid)
	ha, _ := ga.History(1000)
	hc, _ := gc.History(1000)
	if len(hc) != 100 || !slices.EqualFunc(ha, hc, func(a, b wire.GroupMessage) bool { return a.ID == b.ID }) {
		t.Fatalf("carol's history (%d) differs from alice's (%d)", len(hc), len(ha))
	}
	for i, m := range hc {
		if m.Text != fmt.Sprintf("message %d", i) {
			t.Fatalf("carol's message %d is %q: out of order", i, m.Text)
		}
	}
	// Asking again brings nothing new.
	carol.got = nil
	n.send(carol, carol.e.SyncWith(bob.id.ID()))
	n.run()
	if len(carol.got) != 0 {
		t.Errorf("a second catch-up showed %d messages again", len(carol.got))
	}
}

func TestGapTriggersCatchUp(t *testing.T) {
	n, ps := newTestNet(t, "alice", "bob")
	alice, bob := ps[0], ps[1]
	gid := newTeam(t, n, alice, bob)
	// Bob misses alice's first two messages, then gets the third: he asks
	// alice for the gap and shows all three.
	bob.offline = true
	for i := range 2 {
		n.say(alice, gid, fmt.Sprint("lost ", i))
	}
	bob.offline = false
	n.say(alice, gid, "third")
	if len(bob.got) != 3 {
		t.Fatalf("bob got %d messages, want 3", len(bob.got))
	}
	g, _ := bob.e.Group(gid)
	hist, _ := g.History(10)
	if hist[0].Text != "lost 0" || hist[2].Text != "third" {
		t.Errorf("history out of order: %q %q %q", hist[0].Text, hist[1].Text, hist[2].Text)
	}
}

func TestForgery(t *testing.T) {
	n, ps := newTestNet(t, "alice", "bob", "mallory")
	alice, bob, mallory := ps[0], ps[1], ps[2]
	gid := newTeam(t, n, alice, bob)
	ga, _ := alice.e.Group(gid)
	heads := ga.Heads()

	tests := []struct {
		name  string
		frame wire.GroupFrame
		want  error
	}{
		{"non-member's message", signMessage(mallory.id, gid, 1, 1, "hi"), ErrNotMember},
		{"message with another's key", func() wire.GroupMessage {
			m := signMessage(mallory.id, gid, 1, 1, "hi")
			m.Sender = string(bob.id.ID())
			return m
		}(), ErrForged},
		{"altered message", func() wire.GroupMessage {
			m := signMessage(bob.id, gid, 5, 1, "hi")
			m.Text = "bye"
			return m
		}(), ErrForged},
		{"op with a bad signature", func() wire.GroupOp {
			op := signOp(alice.id, wire.GroupOp{Group: gid, Kind: wire.OpInvite, Target: string(mallory.id.ID())}, heads...)
			op.Sig[0] ^= 1
			return op
		}(), ErrForged},
		{"op signed by another key", func() wire.GroupOp {
			op := signOp(mallory.id, wire.GroupOp{Group: gid, Kind: wire.OpInvite, Target: string(mallory.id.ID())}, heads...)
			op.Signer = string(alice.id.ID())
			return op
		}(), ErrForged},
		{"sync from a non-member", wire.GroupSync{Group: gid}, ErrNotMember},
		{"second create", signOp(mallory.id, wire.GroupOp{Group: gid, Kind: wire.OpCreate, Name: "mine"}), ErrForged},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := alice.log.count()
			res, err := alice.e.Receive(mallory.id.ID(), tt.frame)
			if op, ok := tt.frame.(wire.GroupOp); ok {
				// Ops are logged by the engine and leave no trace.
				if ga.Effective(op.Hash()) || len(res.Changed) > 0 {
					t.Fatal("forged op took effect")
				}
			} else if !errors.Is(err, tt.want) {
				t.Fatalf("Receive = %v, want %v", err, tt.want)
			}
			if alice.log.count() != before+1 {
				t.Errorf("%d log lines, want 1", alice.log.count()-before)
			}
			if len(res.Messages) > 0 || len(res.Out) > 0 {
				t.Errorf("forged frame led to %+v", res)
			}
		})
	}
	// A member not an admin cannot invite: the op is void everywhere.
	op := signOp(bob.id, wire.GroupOp{Group: gid, Kind: wire.OpInvite, Target: string(mallory.id.ID())}, heads...)
	if _, err := alice.e.Receive(bob.id.ID(), op); err != nil {
		t.Fatal(err)
	}
	if ga.State().IsMember(mallory.id.ID()) || ga.Effective(op.Hash()) {
		t.Error("a non-admin's invite took effect")
	}
	if _, err := bob.e.Invite(gid, mallory.id.ID()); !errors.Is(err, ErrNotAllowed) || !strings.Contains(err.Error(), "only an admin") {
		t.Errorf("bob invites: %v", err)
	}
}

func TestOriginalPeerCannotJoin(t *testing.T) {
	_, ps := newTestNet(t, "alice")
	if _, _, err := ps[0].e.Create("team", []identity.ID{""}); !errors.Is(err, ErrOriginalPeer) {
		t.Fatalf("Create with an original peer: %v", err)
	}
	gid, _, err := ps[0].e.Create("team", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ps[0].e.Invite(gid, ""); !errors.Is(err, ErrOriginalPeer) {
		t.Fatalf("Invite of an original peer: %v", err)
	}
	if !strings.Contains(ErrOriginalPeer.Error(), "cannot be a group member") {
		t.Error("the error does not say why")
	}
}

func TestConcurrentAdminsConverge(t *testing.T) {
	n, ps := newTestNet(t, "alice", "bob", "carol", "dave", "erin")
	alice, bob, carol, dave, erin := ps[0], ps[1], ps[2], ps[3], ps[4]
	gid := newTeam(t, n, alice, bob, carol, dave)
	n.send(alice, must(t)(alice.e.Promote(gid, bob.id.ID())))
	n.run()

	// Partition: alice and bob act at once without hearing each other.
	// Alice kicks bob; bob kicks carol and invites erin. Bob's acts are
	// concurrent with his removal, so they are void.
	var aliceOut, bobOut []Outgoing
	aliceOut = must(t)(alice.e.Kick(gid, bob.id.ID()))
	bobOut = append(must(t)(bob.e.Kick(gid, carol.id.ID())), must(t)(bob.e.Invite(gid, erin.id.ID()))...)
	// Bob cannot kick the more senior alice at all.
	if _, err := bob.e.Kick(gid, alice.id.ID()); !errors.Is(err, ErrNotAllowed) {
		t.Errorf("bob kicks alice: %v", err)
	}
	n.send(bob, bobOut)
	n.send(alice, aliceOut)
	n.run()
	// Heal: everyone syncs with everyone.
	for _, p := range ps {
		for _, q := range ps {
			n.send(p, p.e.SyncWith(q.id.ID()))
		}
	}
	n.run()
	sameState(t, gid, short(alice, carol, dave), alice, carol, dave)
	g, _ := bob.e.Group(gid)
	if got := membersOf(g.State()); !slices.Equal(got, short(alice, carol, dave)) {
		t.Errorf("bob sees %v", got)
	}
	_ = erin
}

func TestRestartKeepsGroups(t *testing.T) {
	n, ps := newTestNet(t, "alice", "bob")
	alice, bob := ps[0], ps[1]
	gid := newTeam(t, n, alice, bob)
	n.say(alice, gid, "one")
	e2, err := New(Config{Identity: alice.id, Store: alice.store})
	if err != nil {
		t.Fatal(err)
	}
	g, ok := e2.Group(gid)
	if !ok {
		t.Fatal("group lost on restart")
	}
	if got := membersOf(g.State()); !slices.Equal(got, short(alice, bob)) {
		t.Fatalf("members after restart %v", got)
	}
	m, _, err := e2.Send(gid, "two")
	if err != nil || m.Seq != 2 {
		t.Fatalf("send after restart: seq %d, %v", m.Seq, err)
	}
	infos := e2.Groups()
	if len(infos) != 1 || infos[0].Name != "team" || !infos[0].Joined || !infos[0].Admin {
		t.Errorf("Groups() = %+v", infos)
	}
	if got := e2.ByName("team"); len(got) != 1 || got[0].ID != gid {
		t.Errorf("ByName(team) = %+v", got)
	}
	if got := e2.ByName("other"); len(got) != 0 {
		t.Errorf("ByName(other) = %+v", got)
	}
}

func TestInvitationDecline(t *testing.T) {
	n, ps := newTestNet(t, "alice", "bob")
	alice, bob := ps[0], ps[1]
	gid, out, err := alice.e.Create("team", []identity.ID{bob.id.ID()})
	if err != nil {
		t.Fatal(err)
	}
	n.send(alice, out)
	n.run()
	if len(bob.e.Invitations()) != 1 {
		t.Fatal("no invitation")
	}
	bob.e.Decline(gid)
	if len(bob.e.Invitations()) != 0 {
		t.Fatal("invitation kept after decline")
	}
	if _, err := bob.e.Join(gid); !errors.Is(err, ErrUnknownGroup) {
		t.Fatalf("join after decline: %v", err)
	}
	// A message to a group bob is not in is dropped without a log line.
	n.say(alice, gid, "hi")
	if len(bob.got) != 0 || bob.log.count() != 0 {
		t.Errorf("bob got %d messages and %d log lines", len(bob.got), bob.log.count())
	}
}

func TestJoinWhileInviterOffline(t *testing.T) {
	n, ps := newTestNet(t, "alice", "bob")
	alice, bob := ps[0], ps[1]
	gid, _, err := alice.e.Create("team", nil)
	if err != nil {
		t.Fatal(err)
	}
	must(t)(alice.e.Rename(gid, "team2"))
	n.say(alice, gid, "before bob joined")
	n.send(alice, must(t)(alice.e.Invite(gid, bob.id.ID())))
	n.run()
	// Bob joins while alice is away: his catch-up request is lost, and
	// the invite waits for the rename it follows.
	alice.offline = true
	n.send(bob, must(t)(bob.e.Join(gid)))
	n.run()
	g, _ := bob.e.Group(gid)
	if g.State().IsMember(bob.id.ID()) {
		t.Fatal("bob is a member before he has the ops")
	}
	// Meanwhile he is joining, not "no longer a member".
	if i := infoOf(t, bob.e, gid); i.Joined || !i.Joining {
		t.Fatalf("while waiting: joined %v, joining %v; want false, true", i.Joined, i.Joining)
	}
	// When alice is back, the node asks again (SyncWith on connect).
	alice.offline = false
	n.send(bob, bob.e.SyncWith(alice.id.ID()))
	n.run()
	if !g.State().IsMember(bob.id.ID()) || len(bob.got) != 1 || g.State().Name != "team2" {
		t.Fatalf("after catch-up: member %v, %d messages", g.State().IsMember(bob.id.ID()), len(bob.got))
	}
	if i := infoOf(t, bob.e, gid); !i.Joined || i.Joining {
		t.Fatalf("after catch-up: joined %v, joining %v; want true, false", i.Joined, i.Joining)
	}
	// Leaving is not joining.
	n.send(bob, must(t)(bob.e.Leave(gid)))
	n.run()
	if i := infoOf(t, bob.e, gid); i.Joined || i.Joining {
		t.Fatalf("after leaving: joined %v, joining %v; want false, false", i.Joined, i.Joining)
	}
}

// infoOf is e's Info for group id.
func infoOf(t *testing.T, e *Engine, id wire.GroupID) Info {
	t.Helper()
	for _, i := range e.Groups() {
		if i.ID == id {
			return i
		}
	}
	t.Fatalf("no group %s", id)
	return Info{}
}

func TestReplyWithNothingNewEndsCatchUp(t *testing.T) {
	n, ps := newTestNet(t, "alice", "bob")
	alice, bob := ps[0], ps[1]
	gid := newTeam(t, n, alice, bob)
	n.say(alice, gid, "one")
	ga, _ := alice.e.Group(gid)
	hist, _ := ga.History(10)
	// A reply that says "more" but brings only what bob has: bob must not
	// ask again, or two nodes could trade it forever.
	res, err := bob.e.Receive(alice.id.ID(), wire.GroupSyncReply{Group: gid, Messages: hist, Ops: []wire.GroupOp{ga.genesis.op}, More: true})
	if err != nil || len(res.Out) != 0 || len(res.Messages) != 0 {
		t.Fatalf("Receive = %+v, %v; want nothing", res, err)
	}
}

// TestInvitationsSaved: the invitations waiting go to SaveInvites when
// they change, at most MaxInvitations of them, and a new engine given
// them waits for an answer again; one that does not check out is dropped.
func TestInvitationsSaved(t *testing.T) {
	alice, bob := testIdentity(1), testIdentity(2)
	ae, err := New(Config{Identity: alice, Store: NewMemoryStore()})
	if err != nil {
		t.Fatal(err)
	}
	var saved []wire.GroupInvite
	be, err := New(Config{Identity: bob, Store: NewMemoryStore(), SaveInvites: func(fs []wire.GroupInvite) error {
		saved = fs
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	var ids []wire.GroupID
	for i := range MaxInvitations + 3 {
		id, out, err := ae.Create(fmt.Sprintf("g%d", i), []identity.ID{bob.ID()})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		f, err := wire.ParseGroupFrame(out[0].Line)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := be.Receive(alice.ID(), f); err != nil {
			t.Fatal(err)
		}
	}
	if len(saved) != MaxInvitations || saved[0].Create.Group != ids[3] {
		t.Fatalf("saved %d invitations, the first to %v; want %d from %v", len(saved), saved[0].Create.Group, MaxInvitations, ids[3])
	}
	be.Decline(ids[3])
	if len(saved) != MaxInvitations-1 {
		t.Fatalf("after a decline %d saved", len(saved))
	}
	if _, err := be.Join(ids[4]); err != nil {
		t.Fatal(err)
	}
	if len(saved) != MaxInvitations-2 {
		t.Fatalf("after a join %d saved", len(saved))
	}
	forged := saved[0]
	forged.Invite.Name = "altered"
	lr := &logRecorder{}
	again, err := New(Config{Identity: bob, Store: NewMemoryStore(), Log: lr, Invites: append([]wire.GroupInvite{forged}, saved[1:]...)})
	if err != nil {
		t.Fatal(err)
	}
	invs := again.Invitations()
	if len(invs) != MaxInvitations-3 || invs[0].Group != ids[6] || invs[0].By != alice.ID() {
		t.Fatalf("restored %d invitations, first %+v; want %d, the first to %v by alice", len(invs), invs[0], MaxInvitations-3, ids[6])
	}
	if lr.count() != 1 {
		t.Errorf("logged %d lines for the forged invitation; want 1", lr.count())
	}
}
