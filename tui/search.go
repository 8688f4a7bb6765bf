package tui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/parlance-chat/parlance/app"
	"github.com/parlance-chat/parlance/app/store"
	"github.com/parlance-chat/parlance/tui/textsafe"
)

// searchLimit is how many matches /search shows.
const searchLimit = 200

// searchView is the list of /search results shown over the panes: ↑/↓
// choose, Enter jumps to the message in its conversation, Esc closes.
type searchView struct {
	query  string
	hits   []app.Message
	sel    int
	offset int
}

// runSearch searches the store and opens the results.
func (m *Model) runSearch(query string) error {
	hits, err := m.node.Search(query, searchLimit)
	if err != nil {
		return fmt.Errorf("search: %w", err)
	}
	if len(hits) == 0 {
		m.say(kindInfo, fmt.Sprintf("· no message matches %q", textsafe.Line(query)))
		return nil
	}
	m.search = &searchView{query: query, hits: hits}
	return nil
}

// searchKey handles a key while the results are open.
func (m *Model) searchKey(msg tea.KeyMsg) {
	s := m.search
	page := max(m.layout.bodyH-3, 1)
	switch {
	case key.Matches(msg, m.keys.CloseHelp):
		m.search = nil
	case key.Matches(msg, m.keys.Up):
		s.sel = max(s.sel-1, 0)
	case key.Matches(msg, m.keys.Down):
		s.sel = min(s.sel+1, len(s.hits)-1)
	case key.Matches(msg, m.keys.PageUp):
		s.sel = max(s.sel-page, 0)
	case key.Matches(msg, m.keys.PageDown):
		s.sel = min(s.sel+page, len(s.hits)-1)
	case key.Matches(msg, m.keys.Send):
		m.search = nil
		m.jumpTo(s.hits[s.sel])
	}
}

// jumpTo shows a stored message in its conversation: older pages are read
// until it is there, and the view is put on it.
func (m *Model) jumpTo(msg app.Message) {
	key := app.PeerOf(msg.Conv)
	m.selectKey(key)
	c := m.conv(key, "")
	for range 10_000 {
		if _, ok := c.byID[msg.ID]; ok || !m.loadOlder(c) {
			break
		}
	}
	i, ok := c.byID[msg.ID]
	if !ok {
		m.addLine(c, kindError, "✗ that message is no longer in this conversation")
		return
	}
	lines := c.linesOf(i, m.layout.textW, m.renderEntry)
	c.anchor, c.follow = pos{i, len(lines) - 1}, false
	// Show it a little above the bottom, with what followed.
	c.scrollDown(max(m.layout.viewH/2, 1), m.layout.textW, m.renderEntry)
}

// searchLines draws the results for a box of width×height.
func (m *Model) searchLines(width, height int) []string {
	s := m.search
	if s.sel < s.offset {
		s.offset = s.sel
	}
	if s.sel >= s.offset+height {
		s.offset = s.sel - height + 1
	}
	var out []string
	for i := s.offset; i < len(s.hits) && len(out) < height; i++ {
		h := s.hits[i]
		who := m.convName(app.PeerOf(h.Conv), h)
		if h.Outgoing {
			who = "you → " + who
		}
		line := h.At.In(m.loc).Format("2 Jan 15:04") + "  " + who + ": " + excerpt(textsafe.Line(h.Text), width)
		line = truncate(line, width-2)
		if i == s.sel {
			out = append(out, m.st.selected.Render(padRight("▸ "+line, width)))
		} else {
			out = append(out, "  "+line)
		}
	}
	return out
}

// convName names the peer of a conversation as the list does.
func (m *Model) convName(key app.PeerKey, h app.Message) string {
	if it, ok := m.list.item(key); ok {
		return it.name
	}
	if !h.Outgoing {
		return textsafe.Name(h.From)
	}
	return string(key)
}

// searchTitle is the title of the results box.
func (m *Model) searchTitle() string {
	s := m.search
	more := ""
	if len(s.hits) == searchLimit {
		more = "+"
	}
	return fmt.Sprintf("Search %q: %d%s matches · ↑/↓ choose · enter jump · esc close", textsafe.Line(s.query), len(s.hits), more)
}

// outboxText lists the messages waiting for their peer, for /outbox.
func (m *Model) outboxText() (string, error) {
	ob, err := m.node.Outbox()
	if err != nil {
		return "", fmt.Errorf("read the outbox: %w", err)
	}
	if len(ob) == 0 {
		return "· nothing is waiting in the outbox", nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "· %d waiting for their peer:", len(ob))
	for _, msg := range ob {
		fmt.Fprintf(&b, "\n  %s to %s: %s (%s, %d attempts)", msg.At.In(m.loc).Format("2 Jan 15:04"),
			m.convName(app.PeerOf(msg.Conv), msg), excerpt(textsafe.Line(msg.Text), 40), msg.State, msg.Attempts)
	}
	return b.String(), nil
}

// resendFailed queues again the failed messages shown in a conversation.
func (m *Model) resendFailed(c *conversation) int {
	n := 0
	for _, e := range c.entries {
		if e.kind == kindOut && e.state == sendStored && e.mstate == store.Failed {
			if _, err := m.node.Resend(app.ConvOf(c.key), e.id); err == nil {
				n++
			}
		}
	}
	return n
}
