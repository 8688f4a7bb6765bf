package tui

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

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
func (f *fakeNode) JoinGroup(name string) (app.GroupInfo, error) {
	return app.GroupInfo{}, errors.New("no invitation")
}
func (f *fakeNode) SendToGroup(key app.PeerKey, text string) (app.Message, error) {
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
	h.events(app.GroupInvited{Invitation: app.GroupInvitation{Name: "x", ByNick: "mallory"}})
	h.wantScreen("mallory invited you to #x (you have NEVER talked with them)")
}
