package tui

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/parlance-chat/parlance/tui/textsafe"

	"github.com/charmbracelet/lipgloss"

	"github.com/parlance-chat/parlance/app"
	"github.com/parlance-chat/parlance/net/discovery"
	"github.com/parlance-chat/parlance/tui/command"
)

// View draws the whole screen. Its cost depends on the size of the
// terminal, not on the length of any history or the number of peers.
func (m Model) View() string {
	if m.width == 0 {
		return ""
	}
	if m.layout.tooSmall {
		return m.tooSmallView()
	}
	unread := m.unread()
	var body []string
	if m.showHelp {
		lines, more := m.helpLines(m.width-4, m.layout.bodyH-2)
		footer := ""
		if more {
			footer = "↓ more (pgdn)"
		}
		body = m.box("Help", footer, lines, m.width, m.layout.bodyH, true)
	} else if m.search != nil {
		body = m.box(m.searchTitle(), "", m.searchLines(m.width-4, m.layout.bodyH-2), m.width, m.layout.bodyH, true)
	} else {
		left := m.box(m.listTitle(), m.listFooter(unread), m.listView(), m.layout.listW, m.layout.bodyH, false)
		lines, below := m.conversationLines()
		footer := ""
		if below > 0 {
			footer = fmt.Sprintf("↓ %d more (pgdn)", below)
		}
		right := m.box(m.conversationTitle(), footer, lines, m.layout.convW, m.layout.bodyH, true)
		body = make([]string, len(left))
		for i := range left {
			body[i] = left[i] + right[i]
		}
	}
	var b strings.Builder
	for _, l := range body {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	b.WriteString(m.statusLine(unread))
	b.WriteByte('\n')
	for _, l := range m.inputView() {
		b.WriteString(padRight(truncate(l, m.width), m.width))
		b.WriteByte('\n')
	}
	b.WriteString(m.helpLine())
	return b.String()
}

func (m Model) tooSmallView() string {
	msg := fmt.Sprintf("Terminal too small: %d×%d, Parlance needs %d×%d.\nMake the window larger, or press ctrl+c to quit.",
		m.width, m.height, minWidth, minHeight)
	var lines []string
	for _, l := range strings.Split(msg, "\n") {
		lines = append(lines, wrapText(l, m.width, m.width)...)
	}
	return lipgloss.Place(m.width, m.height, lipgloss.Center, lipgloss.Center, strings.Join(lines, "\n"))
}

// box draws lines inside a rounded border w cells wide and h high, with a
// title in the top edge and a footer in the bottom edge. With pad, the
// text gets a space of padding on each side.
func (m *Model) box(title, footer string, lines []string, w, h int, pad bool) []string {
	inner := w - 2
	bar := m.st.border.Render("│")
	out := make([]string, 0, h)
	if title != "" {
		title = m.st.title.Render(truncate(title, inner-4))
	}
	if footer != "" {
		footer = m.st.dim.Render(truncate(footer, inner-4))
	}
	out = append(out, m.edge("╭", "╮", title, inner))
	for i := 0; i < h-2; i++ {
		line := ""
		if i < len(lines) {
			line = lines[i]
		}
		if pad {
			line = " " + padRight(line, inner-2) + " "
		} else {
			line = padRight(line, inner)
		}
		out = append(out, bar+line+bar)
	}
	out = append(out, m.edge("╰", "╯", footer, inner))
	return out
}

// edge is a horizontal border line with a label after its first corner.
func (m *Model) edge(left, right, label string, inner int) string {
	if label == "" {
		return m.st.border.Render(left + strings.Repeat("─", inner) + right)
	}
	rest := max(inner-3-textWidth(label), 0)
	return m.st.border.Render(left+"─ ") + label + m.st.border.Render(" "+strings.Repeat("─", rest)+right)
}

func (m *Model) listTitle() string {
	peers := len(m.list.items)
	for _, it := range m.list.items {
		if it.group {
			peers-- // groups come first, and are few
		} else {
			break
		}
	}
	return fmt.Sprintf("Peers %d/%d", m.list.online(), peers)
}

// conversationTitle names the peer in view with its state and trust.
func (m *Model) conversationTitle() string {
	it, ok := m.list.selected()
	if !ok {
		return "Parlance"
	}
	if it.group {
		return m.groupTitle(it)
	}
	parts := []string{it.name}
	switch {
	case it.peer.Online && it.peer.Unconfirmed:
		parts = append(parts, "online?")
	case it.peer.Online:
		parts = append(parts, "online")
	case it.known:
		parts = append(parts, "offline")
	}
	if r := it.peer.Route(); r != "" {
		parts = append(parts, r) // "internet, punched"
	}
	if it.known {
		parts = append(parts, trustText(it.peer.Trust))
	}
	return strings.Join(parts, " · ")
}

// trustText says what the trust means for the user.
func trustText(t app.Trust) string {
	switch t {
	case app.TrustNone:
		return "! " + t.Label()
	case app.TrustVerified:
		return "✓ " + t.Label()
	case app.TrustChanged:
		return "⚠ " + t.Label()
	}
	return t.Label() // new or known: "encrypted, not verified"
}

// conversationLines are the visible lines of the conversation in view.
func (m *Model) conversationLines() (lines []string, below int) {
	c := m.current()
	if c == m.home && len(c.entries) == 0 {
		return m.welcome(), 0
	}
	xl := m.transferLines(c.key, m.layout.textW)
	lines, below = c.visible(m.layout.textW, m.layout.viewH-len(xl), m.renderEntry)
	return append(lines, xl...), below
}

func (m *Model) welcome() []string {
	text := []string{
		"Welcome to Parlance, " + textsafe.Name(m.self.Nickname) + ".",
		"",
		"Peers appear on the left as they are found. Pick one with Alt+↓ or Ctrl+N (or Alt+1…9, a click, /msg <nick>) and type to chat; Enter sends.",
		"",
		"F1 or /help lists the commands and keys. Ctrl+C quits.",
	}
	var out []string
	for _, t := range text {
		out = append(out, wrapText(t, m.layout.textW, m.layout.textW)...)
	}
	return out
}

// timeFormat is how message times are shown.
const timeFormat = "15:04"

// renderEntry turns an entry into its lines at a width (the lineRenderer
// of every conversation). Continuation lines are indented under the text.
func (m *Model) renderEntry(e *entry, width int) []string {
	if e.kind == kindDay {
		label := " " + e.at.In(m.loc).Format("Monday, 2 January 2006") + " "
		side := max((width-textWidth(label))/2, 2)
		line := strings.Repeat("─", side) + label + strings.Repeat("─", max(width-side-textWidth(label), 2))
		return []string{m.st.dim.Render(truncate(line, width))}
	}
	stamp := e.at.In(m.loc).Format(timeFormat)
	switch e.kind {
	case kindIn, kindOut:
		lines := m.renderMessage(e, stamp, width)
		if e.marked {
			lines = append([]string{m.readMarker(width)}, lines...)
		}
		return lines
	}
	style := m.st.dim
	switch e.kind {
	case kindInfo:
		style = m.st.plain
	case kindWarning:
		style = m.st.warning
	case kindError:
		style = m.st.errorText
	}
	indent := textWidth(stamp) + 3 // time, space, mark, space
	body := wrapText(e.text, width-textWidth(stamp)-1, width-indent)
	out := make([]string, len(body))
	for i, l := range body {
		if i == 0 {
			out[i] = m.st.dim.Render(stamp) + " " + style.Render(l)
		} else {
			out[i] = strings.Repeat(" ", indent) + style.Render(l)
		}
	}
	return out
}

// readMarker is the line above the first message that arrived while
// the conversation was out of view.
func (m *Model) readMarker(width int) string {
	label := " new "
	side := max((width-textWidth(label))/2, 2)
	return m.st.marker.Render(truncate(strings.Repeat("─", side)+label+strings.Repeat("─", max(width-side-textWidth(label), 2)), width))
}

// renderMessage draws "HH:MM nick: text", the nickname in the sender's
// colour (bold for our own), and the send state of our own messages. An
// action (/me) is "HH:MM * nick text"; a message naming the user is
// highlighted.
func (m *Model) renderMessage(e *entry, stamp string, width int) []string {
	nick := truncate(e.from, max(width/3, 4))
	nickStyle := m.st.nickStyle(e.color)
	if e.kind == kindOut {
		nickStyle = m.st.own
	}
	text, sep := e.text, ": "
	if act, ok := command.IsAction(text); ok {
		text, sep = act, " "
		nick = "* " + nick
	}
	if e.kind == kindIn && mentions(text, m.self.Nickname) {
		nickStyle = m.st.mention
	}
	prefixW := textWidth(stamp) + 1 + textWidth(nick) + textWidth(sep)
	indent := prefixW
	if indent > width/2 {
		indent = textWidth(stamp) + 1
	}
	body := wrapText(text, width-prefixW, width-indent)
	shown := body
	if m.links {
		shown = linkURLs(text, body)
	}
	out := make([]string, len(body))
	for i := range body {
		if i == 0 {
			out[i] = m.st.dim.Render(stamp) + " " + nickStyle.Render(nick) + sep + shown[i]
		} else {
			out[i] = strings.Repeat(" ", indent) + shown[i]
		}
	}
	mark, failed := stateMark(e)
	if mark == "" {
		return out
	}
	markStyle := m.st.dim
	if failed {
		markStyle = m.st.errorText
	}
	last := len(out) - 1
	lastW := textWidth(body[last])
	if last == 0 {
		lastW += prefixW
	} else {
		lastW += indent
	}
	if lastW+1+textWidth(mark) <= width {
		out[last] += " " + markStyle.Render(mark)
	} else {
		out = append(out, strings.Repeat(" ", indent)+markStyle.Render(mark))
	}
	return out
}

// statusLine: own nickname, mode (and room), the hotlist (the
// conversations with unread messages), peers online, the bootstrap
// server's state and the listen address.
func (m *Model) statusLine(unread unreadSummary) string {
	parts := []string{textsafe.Name(m.self.Nickname)}
	if m.self.Mode != "" {
		mode := m.self.Mode
		if usesServer(m.self.Mode) && m.room != "" {
			mode += " room " + textsafe.Name(m.room)
		}
		parts = append(parts, mode)
	}
	if h := m.hotlist(unread); h != "" {
		parts = append(parts, h)
	}
	if !m.self.Encrypted {
		parts = append(parts, "! unencrypted")
	}
	parts = append(parts, fmt.Sprintf("%d online", m.list.online()))
	if s := m.transferStatus(); s != "" {
		parts = append(parts, s)
	}
	if s := m.serverState(); s != "" {
		parts = append(parts, s)
	}
	if m.stopped {
		parts = append(parts, "network stopped")
	}
	if m.self.ListenAddr != "" {
		parts = append(parts, "listening on "+m.self.ListenAddr)
	}
	nick := parts[0]
	rest := " · " + strings.Join(parts[1:], " · ") + " "
	line := truncate(" "+nick+rest, m.width)
	if textWidth(line) < textWidth(" "+nick+rest) || textWidth(nick)+1 >= m.width {
		return m.st.statusBar.Render(padRight(line, m.width))
	}
	return m.st.statusNick.Render(" "+nick) + m.st.statusBar.Render(padRight(rest, m.width-textWidth(nick)-1))
}

// usesServer reports whether a mode finds peers through the bootstrap
// server ("internet", or "both" with the LAN).
func usesServer(mode string) bool { return mode == "internet" || mode == "both" }

// serverState describes the connection to the bootstrap server.
func (m *Model) serverState() string {
	if m.source == nil {
		if usesServer(m.self.Mode) {
			return "server: connecting…"
		}
		return ""
	}
	switch m.source.Phase {
	case discovery.Online:
		if m.source.Note != "" {
			return "server: online (" + textsafe.Line(m.source.Note) + ")"
		}
		return "server: online"
	case discovery.Stopped:
		s := "server: stopped"
		if m.source.Err != nil {
			s += " (" + textsafe.Line(innermost(m.source.Err)) + ")"
		}
		return s
	case discovery.Retrying:
		secs := int((m.retryAt.Sub(m.now()) + time.Second - 1) / time.Second)
		s := "server: retrying…"
		if secs > 0 {
			s = fmt.Sprintf("server: retrying in %d s", secs)
		}
		if m.source.Err != nil {
			s += " (" + textsafe.Line(innermost(m.source.Err)) + ")"
		}
		return s
	default:
		return "server: connecting…"
	}
}

// hotlistSize is how many conversations the hotlist names.
const hotlistSize = 5

// unreadSummary is what the hotlist and the peer list's edge show of the
// conversations with unread messages.
type unreadSummary struct {
	first        []int // the first rows of the list with unread, in order (at most hotlistSize)
	total        int   // rows with unread
	above, below int   // of those, rows scrolled out of the list's view
}

// unread sums up the conversations with unread messages in one walk of
// the conversations (at most the budget's number), not of the list,
// which may hold many more peers.
func (m *Model) unread() unreadSummary {
	var u unreadSummary
	for key, c := range m.convs {
		if c.unread == 0 {
			continue
		}
		i, ok := m.list.index[key]
		if !ok {
			continue
		}
		u.total++
		switch {
		case i < m.list.offset:
			u.above++
		case i >= m.list.offset+m.list.height:
			u.below++
		}
		// Keep the hotlistSize smallest rows, in order.
		at, _ := slices.BinarySearch(u.first, i)
		if at < hotlistSize {
			u.first = slices.Insert(u.first, at, i)
			u.first = u.first[:min(len(u.first), hotlistSize)]
		}
	}
	return u
}

// hotlist names the conversations with unread messages, by their place
// in the list (Alt+1…9 opens them), e.g. "unread: 2 bob (3), 4 carol (1)";
// "@" marks a mention of your nickname.
func (m *Model) hotlist(u unreadSummary) string {
	if u.total == 0 {
		return ""
	}
	parts := make([]string, 0, len(u.first))
	for _, i := range u.first {
		it := m.list.items[i]
		c := m.convs[it.peer.Key]
		mark := ""
		if c.mention {
			mark = "@"
		}
		parts = append(parts, fmt.Sprintf("%d %s (%d%s)", i+1, it.name, c.unread, mark))
	}
	s := "unread: " + strings.Join(parts, ", ")
	if more := u.total - len(u.first); more > 0 {
		s += fmt.Sprintf(" +%d more", more)
	}
	return s
}

// listFooter says when peers with unread messages are scrolled out of
// the peer list's view, above (↑) or below (↓).
func (m *Model) listFooter(u unreadSummary) string {
	var parts []string
	if u.above > 0 {
		parts = append(parts, fmt.Sprintf("↑%d", u.above))
	}
	if u.below > 0 {
		parts = append(parts, fmt.Sprintf("↓%d", u.below))
	}
	if len(parts) == 0 {
		return ""
	}
	return strings.Join(parts, " ") + " unread"
}

// helpLine is the short help, a one-time note, or the completions on
// offer.
func (m *Model) helpLine() string {
	if m.flash != "" {
		return padRight(truncate(m.st.warning.Render(m.flash), m.width), m.width)
	}
	if m.comp != nil && len(m.comp.options) > 1 {
		s := "tab: " + strings.Join(m.comp.names(), "  ")
		return padRight(truncate(s, m.width), m.width)
	}
	keys := m.keys.ShortHelp()
	if m.showHelp {
		keys = m.keys.helpScreenKeys()
	}
	// help.Model drops what does not fit only when an ellipsis still
	// fits, so the line is cut to the width here as well.
	return padRight(truncate(m.help.ShortHelpView(keys), m.width), m.width)
}

// helpRow is one row of the help screen: a title, a term and its
// description, or a note (term empty).
type helpRow struct {
	title      bool
	term, desc string
}

// helpText is the full help: every command of this UI, every key and the
// marks of the peer list.
func (m *Model) helpText() []helpRow {
	rows := []helpRow{{title: true, desc: "Commands"}}
	for _, s := range command.Specs {
		if s.Only != "" && s.Only != "tui" {
			continue
		}
		rows = append(rows, helpRow{term: specUsage(s), desc: s.Help})
	}
	rows = append(rows,
		helpRow{desc: "Text not starting with / goes to the selected peer; // sends a leading /. Nothing is selected at start: pick a peer first."},
		helpRow{},
		helpRow{title: true, desc: "Keys"})
	for _, g := range m.keys.FullHelp() {
		for _, k := range g {
			rows = append(rows, helpRow{term: k.Help().Key, desc: k.Help().Desc})
		}
	}
	rows = append(rows,
		helpRow{desc: "Typing goes to the input; typed or pasted text never acts as a key (a pasted \"up\" is text). Each conversation keeps its draft and history."},
		helpRow{},
		helpRow{title: true, desc: "Peer list"},
		helpRow{term: "● / ○", desc: "online / offline (the conversation is kept)"},
		helpRow{term: "3", desc: "unread messages (also in the status line; ↑2/↓1 at the list's edge: unread peers scrolled out of view)"},
		helpRow{term: "── new ──", desc: "the read marker: messages below it arrived while you were away"},
		helpRow{term: "!", desc: "unencrypted: an original client"},
		helpRow{term: "✓", desc: "verified with /verify"},
		helpRow{term: "⚠", desc: "key changed: not the peer this nickname had before"},
		helpRow{term: "alice#ABCDEFG", desc: "several peers share a nickname, or nicknames that look alike; the tag tells them apart"},
		helpRow{term: "<U+200B>", desc: "a character in a nickname that would not be seen (zero-width, format or control)"},
		helpRow{term: `"Mary Ann"`, desc: "a nickname with spaces; Tab adds the quotes"},
	)
	return rows
}

// specUsage is a command's usage with its aliases, e.g. "/msg, /query <nick>".
func specUsage(s command.Spec) string {
	names := "/" + s.Name
	for _, a := range s.Aliases {
		names += ", /" + a
	}
	if s.Args != "" {
		names += " " + s.Args
	}
	return names
}

// helpAllLines is the help text laid out for a width: terms in a column,
// descriptions wrapped beside them.
func (m *Model) helpAllLines(width int) []string {
	rows := m.helpText()
	var out []string
	col := 0
	for i, r := range rows {
		switch {
		case r.title:
			out = append(out, m.st.title.Render(truncate(r.desc, width)))
			// The terms of each section get a column of their own.
			col = 0
			for _, s := range rows[i+1:] {
				if s.title {
					break
				}
				col = max(col, textWidth(s.term))
			}
			col = min(col, width/3)
		case r.term == "":
			for _, l := range wrapText(r.desc, width-2, width-2) {
				out = append(out, "  "+l)
			}
		default:
			term := truncate(r.term, col)
			descW := width - 2 - col - 2
			for i, l := range wrapText(r.desc, descW, descW) {
				if i == 0 {
					out = append(out, "  "+padRight(term, col)+"  "+l)
				} else {
					out = append(out, strings.Repeat(" ", col+4)+l)
				}
			}
		}
	}
	return out
}

// helpLines is the part of the help text in view, and whether more is
// below it.
func (m *Model) helpLines(width, height int) (lines []string, more bool) {
	all := m.helpAllLines(width)
	top := min(m.helpScroll, max(len(all)-height, 0))
	end := min(top+height, len(all))
	return all[top:end], end < len(all)
}
