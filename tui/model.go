// Package tui is Parlance's full-screen terminal UI, built with Bubble Tea.
//
// The model gets everything from a Node: discovery and inbound messages
// arrive as events on Node.Events (read by a command that is re-armed after
// each batch), and the user's actions go back through Node's methods, the
// slow ones inside commands. The UI never opens a socket and never prints
// to the terminal except through Bubble Tea.
package tui

import (
	"cmp"
	"context"
	"io"
	"log/slog"
	"os"
	"slices"
	"time"

	"github.com/parlance-chat/parlance/tui/textsafe"

	"github.com/charmbracelet/bubbles/cursor"
	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/textarea"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"github.com/parlance-chat/parlance/app"
	"github.com/parlance-chat/parlance/app/store"
	"github.com/parlance-chat/parlance/net/discovery"
	"github.com/parlance-chat/parlance/tui/ignore"
)

// Node is what the UI needs from the running node. app.Node satisfies it;
// tests use a fake.
type Node interface {
	Events() <-chan app.Event
	Self() app.Self
	Peers() []app.Peer              // every known peer, online or not, sorted for display
	Resolve(name string) []app.Peer // by nickname or "nickname#tag"; >1 result = ambiguous
	SetNickname(name string) error
	SafetyCode(key app.PeerKey) (string, error) // for /verify
	MarkVerified(key app.PeerKey) error         // for /verify <nick> confirm

	// Messages are read from the store: Changed signals that some were
	// added or changed, Changes reads them by version.
	SendWithID(ctx context.Context, key app.PeerKey, id, text string) (app.Message, error)
	Changed() <-chan struct{}
	Changes(after int64, limit int) ([]app.Message, error)
	LastVersion() (int64, error)
	History(conv app.ConvID, before int64, limit int) ([]app.Message, error)
	Conversations() ([]store.Conversation, error)
	MarkRead(conv app.ConvID, upTo int64) error
	Search(query string, limit int) ([]app.Message, error)
	Outbox() ([]app.Message, error)
	Resend(conv app.ConvID, id string) (app.Message, error)
}

// Options configure the UI.
type Options struct {
	// Bell rings the terminal bell when a message arrives for a
	// conversation that is not in view (or while the terminal is not
	// focused).
	Bell bool
	// Desktop sends a desktop notification for such a message through
	// the terminal's escape sequences: "osc777" (rxvt, foot, WezTerm,
	// Ghostty, ...), "osc9" (iTerm2, Windows Terminal, kitty, ...), both,
	// or none.
	Desktop []string
	// NoMouse starts with mouse capture off, so the terminal selects and
	// copies text; F2 turns it on and off.
	NoMouse bool
	// Room is the internet-mode room, for the status line.
	Room string
	// NoBlink keeps the input cursor steady.
	NoBlink bool
	// Logger receives debug logs. The UI never writes to its terminal
	// otherwise; nil discards.
	Logger *slog.Logger
	// Input and Output replace the terminal (stdin and stdout) in Run.
	// The bell is written to Output too. Colours are chosen for Output,
	// and NO_COLOR is honoured. Run serialises the writes to an Output
	// that is not a terminal file, so it need not be safe for concurrent
	// use.
	Input  io.Reader
	Output io.Writer
	// Now is the clock (time.Now when nil) and Location the time zone
	// times are shown in (time.Local when nil).
	Now      func() time.Time
	Location *time.Location
}

// Sizes of the layout.
const (
	minWidth    = 40
	minHeight   = 10
	sendTimeout = 30 * time.Second
)

// Model is the Bubble Tea model of the whole screen.
type Model struct {
	node      Node
	events    <-chan app.Event
	ctx       context.Context
	log       *slog.Logger
	now       func() time.Time
	loc       *time.Location
	notifyOut io.Writer // where the bell and desktop notifications go
	bell      bool
	desktop   []string
	room      string
	tmux      bool // notifications pass through tmux
	links     bool // web addresses are terminal hyperlinks (not on a plain-text output)
	st        *styles
	keys      keyMap
	help      help.Model
	input     textarea.Model
	inputH    int                         // rows of the input shown (see fitInput)
	inputs    map[app.PeerKey]*inputState // drafts and history per conversation
	flash     string                      // a one-time note on the help line, until the next key

	width, height int
	layout        layout

	self    app.Self
	source  *discovery.State // connection to the bootstrap server, if any
	retryAt time.Time
	retryN  int  // generation of the retry countdown tick
	stopped bool // the event channel closed

	list      peerList
	convs     map[app.PeerKey]*conversation
	home      *conversation     // shown when no peer is selected
	nextLocal int               // last local id given to a message being sent
	budget    *budget           // limits of the conversations, shared by them
	folds     map[string]string // textsafe.Fold of the nicknames in the list
	// lastRefresh is when the peer list was last rebuilt; refreshPending:
	// a rebuild is scheduled (see refreshSoon).
	lastRefresh    time.Time
	refreshPending bool
	activity       uint64 // counts uses of conversations, to find the least recent

	// version is the last store change read (see catchUp).
	version     int64
	pendingRead []readMark

	ignored   *ignore.List
	closed    map[app.PeerKey]bool // conversations closed with /close, hidden until they have news
	mouse     bool                 // mouse capture is on
	focused   bool                 // the terminal has the focus (as far as we know)
	quitArmed bool                 // Ctrl+C asked for confirmation
	// quitWhenSaved: a quit waits for the messages being saved (see
	// quitSaved); groupSaving counts group messages being saved.
	quitWhenSaved bool
	groupSaving   int
	showHelp      bool
	search        *searchView // /search results, shown over the panes
	helpScroll    int
	comp          *completion
	xfers         *transfers // file transfers not over yet (files.go)

	// tick schedules the retry countdown (tea.Tick; tests replace it).
	tick func(time.Duration, func(time.Time) tea.Msg) tea.Cmd
}

// layout is the geometry computed on each resize.
type layout struct {
	tooSmall     bool
	bodyH        int // height of the panes, borders included
	listW, convW int // outer widths of the two panes
	textW        int // width of conversation text (inside border and padding)
	viewH        int // lines of conversation text
}

// New makes the model. It reads the node's Self and Peers but starts
// nothing; Init arms the event command.
func New(node Node, opts Options) Model {
	r := lipgloss.DefaultRenderer()
	if opts.Output != nil {
		r = lipgloss.NewRenderer(opts.Output)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	loc := opts.Location
	if loc == nil {
		loc = time.Local
	}
	out := opts.Output
	if out == nil {
		out = os.Stdout
	}

	h := help.New()
	h.Styles = helpStyles(r)

	b := newBudget()
	m := Model{
		node:      node,
		events:    node.Events(),
		ctx:       context.Background(),
		log:       log,
		now:       now,
		loc:       loc,
		notifyOut: out,
		bell:      opts.Bell,
		desktop:   opts.Desktop,
		room:      opts.Room,
		st:        newStyles(r),
		keys:      newKeyMap(),
		help:      h,
		input:     newEditor(r, opts.NoBlink),
		inputH:    1,
		inputs:    map[app.PeerKey]*inputState{},
		ignored:   ignore.New(),
		closed:    map[app.PeerKey]bool{},
		mouse:     !opts.NoMouse,
		focused:   true,
		tmux:      os.Getenv("TMUX") != "",
		links:     r.ColorProfile() != termenv.Ascii,
		self:      node.Self(),
		convs:     map[app.PeerKey]*conversation{},
		home:      newConversation("", "", b),
		budget:    b,
		tick:      tea.Tick,
	}
	if v, err := node.LastVersion(); err == nil {
		m.version = v
	} else {
		m.log.Warn("read the store", "err", err)
	}
	if convs, err := node.Conversations(); err == nil {
		for _, cv := range convs {
			if cv.Unread > 0 {
				m.conv(app.PeerOf(cv.Conv), cv.Nickname).unread = cv.Unread
			}
		}
	}
	m.refreshPeers()
	// Nothing is selected at first: text goes to a peer only once the
	// user has picked one.
	m.updatePlaceholder()
	return m
}

// Init starts waiting for node events (and the cursor blinking).
func (m Model) Init() tea.Cmd {
	cmds := []tea.Cmd{m.waitForEvents()}
	if m.input.Cursor.Mode() == cursor.CursorBlink {
		cmds = append(cmds, textarea.Blink)
	}
	return tea.Batch(cmds...)
}

// Update handles one message.
func (m Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	mm, cmd := m.update(msg)
	model := mm.(Model)
	if reads := model.flushReads(); reads != nil {
		return model, tea.Batch(cmd, reads)
	}
	return model, cmd
}

func (m Model) update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.resize(msg.Width, msg.Height)
		return m, nil
	case tea.KeyMsg:
		return m.handleKey(msg)
	case tea.MouseMsg:
		m.handleMouse(msg)
		return m, nil
	case tea.FocusMsg:
		m.focused = true
		return m, nil
	case tea.BlurMsg:
		m.focused = false
		return m, nil
	case eventsMsg:
		return m, m.handleEvents(msg)
	case changesMsg:
		return m, m.handleChanges()
	case sendResultMsg:
		m.handleSendResult(msg)
		return m, m.quitIfSaved()
	case groupSentMsg:
		m.groupSaving--
		m.handleGroupSent(msg)
		return m, m.quitIfSaved()
	case nickResultMsg:
		m.handleNickResult(msg)
		return m, nil
	case verifyResultMsg:
		m.handleVerifyResult(msg)
		return m, nil
	case sendFileResultMsg:
		m.handleSendFileResult(msg)
		return m, nil
	case retryTickMsg:
		return m, m.handleRetryTick(msg)
	case refreshListMsg:
		if m.refreshPending {
			m.refreshNow()
		}
		return m, nil
	}
	// Cursor blinks and the like belong to the input.
	var cmd tea.Cmd
	m.input, cmd = m.input.Update(msg)
	return m, cmd
}

// resize lays the screen out for a terminal of w×h cells.
func (m *Model) resize(w, h int) {
	m.width, m.height = w, h
	l := layout{tooSmall: w < minWidth || h < minHeight}
	if !l.tooSmall {
		l.bodyH = h - 2 - m.inputH // status, input and help lines
		l.listW = min(max(w/4, 18), 32)
		l.convW = w - l.listW
		l.textW = l.convW - 4 // borders and one space of padding each side
		l.viewH = l.bodyH - 2
		m.list.setSize(l.listW-2, l.bodyH-2)
	}
	m.layout = l
	m.input.SetWidth(max(w-1, 4))
	m.help.Width = w
}

// current is the conversation in view.
func (m *Model) current() *conversation {
	if c, ok := m.convs[m.list.sel]; ok && m.list.sel != "" {
		return c
	}
	return m.home
}

// conv returns the conversation with key, making it when there is none,
// and marks it as used now.
func (m *Model) conv(key app.PeerKey, nick string) *conversation {
	c, ok := m.convs[key]
	if !ok {
		c = newConversation(key, nick, m.budget)
		m.convs[key] = c
	} else if nick != "" {
		c.nick = nick
	}
	m.activity++
	c.active = m.activity
	return c
}

// dropConversation forgets a conversation. Its row goes at the next
// refreshPeers, unless the node lists its peer.
func (m *Model) dropConversation(key app.PeerKey) {
	if c, ok := m.convs[key]; ok {
		c.release()
		delete(m.convs, key)
	}
}

// overBudget reports whether the conversations hold more than the budget
// allows.
func (m *Model) overBudget() bool {
	return len(m.convs) > m.budget.convs || m.budget.used > m.budget.totalBytes
}

// pruneConversations drops conversations until there are at most nine
// tenths of the budget's number and bytes (so that it runs once in a
// while, not at every new conversation). It drops first those without
// unread messages, among them first those without any messages, and the
// least recently used first. The conversation in view and those with a
// message being sent stay. It reports whether it dropped any.
func (m *Model) pruneConversations() bool {
	type candidate struct {
		key              app.PeerKey
		unread, messages bool
		active           uint64
	}
	var cands []candidate
	for key, c := range m.convs {
		if key == m.list.sel || len(c.pending) > 0 {
			continue
		}
		cands = append(cands, candidate{key, c.unread > 0, c.messages > 0, c.active})
	}
	slices.SortFunc(cands, func(a, b candidate) int {
		if a.unread != b.unread {
			return boolCmp(a.unread, b.unread)
		}
		if a.messages != b.messages {
			return boolCmp(a.messages, b.messages)
		}
		return cmp.Compare(a.active, b.active)
	})
	dropped := false
	for _, cd := range cands {
		if len(m.convs) <= m.budget.convs/10*9 && m.budget.used <= m.budget.totalBytes/10*9 {
			break
		}
		m.dropConversation(cd.key)
		dropped = true
	}
	return dropped
}

// boolCmp orders false before true.
func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}

// selectKey puts the conversation with key in view. The one left is read
// to its end: its read marker goes. The input's draft stays with it.
func (m *Model) selectKey(key app.PeerKey) {
	old := m.list.sel
	if old != key {
		if c, ok := m.convs[old]; ok {
			c.clearMark()
		}
		m.switchInput(old, key)
	}
	m.list.sel = key
	m.list.scrollToSelection()
	if key != "" {
		c := m.conv(key, "")
		c.unread = 0
		c.mention = false
		m.openConversation(key)
	}
	m.updatePlaceholder()
}

func (m *Model) updatePlaceholder() {
	if it, ok := m.list.selected(); ok {
		m.input.Placeholder = "message " + it.name + " — /help for commands"
		return
	}
	m.input.Placeholder = "pick a peer with alt+↓ or ctrl+n (or /msg <nick>); f1 or /help for help"
}

// addLine adds a non-message line to a conversation.
func (m *Model) addLine(c *conversation, kind entryKind, text string) {
	c.add(entry{kind: kind, at: m.now(), text: textsafe.Sanitize(text, true)}, m.loc)
}

// say adds a line to the conversation in view.
func (m *Model) say(kind entryKind, text string) { m.addLine(m.current(), kind, text) }
