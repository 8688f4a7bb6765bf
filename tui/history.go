package tui

import (
	"slices"

	"github.com/parlance-chat/parlance/tui/textsafe"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/parlance-chat/parlance/app"
	"github.com/parlance-chat/parlance/app/store"
)

// How the UI reads the store.
const (
	// catchUpBatch is the most store changes applied in one Update; more
	// are read in the next one, so a flood never freezes the screen.
	catchUpBatch = 2000
	// historyPage is how many stored messages are read at a time when a
	// conversation opens or PgUp reaches its top.
	historyPage = 200
)

// changesMsg asks Update to read the store's changes (Node.Changed fired,
// or a catch-up has more to read).
type changesMsg struct{}

// catchUp applies up to catchUpBatch store changes: messages added since
// the last read go into their conversation (in order, however many came),
// and the state changes of messages in view are shown. It returns whether
// the list must be rebuilt, the notifications to give (see notify), and a
// command to go on when there is more.
func (m *Model) catchUp() (refresh bool, notes []string, more tea.Cmd) {
	ch, err := m.node.Changes(m.version, catchUpBatch)
	if err != nil {
		m.say(kindError, "✗ cannot read messages from the store: "+err.Error())
		return false, nil, nil
	}
	read := map[app.PeerKey]int64{}
	// A group's messages that belong among those shown are merged into
	// place once per batch (see conversation.merge); unseen marks whether
	// the read marker goes above them.
	type lateMsgs struct {
		es     []entry
		unseen bool
	}
	var late map[*conversation]*lateMsgs
	place := func(c *conversation, e entry, unseen bool) int {
		if !c.ordered() || !e.isMessage() || c.fits(e) {
			return c.add(e, m.loc)
		}
		if late == nil {
			late = map[*conversation]*lateMsgs{}
		}
		l := late[c]
		if l == nil {
			l = &lateMsgs{}
			late[c] = l
		}
		l.es = append(l.es, e)
		l.unseen = l.unseen || unseen
		return -1
	}
	for _, msg := range ch {
		isNew := msg.Seq > m.version
		m.version = msg.Version
		key := app.PeerOf(msg.Conv)
		c, ok := m.convs[key]
		if !isNew || msg.Outgoing {
			// A state change, or our own message: it is shown (or
			// will be, from the store) where it belongs.
			if ok && !c.setStored(msg.ID, msg.Seq, msg.State) && isNew && msg.Seq > c.newestSeq {
				place(c, m.storedEntry(msg), false)
			}
			continue
		}
		if m.ignored.Drop(key) {
			continue // counted; never shown
		}
		if m.closed[key] {
			delete(m.closed, key) // news: the row comes back
			refresh = true
		}
		_, listed := m.list.index[key]
		if !ok {
			c = m.conv(key, msg.From)
			// A conversation that begins now: older history is read
			// when it comes into view (see loadOlder).
			c.loaded = true
			refresh = refresh || !listed
		} else {
			m.conv(key, "")
		}
		if c.nick == "" {
			c.nick = msg.From
		}
		if _, shown := c.byID[msg.ID]; shown && msg.ID != "" || msg.ID == "" && msg.Seq <= c.newestSeq {
			continue // already read with its history
		}
		c.talked = m.activity
		e := m.storedEntry(msg)
		inView := m.list.sel == key
		unseen := !inView || !m.focused
		if i := place(c, e, unseen); i >= 0 && unseen {
			c.setMark(i) // where the unseen messages start
		}
		if unseen {
			notes = append(notes, textsafe.Name(msg.From)+": "+e.text)
		}
		if inView {
			read[key] = msg.Seq
		} else {
			c.unread++
			c.mention = c.mention || mentions(e.text, m.self.Nickname)
		}
	}
	for c, l := range late {
		c.merge(l.es, m.loc)
		if !l.unseen {
			continue
		}
		first := len(c.entries)
		for _, e := range l.es {
			if i, ok := c.byID[e.id]; ok {
				first = min(first, i)
			}
		}
		c.markFrom(first)
	}
	for key, seq := range read {
		m.markRead(key, seq)
	}
	if len(ch) == catchUpBatch {
		more = func() tea.Msg { return changesMsg{} }
	}
	return refresh, notes, more
}

// storedEntry makes the entry of a stored message.
func (m *Model) storedEntry(msg app.Message) entry {
	e := entry{kind: kindIn, at: msg.At, from: textsafe.Name(msg.From), color: msg.Peer,
		text: textsafe.Sanitize(msg.Text, true), id: msg.ID, seq: msg.Seq, group: app.IsGroupKey(app.PeerOf(msg.Conv))}
	if e.group && !msg.Sent.IsZero() {
		e.at = msg.Sent // a group is shown by the sender's time (see conversation.merge)
	}
	if e.at.IsZero() {
		e.at = m.now()
	}
	if msg.Outgoing {
		e.kind, e.state, e.mstate = kindOut, sendStored, msg.State
		e.from = textsafe.Name(msg.From)
		if mb, ok := m.node.(mailboxedNode); ok && msg.State.Pending() {
			e.atServer = mb.Mailboxed(msg.ID) // after a restart, say
		}
	}
	return e
}

// mailboxedNode is a Node that knows which pending messages it left in
// their peers' mailboxes (app.Node does); later, app.Mailboxed events
// say it.
type mailboxedNode interface{ Mailboxed(id string) bool }

// markRead tells the node the user saw a conversation up to seq.
func (m *Model) markRead(key app.PeerKey, seq int64) {
	c := m.convs[key]
	if c == nil || seq <= c.readSeq {
		return
	}
	c.readSeq = seq
	m.pendingRead = append(m.pendingRead, readMark{key, seq})
}

// readMark is a MarkRead to send.
type readMark struct {
	key app.PeerKey
	seq int64
}

// flushReads returns a command that marks what was read, off Update.
func (m *Model) flushReads() tea.Cmd {
	if len(m.pendingRead) == 0 {
		return nil
	}
	marks, node := m.pendingRead, m.node
	m.pendingRead = nil
	return func() tea.Msg {
		for _, r := range marks {
			_ = node.MarkRead(app.ConvOf(r.key), r.seq)
		}
		return nil
	}
}

// openConversation reads the newest page of a conversation's stored
// history the first time it comes into view.
func (m *Model) openConversation(key app.PeerKey) {
	c := m.conv(key, "")
	if !c.loaded {
		c.loaded = true
		m.loadOlder(c)
	}
	if c.newestSeq > c.readSeq {
		m.markRead(key, c.newestSeq)
	}
}

// loadOlder reads the page of stored messages before the oldest shown
// and puts it above them; it reports whether there was any.
func (m *Model) loadOlder(c *conversation) bool {
	if c.complete || c.key == "" {
		return false
	}
	ms, err := m.node.History(app.ConvOf(c.key), c.oldestSeq, historyPage)
	if err != nil {
		m.addLine(c, kindError, "✗ cannot read older messages: "+err.Error())
		c.complete = true
		return false
	}
	if len(ms) < historyPage {
		c.complete = true
	}
	if len(ms) == 0 {
		return false
	}
	oldest, newest := ms[0].Seq, ms[len(ms)-1].Seq
	var late []entry // a group's messages that go among those shown
	if c.ordered() {
		// The page is the messages committed before those shown; in
		// display order some may belong among them.
		app.DisplayOrder(ms)
		first := slices.IndexFunc(c.entries, func(e entry) bool { return e.isMessage() })
		if first >= 0 {
			k := len(ms)
			for k > 0 && displayCmp(m.storedEntry(ms[k-1]), c.entries[first]) > 0 {
				k--
			}
			for _, msg := range ms[k:] {
				if _, shown := c.byID[msg.ID]; !shown {
					late = append(late, m.storedEntry(msg))
				}
			}
			ms = ms[:k]
		}
	}
	older := make([]entry, 0, len(ms)+8)
	lastDay := 0
	for _, msg := range ms {
		if c.nick == "" && !msg.Outgoing {
			c.nick = msg.From
		}
		if _, shown := c.byID[msg.ID]; shown && msg.ID != "" {
			continue // sent or received while the conversation was not open
		}
		e := m.storedEntry(msg)
		if d := dayKey(e.at.In(m.loc)); d != lastDay {
			older = append(older, entry{kind: kindDay, at: e.at})
			lastDay = d
		}
		older = append(older, e)
	}
	first := len(c.entries) == 0
	c.prepend(older)
	c.merge(late, m.loc)
	c.oldestSeq = oldest
	c.newestSeq = max(c.newestSeq, newest)
	if first {
		c.lastDay = lastDay
	}
	return true
}

// stateMark is the mark after our own message and its style name:
// "(sending…)", "(queued)", "✓", "✓✓", "✓✓ read", "✗ not sent", ...
func stateMark(e *entry) (mark string, failed bool) {
	switch e.state {
	case sendPending:
		return "(saving…)", false // not in the outbox yet
	case sendFailed:
		return "✗ not sent", true
	case sendStored:
		switch e.mstate {
		case store.Queued, store.Sent:
			if e.atServer {
				return "✉ at server", false
			}
			if e.mstate == store.Sent {
				return "✓", false
			}
			return "(queued)", false
		case store.Delivered:
			return "✓✓", false
		case store.Read:
			return "✓✓ read", false
		case store.Failed:
			return "✗ not delivered", true
		case store.SentNoReceipt:
			if e.group {
				return "✓", false // written to the members online; no receipts
			}
			return "✓ (no receipts: original peer)", false
		}
	}
	return "", false
}
