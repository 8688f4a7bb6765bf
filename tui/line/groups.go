package line

import (
	"fmt"
	"strings"

	"github.com/parlance-chat/parlance/app"
	"github.com/parlance-chat/parlance/tui/command"
	"github.com/parlance-chat/parlance/tui/groupcmd"
	"github.com/parlance-chat/parlance/tui/textsafe"
)

// groups returns the node's group commands, or prints why there are none.
func (u *UI) groups() (groupcmd.Node, bool) {
	g, ok := u.node.(groupcmd.Node)
	if !ok {
		u.printf("error: %v", groupcmd.ErrUnavailable)
	}
	return g, ok
}

// group runs /group ... and /groups.
func (u *UI) group(c command.Command) {
	g, ok := u.groups()
	if !ok {
		return
	}
	lines, err := groupcmd.Run(g, c)
	if err != nil {
		u.printf("error: %v", err)
		return
	}
	for _, l := range lines {
		u.printf("* %s", textsafe.Line(l))
	}
}

// resolveGroup finds the group named name, or prints why not.
func (u *UI) resolveGroup(name string) (app.GroupInfo, bool) {
	g, ok := u.groups()
	if !ok {
		return app.GroupInfo{}, false
	}
	info, err := g.ResolveGroup(name)
	if err != nil {
		u.printf("error: %v", err)
		return app.GroupInfo{}, false
	}
	return info, true
}

// selectGroup makes plain lines go to a group (/msg #team).
func (u *UI) selectGroup(name string) {
	info, ok := u.resolveGroup(name)
	if !ok {
		return
	}
	u.sel = info.Key
	u.printf("* plain lines now go to #%s", textsafe.Line(info.Name))
}

// sendGroup is /send #name <text>.
func (u *UI) sendGroup(name, text string) {
	info, ok := u.resolveGroup(name)
	if !ok {
		u.failed++
		return
	}
	u.sendGroupKey(info.Key, text)
}

func (u *UI) sendGroupKey(key app.PeerKey, text string) {
	g, ok := u.groups()
	if !ok {
		u.failed++
		return
	}
	m, err := g.SendToGroup(key, text)
	if err != nil {
		u.failed++
		u.printf("error: %v", err)
		return
	}
	u.printf("[%s] %s you: %s", m.Sent.Local().Format("15:04:05"), u.groupName(g, key), textsafe.Line(m.Text))
}

func (u *UI) groupName(g groupcmd.Node, key app.PeerKey) string {
	if info, ok := g.Group(key); ok {
		return "#" + textsafe.Line(info.Name)
	}
	return "#?"
}

// groupChange prints a new message of a group conversation as
// "[15:04:05] #team alice: text" and reports whether m was a group's.
// This node's own messages were printed when sent.
func (u *UI) groupChange(m app.Message) bool {
	key := app.PeerKey(m.Conv)
	if !app.IsGroupKey(key) {
		return false
	}
	if m.Seq <= u.version || m.Outgoing || u.ignored.Drop(app.PeerKey(m.Peer)) {
		return true
	}
	name := "#?"
	if g, ok := u.node.(groupcmd.Node); ok {
		name = u.groupName(g, key)
	}
	u.printf("[%s] %s %s: %s", m.Sent.Local().Format("15:04:05"), name, textsafe.Line(m.From), textsafe.Line(m.Text))
	return true
}

// groupEvent prints group events: invitations, and membership changes.
func (u *UI) groupEvent(e app.Event) {
	switch e := e.(type) {
	case app.GroupInvited:
		u.printf("* %s", textsafe.Line(groupcmd.Invitation(e.Invitation)))
	case app.GroupChanged:
		u.printf("* %s", textsafe.Line(groupcmd.Members(e.Group)))
	}
}

// groupHistory prints the last n stored messages of a group in the order
// every member shows them (app.DisplayOrder), not in the order they came:
// "[15:04:05] alice: text" by the sender's clock.
func (u *UI) groupHistory(name string, n int) {
	info, ok := u.resolveGroup(name)
	if !ok {
		return
	}
	if n <= 0 {
		n = 20
	}
	ms, err := u.node.History(app.ConvID(info.Key), 0, n)
	if err != nil {
		u.printf("error: %v", err)
		return
	}
	if len(ms) == 0 {
		u.printf("* no messages in #%s", textsafe.Line(info.Name))
		return
	}
	app.DisplayOrder(ms)
	var b strings.Builder
	fmt.Fprintf(&b, "* last %d message(s) in #%s:", len(ms), textsafe.Line(info.Name))
	for _, m := range ms {
		who := textsafe.Line(m.From)
		if m.Outgoing {
			who = "you"
		}
		fmt.Fprintf(&b, "\n  [%s] %s: %s", m.Sent.Local().Format("2 Jan 15:04:05"), who, textsafe.Line(m.Text))
	}
	u.printf("%s", b.String())
}
