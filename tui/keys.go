package tui

import "github.com/charmbracelet/bubbles/key"

// keyMap is every key the UI reacts to. Keys are only ever checked with
// key.Matches; what no binding takes goes to the input line.
type keyMap struct {
	Up        key.Binding
	Down      key.Binding
	Send      key.Binding
	PageUp    key.Binding
	PageDown  key.Binding
	Complete  key.Binding
	Help      key.Binding
	CloseHelp key.Binding
	Clear     key.Binding
	Quit      key.Binding

	// pickHelp and scrollHelp only describe Up/Down and PageUp/PageDown
	// together in the short help line; they are never matched.
	pickHelp   key.Binding
	scrollHelp key.Binding
}

func newKeyMap() keyMap {
	return keyMap{
		Up:        key.NewBinding(key.WithKeys("up"), key.WithHelp("↑", "previous peer")),
		Down:      key.NewBinding(key.WithKeys("down"), key.WithHelp("↓", "next peer")),
		Send:      key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "send to the selected peer / run a command")),
		PageUp:    key.NewBinding(key.WithKeys("pgup"), key.WithHelp("pgup", "scroll the conversation up (or mouse wheel)")),
		PageDown:  key.NewBinding(key.WithKeys("pgdown"), key.WithHelp("pgdn", "scroll down; at the end it follows new messages")),
		Complete:  key.NewBinding(key.WithKeys("tab"), key.WithHelp("tab", "complete a command or nickname (again: next match)")),
		Help:      key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "this help (when the input is empty)")),
		CloseHelp: key.NewBinding(key.WithKeys("esc", "q", "?"), key.WithHelp("esc", "close the help")),
		Clear:     key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "clear the input line")),
		Quit:      key.NewBinding(key.WithKeys("ctrl+c"), key.WithHelp("ctrl+c", "quit")),

		pickHelp:   key.NewBinding(key.WithKeys("up", "down"), key.WithHelp("↑/↓", "peer")),
		scrollHelp: key.NewBinding(key.WithKeys("pgup", "pgdown"), key.WithHelp("pgup/pgdn", "scroll")),
	}
}

// ShortHelp is the help line at the bottom of the screen.
func (k keyMap) ShortHelp() []key.Binding {
	return []key.Binding{
		k.pickHelp,
		key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "send")),
		k.scrollHelp,
		key.NewBinding(key.WithKeys("tab"), key.WithHelp("tab", "complete")),
		key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "help")),
		k.Quit,
	}
}

// FullHelp lists every key, in groups, for the help screen.
func (k keyMap) FullHelp() [][]key.Binding {
	return [][]key.Binding{
		{k.Up, k.Down, k.Send, k.Complete, k.Clear},
		{k.PageUp, k.PageDown},
		{k.Help, k.CloseHelp, k.Quit},
	}
}

// helpScreenKeys are the keys shown on the help line while the help screen
// is open.
func (k keyMap) helpScreenKeys() []key.Binding {
	return []key.Binding{
		k.CloseHelp,
		key.NewBinding(key.WithKeys("up", "down", "pgup", "pgdown"), key.WithHelp("↑/↓ pgup/pgdn", "scroll")),
		k.Quit,
	}
}
