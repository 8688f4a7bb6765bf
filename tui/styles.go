package tui

import (
	"hash/fnv"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/lipgloss"
)

// nickPalette holds the colours nicknames are drawn in: the terminal's own
// ANSI colours (so they suit its theme, light or dark), without red, which
// is kept for errors.
var nickPalette = []string{"2", "3", "4", "5", "6", "10", "11", "12", "13", "14"}

// styles are every style the UI draws with, made from one renderer so that
// its colour profile (and NO_COLOR) applies to all of them. No adaptive
// colours: those make lipgloss query the terminal's background colour,
// which would race with Bubble Tea for the terminal's input.
type styles struct {
	r          *lipgloss.Renderer
	plain      lipgloss.Style
	border     lipgloss.Style
	title      lipgloss.Style
	dim        lipgloss.Style
	own        lipgloss.Style
	errorText  lipgloss.Style
	warning    lipgloss.Style
	selected   lipgloss.Style
	offline    lipgloss.Style
	unread     lipgloss.Style
	mention    lipgloss.Style
	marker     lipgloss.Style
	verified   lipgloss.Style
	statusBar  lipgloss.Style
	statusNick lipgloss.Style
	nicks      []lipgloss.Style
}

func newStyles(r *lipgloss.Renderer) *styles {
	s := &styles{
		r:          r,
		plain:      r.NewStyle(),
		border:     r.NewStyle().Foreground(lipgloss.Color("8")),
		title:      r.NewStyle().Bold(true),
		dim:        r.NewStyle().Faint(true),
		own:        r.NewStyle().Bold(true),
		errorText:  r.NewStyle().Foreground(lipgloss.Color("1")),
		warning:    r.NewStyle().Foreground(lipgloss.Color("3")).Bold(true),
		selected:   r.NewStyle().Reverse(true),
		offline:    r.NewStyle().Faint(true),
		unread:     r.NewStyle().Bold(true),
		mention:    r.NewStyle().Reverse(true).Bold(true),
		marker:     r.NewStyle().Foreground(lipgloss.Color("1")),
		verified:   r.NewStyle().Foreground(lipgloss.Color("2")),
		statusBar:  r.NewStyle().Reverse(true),
		statusNick: r.NewStyle().Reverse(true).Bold(true),
	}
	for _, c := range nickPalette {
		s.nicks = append(s.nicks, r.NewStyle().Foreground(lipgloss.Color(c)))
	}
	return s
}

// nickStyle is the stable colour of a peer: a hash of its key into the
// palette, so it stays the same across nickname changes and restarts.
func (s *styles) nickStyle(key string) lipgloss.Style {
	h := fnv.New32a()
	h.Write([]byte(key))
	return s.nicks[h.Sum32()%uint32(len(s.nicks))]
}

// helpStyles are the styles of the bubbles help line.
func helpStyles(r *lipgloss.Renderer) help.Styles {
	key := r.NewStyle().Bold(true)
	desc := r.NewStyle().Faint(true)
	sep := r.NewStyle().Faint(true)
	return help.Styles{
		Ellipsis:       sep,
		ShortKey:       key,
		ShortDesc:      desc,
		ShortSeparator: sep,
		FullKey:        key,
		FullDesc:       desc,
		FullSeparator:  sep,
	}
}
