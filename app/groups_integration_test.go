package app_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parlance-chat/parlance/app"
	"github.com/parlance-chat/parlance/app/group"
	"github.com/parlance-chat/parlance/app/store"
	"github.com/parlance-chat/parlance/net/identity"
	"github.com/parlance-chat/parlance/net/transport"
	"github.com/parlance-chat/parlance/net/wire"
)

// waitUntil reads n's events until ok holds (checked after each event and
// each message change).
func waitUntil(t testing.TB, n *realNode, what string, ok func() bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for !ok() {
		select {
		case _, open := <-n.Events():
			if !open {
				t.Fatalf("events closed while waiting for %s", what)
			}
		case <-n.Changed():
		case <-deadline:
			t.Fatalf("no %s within 10 s", what)
		}
	}
}

// groupHas reports whether n is in the group named name with exactly the
// members nicks.
func groupHas(n *realNode, name string, nicks ...string) func() bool {
	return func() bool {
		g, err := n.ResolveGroup(name)
		if err != nil || !g.Joined {
			return false
		}
		var got []string
		for _, m := range g.Members {
			got = append(got, m.Nickname)
		}
		slices.Sort(got)
		want := slices.Sorted(slices.Values(nicks))
		return slices.Equal(got, want)
	}
}

// groupTexts returns the texts of a group conversation, in stored order.
func groupTexts(t testing.TB, n *realNode, key app.PeerKey) []string {
	t.Helper()
	ms, err := n.History(app.ConvOf(key), 0, 100_000)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range ms {
		out = append(out, m.Text)
	}
	return out
}

func hasText(t testing.TB, n *realNode, key app.PeerKey, text string) func() bool {
	return func() bool { return slices.Contains(groupTexts(t, n, key), text) }
}

// team starts alice, bob and carol, and alice makes #team with the other
// two, who join. It returns the group's key.
func team(t testing.TB, alice, bob, carol *realNode) app.PeerKey {
	t.Helper()
	keys := waitJoins(t, alice, "bob", "carol")
	waitJoins(t, bob, "alice", "carol")
	waitJoins(t, carol, "alice", "bob")
	g, err := alice.CreateGroup("#team", []app.PeerKey{keys["bob"], keys["carol"]})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []*realNode{bob, carol} {
		inv := waitFor(t, n, "the invitation", func(e app.GroupInvited) bool { return e.Invitation.Name == "team" })
		if inv.Invitation.ByNick != "alice" || inv.Invitation.Known {
			t.Errorf("invitation = %+v; want by alice, never talked with", inv.Invitation)
		}
		if _, err := n.JoinGroup("team"); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []*realNode{alice, bob, carol} {
		waitUntil(t, n, "#team with three members", groupHas(n, "team", "alice", "bob", "carol"))
	}
	return g.Key
}

func TestGroupThreeNodes(t *testing.T) {
	port := uint16(nextPort.Add(1))
	alice := startNode(t, "alice", port)
	bob := startNode(t, "bob", port)
	carol := startNode(t, "carol", port)
	key := team(t, alice, bob, carol)
	nodes := map[string]*realNode{"alice": alice, "bob": bob, "carol": carol}

	// Messages from each reach the other two exactly once.
	for nick, n := range nodes {
		if _, err := n.SendToGroup(key, "hello from "+nick); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range nodes {
		for nick := range nodes {
			waitUntil(t, n, nick+"'s message", hasText(t, n, key, "hello from "+nick))
		}
	}
	for nick, n := range nodes {
		ms, err := n.History(app.ConvOf(key), 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) != 3 {
			t.Errorf("%s holds %d messages, want 3: %+v", nick, len(ms), ms)
		}
		for _, m := range ms {
			if want := "hello from " + m.From; m.Text != want || m.Outgoing != (m.From == nick) {
				t.Errorf("%s: message %+v", nick, m)
			}
		}
	}

	// A kicked member's messages are refused by the rest: bob's identity
	// posts after alice kicked him (over a connection of its own, so that
	// bob's node, which knows it was kicked, cannot stop it).
	bobKey := app.PeerKey("id:" + bob.id.ID().String())
	if err := alice.KickFromGroup(key, bobKey); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*realNode{alice, carol} {
		waitUntil(t, n, "#team without bob", groupHas(n, "team", "alice", "carol"))
	}
	waitUntil(t, bob, "bob out of #team", func() bool { g, err := bob.ResolveGroup("team"); return err == nil && !g.Joined })
	if _, err := bob.SendToGroup(key, "still here?"); err == nil {
		t.Error("bob's node sent to a group he was kicked from")
	}
	gid := groupID(t, alice, key)
	late := signedMessage(bob.id, gid, 2, "from kicked bob")
	for _, n := range []*realNode{alice, carol} {
		sendRaw(t, bob.id, n, late, "barrier for "+n.Self().Nickname)
		if slices.Contains(groupTexts(t, n, key), "from kicked bob") {
			t.Errorf("%s took a message bob posted after his kick", n.Self().Nickname)
		}
	}

	// carol leaves and gets nothing after.
	if err := carol.LeaveGroup(key); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, alice, "#team without carol", func() bool {
		g, _ := alice.Group(key)
		return len(g.Members) == 1
	})
	if _, err := alice.SendToGroup(key, "after carol left"); err != nil {
		t.Fatal(err)
	}
	// alice's one-to-one message goes on the same connection, after any
	// group frame alice might (wrongly) have written to carol.
	toCarol := app.PeerKey("id:" + carol.id.ID().String())
	if _, err := alice.Send(context.Background(), toCarol, "barrier"); err != nil {
		t.Fatal(err)
	}
	waitMsg(t, carol, "alice's barrier", func(m app.Message) bool { return m.Text == "barrier" })
	if slices.Contains(groupTexts(t, carol, key), "after carol left") {
		t.Error("carol got a message sent after she left")
	}
}

func groupID(t *testing.T, n *realNode, key app.PeerKey) wire.GroupID {
	t.Helper()
	g, ok := n.Group(key)
	if !ok {
		t.Fatalf("no group %s", key)
	}
	return g.ID
}

func signedMessage(id *identity.Identity, g wire.GroupID, seq uint64, text string) wire.GroupMessage {
	m := wire.GroupMessage{Group: g, ID: wire.MessageID{byte(seq), 0xee}, Sender: id.ID().String(), Key: id.PublicKey(),
		Seq: seq, Time: time.Now().UnixMilli(), Text: text}
	m.Sig = id.Sign(m.SignedBytes())
	return m
}

// sendRaw writes frame to n from a transport of its own with identity
// id, then a chat message with text barrier on the same connection, and
// waits for n to store the barrier: n has handled the frame by then.
func sendRaw(t *testing.T, id *identity.Identity, n *realNode, frame wire.GroupFrame, barrier string) {
	t.Helper()
	tr, err := transport.Listen(transport.Config{Identity: id, ListenAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	line, err := wire.MarshalGroupFrame(frame)
	if err != nil {
		t.Fatal(err)
	}
	d := transport.Dest{Addr: netipLoopback(n.port), Identity: n.id.ID().String()}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := tr.SendFrame(ctx, d, line); err != nil {
		t.Fatal(err)
	}
	if err := tr.Send(ctx, d, wire.Message{From: "raw", Content: barrier, Timestamp: time.Now().Unix(), ID: wire.NewMessageID()}); err != nil {
		t.Fatal(err)
	}
	waitMsg(t, n, "the barrier", func(m app.Message) bool { return m.Text == barrier })
}

func TestGroupForgeries(t *testing.T) {
	port := uint16(nextPort.Add(1))
	alice := startNode(t, "alice", port)
	bob := startNode(t, "bob", port)
	carol := startNode(t, "carol", port)
	key := team(t, alice, bob, carol)
	gid := groupID(t, alice, key)

	// A non-member with a valid TLS identity posts: dropped.
	mallory, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	sendRaw(t, mallory, alice, signedMessage(mallory, gid, 1, "from mallory"), "barrier 1")
	if slices.Contains(groupTexts(t, alice, key), "from mallory") {
		t.Error("alice took a non-member's message")
	}

	// A member's message with a bad signature, relayed by mallory: dropped.
	bad := signedMessage(carol.id, gid, 5, "forged carol")
	bad.Text = "altered"
	sendRaw(t, mallory, alice, bad, "barrier 2")
	if slices.Contains(groupTexts(t, alice, key), "altered") {
		t.Error("alice took a message with a bad signature")
	}

	// A kick of bob in alice's name, signed by mallory: dropped.
	op := wire.GroupOp{Group: gid, Kind: wire.OpKick, Target: bob.id.ID().String(), Time: time.Now().UnixMilli(),
		Signer: alice.id.ID().String(), Key: alice.id.PublicKey(), Parents: []wire.OpHash{{1}}}
	op.Sig = mallory.Sign(op.SignedBytes())
	sendRaw(t, mallory, carol, op, "barrier 3")
	if !groupHas(carol, "team", "alice", "bob", "carol")() {
		t.Error("a forged kick changed carol's #team")
	}
}

func TestGroupOfflineCatchUp(t *testing.T) {
	port := uint16(nextPort.Add(1))
	alice := startNode(t, "alice", port)
	bob := startNode(t, "bob", port)
	carolOpts := nodeOpts{store: store.NewMemory(0), groups: group.NewMemoryStore()}
	var err error
	if carolOpts.id, err = identity.Generate(); err != nil {
		t.Fatal(err)
	}
	carol := startNodeWith(t, "carol", port, carolOpts)
	key := team(t, alice, bob, carol)

	carol.stop()
	waitFor(t, alice, "carol's goodbye", func(e app.PeerLeft) bool { return e.Peer.Nickname == "carol" })
	waitFor(t, bob, "carol's goodbye", func(e app.PeerLeft) bool { return e.Peer.Nickname == "carol" })
	const n = 100
	var want []string
	for i := range n {
		from := alice
		if i%2 == 1 {
			from = bob
		}
		text := fmt.Sprintf("missed %d", i)
		want = append(want, text)
		if _, err := from.SendToGroup(key, text); err != nil {
			t.Fatal(err)
		}
	}

	start := time.Now()
	carol = startNodeWith(t, "carol", port, carolOpts)
	waitUntil(t, carol, "all 100 missed messages", func() bool { return len(groupTexts(t, carol, key)) >= n })
	t.Logf("carol caught up with %d messages in %v after her restart", n, time.Since(start))
	ms, err := carol.History(app.ConvOf(key), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	// Once each, and in the display order every member shares: by the
	// sender's timestamp (milliseconds: many of these share one), then id.
	var got []string
	for _, m := range ms {
		got = append(got, m.Text)
	}
	if !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))) {
		t.Fatalf("carol holds %d messages:\n%s\nwant:\n%s", len(got), strings.Join(got, ", "), strings.Join(want, ", "))
	}
	// Each catch-up reply is stored in display order (sender timestamp,
	// then id), but a later reply's messages are stored after it: the
	// UIs order a group's messages for display (see DisplayOrder).
	app.DisplayOrder(ms)
	for i := 1; i < len(ms); i++ {
		if ms[i].Sent.Before(ms[i-1].Sent) {
			t.Fatalf("DisplayOrder left %q before %q", ms[i-1].Text, ms[i].Text)
		}
	}
}

func TestGroupConcurrentAdmins(t *testing.T) {
	port := uint16(nextPort.Add(1))
	gates := []*frameGate{{}, {}}
	gated := func(g *frameGate) nodeOpts {
		return nodeOpts{wrap: func(tr *transport.Transport) app.Transport { g.Transport = tr; return g }}
	}
	alice := startNodeWith(t, "alice", port, gated(gates[0]))
	bob := startNodeWith(t, "bob", port, gated(gates[1]))
	carol := startNode(t, "carol", port)
	key := team(t, alice, bob, carol)
	bobKey := app.PeerKey("id:" + bob.id.ID().String())
	carolKey := app.PeerKey("id:" + carol.id.ID().String())
	if err := bob.RenameGroup(key, "crew"); !errors.Is(err, group.ErrNotAllowed) || !strings.Contains(err.Error(), "only an admin") {
		t.Fatalf("a member renamed the group: %v; want only an admin may", err)
	}
	if err := alice.PromoteInGroup(key, bobKey); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, bob, "bob made admin", func() bool { g, _ := bob.Group(key); return g.Admin })
	// The new admin renames the group, for everyone.
	if err := bob.RenameGroup(key, "#crew"); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*realNode{alice, bob, carol} {
		waitUntil(t, n, "#team renamed #crew", groupHas(n, "crew", "alice", "bob", "carol"))
	}

	// At once: alice kicks bob, bob kicks carol. Both may, but the
	// removal of bob voids what he did concurrently: every node ends with
	// alice and carol. Their group frames are held until both kicks are
	// made, so neither kick can follow the other (without the gate, bob's
	// kick could reach alice first, and alice's would rightly come after
	// it: everyone would then end with alice alone).
	for _, g := range gates {
		g.hold()
	}
	var wg sync.WaitGroup
	wg.Add(2)
	errs := make([]error, 2)
	go func() { defer wg.Done(); errs[0] = alice.KickFromGroup(key, bobKey) }()
	go func() { defer wg.Done(); errs[1] = bob.KickFromGroup(key, carolKey) }()
	wg.Wait()
	for _, g := range gates {
		g.release()
	}
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("alice's kick: %v; bob's kick: %v", errs[0], errs[1])
	}
	for i, n := range []*realNode{alice, carol} {
		waitUntil(t, n, []string{"alice", "carol"}[i]+"'s members to converge", groupHas(n, "crew", "alice", "carol"))
	}
	waitUntil(t, bob, "bob to see the same members", func() bool {
		g, _ := bob.Group(key)
		var got []string
		for _, m := range g.Members {
			got = append(got, m.Nickname)
		}
		return !g.Joined && slices.Equal(got, []string{"alice", "carol"})
	})
}

// frameGate stands between a node and its transport, and holds the
// group frames the node sends while it is shut.
type frameGate struct {
	*transport.Transport
	mu   sync.Mutex
	open chan struct{} // nil: open
}

func (g *frameGate) hold() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.open = make(chan struct{})
}

func (g *frameGate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.open != nil {
		close(g.open)
		g.open = nil
	}
}

func (g *frameGate) SendFrame(ctx context.Context, d transport.Dest, lines []byte) error {
	g.mu.Lock()
	open := g.open
	g.mu.Unlock()
	if open != nil {
		select {
		case <-open:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return g.Transport.SendFrame(ctx, d, lines)
}

func netipLoopback(port uint16) netip.AddrPort {
	return netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port)
}

// TestGroupRefusesOriginalPeers: an original peer has no key, so it cannot
// be a member; the error says so.
func TestGroupRefusesOriginalPeers(t *testing.T) {
	port := uint16(nextPort.Add(1))
	alice := startNode(t, "alice", port)
	sendAnnounce(t, port, `{"type":"announce","nickname":"oldtimer","tcp_port":4242}`)
	key := waitFor(t, alice, "the original peer", joined("oldtimer")).Peer.Key
	_, err := alice.CreateGroup("team", []app.PeerKey{key})
	if !errors.Is(err, group.ErrOriginalPeer) || !strings.Contains(err.Error(), "oldtimer") {
		t.Fatalf("CreateGroup with an original peer: %v; want ErrOriginalPeer naming it", err)
	}
	g, err := alice.CreateGroup("team", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.InviteToGroup(g.Key, key); !errors.Is(err, group.ErrOriginalPeer) {
		t.Fatalf("InviteToGroup with an original peer: %v; want ErrOriginalPeer", err)
	}
}

// outboxUntil waits until ok holds, looking now and then: the outbox
// moves with writes, which make no event.
func outboxUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for !ok() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("no %s within 10 s", what)
		}
	}
}

// memRecords is a RecordStore in memory that outlives the nodes of a test.
type memRecords struct {
	mu   sync.Mutex
	recs map[string]map[string][]byte
}

func (r *memRecords) SaveRecord(kind, id string, data []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.recs == nil {
		r.recs = map[string]map[string][]byte{}
	}
	if r.recs[kind] == nil {
		r.recs[kind] = map[string][]byte{}
	}
	r.recs[kind][id] = slices.Clone(data)
	return nil
}

func (r *memRecords) Records(kind string) ([][]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out [][]byte
	for _, d := range r.recs[kind] {
		out = append(out, slices.Clone(d))
	}
	return out, nil
}

// TestGroupOutboxOnlySender: bob and carol are offline while alice posts
// 100 messages, and alice restarts meanwhile; carol comes back while bob
// is still away, so only alice, the sender, has them: her outbox, which
// survived the restart, pushes them to carol, once each, and empties;
// bob's stays queued.
func TestGroupOutboxOnlySender(t *testing.T) {
	port := uint16(nextPort.Add(1))
	opts := func() nodeOpts {
		o := nodeOpts{store: store.NewMemory(0), groups: group.NewMemoryStore(), records: &memRecords{}}
		var err error
		if o.id, err = identity.Generate(); err != nil {
			t.Fatal(err)
		}
		return o
	}
	aliceOpts, carolOpts := opts(), opts()
	alice := startNodeWith(t, "alice", port, aliceOpts)
	bob := startNode(t, "bob", port)
	carol := startNodeWith(t, "carol", port, carolOpts)
	key := team(t, alice, bob, carol)
	bobKey := app.PeerKey("id:" + bob.id.ID().String())
	carolKey := app.PeerKey("id:" + carol.id.ID().String())

	bob.stop()
	carol.stop()
	for _, nick := range []string{"bob", "carol"} {
		waitFor(t, alice, nick+"'s goodbye", func(e app.PeerLeft) bool { return e.Peer.Nickname == nick })
	}
	const n = 100
	var want []string
	for i := range n {
		// 1 KB each: a push takes several writes of at most one line's
		// worth (wire.MaxLine).
		text := fmt.Sprintf("while away %d %s", i, strings.Repeat("x", 1000))
		want = append(want, text)
		if _, err := alice.SendToGroup(key, text); err != nil {
			t.Fatal(err)
		}
		if i == n/2 {
			alice.stop()
			alice = startNodeWith(t, "alice", port, aliceOpts)
		}
	}
	for _, k := range []app.PeerKey{bobKey, carolKey} {
		outboxUntil(t, "the outbox to hold all 100", func() bool { return alice.GroupOutbox(key, k) == n })
	}

	carol = startNodeWith(t, "carol", port, carolOpts)
	t.Cleanup(func() {
		if t.Failed() {
			p, _ := alice.Peer(carolKey)
			t.Logf("carol holds %d; alice's outbox for carol %d; alice sees carol online %v", len(groupTexts(t, carol, key)), alice.GroupOutbox(key, carolKey), p.Online)
		}
	})
	waitUntil(t, carol, "all 100 from alice's outbox", func() bool { return len(groupTexts(t, carol, key)) >= n })
	outboxUntil(t, "alice's outbox for carol to empty", func() bool { return alice.GroupOutbox(key, carolKey) == 0 })
	if got := alice.GroupOutbox(key, bobKey); got != n {
		t.Errorf("alice's outbox holds %d for bob, still away; want %d", got, n)
	}
	// Once each.
	got := groupTexts(t, carol, key)
	if !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))) {
		t.Fatalf("carol holds %d messages, %d different; want the %d, once each", len(got), len(slices.Compact(slices.Sorted(slices.Values(got)))), n)
	}
}

// TestGroupInvitationSurvivesRestart: an invitation waits in the profile's
// records, so carol can accept it after a restart.
func TestGroupInvitationSurvivesRestart(t *testing.T) {
	port := uint16(nextPort.Add(1))
	alice := startNode(t, "alice", port)
	carolOpts := nodeOpts{store: store.NewMemory(0), groups: group.NewMemoryStore(), records: &memRecords{}}
	var err error
	if carolOpts.id, err = identity.Generate(); err != nil {
		t.Fatal(err)
	}
	carol := startNodeWith(t, "carol", port, carolOpts)
	keys := waitJoins(t, alice, "carol")
	waitJoins(t, carol, "alice")
	if _, err := alice.CreateGroup("team", []app.PeerKey{keys["carol"]}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, carol, "the invitation", func(e app.GroupInvited) bool { return e.Invitation.Name == "team" })
	carol.stop()
	carol = startNodeWith(t, "carol", port, carolOpts)
	invs := carol.Invitations()
	if len(invs) != 1 || invs[0].Name != "team" || invs[0].ByNick != "alice" && invs[0].ByNick != alice.id.ID().Short() {
		t.Fatalf("after a restart carol's invitations are %+v; want alice's to #team", invs)
	}
	waitJoins(t, carol, "alice")
	if _, err := carol.JoinGroup("team"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, carol, "carol in #team", groupHas(carol, "team", "alice", "carol"))
	if invs := carol.Invitations(); len(invs) != 0 {
		t.Errorf("invitations after joining: %+v", invs)
	}
	carol.stop()
	carol = startNodeWith(t, "carol", port, carolOpts)
	if invs := carol.Invitations(); len(invs) != 0 {
		t.Errorf("invitations after joining and a restart: %+v", invs)
	}
}
