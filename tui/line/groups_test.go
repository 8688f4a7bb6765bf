package line

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parlance-chat/parlance/app"
	"github.com/parlance-chat/parlance/app/group"
	"github.com/parlance-chat/parlance/app/store"
)

// fakeGroupNode is a fakeNode with groups: one list of members per group.
type fakeGroupNode struct {
	*fakeNode
	groups []app.GroupInfo
}

func (f *fakeGroupNode) Groups() []app.GroupInfo { return f.groups }
func (f *fakeGroupNode) Group(key app.PeerKey) (app.GroupInfo, bool) {
	i := slices.IndexFunc(f.groups, func(g app.GroupInfo) bool { return g.Key == key })
	if i < 0 {
		return app.GroupInfo{}, false
	}
	return f.groups[i], true
}
func (f *fakeGroupNode) ResolveGroup(name string) (app.GroupInfo, error) {
	for _, g := range f.groups {
		if g.Name == strings.TrimPrefix(name, "#") {
			return g, nil
		}
	}
	return app.GroupInfo{}, fmt.Errorf("no group #%s", strings.TrimPrefix(name, "#"))
}
func (f *fakeGroupNode) Invitations() []app.GroupInvitation { return nil }
func (f *fakeGroupNode) CreateGroup(name string, members []app.PeerKey) (app.GroupInfo, error) {
	g := app.GroupInfo{Key: app.PeerKey(app.GroupKeyPrefix + fmt.Sprintf("%032x", len(f.groups)+1)), Name: name, Joined: true, Admin: true,
		Members: []app.GroupMember{{Nickname: f.nick, Admin: true, Self: true}}}
	for _, k := range members {
		p, _ := f.Peer(k)
		if p.Original() {
			return app.GroupInfo{}, fmt.Errorf("%s: %w", p.Nickname, group.ErrOriginalPeer)
		}
		g.Members = append(g.Members, app.GroupMember{Key: k, Nickname: p.Nickname, Online: p.Online})
	}
	f.groups = append(f.groups, g)
	return g, nil
}
func (f *fakeGroupNode) InviteToGroup(g, p app.PeerKey) error { return nil }
func (f *fakeGroupNode) KickFromGroup(g, p app.PeerKey) error { return nil }
func (f *fakeGroupNode) LeaveGroup(g app.PeerKey) error       { return nil }
func (f *fakeGroupNode) PromoteInGroup(g, p app.PeerKey) error {
	return f.edit(g, func(gi *app.GroupInfo) {
		for i := range gi.Members {
			gi.Members[i].Admin = gi.Members[i].Admin || gi.Members[i].Key == p
		}
	})
}
func (f *fakeGroupNode) RenameGroup(g app.PeerKey, name string) error {
	return f.edit(g, func(gi *app.GroupInfo) { gi.Name = name })
}
func (f *fakeGroupNode) edit(key app.PeerKey, edit func(*app.GroupInfo)) error {
	i := slices.IndexFunc(f.groups, func(g app.GroupInfo) bool { return g.Key == key })
	if i < 0 {
		return fmt.Errorf("no group %s", key)
	}
	edit(&f.groups[i])
	return nil
}
func (f *fakeGroupNode) JoinGroup(name string) (app.GroupInfo, error) {
	return app.GroupInfo{}, fmt.Errorf("no invitation to #%s", name)
}
func (f *fakeGroupNode) SendToGroup(key app.PeerKey, text string) (app.Message, error) {
	m := app.Message{ID: fmt.Sprintf("%032x", time.Now().UnixNano()), Conv: app.ConvID(key), Peer: "id:me", From: f.nick, Text: text,
		Outgoing: true, Sent: time.Now(), At: time.Now(), State: store.SentNoReceipt}
	added, err := f.store.Append([]app.Message{m})
	if err != nil {
		return app.Message{}, err
	}
	f.notify()
	return added[0], nil
}

func TestGroupCommands(t *testing.T) {
	a := strings.Repeat("B", 52)
	events := make(chan app.Event, 10)
	node := &fakeGroupNode{fakeNode: newFakeNode("me", events,
		peer("alice", a, 5000, true), peer("bob", "", 6000, true), peer("carol", strings.Repeat("D", 52), 7000, false))}
	s := start(t, node)
	tests := []struct{ in, want string }{
		{"/groups", "no groups; /group new #name"},
		{"/group new #team alice carol", "created #team and invited alice, carol"},
		{"/group new #plain bob", "bob: an original Parlance peer has no identity key, so it cannot be a group member"},
		{"/group members #team", "#team: 3 members: me (admin, you), alice (online), carol"},
		{"/groups", "#team: 3 members, you are an admin"},
		{"/send #team hello all", "#team you: hello all"},
		{"/send #nope hi", "no group #nope"},
		{"/msg #team", "plain lines now go to #team"},
		{"plain line", "#team you: plain line"},
		{"/group join #other", "no invitation to #other"},
		{"/group promote #team alice", "alice is now an admin of #team"},
		{"/group members #team", "#team: 3 members: me (admin, you), alice (admin, online), carol"},
		{"/group rename #team #crew", "renamed #team to #crew"},
		{"/groups", "#crew: 3 members, you are an admin"},
		{"/group rename #team x", "no group #team"},
	}
	for _, tt := range tests {
		s.send(tt.in)
		if got := s.expect(tt.want); got == "" {
			t.Errorf("%s: no %q", tt.in, tt.want)
		}
	}

	// A message of a member prints as [HH:MM:SS] #name nick: text.
	at := time.Date(2026, 12, 2, 9, 8, 7, 0, time.Local)
	node.receive(app.Message{ID: strings.Repeat("9", 32), Conv: app.ConvID(node.groups[0].Key), Peer: "id:" + a, From: "alice", Text: "hi team", Sent: at})
	if got, want := s.expect("hi team"), "[09:08:07] #crew alice: hi team"; got != want {
		t.Errorf("printed %q, want %q", got, want)
	}

	events <- app.GroupInvited{Invitation: app.GroupInvitation{Name: "x", ByNick: "mallory"}}
	s.expect("mallory invited you to #x (you have NEVER talked with them); /group join #x accepts")
	events <- app.GroupInvited{Invitation: app.GroupInvitation{Name: "y", ByNick: "alice", Known: true}}
	s.expect("alice invited you to #y (you have talked with them before)")
}

// TestGroupHistoryOrder: line mode prints a group message as it arrives,
// a late one too, and /history #name prints the group in the order every
// member shows it (sender's time, then id).
func TestGroupHistoryOrder(t *testing.T) {
	a := strings.Repeat("B", 52)
	node := &fakeGroupNode{fakeNode: newFakeNode("me", make(chan app.Event, 10), peer("alice", a, 5000, true))}
	s := start(t, node)
	s.send("/group new #team alice")
	s.expect("created #team")
	conv := app.ConvID(node.groups[0].Key)
	at := time.Date(2026, 12, 2, 9, 0, 0, 0, time.Local)
	for _, m := range []struct {
		id   string
		sec  int
		text string
	}{{"a2", 20, "second"}, {"a3", 30, "third"}, {"a1", 10, "first (late)"}, {"a0", 20, "tie, lower id"}} {
		node.receive(app.Message{ID: m.id, Conv: conv, Peer: "id:" + a, From: "alice", Text: m.text, Sent: at.Add(time.Duration(m.sec) * time.Second)})
		s.expect("#team alice: " + m.text) // as it arrives
	}
	s.send("/history #team")
	s.expect("* last 4 message(s) in #team:")
	for _, want := range []string{"09:00:10] alice: first (late)", "09:00:20] alice: tie, lower id", "09:00:20] alice: second", "09:00:30] alice: third"} {
		s.expect(want)
	}
}
