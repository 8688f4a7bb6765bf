package tui

import (
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
)

// keyMap is every key the UI reacts to. Keys are only ever checked with
// key.Matches, and only for real key presses (see isTyped): what no
// binding takes goes to the input.
type keyMap struct {
	PrevPeer   key.Binding
	NextPeer   key.Binding
	PeerN      key.Binding // Alt+1…9
	NextUnread key.Binding
	History    key.Binding // ↑/↓, described only; handled by the input
	Send       key.Binding
	Newline    key.Binding
	PageUp     key.Binding
	PageDown   key.Binding
	Top        key.Binding
	Bottom     key.Binding
	Complete   key.Binding
	Help       key.Binding
	CloseHelp  key.Binding
	Clear      key.Binding
	Mouse      key.Binding
	Quit       key.Binding

	// The help screen scrolls with these.
	Up   key.Binding
	Down key.Binding

	// pickHelp and scrollHelp only describe keys together in the short
	// help line; they are never matched.
	pickHelp   key.Binding
	scrollHelp key.Binding
}

func newKeyMap() keyMap {
	return keyMap{
		PrevPeer:   key.NewBinding(key.WithKeys("alt+up", "ctrl+p", "ctrl+pgup"), key.WithHelp("alt+↑ ctrl+p", "previous peer (also ctrl+pgup, a mouse click)")),
		NextPeer:   key.NewBinding(key.WithKeys("alt+down", "ctrl+n", "ctrl+pgdown"), key.WithHelp("alt+↓ ctrl+n", "next peer (also ctrl+pgdn)")),
		PeerN:      key.NewBinding(key.WithKeys("alt+1", "alt+2", "alt+3", "alt+4", "alt+5", "alt+6", "alt+7", "alt+8", "alt+9"), key.WithHelp("alt+1…9", "the peer at that place in the list")),
		NextUnread: key.NewBinding(key.WithKeys("alt+a", "ctrl+x"), key.WithHelp("alt+a ctrl+x", "next conversation with unread messages")),
		History:    key.NewBinding(key.WithKeys("up", "down"), key.WithHelp("↑/↓", "recall lines sent in this conversation (in a multi-line input: move between lines)")),
		Send:       key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "send to the selected peer / run a command")),
		Newline:    key.NewBinding(key.WithKeys("alt+enter", "ctrl+j"), key.WithHelp("alt+enter ctrl+j", "new line in the message")),
		PageUp:     key.NewBinding(key.WithKeys("pgup"), key.WithHelp("pgup", "scroll the conversation up (or mouse wheel)")),
		PageDown:   key.NewBinding(key.WithKeys("pgdown"), key.WithHelp("pgdn", "scroll down; at the end it follows new messages")),
		Top:        key.NewBinding(key.WithKeys("ctrl+home", "home"), key.WithHelp("ctrl+home", "top of the conversation (home too, when the input is empty)")),
		Bottom:     key.NewBinding(key.WithKeys("ctrl+end", "end"), key.WithHelp("ctrl+end", "bottom, following new messages (end too, when the input is empty)")),
		Complete:   key.NewBinding(key.WithKeys("tab"), key.WithHelp("tab", "complete a command or nickname, recent peers first (again: next match)")),
		Help:       key.NewBinding(key.WithKeys("f1"), key.WithHelp("f1", "this help (or /help)")),
		CloseHelp:  key.NewBinding(key.WithKeys("esc", "f1", "q"), key.WithHelp("esc", "close the help (also f1, q, ctrl+c)")),
		Clear:      key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "clear the input (↑ brings it back)")),
		Mouse:      key.NewBinding(key.WithKeys("f2"), key.WithHelp("f2", "mouse on/off: off lets the terminal select and copy text")),
		Quit:       key.NewBinding(key.WithKeys("ctrl+c"), key.WithHelp("ctrl+c", "clear the input; on an empty input, quit")),

		Up:   key.NewBinding(key.WithKeys("up")),
		Down: key.NewBinding(key.WithKeys("down")),

		pickHelp:   key.NewBinding(key.WithKeys("alt+up", "alt+down"), key.WithHelp("alt+↑/↓", "peer")),
		scrollHelp: key.NewBinding(key.WithKeys("pgup", "pgdown"), key.WithHelp("pgup/pgdn", "scroll")),
	}
}

// isTyped reports whether a key message is text rather than a key press.
// Bubble Tea v1 delivers the characters of one read as one message: a
// word typed or pasted quickly ("up", "enter", "ctrl+c") then reads
// exactly like the name of a key, and key.Matches would take it for one.
// Text never triggers a binding. Alt with one character (Alt+1, Alt+A)
// is a real chord.
func isTyped(msg tea.KeyMsg) bool {
	switch msg.Type {
	case tea.KeySpace:
		return true
	case tea.KeyRunes:
		return msg.Paste || !msg.Alt || len(msg.Runes) != 1
	}
	return false
}

// ShortHelp is the help line at the bottom of the screen.
func (k keyMap) ShortHelp() []key.Binding {
	return []key.Binding{
		k.pickHelp,
		key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "send")),
		key.NewBinding(key.WithKeys("up"), key.WithHelp("↑", "history")),
		key.NewBinding(key.WithKeys("f1"), key.WithHelp("f1", "help")),
		key.NewBinding(key.WithKeys("ctrl+c"), key.WithHelp("ctrl+c", "quit")),
		k.scrollHelp,
		key.NewBinding(key.WithKeys("tab"), key.WithHelp("tab", "complete")),
	}
}

// FullHelp lists every key, in groups, for the help screen.
func (k keyMap) FullHelp() [][]key.Binding {
	return [][]key.Binding{
		{k.Send, k.Newline, k.History, k.Complete, k.Clear},
		{k.PrevPeer, k.NextPeer, k.PeerN, k.NextUnread},
		{k.PageUp, k.PageDown, k.Top, k.Bottom},
		{k.Help, k.Mouse, k.Quit},
	}
}

// helpScreenKeys are the keys shown on the help line while the help screen
// is open.
func (k keyMap) helpScreenKeys() []key.Binding {
	return []key.Binding{
		k.CloseHelp,
		key.NewBinding(key.WithKeys("up", "down", "pgup", "pgdown"), key.WithHelp("↑/↓ pgup/pgdn", "scroll")),
	}
}
