package tui

import (
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
)

// mouseWheelLines is how far one turn of the mouse wheel scrolls.
const mouseWheelLines = 3

// handleKey routes a key to what has the focus: the help screen when it is
// open, else the bindings of the key map, else the input line. No key is
// ever given to two elements.
func (m Model) handleKey(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	if key.Matches(msg, m.keys.Quit) {
		return m, tea.Quit
	}
	if m.showHelp {
		m.helpKey(msg)
		return m, nil
	}
	if !key.Matches(msg, m.keys.Complete) {
		m.comp = nil
	}
	c := m.current()
	switch {
	case key.Matches(msg, m.keys.Up):
		m.selectKey(m.list.move(-1))
	case key.Matches(msg, m.keys.Down):
		m.selectKey(m.list.move(+1))
	case key.Matches(msg, m.keys.PageUp) && !m.layout.tooSmall:
		c.scrollUp(max(m.layout.viewH-1, 1), m.layout.textW, m.layout.viewH, m.renderEntry)
	case key.Matches(msg, m.keys.PageDown) && !m.layout.tooSmall:
		c.scrollDown(max(m.layout.viewH-1, 1), m.layout.textW, m.renderEntry)
	case key.Matches(msg, m.keys.Complete):
		m.complete()
	case key.Matches(msg, m.keys.Send):
		return m, m.submit()
	case key.Matches(msg, m.keys.Help) && m.input.Value() == "":
		m.openHelp()
	case key.Matches(msg, m.keys.Clear):
		m.input.Reset()
	default:
		var cmd tea.Cmd
		m.input, cmd = m.input.Update(msg)
		return m, cmd
	}
	return m, nil
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
		c.scrollUp(mouseWheelLines, m.layout.textW, m.layout.viewH, m.renderEntry)
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

// names are the completed words, for the help line.
func (c *completion) names() []string {
	out := make([]string, len(c.options))
	for i, o := range c.options {
		o = strings.TrimRight(o, " ")
		out[i] = o[strings.LastIndexByte(o, ' ')+1:]
	}
	return out
}

// complete completes the last word of the input: a command name or a
// peer's name. Pressing Tab again goes to the next choice.
func (m *Model) complete() {
	if m.comp != nil && len(m.comp.options) > 0 && m.input.Value() == m.comp.options[m.comp.i] {
		m.comp.i = (m.comp.i + 1) % len(m.comp.options)
	} else {
		m.comp = &completion{options: completeLine(m.input.Value(), m.list.names())}
		if len(m.comp.options) == 0 {
			m.comp = nil
			return
		}
	}
	m.input.SetValue(m.comp.options[m.comp.i])
	m.input.CursorEnd()
}
