package tui

import (
	"fmt"
	"slices"
	"strings"

	"github.com/parlance-chat/parlance/tui/textsafe"

	"github.com/charmbracelet/lipgloss"

	"github.com/parlance-chat/parlance/app"
	"github.com/parlance-chat/parlance/net/discovery"
)

// peerItem is one row of the peer list.
type peerItem struct {
	peer app.Peer
	// known is false for a conversation whose peer node.Peers() does not
	// list (say, a message from someone never discovered).
	known bool
	// name is what the list and the commands call the peer: the nickname
	// as textsafe.Name shows it, with "#tag" when it needs one to be told
	// apart (see nameItems). resolve knows these names.
	name string
	// group is set for a group's row (tui/groups.go): peer.Key is its
	// app.GroupKey and peer.Nickname "#name".
	group bool
}

// peerList is the left pane: every known peer and every conversation.
// The selection is held by key, so it survives reordering.
type peerList struct {
	items   []peerItem
	index   map[app.PeerKey]int
	nOnline int // items whose peer is online, counted when they are made
	sel     app.PeerKey
	offset  int // first row shown
	width   int // inside the border
	height  int
}

func (l *peerList) setSize(w, h int) {
	l.width, l.height = w, h
	l.scrollToSelection()
}

// selected returns the selected item.
func (l *peerList) selected() (peerItem, bool) {
	i, ok := l.index[l.sel]
	if !ok || l.sel == "" {
		return peerItem{}, false
	}
	return l.items[i], true
}

// item returns the item with key.
func (l *peerList) item(key app.PeerKey) (peerItem, bool) {
	i, ok := l.index[key]
	if !ok {
		return peerItem{}, false
	}
	return l.items[i], true
}

// move returns the key delta rows away from the selection (clamped), or
// the first key when nothing is selected.
func (l *peerList) move(delta int) app.PeerKey {
	if len(l.items) == 0 {
		return ""
	}
	i, ok := l.index[l.sel]
	if !ok {
		return l.items[0].peer.Key
	}
	i = min(max(i+delta, 0), len(l.items)-1)
	return l.items[i].peer.Key
}

func (l *peerList) scrollToSelection() {
	i, ok := l.index[l.sel]
	if !ok || l.height <= 0 {
		l.offset = min(l.offset, max(len(l.items)-l.height, 0))
		return
	}
	if i < l.offset {
		l.offset = i
	}
	if i >= l.offset+l.height {
		l.offset = i - l.height + 1
	}
	l.offset = max(min(l.offset, len(l.items)-l.height), 0)
}

// names are the display names, for completion.
func (l *peerList) names() []string {
	out := make([]string, len(l.items))
	for i, it := range l.items {
		out[i] = it.name
	}
	return out
}

// patch applies a peer event to the row of a listed peer whose nickname
// it does not change (so neither its place nor its name changes), at
// O(1), and reports whether it did; otherwise the list must be rebuilt.
func (l *peerList) patch(ev app.Event) bool {
	var p app.Peer
	switch ev := ev.(type) {
	case app.PeerJoined:
		p = ev.Peer
	case app.PeerUpdated:
		p = ev.Peer
	case app.PeerLeft:
		p = ev.Peer
	case app.PathChanged:
		p = ev.Peer
	default:
		return false
	}
	i, ok := l.index[p.Key]
	if !ok || !l.items[i].known || l.items[i].peer.Nickname != p.Nickname {
		return false
	}
	if p.Online != l.items[i].peer.Online {
		if p.Online {
			l.nOnline++
		} else {
			l.nOnline--
		}
	}
	l.items[i].peer = p
	return true
}

// online is the number of peers online.
func (l *peerList) online() int { return l.nOnline }

// refreshPeers rebuilds the peer list from node.Peers() and the
// conversations the node does not list. Such a conversation is kept (and
// has a row) only while it holds something worth keeping (see
// conversation.keep) or is in view; the others are dropped here, so peers
// that come and go leave nothing behind. What it costs depends on the
// peers the node lists and on the conversations kept, which the budget
// bounds.
func (m *Model) refreshPeers() {
	peers := m.node.Peers()
	items := make([]peerItem, 0, len(peers)+4)
	index := make(map[app.PeerKey]int, len(peers)+4)
	online := 0
	for _, it := range m.groupItems() {
		index[it.peer.Key] = len(items)
		items = append(items, it)
	}
	for _, p := range peers {
		if m.closed[p.Key] {
			continue
		}
		index[p.Key] = len(items)
		items = append(items, peerItem{peer: p, known: true})
		if p.Online {
			online++
		}
	}
	var extra []app.PeerKey
	for key, c := range m.convs {
		if _, ok := index[key]; ok || m.closed[key] {
			continue
		}
		if !c.keep() && key != m.list.sel {
			m.dropConversation(key)
			continue
		}
		extra = append(extra, key)
	}
	slices.Sort(extra)
	for _, key := range extra {
		index[key] = len(items)
		items = append(items, peerItem{peer: peerFromKey(key, m.convs[key].nick)})
	}
	m.nameItems(items)
	nameGroups(items)
	m.list.items, m.list.index, m.list.nOnline = items, index, online
	if _, ok := index[m.list.sel]; !ok && m.list.sel != "" {
		// Peers() should keep every peer with a conversation, so this is
		// unlikely; keep the conversation and fall back to none.
		m.list.sel = ""
	}
	m.list.scrollToSelection()
}

// nameItems gives each row its name: the nickname as textsafe.Name shows
// it, with "#tag" when another row's nickname looks the same (equal under
// textsafe.Fold: "alice", "Alice", "alice\u200b" and "ali\u00adce" all get
// tags), when it looks like the user's own nickname, when the nickname
// holds a "#" (so that it cannot pass for another peer's name and tag), or
// when it is empty. The folded forms are cached
// from one rebuild to the next, as folding costs more than the rest.
func (m *Model) nameItems(items []peerItem) {
	folds := make(map[string]string, len(items))
	count := make(map[string]int, len(items))
	group := make([]string, len(items))
	for i, it := range items {
		nick := it.peer.Nickname
		f, ok := folds[nick]
		if !ok {
			if f, ok = m.folds[nick]; !ok {
				// "alice#x" is grouped with "alice": it looks like her
				// name with a tag.
				base, _, _ := strings.Cut(nick, "#")
				f = textsafe.Fold(base)
			}
			folds[nick] = f
		}
		group[i] = f
		count[f]++
	}
	m.folds = folds
	base, _, _ := strings.Cut(m.self.Nickname, "#")
	selfFold := textsafe.Fold(base)
	for i := range items {
		it := &items[i]
		nick := it.peer.Nickname
		it.name = textsafe.Name(nick)
		// A peer whose name looks like the user's own is tagged too.
		if count[group[i]] > 1 || group[i] == selfFold || nick == "" || strings.Contains(nick, "#") {
			it.name += "#" + tagOf(it.peer)
		}
	}
}

// peerFromKey makes a Peer for a conversation node.Peers() does not list.
func peerFromKey(key app.PeerKey, nick string) app.Peer {
	p := app.Peer{Key: key, Nickname: nick}
	if id, ok := strings.CutPrefix(string(key), "id:"); ok {
		p.Identity = id
		p.Trust = app.TrustNew
	}
	return p
}

// tagOf is Peer.Tag that also works for a peer known only by its key.
func tagOf(p app.Peer) string {
	if p.Identity != "" || p.Addr.IsValid() {
		return p.Tag()
	}
	if _, rest, ok := strings.Cut(string(p.Key), "@"); ok {
		return rest
	}
	return string(p.Key)
}

// trustMark is the plain mark shown after a peer's name and its style:
// "!" unencrypted, "✓" verified, "⚠" key changed.
func (m *Model) trustMark(it peerItem) (string, lipgloss.Style) {
	if !it.known {
		return "", m.st.dim
	}
	switch it.peer.Trust {
	case app.TrustNone:
		return "!", m.st.warning
	case app.TrustVerified:
		return "✓", m.st.verified
	case app.TrustChanged:
		return "⚠", m.st.warning
	}
	return "", m.st.dim
}

// listView renders the rows of the peer list, exactly width×height.
func (m *Model) listView() []string {
	l := &m.list
	rows := make([]string, 0, l.height)
	if len(l.items) == 0 {
		hint := "no peers yet"
		if m.self.Mode == "internet" {
			hint = "not connected to the server yet"
			if m.source != nil && m.source.Phase == discovery.Online {
				hint = "no peers on the server yet"
			}
		}
		for _, s := range wrapText(hint, l.width-1, l.width-1) {
			rows = append(rows, " "+m.st.dim.Render(s))
		}
	}
	for i := l.offset; i < len(l.items) && len(rows) < l.height; i++ {
		rows = append(rows, m.listRow(l.items[i], l.items[i].peer.Key == l.sel))
	}
	for len(rows) < l.height {
		rows = append(rows, "")
	}
	for i, r := range rows {
		rows[i] = padRight(r, l.width)
	}
	return rows[:l.height]
}

// listRow is one peer: selection mark, online dot ("?", dimmed with the
// name, for a peer online but unconfirmed), name, trust mark and unread
// count, e.g. "▸● alice#ABCDEFG ✓   3". The selected row is one
// reverse-video bar.
func (m *Model) listRow(it peerItem, selected bool) string {
	w := m.list.width
	lead := " "
	if selected {
		lead = "▸"
	}
	dot := "○"
	switch {
	case it.peer.Online && it.peer.Unconfirmed:
		dot = "?" // online, but the server has not listed it since it reconnected
	case it.peer.Online:
		dot = "●"
	}
	lead += dot + " "
	mark, markStyle := m.trustMark(it)
	unread := ""
	if c, ok := m.convs[it.peer.Key]; ok && c.unread > 0 {
		unread = fmt.Sprint(c.unread)
		if c.unread > 999 {
			unread = "999+"
		}
	}
	fixed := textWidth(lead) + 1 // and a space at the right edge
	if mark != "" {
		fixed += 1 + textWidth(mark)
	}
	if unread != "" {
		fixed += 1 + len(unread)
	}
	name := truncate(it.name, w-fixed)
	gap := max(w-fixed-textWidth(name), 0)
	if unread != "" {
		gap++
	}
	if selected {
		row := lead + name
		if mark != "" {
			row += " " + mark
		}
		return m.st.selected.Render(row + strings.Repeat(" ", gap) + unread + " ")
	}
	nameStyle := m.st.nickStyle(string(it.peer.Key))
	if !it.peer.Online || it.peer.Unconfirmed {
		nameStyle = m.st.offline
	}
	if it.peer.Unconfirmed {
		lead = lead[:1] + m.st.dim.Render(dot) + " "
	}
	row := lead + nameStyle.Render(name)
	if mark != "" {
		row += " " + markStyle.Render(mark)
	}
	row += strings.Repeat(" ", gap)
	if unread != "" {
		row += m.st.unread.Render(unread)
	}
	return row + " "
}
