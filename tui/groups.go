package tui

import (
	"fmt"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/parlance-chat/parlance/app"
	"github.com/parlance-chat/parlance/tui/command"
	"github.com/parlance-chat/parlance/tui/groupcmd"
	"github.com/parlance-chat/parlance/tui/textsafe"
)

// Groups in the full-screen UI: each group is a row at the top of the
// left pane, named "#name", keyed by app.GroupKey (its conversation's id),
// with its unread count like a peer's. Selecting one and typing sends to
// the group. Group messages come from the store like any other.

// groupNode returns the node's groups, if it has them.
func (m *Model) groupNode() (groupcmd.Node, bool) {
	g, ok := m.node.(groupcmd.Node)
	return g, ok
}

// groupItems are the rows of the groups, by name.
func (m *Model) groupItems() []peerItem {
	g, ok := m.groupNode()
	if !ok {
		return nil
	}
	var out []peerItem
	for _, info := range g.Groups() {
		if m.closed[info.Key] {
			continue
		}
		p := app.Peer{Key: info.Key, Nickname: "#" + info.Name, Online: info.Joined, Trust: app.TrustKnown}
		out = append(out, peerItem{peer: p, known: true, group: true})
	}
	return out
}

// nameGroups names the group rows "#name" (nameItems tags names with a
// "#", which a group's always has).
func nameGroups(items []peerItem) {
	for i := range items {
		if items[i].group {
			items[i].name = textsafe.Name(items[i].peer.Nickname)
		}
	}
}

// runGroup runs /group ... and /groups, and shows what they say.
func (m *Model) runGroup(cmd command.Command) error {
	g, ok := m.groupNode()
	if !ok {
		return groupcmd.ErrUnavailable
	}
	lines, err := groupcmd.Run(g, cmd)
	if err != nil {
		return err
	}
	for _, l := range lines {
		m.say(kindSystem, "· "+l)
	}
	m.refreshPeers()
	return nil
}

// sendGroup posts text to a group row in a command, off Update (the
// node stores the message, which may wait on the disk); the message shows
// from the store's changes, and a refusal as an error line.
func (m *Model) sendGroup(it peerItem, text string) (tea.Cmd, error) {
	g, ok := m.groupNode()
	if !ok {
		return nil, groupcmd.ErrUnavailable
	}
	c := m.conv(it.peer.Key, it.peer.Nickname)
	c.talked = m.activity
	c.follow = true
	key, name := it.peer.Key, it.name
	m.groupSaving++
	return func() tea.Msg {
		_, err := g.SendToGroup(key, text)
		return groupSentMsg{key: key, name: name, text: text, err: err}
	}, nil
}

// groupSentMsg is the outcome of SendToGroup.
type groupSentMsg struct {
	key        app.PeerKey
	name, text string
	err        error
}

// handleGroupSent shows a refused group message as an error line, in the
// group's conversation and in the one in view.
func (m *Model) handleGroupSent(msg groupSentMsg) {
	if msg.err == nil {
		return
	}
	m.log.Warn("group send failed", "group", msg.key, "err", msg.err)
	line := "✗ not sent to " + msg.name + " (“" + excerpt(textsafe.Line(msg.text), 30) + "”): " + textsafe.Line(msg.err.Error())
	m.addLine(m.conv(msg.key, ""), kindError, line)
	if m.list.sel != msg.key {
		m.say(kindError, line)
	}
}

// handleGroupEvent shows an invitation, and rebuilds the list when a
// group changed.
func (m *Model) handleGroupEvent(ev app.Event) (refresh bool, note string) {
	switch ev := ev.(type) {
	case app.GroupInvited:
		text := groupcmd.Invitation(ev.Invitation)
		m.say(kindSystem, "· "+textsafe.Line(text))
		return false, textsafe.Line(text)
	case app.GroupChanged:
		if c, ok := m.convs[ev.Group.Key]; ok {
			m.addLine(c, kindSystem, "· "+textsafe.Line(groupcmd.Members(ev.Group)))
		}
		return true, ""
	}
	return false, ""
}

// groupTitle names the group in view: "#team · 3 members · admin".
func (m *Model) groupTitle(it peerItem) string {
	g, ok := m.groupNode()
	if !ok {
		return it.name
	}
	info, ok := g.Group(it.peer.Key)
	switch {
	case !ok:
		return it.name
	case info.Joining:
		return fmt.Sprintf("%s · group · joining: the rest comes from a member once one is online", it.name)
	case !info.Joined:
		return fmt.Sprintf("%s · group · you are no longer a member", it.name)
	case info.Admin:
		return fmt.Sprintf("%s · group of %d · you are an admin", it.name, len(info.Members))
	}
	return fmt.Sprintf("%s · group of %d", it.name, len(info.Members))
}
