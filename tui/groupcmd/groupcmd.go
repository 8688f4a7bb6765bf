// Package groupcmd runs the group commands (/group ..., /groups) for both
// UIs and words what they print, so the line mode and the full-screen UI
// say the same things.
package groupcmd

import (
	"errors"
	"fmt"
	"strings"

	"github.com/parlance-chat/parlance/app"
	"github.com/parlance-chat/parlance/tui/command"
)

// Node is what the group commands need of app.Node.
type Node interface {
	app.GroupAPI
	Resolve(name string) []app.Peer
}

// ErrUnavailable: the node has no groups (a UI given a node without them).
var ErrUnavailable = errors.New("groups are not available in this session")

// Run runs a Group or Groups command and returns the lines to show.
// Errors are one line, fit to show as they are.
func Run(n Node, c command.Command) ([]string, error) {
	if c.Kind == command.Groups {
		return list(n), nil
	}
	switch c.Sub {
	case command.GroupNew:
		var keys []app.PeerKey
		var names []string
		for _, nick := range c.Nicks {
			p, err := Peer(n, nick)
			if err != nil {
				return nil, err
			}
			keys = append(keys, p.Key)
			names = append(names, p.Nickname)
		}
		g, err := n.CreateGroup(c.Group, keys)
		if err != nil {
			return nil, err
		}
		if len(names) == 0 {
			return []string{fmt.Sprintf("created #%s; /group invite #%s <nick> adds members", g.Name, g.Name)}, nil
		}
		return []string{fmt.Sprintf("created #%s and invited %s (they see it once they /group join #%s)", g.Name, strings.Join(names, ", "), g.Name)}, nil
	case command.GroupJoin:
		g, err := n.JoinGroup(c.Group)
		if err != nil {
			return nil, err
		}
		return []string{fmt.Sprintf("joined #%s; its history is on its way", g.Name)}, nil
	}
	g, err := n.ResolveGroup(c.Group)
	if err != nil {
		return nil, err
	}
	switch c.Sub {
	case command.GroupRename:
		if err := n.RenameGroup(g.Key, c.Text); err != nil {
			return nil, err
		}
		return []string{fmt.Sprintf("renamed #%s to #%s", g.Name, c.Text)}, nil
	case command.GroupInvite, command.GroupKick, command.GroupPromote:
		p, err := Peer(n, c.Nicks[0])
		if err != nil {
			return nil, err
		}
		if c.Sub == command.GroupPromote {
			if err := n.PromoteInGroup(g.Key, p.Key); err != nil {
				return nil, err
			}
			return []string{fmt.Sprintf("%s is now an admin of #%s", p.Nickname, g.Name)}, nil
		}
		if c.Sub == command.GroupInvite {
			if err := n.InviteToGroup(g.Key, p.Key); err != nil {
				return nil, err
			}
			return []string{fmt.Sprintf("invited %s to #%s", p.Nickname, g.Name)}, nil
		}
		if err := n.KickFromGroup(g.Key, p.Key); err != nil {
			return nil, err
		}
		return []string{fmt.Sprintf("removed %s from #%s", p.Nickname, g.Name)}, nil
	case command.GroupLeave:
		if err := n.LeaveGroup(g.Key); err != nil {
			return nil, err
		}
		return []string{fmt.Sprintf("you left #%s; its history stays", g.Name)}, nil
	case command.GroupMembers:
		return []string{Members(g)}, nil
	}
	return nil, fmt.Errorf("/group %s: unknown", c.Sub)
}

// Peer finds the one peer a name means (nick or nick#tag).
func Peer(n Node, name string) (app.Peer, error) {
	ps := n.Resolve(name)
	switch len(ps) {
	case 0:
		return app.Peer{}, fmt.Errorf("no peer called %s (/peers lists them)", name)
	case 1:
		return ps[0], nil
	}
	choices := make([]string, len(ps))
	for i, p := range ps {
		choices[i] = p.Nickname + "#" + p.Tag()
	}
	return app.Peer{}, fmt.Errorf("%d peers are called %s: %s; name one as nick#tag", len(ps), name, strings.Join(choices, ", "))
}

// Members words a group's member list: "#team: alice (admin, you), bob
// (online), carol".
func Members(g app.GroupInfo) string {
	parts := make([]string, len(g.Members))
	for i, m := range g.Members {
		var tags []string
		if m.Admin {
			tags = append(tags, "admin")
		}
		switch {
		case m.Self:
			tags = append(tags, "you")
		case m.Online:
			tags = append(tags, "online")
		}
		parts[i] = m.Nickname
		if len(tags) > 0 {
			parts[i] += " (" + strings.Join(tags, ", ") + ")"
		}
	}
	s := fmt.Sprintf("#%s: %d members: %s", g.Name, len(g.Members), strings.Join(parts, ", "))
	switch {
	case g.Joining:
		s += " (joining: the rest comes from a member once one is online)"
	case !g.Joined:
		s += " (you are no longer a member)"
	}
	return s
}

// Invitation words an invitation: who invited, whether this node ever
// talked with them, and how to accept.
func Invitation(inv app.GroupInvitation) string {
	known := "you have talked with them before"
	if !inv.Known {
		known = "you have NEVER talked with them"
	}
	return fmt.Sprintf("%s invited you to #%s (%s); /group join #%s accepts, doing nothing declines", inv.ByNick, inv.Name, known, inv.Name)
}

func list(n Node) []string {
	var out []string
	for _, g := range n.Groups() {
		role := ""
		switch {
		case !g.Joined:
			role = ", you left or were removed"
		case g.Admin:
			role = ", you are an admin"
		}
		out = append(out, fmt.Sprintf("#%s: %d members%s", g.Name, len(g.Members), role))
	}
	for _, inv := range n.Invitations() {
		out = append(out, "invitation: "+Invitation(inv))
	}
	if len(out) == 0 {
		out = []string{"no groups; /group new #name <nick>... makes one"}
	}
	return out
}
