package tui

import (
	"slices"
	"strings"
	"time"

	"github.com/parlance-chat/parlance/app"
	"github.com/parlance-chat/parlance/app/store"
)

// entryKind is what one line (or block) of a conversation is.
type entryKind uint8

const (
	kindIn      entryKind = iota // a message from the peer
	kindOut                      // a message we sent
	kindInfo                     // output of a command
	kindSystem                   // joined, left, renamed, notices
	kindWarning                  // a warning notice
	kindError                    // an error (failed send, bad command)
	kindDay                      // the date changed
)

// sendState is how far an outgoing message got before the store took it:
// being saved (Node.Send not returned yet), or refused by Send. Once
// stored, the message's store.State (entry.mstate) says the rest.
type sendState uint8

const (
	sendNone    sendState = iota
	sendPending           // Node.Send not returned yet
	sendStored            // in the store: see mstate
	sendFailed            // Send refused it (nothing was stored)
)

// entry is one item of a conversation. Its text is sanitised when the
// entry is made. The wrapped lines are cached for the width they were made
// for, so each entry is wrapped once per width, and only when it is drawn.
type entry struct {
	kind  entryKind
	at    time.Time
	from  string // sender nickname (messages)
	color string // key that picks the sender's colour
	text  string
	state sendState
	// id and seq of a stored message; mstate is its delivery state.
	id     string
	seq    int64
	mstate store.State
	// atServer: the pending message was left, sealed, in the peer's
	// mailbox at the bootstrap server (app.Mailboxed).
	atServer bool
	// marked puts the read marker above the entry: the first one that
	// arrived while the conversation was out of view.
	marked bool
	// group: a message of a group conversation (no receipts there).
	group bool

	wrapW int      // width lines were made for; 0 = not made
	lines []string // rendered (styled) lines
}

// pos is one screen line of a conversation: entry index and line within
// that entry's wrapped lines.
type pos struct{ e, l int }

// Limits of what the UI keeps, so that no flood from the network (made-up
// peers coming and going, messages by the million) grows its memory
// without bound. They mirror the node's MemoryStore.
const (
	// maxConversations is how many conversations are kept; past it the
	// least recently active ones are dropped, those without unread
	// messages and without messages at all first (see pruneConversations).
	maxConversations = 1000
	// keepEntries is how many entries a conversation keeps at least; when
	// trimEntries more have come, the oldest are dropped at once, so that
	// trimming costs amortised O(1) per entry.
	keepEntries = 100_000
	trimEntries = 10_000
	// maxConvBytes and maxTotalBytes bound the text held by one
	// conversation and by all of them (messages may be 64 KiB each).
	maxConvBytes  = 16 << 20
	maxTotalBytes = 256 << 20
)

// budget is what the conversations of one model may hold, and what they
// hold. Every conversation of the model shares it.
type budget struct {
	convs      int // conversations
	entries    int // keepEntries
	trim       int // trimEntries
	convBytes  int
	totalBytes int

	used int // bytes held by every conversation
}

func newBudget() *budget {
	return &budget{convs: maxConversations, entries: keepEntries, trim: trimEntries, convBytes: maxConvBytes, totalBytes: maxTotalBytes}
}

// entryOverhead is what an entry costs beyond its text, roughly: the
// struct and the cached lines of the entries drawn.
const entryOverhead = 128

func (e *entry) cost() int { return entryOverhead + len(e.text) + len(e.from) + len(e.color) }

// conversation is the history with one peer (or the home view). It grows
// at the end; the oldest entries are dropped past the budget's limits, and
// all of them by /clear.
type conversation struct {
	key      app.PeerKey
	nick     string // last nickname seen (raw), for peers node.Peers() does not list
	entries  []entry
	lastDay  int // yyyymmdd of the newest entry, 0 when empty
	unread   int
	mention  bool   // an unread message names the user
	mark     int    // index+1 of the entry under the read marker; 0: none
	messages int    // entries that are messages, in or out
	bytes    int    // cost of the entries
	active   uint64 // when it was last used (Model.activity)
	talked   uint64 // when a message last came or went (Model.activity), for completion
	budget   *budget

	// follow keeps the newest line at the bottom. When false, anchor is the
	// line shown at the bottom of the view.
	follow bool
	anchor pos

	// pending maps the local id of a message being sent to its entry.
	pending map[int]int
	// byID maps the id of a message shown to its entry, for its state
	// changes and for jumping to it.
	byID map[string]int

	// The stored history: loaded is set once the newest page was read
	// (or the conversation began in view); oldestSeq and newestSeq are
	// the Seqs of the oldest and newest stored messages shown; complete:
	// nothing older is stored.
	loaded               bool
	oldestSeq, newestSeq int64
	complete             bool
	// readSeq is the newest message the store knows we read.
	readSeq int64
}

func newConversation(key app.PeerKey, nick string, b *budget) *conversation {
	return &conversation{key: key, nick: nick, follow: true, pending: map[int]int{}, byID: map[string]int{}, budget: b}
}

// keep reports whether the conversation holds something the user has not
// seen or may want again: messages, unread ones, or messages being sent.
// Lines about peers joining and leaving do not count.
func (c *conversation) keep() bool {
	return c.messages > 0 || c.unread > 0 || len(c.pending) > 0
}

// add appends an entry, with a day line before it when the local date
// changed since the previous entry, and returns its index. The oldest
// entries are dropped when the conversation is over its limits.
func (c *conversation) add(e entry, loc *time.Location) int {
	day := dayKey(e.at.In(loc))
	if day != c.lastDay {
		c.push(entry{kind: kindDay, at: e.at})
		c.lastDay = day
	}
	c.push(e)
	if e.id != "" {
		c.byID[e.id] = len(c.entries) - 1
	}
	if e.seq > 0 {
		c.newestSeq = max(c.newestSeq, e.seq)
		if c.oldestSeq == 0 {
			c.oldestSeq = e.seq
		}
	}
	if len(c.entries) >= c.budget.entries+c.budget.trim || c.bytes > c.budget.convBytes {
		c.trim()
	}
	return len(c.entries) - 1
}

func (c *conversation) push(e entry) {
	c.entries = append(c.entries, e)
	if e.kind == kindIn || e.kind == kindOut {
		c.messages++
	}
	c.account(e.cost())
}

func (c *conversation) account(n int) {
	c.bytes += n
	c.budget.used += n
}

// trim drops the oldest entries, down to budget.entries and to nine tenths
// of budget.convBytes, keeping at least the newest entry. A day line takes
// the place of the last entry dropped when the first one kept is not one,
// so the history still starts with its date. Messages being sent whose
// entry is dropped are forgotten (their outcome is reported as a new
// line), and a view scrolled into what was dropped goes to the top.
func (c *conversation) trim() {
	cut := 0 // entries dropped
	for cut < len(c.entries)-1 && (len(c.entries)-cut > c.budget.entries || c.bytes > c.budget.convBytes/10*9) {
		e := &c.entries[cut]
		if e.kind == kindIn || e.kind == kindOut {
			c.messages--
		}
		c.account(-e.cost())
		cut++
	}
	if cut == 0 {
		return
	}
	shift := cut // how far the entries kept move
	if c.entries[cut].kind != kindDay {
		shift--
		c.entries[shift] = entry{kind: kindDay, at: c.entries[cut].at}
		c.account(c.entries[shift].cost())
	}
	n := copy(c.entries, c.entries[shift:])
	clear(c.entries[n:]) // let the dropped text go
	c.entries = c.entries[:n]
	for id, i := range c.pending {
		if i < cut {
			delete(c.pending, id)
		} else {
			c.pending[id] = i - shift
		}
	}
	for id, i := range c.byID {
		if i < cut {
			delete(c.byID, id)
		} else {
			c.byID[id] = i - shift
		}
	}
	c.complete = false
	if c.entries[0].seq > 0 {
		c.oldestSeq = c.entries[0].seq
	} else {
		c.oldestSeq = c.newestSeq
		for _, e := range c.entries {
			if e.seq > 0 {
				c.oldestSeq = e.seq
				break
			}
		}
	}
	if c.anchor.e < cut {
		c.anchor = pos{}
	} else {
		c.anchor.e -= shift
	}
	if c.mark-1 < cut {
		c.mark = 0
	} else {
		c.mark -= shift
	}
}

// setMark puts the read marker above entry i, unless one is there.
func (c *conversation) setMark(i int) {
	if c.mark != 0 || i < 0 || i >= len(c.entries) {
		return
	}
	c.mark = i + 1
	c.entries[i].marked = true
	c.entries[i].wrapW = 0 // draw again
}

// clearMark removes the read marker: everything has been seen.
func (c *conversation) clearMark() {
	if c.mark != 0 && c.mark-1 < len(c.entries) {
		e := &c.entries[c.mark-1]
		e.marked = false
		e.wrapW = 0
	}
	c.mark = 0
}

// clear forgets the history on screen. Messages still being sent are
// forgotten too; their outcome is reported as a new line.
func (c *conversation) clear() {
	c.account(-c.bytes)
	c.entries = nil
	c.lastDay = 0
	c.messages = 0
	c.follow = true
	c.anchor = pos{}
	c.mark = 0
	clear(c.pending)
	clear(c.byID)
	// What was stored stays in the store; the view starts afresh.
	c.complete = true
	c.oldestSeq = c.newestSeq
}

// release gives the conversation's bytes back to the budget when the
// model drops it.
func (c *conversation) release() { c.account(-c.bytes) }

// setStored marks the entry of message id with its stored state, and
// reports whether it is shown.
func (c *conversation) setStored(id string, seq int64, st store.State) bool {
	i, ok := c.byID[id]
	if !ok {
		return false
	}
	e := &c.entries[i]
	if e.kind != kindOut || e.state == sendStored && e.mstate == st && e.seq == seq {
		return true // a received message's state (read) is not drawn
	}
	e.state, e.mstate = sendStored, st
	if seq > 0 {
		e.seq = seq
	}
	e.wrapW = 0 // draw again
	return true
}

// setAtServer marks the entry of our message id as left in the peer's
// mailbox, and reports whether it is shown.
func (c *conversation) setAtServer(id string) bool {
	i, ok := c.byID[id]
	if !ok || c.entries[i].kind != kindOut || c.entries[i].atServer {
		return ok
	}
	c.entries[i].atServer = true
	c.entries[i].wrapW = 0 // draw again
	return true
}

// prepend puts older entries (oldest first, day lines included) before
// the ones shown, keeping the view where it is.
func (c *conversation) prepend(older []entry) {
	if len(older) == 0 {
		return
	}
	// The day line that starts the entries shown is redundant when the
	// older ones end on the same day.
	drop := 0
	if len(c.entries) > 0 && c.entries[0].kind == kindDay && dayKey(c.entries[0].at) == dayKey(older[len(older)-1].at) {
		drop = 1
		c.account(-c.entries[0].cost())
	}
	shift := len(older) - drop
	entries := make([]entry, 0, len(older)+len(c.entries)-drop)
	entries = append(entries, older...)
	entries = append(entries, c.entries[drop:]...)
	c.entries = entries
	for i := range older {
		e := &older[i]
		if e.kind == kindIn || e.kind == kindOut {
			c.messages++
		}
		c.account(e.cost())
	}
	for id, i := range c.pending {
		c.pending[id] = i + shift
	}
	for id, i := range c.byID {
		c.byID[id] = i + shift
	}
	for i, e := range older {
		if e.id != "" {
			c.byID[e.id] = i
		}
	}
	if !c.follow {
		c.anchor.e += shift
	}
}

// setState changes the send state of a pending message and reports
// whether it was still there.
func (c *conversation) setState(localID int, st sendState) bool {
	i, ok := c.pending[localID]
	if !ok {
		return false
	}
	delete(c.pending, localID)
	c.entries[i].state = st
	c.entries[i].wrapW = 0 // draw again
	return true
}

// lineRenderer turns an entry into screen lines of a given width.
type lineRenderer func(e *entry, width int) []string

// linesOf returns the wrapped lines of entry i, making them if the cache is
// for another width.
func (c *conversation) linesOf(i, width int, render lineRenderer) []string {
	e := &c.entries[i]
	if e.wrapW != width {
		e.lines = render(e, width)
		e.wrapW = width
	}
	return e.lines
}

// last is the position of the newest line.
func (c *conversation) last(width int, render lineRenderer) pos {
	n := len(c.entries) - 1
	return pos{n, len(c.linesOf(n, width, render)) - 1}
}

// bottom is the line at the bottom of the view.
func (c *conversation) bottom(width int, render lineRenderer) pos {
	if c.follow || c.anchor.e >= len(c.entries) {
		return c.last(width, render)
	}
	p := c.anchor
	// The width may have changed since the anchor was set.
	p.l = min(p.l, len(c.linesOf(p.e, width, render))-1)
	return p
}

// prev is the line before p; ok is false at the first line.
func (c *conversation) prev(p pos, width int, render lineRenderer) (pos, bool) {
	if p.l > 0 {
		return pos{p.e, p.l - 1}, true
	}
	if p.e == 0 {
		return p, false
	}
	return pos{p.e - 1, len(c.linesOf(p.e-1, width, render)) - 1}, true
}

// next is the line after p; ok is false at the last line.
func (c *conversation) next(p pos, width int, render lineRenderer) (pos, bool) {
	if p.l+1 < len(c.linesOf(p.e, width, render)) {
		return pos{p.e, p.l + 1}, true
	}
	if p.e+1 >= len(c.entries) {
		return p, false
	}
	return pos{p.e + 1, 0}, true
}

// visible returns the lines to show in a view of height lines, oldest
// first, and how many entries are below the view. Its cost depends on the
// height, not on the length of the history.
func (c *conversation) visible(width, height int, render lineRenderer) (lines []string, below int) {
	if len(c.entries) == 0 || height <= 0 {
		return nil, 0
	}
	b := c.bottom(width, render)
	lines = make([]string, height)
	n := 0
	for p, ok := b, true; ok && n < height; p, ok = c.prev(p, width, render) {
		lines[height-1-n] = c.linesOf(p.e, width, render)[p.l]
		n++
	}
	if n < height {
		// Near the top of the history: fill the view from below the
		// anchor. A history shorter than the view stays at the bottom,
		// next to the input, with blank lines above.
		shown := lines[height-n:]
		for p, ok := c.next(b, width, render); ok && n < height; p, ok = c.next(p, width, render) {
			shown = append(shown, c.linesOf(p.e, width, render)[p.l])
			b = p
			n++
		}
		lines = append(make([]string, height-n, height), shown...)
	}
	return lines, len(c.entries) - 1 - b.e
}

// scrollUp moves the view n lines towards older messages, stopping when
// the first line is at the top of a view of height lines.
func (c *conversation) scrollUp(n, width, height int, render lineRenderer) {
	if len(c.entries) == 0 {
		return
	}
	p := c.walk(c.bottom(width, render), n, width, render, c.prev)
	// Keep a full view: at least height-1 lines above the bottom line.
	above := 0
	for q, ok := c.prev(p, width, render); ok && above < height-1; q, ok = c.prev(q, width, render) {
		above++
	}
	p = c.walk(p, height-1-above, width, render, c.next)
	c.anchor = p
	c.follow = p == c.last(width, render)
}

// nearTop reports whether fewer than n lines are above the bottom line
// of the view: scrolling up n lines would reach the start of what is
// loaded.
func (c *conversation) nearTop(n, width int, render lineRenderer) bool {
	if len(c.entries) == 0 {
		return true
	}
	p := c.bottom(width, render)
	for range n {
		q, ok := c.prev(p, width, render)
		if !ok {
			return true
		}
		p = q
	}
	return false
}

// scrollDown moves the view n lines towards newer messages; reaching the
// end makes the view follow new messages again.
func (c *conversation) scrollDown(n, width int, render lineRenderer) {
	if c.follow || len(c.entries) == 0 {
		return
	}
	p := c.walk(c.bottom(width, render), n, width, render, c.next)
	c.anchor = p
	c.follow = p == c.last(width, render)
}

// scrollTop shows the first lines of the history.
func (c *conversation) scrollTop(width, height int, render lineRenderer) {
	if len(c.entries) == 0 {
		return
	}
	c.anchor = c.walk(pos{}, height-1, width, render, c.next)
	c.follow = c.anchor == c.last(width, render)
}

// walk moves p up to n lines with step (c.prev or c.next), stopping at
// either end.
func (c *conversation) walk(p pos, n, width int, render lineRenderer, step func(pos, int, lineRenderer) (pos, bool)) pos {
	for ; n > 0; n-- {
		q, ok := step(p, width, render)
		if !ok {
			break
		}
		p = q
	}
	return p
}

// dayKey is the local date of t as yyyymmdd.
func dayKey(t time.Time) int {
	return t.Year()*10000 + int(t.Month())*100 + t.Day()
}

// excerpt shortens text for a one-line mention.
func excerpt(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	return truncate(s, n)
}

// A group's conversation shows its messages in the order every member
// shows them (app.DisplayOrder: the sender's time, then the id), not in
// the order they came: a message a catch-up brings late takes its place
// among the others (merge). Its entries' times are the sender's.

// ordered reports whether the conversation keeps its messages in display
// order (a group's).
func (c *conversation) ordered() bool { return app.IsGroupKey(c.key) }

func (e *entry) isMessage() bool { return e.kind == kindIn || e.kind == kindOut }

// displayCmp orders two message entries of a group as app.DisplayOrder
// does.
func displayCmp(a, b entry) int {
	if c := a.at.Compare(b.at); c != 0 {
		return c
	}
	return strings.Compare(a.id, b.id)
}

// fits reports whether message entry e of an ordered conversation goes
// after every message shown (so add will do).
func (c *conversation) fits(e entry) bool {
	for i := len(c.entries) - 1; i >= 0; i-- {
		if c.entries[i].isMessage() {
			return displayCmp(c.entries[i], e) < 0
		}
	}
	return true
}

// merge puts message entries that belong among those shown in their
// place in display order. Only the entries from the first place that
// changes to the end are moved, once for all of es: the cost is that tail
// plus sorting es. Day lines in the tail are made anew. Find the new
// entries with byID (they have ids).
func (c *conversation) merge(es []entry, loc *time.Location) {
	if len(es) == 0 {
		return
	}
	slices.SortStableFunc(es, displayCmp)
	// The tail starts after the last message that goes before es[0].
	start := len(c.entries)
	for start > 0 {
		p := c.entries[start-1]
		if p.isMessage() && displayCmp(p, es[0]) < 0 {
			break
		}
		start--
	}
	tail := c.entries[start:]
	oldCost := 0
	for i := range tail {
		oldCost += tail[i].cost()
	}
	prevDay := 0
	if start > 0 {
		prevDay = dayKey(c.entries[start-1].at.In(loc))
	}
	merged := make([]entry, 0, len(tail)+2*len(es))
	push := func(e entry) int {
		if d := dayKey(e.at.In(loc)); d != prevDay {
			merged = append(merged, entry{kind: kindDay, at: e.at})
			prevDay = d
		}
		merged = append(merged, e)
		return start + len(merged) - 1
	}
	where := make([]int, len(tail)) // the new index of each old tail entry
	k := 0
	for i, t := range tail {
		if t.kind == kindDay {
			where[i] = -1 // made anew: stands for the entry after it
			continue
		}
		for t.isMessage() && k < len(es) && displayCmp(es[k], t) < 0 {
			push(es[k])
			k++
		}
		where[i] = push(t)
	}
	for ; k < len(es); k++ {
		push(es[k])
	}
	next := start + len(merged) - 1
	for i := len(where) - 1; i >= 0; i-- {
		if where[i] < 0 {
			where[i] = next
		}
		next = where[i]
	}
	c.entries = append(c.entries[:start], merged...)
	newCost := 0
	for i := range merged {
		e := &merged[i]
		newCost += e.cost()
		if e.id != "" {
			c.byID[e.id] = start + i
		}
	}
	c.account(newCost - oldCost)
	c.messages += len(es)
	c.lastDay = prevDay
	for _, e := range es {
		if e.seq > 0 {
			c.newestSeq = max(c.newestSeq, e.seq)
			if c.oldestSeq == 0 {
				c.oldestSeq = e.seq
			}
		}
	}
	for id, i := range c.pending {
		if i >= start {
			c.pending[id] = where[i-start]
		}
	}
	if c.mark-1 >= start {
		c.mark = where[c.mark-1-start] + 1
	}
	if !c.follow && c.anchor.e >= start {
		c.anchor.e = where[c.anchor.e-start]
	}
	if len(c.entries) >= c.budget.entries+c.budget.trim || c.bytes > c.budget.convBytes {
		c.trim()
	}
}

// markFrom puts the read marker above entry i, or moves it there when it
// is below i: a late message the user has not seen is above the others.
func (c *conversation) markFrom(i int) {
	if c.mark != 0 && c.mark-1 > i {
		c.clearMark()
	}
	c.setMark(i)
}
