package tui

import (
	"strings"
	"unicode/utf8"

	"github.com/charmbracelet/bubbles/cursor"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textarea"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"

	"github.com/parlance-chat/parlance/app"
)

// The input box is a bubbles textarea rather than a textinput: a
// textinput turns every newline into a space, and a message may hold
// several lines (Alt+Enter, Ctrl+J or a bracketed paste). The textarea
// also wraps a long line instead of scrolling it sideways, so the whole
// message stays in view. Its height follows what was typed, from one row
// up to maxInputRows (see fitInput).

const (
	// maxInputRows is the tallest the input box grows; past it, it
	// scrolls with the cursor.
	maxInputRows = 6
	// maxHistory is how many sent lines each conversation remembers.
	maxHistory = 200
)

// inputLimit is the longest text the input takes, in bytes: the most
// Node.Send accepts.
const inputLimit = app.MaxTextBytes

// newEditor makes the input box.
func newEditor(r *lipgloss.Renderer, noBlink bool) textarea.Model {
	ta := textarea.New()
	ta.ShowLineNumbers = false
	ta.CharLimit = 0 // the limit is checked, and announced, by insertText
	ta.MaxHeight = 0 // no limit on lines; the height is set by fitInput
	ta.Prompt = "> "
	ta.SetPromptFunc(2, func(line int) string {
		if line == 0 {
			return "> "
		}
		return "  "
	})
	ta.EndOfBufferCharacter = ' '
	st := textarea.Style{
		Base:        r.NewStyle(),
		CursorLine:  r.NewStyle(),
		EndOfBuffer: r.NewStyle(),
		Placeholder: r.NewStyle().Faint(true),
		Prompt:      r.NewStyle().Bold(true),
		Text:        r.NewStyle(),
	}
	ta.FocusedStyle, ta.BlurredStyle = st, st
	ta.Cursor.Style = r.NewStyle().Reverse(true)
	ta.Cursor.TextStyle = r.NewStyle()
	if noBlink {
		ta.Cursor.SetMode(cursor.CursorStatic)
	}

	km := textarea.DefaultKeyMap
	// Enter sends; a newline is Alt+Enter or Ctrl+J.
	km.InsertNewline = key.NewBinding(key.WithKeys("alt+enter", "ctrl+j"))
	// Ctrl+N/Ctrl+P switch peers; ↑/↓ move between the lines of the
	// input (and, at its first and last line, through the history).
	km.LineNext = key.NewBinding(key.WithKeys("down"))
	km.LinePrevious = key.NewBinding(key.WithKeys("up"))
	// Ctrl+Home/Ctrl+End scroll the conversation.
	km.InputBegin = key.NewBinding(key.WithKeys("alt+<"))
	km.InputEnd = key.NewBinding(key.WithKeys("alt+>"))
	// A paste arrives as text (bracketed paste); the textarea's own Ctrl+V
	// would read the system clipboard from another process.
	km.Paste = key.NewBinding(key.WithDisabled())
	ta.KeyMap = km
	ta.SetHeight(maxInputRows)
	ta.Focus()
	return ta
}

// inputState is what the input remembers for one conversation: the draft
// left when switching away, and the lines sent from it.
type inputState struct {
	draft   string
	history history
}

// history is the lines sent from one conversation, newest last, and the
// place ↑/↓ have reached in it.
type history struct {
	lines []string
	pos   int    // index of the line shown; len(lines) when not browsing
	stash string // what was typed before browsing began
}

// add remembers a line (not twice in a row) and stops browsing.
func (h *history) add(s string) {
	if strings.TrimSpace(s) != "" && (len(h.lines) == 0 || h.lines[len(h.lines)-1] != s) {
		h.lines = append(h.lines, s)
		if len(h.lines) > maxHistory {
			h.lines = append(h.lines[:0:0], h.lines[len(h.lines)-maxHistory:]...)
		}
	}
	h.pos, h.stash = len(h.lines), ""
}

// prev is the line before the one shown; cur is the input now, kept to
// come back to.
func (h *history) prev(cur string) (string, bool) {
	if h.pos > len(h.lines) {
		h.pos = len(h.lines)
	}
	if h.pos == 0 {
		return "", false
	}
	if h.pos == len(h.lines) {
		h.stash = cur
	}
	h.pos--
	return h.lines[h.pos], true
}

// next is the line after the one shown, or what was typed before
// browsing.
func (h *history) next() (string, bool) {
	if h.pos >= len(h.lines) {
		return "", false
	}
	h.pos++
	if h.pos == len(h.lines) {
		return h.stash, true
	}
	return h.lines[h.pos], true
}

// inputOf is the input state of a conversation ("" is the home view).
func (m *Model) inputOf(key app.PeerKey) *inputState {
	s, ok := m.inputs[key]
	if !ok {
		s = &inputState{}
		m.inputs[key] = s
	}
	return s
}

// setInput replaces the input's text, the cursor at its end.
func (m *Model) setInput(s string) {
	m.input.SetValue(s)
	m.input.CursorEnd()
	m.fitInput()
}

// clearInput empties the input; what it held goes into the history, so ↑
// brings it back.
func (m *Model) clearInput() {
	if v := m.input.Value(); strings.TrimSpace(v) != "" {
		m.inputOf(m.list.sel).history.add(v)
	}
	m.input.Reset()
	m.fitInput()
}

// insertText types text into the input, as much as the length limit
// allows; what is left out is announced rather than dropped silently.
func (m *Model) insertText(runes []rune) tea.Cmd {
	room := inputLimit - len(m.input.Value())
	s := string(runes)
	if len(s) > room {
		cut := max(room, 0)
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		m.flash = fmtCount(len(s)-cut, "byte") + " not added: a message holds at most " + fmtCount(inputLimit, "byte") + "; send this one and paste the rest"
		s = s[:cut]
		if s == "" {
			return nil
		}
	}
	var cmd tea.Cmd
	// As a paste, the text never matches one of the textarea's own keys.
	m.input, cmd = m.input.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(s), Paste: true})
	m.fitInput()
	return cmd
}

// editKey gives a key to the input box (cursor movement, deletion, ...).
func (m *Model) editKey(msg tea.KeyMsg) tea.Cmd {
	var cmd tea.Cmd
	m.input, cmd = m.input.Update(msg)
	m.fitInput()
	return cmd
}

// fitInput sets how many rows of the input box are shown: those its
// text takes, and lays the screen out again when that changed. The
// textarea itself is always maxInputRows high, so that it never scrolls
// while it grows (a newline typed in a one-row box would scroll the first
// line away); inputView shows its first inputH rows.
func (m *Model) fitInput() {
	value := m.input.Value()
	rows := inputRows(value, m.input.Width())
	if rows < maxInputRows && textWidth(value) >= m.input.Width() {
		// A line may wrap, and the textarea wraps at word boundaries,
		// which may take a row more than the estimate: count the rows
		// it draws.
		view := strings.Split(strings.TrimSuffix(m.input.View(), "\n"), "\n")
		for i := len(view) - 1; i >= rows; i-- {
			if strings.TrimSpace(ansi.Strip(view[i])) != "" {
				rows = i + 1
				break
			}
		}
	}
	rows = min(rows, maxInputRows)
	if rows != m.inputH {
		m.inputH = rows
		if m.width > 0 {
			m.resize(m.width, m.height)
		}
	}
}

// inputView is the shown rows of the input box.
func (m *Model) inputView() []string {
	view := strings.Split(strings.TrimSuffix(m.input.View(), "\n"), "\n")
	return view[:min(max(m.inputH, 1), len(view))]
}

// inputRows is how many rows text takes in a box width columns wide,
// between 1 and maxInputRows.
func inputRows(text string, width int) int {
	width = max(width, 1)
	rows := 0
	for l := range strings.SplitSeq(text, "\n") {
		rows += textWidth(l)/width + 1
		if rows >= maxInputRows {
			return maxInputRows
		}
	}
	return max(rows, 1)
}

// recall replaces the input with the previous (older) or next line of
// the conversation's history; it reports whether there was one.
func (m *Model) recall(older bool) bool {
	h := &m.inputOf(m.list.sel).history
	var s string
	var ok bool
	if older {
		s, ok = h.prev(m.input.Value())
	} else {
		s, ok = h.next()
	}
	if ok {
		m.setInput(s)
	}
	return ok
}

// switchInput keeps the draft of the conversation being left and shows
// the one of the conversation coming into view.
func (m *Model) switchInput(from, to app.PeerKey) {
	if from == to {
		return
	}
	st := m.inputOf(to)
	st.history.pos = len(st.history.lines)
	if from == "" && st.draft == "" {
		// Text typed before any peer was picked goes to the first one
		// picked.
		m.comp = nil
		return
	}
	m.inputOf(from).draft = m.input.Value()
	m.setInput(st.draft)
	st.draft = ""
	m.comp = nil
}
