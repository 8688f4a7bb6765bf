package tui

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parlance-chat/parlance/app"
	"github.com/parlance-chat/parlance/app/store"
)

// The fake node's groups: enough of app.GroupAPI for the UI.
func (f *fakeNode) Groups() []app.GroupInfo { return f.groups }
func (f *fakeNode) Group(key app.PeerKey) (app.GroupInfo, bool) {
	i := slices.IndexFunc(f.groups, func(g app.GroupInfo) bool { return g.Key == key })
	if i < 0 {
		return app.GroupInfo{}, false
	}
	return f.groups[i], true
}
func (f *fakeNode) ResolveGroup(name string) (app.GroupInfo, error) {
	name = strings.TrimPrefix(name, "#")
	for _, g := range f.groups {
		if g.Name == name {
			return g, nil
		}
	}
	return app.GroupInfo{}, fmt.Errorf("no group #%s", name)
}
func (f *fakeNode) Invitations() []app.GroupInvitation { return nil }
func (f *fakeNode) CreateGroup(name string, members []app.PeerKey) (app.GroupInfo, error) {
	g := app.GroupInfo{Key: app.PeerKey(fmt.Sprintf("%s%032x", app.GroupKeyPrefix, len(f.groups)+1)), Name: name, Joined: true, Admin: true,
		Members: []app.GroupMember{{Nickname: f.self.Nickname, Admin: true, Self: true}}}
	for _, k := range members {
		p, _ := f.peer(k)
		g.Members = append(g.Members, app.GroupMember{Key: k, Nickname: p.Nickname})
	}
	f.groups = append(f.groups, g)
	return g, nil
}
func (f *fakeNode) InviteToGroup(g, p app.PeerKey) error { return nil }
func (f *fakeNode) KickFromGroup(g, p app.PeerKey) error { return nil }
func (f *fakeNode) LeaveGroup(g app.PeerKey) error       { return nil }
func (f *fakeNode) PromoteInGroup(g, p app.PeerKey) error {
	return f.editGroup(g, func(gi *app.GroupInfo) {
		for i := range gi.Members {
			gi.Members[i].Admin = gi.Members[i].Admin || gi.Members[i].Key == p
		}
	})
}
func (f *fakeNode) RenameGroup(g app.PeerKey, name string) error {
	return f.editGroup(g, func(gi *app.GroupInfo) { gi.Name = name })
}
func (f *fakeNode) editGroup(key app.PeerKey, edit func(*app.GroupInfo)) error {
	i := slices.IndexFunc(f.groups, func(g app.GroupInfo) bool { return g.Key == key })
	if i < 0 {
		return fmt.Errorf("no group %s", key)
	}
	edit(&f.groups[i])
	return nil
}
func (f *fakeNode) JoinGroup(name string) (app.GroupInfo, error) {
	return app.GroupInfo{}, errors.New("no invitation")
}
func (f *fakeNode) SendToGroup(key app.PeerKey, text string) (app.Message, error) {
	if f.sendErr != nil {
		return app.Message{}, f.sendErr
	}
	f.groupSent = append(f.groupSent, text)
	m := app.Message{ID: fmt.Sprintf("%032x", len(f.groupSent)), Conv: app.ConvID(key), Peer: "id:" + f.self.Identity, From: f.self.Nickname,
		Text: text, Outgoing: true, Sent: testStart, At: testStart, State: store.SentNoReceipt}
	added, err := f.store.Append([]app.Message{m})
	if err != nil {
		return app.Message{}, err
	}
	f.notify()
	return added[0], nil
}

func TestGroupsInTheList(t *testing.T) {
	node := threePeers()
	team, err := node.CreateGroup("team", []app.PeerKey{alice.Key, bob.Key})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, node, Options{})
	if got := h.m.list.items[0]; !got.group || got.name != "#team" {
		t.Fatalf("first row = %+v; want the group #team above the peers", got)
	}
	h.wantScreen("#team", "alice", "Peers 3/3") // the group is no peer

	// A member's message counts as unread on the group's row.
	h.events(inMsg{app.Message{Peer: string(alice.Key), Conv: app.ConvID(team.Key), From: "alice", Text: "hi team", At: testStart}})
	if c := h.m.convs[team.Key]; c == nil || c.unread != 1 {
		t.Fatalf("group conversation %+v; want 1 unread", c)
	}
	if row := h.m.listRow(h.m.list.items[0], false); !strings.Contains(row, "#team") || !strings.HasSuffix(strings.TrimSpace(row), "1") {
		t.Errorf("group row %q; want #team with 1 unread", row)
	}

	// Selecting it and typing sends to the group.
	h.key("ctrl+n")
	if h.m.list.sel != team.Key {
		t.Fatalf("selected %q, want the group", h.m.list.sel)
	}
	h.wantScreen("#team · group of 3 · you are an admin", "hi team")
	h.enter("hello all")
	h.update(changesMsg{})
	if !slices.Equal(node.groupSent, []string{"hello all"}) {
		t.Fatalf("sent to the group: %q", node.groupSent)
	}
	h.wantScreen("hello all")
	msgs := 0
	for _, e := range h.m.convs[team.Key].entries {
		if e.kind == kindIn || e.kind == kindOut {
			msgs++
		}
	}
	if msgs != 2 {
		t.Errorf("the group shows %d messages, want 2 (no duplicate of the sent one)", msgs)
	}
	h.dontWantScreen("original peer")

	// /send #name and the group commands.
	h.enter("/send #team from anywhere")
	if !slices.Equal(node.groupSent, []string{"hello all", "from anywhere"}) {
		t.Fatalf("sent to the group: %q", node.groupSent)
	}
	h.enter("/group members #team")
	h.wantScreen("#team: 3 members: ada (admin, you), alice, bob")
	h.enter("/group new #ops carol")
	h.wantScreen("created #ops and invited carol")
	if h.m.list.items[1].name != "#ops" && h.m.list.items[0].name != "#ops" {
		t.Errorf("the new group has no row: %+v", h.m.list.items[:2])
	}
	h.enter("/group rename #ops #crew")
	h.wantScreen("renamed #ops to #crew")
	if !slices.ContainsFunc(h.m.list.items, func(it peerItem) bool { return it.name == "#crew" }) {
		t.Errorf("the renamed group has no row #crew")
	}
	h.enter("/group promote #team alice")
	h.wantScreen("alice is now an admin of #team")
	h.events(app.GroupInvited{Invitation: app.GroupInvitation{Name: "x", ByNick: "mallory"}})
	h.wantScreen("mallory invited you to #x (you have NEVER talked with them)")
}

// groupMsg is a member's message to a group, sent at sec seconds after
// testStart by the sender's clock.
func groupMsg(team app.GroupInfo, from app.Peer, id string, sec int, text string) inMsg {
	return inMsg{app.Message{ID: id, Peer: string(from.Key), Conv: app.ConvID(team.Key), From: from.Nickname, Text: text,
		Sent: testStart.Add(time.Duration(sec) * time.Second), At: testStart.Add(time.Hour)}}
}

// groupOrder is the texts of the messages of conversation key, as shown.
func groupOrder(h *harness, key app.PeerKey) []string {
	var out []string
	for _, e := range h.m.convs[key].entries {
		if e.isMessage() {
			out = append(out, e.text)
		}
	}
	return out
}

// TestGroupDisplayOrder: a group shows its messages by the sender's time,
// then id, whatever order they arrive in; a late one (a catch-up) takes
// its place among those shown, and the read marker goes above it.
func TestGroupDisplayOrder(t *testing.T) {
	node := threePeers()
	team, err := node.CreateGroup("team", []app.PeerKey{alice.Key, bob.Key})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, node, Options{})
	h.key("ctrl+n") // the group
	h.events(groupMsg(team, alice, "a1", 10, "ten"), groupMsg(team, bob, "b1", 30, "thirty"))
	// In one batch: one that goes last, two late ones, a tie broken by id.
	h.events(groupMsg(team, bob, "b2", 40, "forty"), groupMsg(team, alice, "a3", 20, "twenty-a3"),
		groupMsg(team, bob, "b0", 5, "five"), groupMsg(team, alice, "a2", 20, "twenty-a2"))
	want := []string{"five", "ten", "twenty-a2", "twenty-a3", "thirty", "forty"}
	if got := groupOrder(h, team.Key); !slices.Equal(got, want) {
		t.Fatalf("shown %q; want %q", got, want)
	}
	c := h.m.convs[team.Key]
	for id, i := range c.byID {
		if c.entries[i].id != id {
			t.Errorf("byID[%s] = %d, the entry of %q", id, i, c.entries[i].id)
		}
	}
	// The sender's time is shown: 10 s after the start, not the arrival.
	h.wantScreen(testStart.Add(10*time.Second).In(h.m.loc).Format(timeFormat) + " alice")

	// Out of view: a late message gets the read marker above it, even
	// though newer ones came before it.
	h.key("ctrl+n")
	h.events(groupMsg(team, bob, "b3", 50, "fifty"), groupMsg(team, bob, "b4", 25, "twenty-five"))
	if c.mark == 0 || c.entries[c.mark-1].text != "twenty-five" {
		t.Errorf("read marker above %q; want above the late %q", c.entries[max(c.mark-1, 0)].text, "twenty-five")
	}
	want = []string{"five", "ten", "twenty-a2", "twenty-a3", "twenty-five", "thirty", "forty", "fifty"}
	if got := groupOrder(h, team.Key); !slices.Equal(got, want) {
		t.Fatalf("shown %q; want %q", got, want)
	}
}

// TestGroupDisplayOrderPaged: history is read a page at a time by commit
// order; a page is shown in display order, and what in it belongs among
// the messages already shown goes in its place.
func TestGroupDisplayOrderPaged(t *testing.T) {
	node := threePeers()
	team, err := node.CreateGroup("team", []app.PeerKey{alice.Key, bob.Key})
	if err != nil {
		t.Fatal(err)
	}
	// Committed in this order; 2 pages of 200 and one of 100. The last
	// commits hold the oldest by the senders' clocks, and one (sec 450)
	// that belongs among the newest page.
	var want []string
	for i := range historyPage * 2 {
		sec := 1000 + i
		if i == 10 {
			sec = 450 + 1000
		}
		node.receive(groupMsg(team, alice, fmt.Sprintf("m%04d", i), sec, fmt.Sprintf("t%04d", sec)).msg)
	}
	for i := range historyPage / 2 {
		node.receive(groupMsg(team, bob, fmt.Sprintf("n%04d", i), i, fmt.Sprintf("t%04d", i)).msg)
	}
	for i := range historyPage / 2 {
		want = append(want, fmt.Sprintf("t%04d", i))
	}
	for i := range historyPage * 2 {
		if i != 10 {
			want = append(want, fmt.Sprintf("t%04d", 1000+i))
		}
	}
	want = slices.Sorted(slices.Values(append(want, "t1450")))
	h := newHarness(t, node, Options{})
	h.key("ctrl+n")
	c := h.m.convs[team.Key]
	for !c.complete {
		if !h.m.loadOlder(c) {
			break
		}
		got := groupOrder(h, team.Key)
		if !slices.IsSorted(got) {
			t.Fatalf("after a page, shown out of order: %q", got)
		}
	}
	if got := groupOrder(h, team.Key); !slices.Equal(got, want) {
		t.Fatalf("shown %d messages; want %d in order:\n%q", len(got), len(want), got)
	}
}

// TestGroupSendOffUpdate: Update only makes the command that sends to a
// group (the node writes the store); a refusal shows as an error line.
func TestGroupSendOffUpdate(t *testing.T) {
	node := threePeers()
	team, err := node.CreateGroup("team", []app.PeerKey{alice.Key})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, node, Options{})
	h.key("ctrl+n")
	h.typeText("hello")
	mm, cmd := h.m.Update(keyMsg("enter"))
	h.m = mm.(Model)
	if len(node.groupSent) != 0 || cmd == nil {
		t.Fatalf("Update sent %q itself (command %v); want it left to a command", node.groupSent, cmd != nil)
	}
	h.run(cmd)
	if !slices.Equal(node.groupSent, []string{"hello"}) {
		t.Fatalf("sent %q", node.groupSent)
	}
	h.update(changesMsg{})
	h.wantScreen("hello")

	node.sendErr = errors.New("you are not a member of #team")
	h.enter("refused")
	h.wantScreen("✗ not sent to #team (“refused”): you are not a member of #team")
	if c := h.m.convs[team.Key]; c == nil {
		t.Fatal("no group conversation")
	}
}
