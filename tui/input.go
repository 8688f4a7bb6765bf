package tui

import (
	"cmp"
	"slices"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/parlance-chat/parlance/app"
)

// mouseWheelLines is how far one turn of the mouse wheel scrolls.
const mouseWheelLines = 3

// handleKey routes a key to what has the focus: the help screen when it is
// open, else the bindings of the key map, else the input. No key is ever
// given to two elements, and text (see isTyped) only ever goes to the
// input.
func (m Model) handleKey(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	m.flash = ""
	if isTyped(msg) {
		m.quitArmed = false
		if m.showHelp {
			// Help: "q" closes it; other typing does nothing.
			if !msg.Paste && string(msg.Runes) == "q" {
				m.showHelp = false
			}
			return m, nil
		}
		m.comp = nil
		return m, m.insertText(msg.Runes)
	}
	if key.Matches(msg, m.keys.Quit) {
		return m, m.interrupt()
	}
	m.quitArmed = false
	if m.showHelp {
		m.helpKey(msg)
		return m, nil
	}
	if m.search != nil {
		m.searchKey(msg)
		return m, nil
	}
	if !key.Matches(msg, m.keys.Complete) {
		m.comp = nil
	}
	c := m.current()
	empty := m.input.Value() == ""
	switch {
	case key.Matches(msg, m.keys.Send):
		return m, m.submit()
	case key.Matches(msg, m.keys.PrevPeer):
		m.selectKey(m.list.move(-1))
	case key.Matches(msg, m.keys.NextPeer):
		m.selectKey(m.list.move(+1))
	case key.Matches(msg, m.keys.PeerN):
		if i := int(msg.Runes[0] - '1'); i < len(m.list.items) {
			m.selectKey(m.list.items[i].peer.Key)
		}
	case key.Matches(msg, m.keys.NextUnread):
		if k, ok := m.nextUnread(); ok {
			m.selectKey(k)
		} else {
			m.flash = "no unread messages"
		}
	case key.Matches(msg, m.keys.Up) && m.atInputEdge(true):
		m.recall(true)
	case key.Matches(msg, m.keys.Down) && m.atInputEdge(false):
		m.recall(false)
	case key.Matches(msg, m.keys.PageUp) && !m.layout.tooSmall:
		m.scrollUpLoading(c, max(m.layout.viewH-1, 1))
	case key.Matches(msg, m.keys.PageDown) && !m.layout.tooSmall:
		c.scrollDown(max(m.layout.viewH-1, 1), m.layout.textW, m.renderEntry)
	case key.Matches(msg, m.keys.Top) && (empty || msg.Type == tea.KeyCtrlHome) && !m.layout.tooSmall:
		c.scrollTop(m.layout.textW, m.layout.viewH, m.renderEntry)
	case key.Matches(msg, m.keys.Bottom) && (empty || msg.Type == tea.KeyCtrlEnd):
		c.follow = true
	case key.Matches(msg, m.keys.Complete):
		m.complete()
	case key.Matches(msg, m.keys.Help):
		m.openHelp()
	case key.Matches(msg, m.keys.Mouse):
		return m, m.toggleMouse()
	case key.Matches(msg, m.keys.Clear):
		m.clearInput()
	default:
		return m, m.editKey(msg)
	}
	return m, nil
}

// scrollUpLoading scrolls up n lines, first reading older messages from
// the store when the view would reach the top of what is loaded.
func (m *Model) scrollUpLoading(c *conversation, n int) {
	if !c.complete && c.nearTop(n+m.layout.viewH, m.layout.textW, m.renderEntry) {
		m.loadOlder(c)
	}
	c.scrollUp(n, m.layout.textW, m.layout.viewH, m.renderEntry)
}

// interrupt is Ctrl+C: it clears a draft first; on an empty input it
// quits, but asks first (a second Ctrl+C) while a message is being sent.
func (m *Model) interrupt() tea.Cmd {
	if m.showHelp {
		m.showHelp = false
		return nil
	}
	if m.input.Value() != "" {
		m.clearInput()
		m.quitArmed = false
		m.flash = "input cleared (↑ brings it back); ctrl+c again quits"
		return nil
	}
	if m.quitWhenSaved {
		return tea.Quit // a third Ctrl+C: at once
	}
	if n := m.sending(); !m.quitArmed && n > 0 {
		m.quitArmed = true
		m.flash = fmtCount(n, "message") + " not delivered yet (they go when you are back): ctrl+c again quits"
		return nil
	}
	return m.quitSaved()
}

// quitSaved quits once every message sent is saved. A line shows at once
// and is saved by a command run after it; quitting before that command
// ran would lose it (Enter then /quit in one paste, say). Saves end
// within sendTimeout; Ctrl+C meanwhile quits at once.
func (m *Model) quitSaved() tea.Cmd {
	n := m.unsaved()
	if n == 0 {
		return tea.Quit
	}
	m.quitWhenSaved = true
	m.flash = "saving " + fmtCount(n, "message") + ", then quitting (ctrl+c quits now)"
	return nil
}

// quitIfSaved quits when a quit waits and the last save is done.
func (m *Model) quitIfSaved() tea.Cmd {
	if m.quitWhenSaved && m.unsaved() == 0 {
		return tea.Quit
	}
	return nil
}

// unsaved counts the messages shown as sent that the node has not saved
// yet.
func (m *Model) unsaved() int {
	n := m.groupSaving
	for _, c := range m.convs {
		n += len(c.pending)
	}
	return n
}

// sending counts the messages being saved or waiting in the outbox.
func (m *Model) sending() int {
	n := m.unsaved()
	if ob, err := m.node.Outbox(); err == nil {
		n += len(ob)
	}
	return n
}

// atInputEdge reports whether the cursor is on the first (top) or last
// row of the input, where ↑/↓ go through the history rather than move
// the cursor.
func (m *Model) atInputEdge(top bool) bool {
	li := m.input.LineInfo()
	if top {
		return m.input.Line() == 0 && li.RowOffset == 0
	}
	return m.input.Line() == m.input.LineCount()-1 && li.RowOffset >= li.Height-1
}

// nextUnread is the first conversation with unread messages after the
// one in view, in the order of the list.
func (m *Model) nextUnread() (app.PeerKey, bool) {
	n := len(m.list.items)
	start := -1
	if i, ok := m.list.index[m.list.sel]; ok && m.list.sel != "" {
		start = i
	}
	for d := 1; d <= n; d++ {
		it := m.list.items[((start+d)%n+n)%n]
		if c, ok := m.convs[it.peer.Key]; ok && c.unread > 0 && it.peer.Key != m.list.sel {
			return it.peer.Key, true
		}
	}
	return "", false
}

// toggleMouse turns mouse capture off (the terminal then selects and
// copies text) or on (wheel scrolling, clicks on peers).
func (m *Model) toggleMouse() tea.Cmd {
	m.mouse = !m.mouse
	if m.mouse {
		m.flash = "mouse on: wheel scrolls, click picks a peer (f2: off, to select text)"
		return tea.EnableMouseCellMotion
	}
	m.flash = "mouse off: select and copy text with the mouse (f2: on)"
	return tea.DisableMouse
}

func (m *Model) openHelp() {
	m.showHelp = true
	m.helpScroll = 0
}

// helpKey handles a key while the help screen is open: it scrolls or
// closes; typing does nothing.
func (m *Model) helpKey(msg tea.KeyMsg) {
	page := max(m.layout.bodyH-3, 1)
	switch {
	case key.Matches(msg, m.keys.CloseHelp):
		m.showHelp = false
	case key.Matches(msg, m.keys.Up):
		m.scrollHelp(-1)
	case key.Matches(msg, m.keys.Down):
		m.scrollHelp(+1)
	case key.Matches(msg, m.keys.PageUp):
		m.scrollHelp(-page)
	case key.Matches(msg, m.keys.PageDown):
		m.scrollHelp(+page)
	}
}

func (m *Model) scrollHelp(delta int) {
	total := len(m.helpAllLines(m.width - 4))
	m.helpScroll = min(max(m.helpScroll+delta, 0), max(total-(m.layout.bodyH-2), 0))
}

// handleMouse: the wheel scrolls the conversation (or the help); a click
// on a peer selects it.
func (m *Model) handleMouse(msg tea.MouseMsg) {
	if m.layout.tooSmall || m.width == 0 {
		return
	}
	c := m.current()
	switch msg.Button {
	case tea.MouseButtonWheelUp:
		if m.showHelp {
			m.scrollHelp(-mouseWheelLines)
			return
		}
		m.scrollUpLoading(c, mouseWheelLines)
	case tea.MouseButtonWheelDown:
		if m.showHelp {
			m.scrollHelp(+mouseWheelLines)
			return
		}
		c.scrollDown(mouseWheelLines, m.layout.textW, m.renderEntry)
	case tea.MouseButtonLeft:
		if msg.Action != tea.MouseActionPress || m.showHelp {
			return
		}
		// The list's rows start below its top border.
		row := msg.Y - 1
		if msg.X > 0 && msg.X < m.layout.listW-1 && row >= 0 && row < m.list.height {
			if i := m.list.offset + row; i < len(m.list.items) {
				m.selectKey(m.list.items[i].peer.Key)
			}
		}
	}
}

// completion is the state of Tab completion: the choices for what was
// typed, and which one the input shows now.
type completion struct {
	options []string // whole input lines
	i       int
}

// names are the completed words (a quoted name as one), for the help
// line.
func (c *completion) names() []string {
	out := make([]string, len(c.options))
	for i, o := range c.options {
		o = strings.TrimRight(o, " ")
		start := strings.LastIndexByte(o, ' ') + 1
		if strings.HasSuffix(o, `"`) && len(o) > 1 {
			start = strings.LastIndexByte(o[:len(o)-1], '"')
		}
		out[i] = o[start:]
	}
	return out
}

// complete completes the last word of the input: a command name or a
// peer's name. Pressing Tab again goes to the next choice.
func (m *Model) complete() {
	if m.comp != nil && len(m.comp.options) > 0 && m.input.Value() == m.comp.options[m.comp.i] {
		m.comp.i = (m.comp.i + 1) % len(m.comp.options)
	} else {
		m.comp = &completion{options: completeInput(m.input.Value(), m.completionNames())}
		if len(m.comp.options) == 0 {
			m.comp = nil
			return
		}
	}
	m.setInput(m.comp.options[m.comp.i])
}

// completionNames are the names of the peer list, those talked to most
// recently first.
func (m *Model) completionNames() []string {
	items := slices.Clone(m.list.items)
	talked := func(it peerItem) uint64 {
		if c, ok := m.convs[it.peer.Key]; ok {
			return c.talked
		}
		return 0
	}
	slices.SortStableFunc(items, func(a, b peerItem) int { return cmp.Compare(talked(b), talked(a)) })
	names := make([]string, len(items))
	for i, it := range items {
		names[i] = it.name
	}
	return names
}

// completeInput is command.Complete (completeLine) for the names of the
// peer list, which may hold spaces ("Mary Ann"): such a name is completed
// in double quotes, as the commands take it, and it is also completed
// from what was typed of it in quotes (`/msg "Mary A`) or without
// (`/msg Mary A`).
func completeInput(line string, names []string) []string {
	return completeInputWith(completeLine, line, names)
}

// completeInputWith is completeInput with another completeLine.
func completeInputWith(completeLine func(line string, names []string) []string, line string, names []string) []string {
	if start, ok := openQuote(line); ok {
		return completeName(line[:start], line[start+1:], names)
	}
	var out []string
	seen := map[string]bool{}
	add := func(opts []string) {
		for _, o := range opts {
			if !seen[o] {
				seen[o] = true
				out = append(out, o)
			}
		}
	}
	// Several words that begin a name with spaces. (One word is left to
	// completeLine.)
	from := 0
	if strings.HasPrefix(line, "/") {
		from = strings.IndexByte(line, ' ') + 1
		if from == 0 {
			from = len(line)
		}
	}
	for i := from; i < len(line); i++ {
		if (i == 0 || line[i-1] == ' ') && line[i] != ' ' && strings.Contains(line[i:], " ") {
			add(completeName(line[:i], line[i:], names))
		}
	}
	opts := completeLine(line, names)
	start := strings.LastIndexByte(line, ' ') + 1
	for i, o := range opts {
		// Quote a name with spaces, if completeLine did not.
		name, ok := strings.CutPrefix(o, line[:start])
		name = strings.TrimSuffix(name, " ")
		if ok && strings.Contains(name, " ") && !strings.HasPrefix(name, `"`) {
			opts[i] = line[:start] + quoteName(name) + " "
		}
	}
	add(opts)
	return out
}

// completeName returns before + name + " " for each of names that starts
// with typed (ignoring case), the name in quotes when it holds a space.
func completeName(before, typed string, names []string) []string {
	var out []string
	for _, n := range names {
		if strings.HasPrefix(strings.ToLower(n), strings.ToLower(typed)) {
			out = append(out, before+quoteName(n)+" ")
		}
	}
	return out
}

// quoteName puts a name with a space in double quotes.
func quoteName(n string) string {
	if strings.Contains(n, " ") {
		return `"` + n + `"`
	}
	return n
}

// openQuote finds a double quote that opens a word and is not closed: the
// start of a quoted name being typed.
func openQuote(line string) (int, bool) {
	if strings.Count(line, `"`)%2 == 0 {
		return 0, false
	}
	q := strings.LastIndexByte(line, '"')
	return q, q == 0 || line[q-1] == ' '
}
