package tui

import (
	"context"
	"fmt"
	"time"

	"github.com/parlance-chat/parlance/tui/textsafe"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/parlance-chat/parlance/app"
	"github.com/parlance-chat/parlance/net/discovery"
)

// maxEventBatch is the most events handled in one Update (and drawn in one
// frame) when they come in a burst.
const maxEventBatch = 256

// eventsMsg carries node events to Update: one or more that were waiting
// on the channel. stopped means the channel closed after them; changed
// that the store has new or changed messages (Node.Changed).
type eventsMsg struct {
	events  []app.Event
	stopped bool
	changed bool
}

// retryTickMsg updates the "retrying in N s" countdown.
type retryTickMsg struct{ gen int }

// waitForEvents is the command that feeds node events to the model: it
// blocks until an event arrives, takes whatever else is already waiting
// (so a burst is one update and one frame) and returns. Update arms it
// again after each batch. A closed channel means the network stopped. It
// returns nil when the model's context ends, so no goroutine outlives Run.
func (m *Model) waitForEvents() tea.Cmd {
	ch, changed, ctx := m.events, m.node.Changed(), m.ctx
	if ch == nil {
		return nil
	}
	return func() tea.Msg { return receiveEvents(ctx, ch, changed) }
}

func receiveEvents(ctx context.Context, ch <-chan app.Event, changed <-chan struct{}) tea.Msg {
	var batch []app.Event
	select {
	case ev, ok := <-ch:
		if !ok {
			return eventsMsg{stopped: true, changed: true}
		}
		batch = append(batch, ev)
	case <-changed:
		return eventsMsg{changed: true}
	case <-ctx.Done():
		return nil
	}
	for len(batch) < maxEventBatch {
		select {
		case ev, ok := <-ch:
			if !ok {
				return eventsMsg{events: batch, stopped: true}
			}
			batch = append(batch, ev)
		default:
			return eventsMsg{events: batch}
		}
	}
	return eventsMsg{events: batch}
}

// handleChanges reads the store's changes outside an events batch (a
// catch-up that had more to read).
func (m *Model) handleChanges() tea.Cmd {
	refresh, notes, more := m.catchUp()
	if m.overBudget() && m.pruneConversations() {
		refresh = true
	}
	if refresh {
		m.refreshPeers()
		m.updatePlaceholder()
	}
	return tea.Batch(more, m.notify(notes))
}

// handleEvents applies a batch of node events and re-arms the wait.
func (m *Model) handleEvents(msg eventsMsg) tea.Cmd {
	var cmds []tea.Cmd
	refresh := false
	var notes []string
	for _, ev := range msg.events {
		r, note, cmd := m.handleEvent(ev)
		// A change to a listed peer that keeps its nickname keeps its
		// place and its name: it is patched in place, at O(1).
		refresh = refresh || (r && !m.list.patch(ev))
		if note != "" {
			notes = append(notes, note)
		}
		if cmd != nil {
			cmds = append(cmds, cmd)
		}
	}
	if msg.changed {
		r, n, more := m.catchUp()
		refresh = refresh || r
		notes = append(notes, n...)
		if more != nil {
			cmds = append(cmds, more)
		}
	}
	if m.overBudget() && m.pruneConversations() {
		refresh = true
	}
	if refresh {
		if cmd := m.refreshSoon(); cmd != nil {
			cmds = append(cmds, cmd)
		}
	}
	if cmd := m.notify(notes); cmd != nil {
		cmds = append(cmds, cmd)
	}
	if msg.stopped {
		m.log.Debug("node event channel closed")
		m.stopped = true
		m.say(kindError, "✗ the network stopped; nothing more can be sent or received")
	} else {
		cmds = append(cmds, m.waitForEvents())
	}
	return tea.Batch(cmds...)
}

// Rebuilding the peer list (refreshPeers) costs O(n log n) in the peers
// listed. A list of up to smallList rows is rebuilt at once; a larger one
// at most once per listRefreshGap, so that a flood of new peers costs
// O(1) per event plus a bounded share of the CPU, while changes to peers
// already listed are patched in place at once (peerList.patch).
const (
	smallList      = 1000
	listRefreshGap = 100 * time.Millisecond
)

// refreshListMsg asks for the peer-list rebuild that refreshSoon put off.
type refreshListMsg struct{}

// refreshSoon rebuilds the peer list now, or (for a large list rebuilt
// less than listRefreshGap ago) schedules it.
func (m *Model) refreshSoon() tea.Cmd {
	since := m.now().Sub(m.lastRefresh)
	if len(m.list.items) <= smallList || since >= listRefreshGap || since < 0 || m.tick == nil {
		m.refreshNow()
		return nil
	}
	if m.refreshPending {
		return nil
	}
	m.refreshPending = true
	return m.tick(listRefreshGap-since, func(time.Time) tea.Msg { return refreshListMsg{} })
}

// refreshNow rebuilds the peer list and what depends on it.
func (m *Model) refreshNow() {
	m.refreshPending = false
	m.lastRefresh = m.now()
	m.refreshPeers()
	m.updatePlaceholder()
}

// handleEvent applies one event. It reports whether the peer list must be
// rebuilt, and what to notify the user of ("" for nothing).
func (m *Model) handleEvent(ev app.Event) (refresh bool, note string, cmd tea.Cmd) {
	m.log.Debug("node event", "type", fmt.Sprintf("%T", ev))
	switch ev := ev.(type) {
	case app.PeerJoined:
		// The node lists a peer that joined, so its conversation stays
		// while it is listed (see refreshPeers).
		p := ev.Peer
		c := m.conv(p.Key, p.Nickname)
		text := "→ " + textsafe.Name(p.Nickname) + " joined"
		if p.Source != "" || p.Addr.IsValid() {
			text += " (" + joinNonEmpty(", ", p.Source, addrText(p)) + ")"
		}
		if p.Trust == app.TrustNone {
			text += "; unencrypted: an original client"
		}
		m.addLine(c, kindSystem, text)
		return true, "", nil

	case app.PeerUpdated:
		p := ev.Peer
		old, had := m.list.item(p.Key)
		c := m.conv(p.Key, p.Nickname)
		name := textsafe.Name(p.Nickname)
		if had && old.peer.Nickname != p.Nickname {
			m.addLine(c, kindSystem, "· "+textsafe.Name(old.peer.Nickname)+" is now known as "+name)
		}
		if had && old.peer.Trust != p.Trust {
			switch p.Trust {
			case app.TrustVerified:
				m.addLine(c, kindSystem, "✓ "+name+" is verified")
			case app.TrustChanged:
				m.addLine(c, kindWarning, "⚠ "+name+" has a different key than before: this may be someone else. Compare safety codes with /verify.")
			default:
				m.addLine(c, kindSystem, "· "+name+": "+p.Trust.Label())
			}
		}
		return true, "", nil

	case app.PathChanged:
		// Only the header and /whois show it: patch the row.
		return true, "", nil

	case app.PeerLeft:
		// The line goes only into a conversation that is already there
		// or whose peer has a row: a made-up peer that comes and goes
		// must leave nothing behind.
		p := ev.Peer
		_, listed := m.list.index[p.Key]
		if _, ok := m.convs[p.Key]; !ok && !listed {
			return false, "", nil
		}
		c := m.conv(p.Key, p.Nickname)
		text := "← " + textsafe.Name(p.Nickname) + " left"
		if ev.Reason != "" {
			text += " (" + ev.Reason + ")"
		}
		m.addLine(c, kindSystem, text)
		return true, "", nil

	case app.Notice:
		c := m.current()
		if ev.Peer != "" {
			c = m.conv(ev.Peer, "")
		}
		// Text: what the nicknames in a notice hide shows, as in names.
		if ev.Warning {
			m.addLine(c, kindWarning, "⚠ "+textsafe.Text(ev.Text))
		} else {
			m.addLine(c, kindSystem, "· "+textsafe.Text(ev.Text))
		}
		_, listed := m.list.index[ev.Peer]
		return ev.Peer != "" && !listed, "", nil

	case app.Mailboxed:
		if c, ok := m.convs[ev.Peer]; ok {
			for _, id := range ev.IDs {
				c.setAtServer(id)
			}
		}
		return false, "", nil

	case app.TransferChanged:
		m.transferChanged(ev)
		return false, "", nil

	case app.SourceState:
		st := ev.State
		m.source = &st
		if st.Phase == discovery.Retrying {
			m.retryAt = m.now().Add(st.RetryIn)
			m.retryN++
			return false, "", m.retryTick()
		}
		return false, "", nil

	case app.SelfChanged:
		m.setSelf(ev.Self)
		return true, "", nil // a peer may now look like the user

	case app.Resync:
		// Only peer events were dropped (messages come from the store):
		// the list is rebuilt from the node.
		m.log.Info("peer events dropped; peer list reloaded", "dropped", ev.Dropped)
		return true, "", nil
	}
	refresh, note = m.handleGroupEvent(ev)
	return refresh, note, nil
}

// setSelf takes a new Self, saying so when the nickname changed.
func (m *Model) setSelf(s app.Self) {
	if s.Nickname != m.self.Nickname && m.self.Nickname != "" {
		m.say(kindSystem, "· you are now known as "+textsafe.Name(s.Nickname))
	}
	m.self = s
}

func (m *Model) retryTick() tea.Cmd {
	if m.tick == nil {
		return nil
	}
	gen := m.retryN
	return m.tick(time.Second, func(time.Time) tea.Msg { return retryTickMsg{gen: gen} })
}

// handleRetryTick keeps the countdown running while the server is being
// retried; an older countdown stops.
func (m *Model) handleRetryTick(msg retryTickMsg) tea.Cmd {
	if msg.gen != m.retryN || m.source == nil || m.source.Phase != discovery.Retrying || !m.now().Before(m.retryAt) {
		return nil
	}
	return m.retryTick()
}

func addrText(p app.Peer) string {
	if p.Addr.IsValid() {
		return p.Addr.String()
	}
	return ""
}

func joinNonEmpty(sep string, parts ...string) string {
	out := ""
	for _, p := range parts {
		if p == "" {
			continue
		}
		if out != "" {
			out += sep
		}
		out += p
	}
	return out
}
