// Package line is Parlance's line-mode UI: the original's REPL on standard
// input and output. It works with pipes (no terminal needed), so scripts
// can drive it: one command per input line, one event per output line.
package line

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/parlance-chat/parlance/app"
	"github.com/parlance-chat/parlance/app/store"
	"github.com/parlance-chat/parlance/net/discovery"
	"github.com/parlance-chat/parlance/net/filexfer"
	"github.com/parlance-chat/parlance/net/identity"
	"github.com/parlance-chat/parlance/tui/command"
	"github.com/parlance-chat/parlance/tui/ignore"
	"github.com/parlance-chat/parlance/tui/textsafe"
	"github.com/parlance-chat/parlance/tui/xfer"
)

// Node is what the line UI needs from app.Node.
type Node interface {
	Events() <-chan app.Event
	Self() app.Self
	Peers() []app.Peer
	Peer(key app.PeerKey) (app.Peer, bool)
	Resolve(name string) []app.Peer
	Send(ctx context.Context, key app.PeerKey, text string) (app.Message, error)
	SetNickname(name string) error
	SafetyCode(key app.PeerKey) (string, error)
	MarkVerified(key app.PeerKey) error

	// Messages live in the store: Changed signals, Changes reads.
	Changed() <-chan struct{}
	Changes(after int64, limit int) ([]app.Message, error)
	LastVersion() (int64, error)
	History(conv app.ConvID, before int64, limit int) ([]app.Message, error)
	Search(query string, limit int) ([]app.Message, error)
	Outbox() ([]app.Message, error)
	Resend(conv app.ConvID, id string) (app.Message, error)
}

// maxInputLine bounds one line of standard input.
const maxInputLine = 256 << 10

// sendTimeout bounds one /send (dial, handshake, write).
const sendTimeout = 15 * time.Second

// UI is one line-mode session.
type UI struct {
	node Node
	mu   sync.Mutex // serialises writes to out
	out  io.Writer
	now  func() time.Time

	// version is the last store change printed; every message added
	// after it (Seq > version at start) is printed once, in order.
	version int64
	// pendingOut holds the outgoing messages printed as queued (true) or
	// sent (false), to say when they are delivered or fail.
	pendingOut map[string]bool

	sel     app.PeerKey  // the peer /msg selected: plain lines go to it
	waiting []string     // names /wait or --wait-peer wait for; no input is read meanwhile
	failed  int          // /send commands (or plain lines) that failed
	ignored *ignore.List // /ignore

	xfer    filexfer.Throttle // transfer progress lines, at most one a second each (files.go)
	batches xfer.Batches      // files sent to groups, summed up per file (files.go)
	// names knows which nicknames are shared, to tag them; the event
	// loop's goroutine owns it.
	names *nameIndex
}

// changesBatch is how many store changes are read at a time.
const changesBatch = 1000

// Options configure a line-mode session.
type Options struct {
	// WaitPeers are names (nick or nick#tag) to wait for, until each is
	// online, before the first command is read.
	WaitPeers []string
}

// ErrSendFailed is returned (wrapped) by Run when a message could not be
// sent, so that a script's exit code tells.
var ErrSendFailed = errors.New("a message was not sent")

// Run is RunWith without options.
func Run(ctx context.Context, node Node, in io.Reader, out io.Writer) error {
	return RunWith(ctx, node, in, out, Options{})
}

// RunWith reads commands from in and prints events to out until /quit,
// EOF on in, the node's event stream closing, or ctx being cancelled.
// When a message could not be sent (the node refused it), it returns an
// error wrapping ErrSendFailed.
func RunWith(ctx context.Context, node Node, in io.Reader, out io.Writer, opts Options) error {
	u := &UI{node: node, out: out, now: time.Now, ignored: ignore.New(), pendingOut: map[string]bool{}, xfer: filexfer.Throttle{Every: time.Second}, names: newNameIndex()}
	u.names.setSelf(node.Self().Nickname)
	u.names.rebuild(node.Peers())
	v, err := node.LastVersion()
	if err != nil {
		return fmt.Errorf("read the message store: %w", err)
	}
	u.version = v
	err = u.run(ctx, in, opts)
	if err == nil && u.failed > 0 {
		err = fmt.Errorf("%d message(s) not sent: %w", u.failed, ErrSendFailed)
	}
	return err
}

func (u *UI) run(ctx context.Context, in io.Reader, opts Options) error {
	node := u.node
	self := node.Self()
	id := "no identity key"
	if self.Identity != "" {
		id = "ID " + identity.ID(self.Identity).Short()
	}
	u.printf("* Parlance: you are %s (%s), %s mode, listening on %s. /help lists commands.", self.Nickname, id, self.Mode, self.ListenAddr)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	lines := make(chan string)
	readErr := make(chan error, 1)
	go func() {
		defer close(lines)
		r := bufio.NewReaderSize(in, 64<<10)
		for {
			l, err := readLine(r)
			if err != nil {
				readErr <- err
				return
			}
			select {
			case lines <- l:
			case <-ctx.Done():
				return
			}
		}
	}()

	u.reportOutbox()
	events := node.Events()
	u.wait(opts.WaitPeers)
	for {
		input := lines
		if len(u.waiting) > 0 {
			input = nil // commands wait until the peers are there
		}
		select {
		case <-ctx.Done():
			return nil
		case <-node.Changed():
			u.catchUp()
		case e, ok := <-events:
			if !ok {
				u.catchUp()
				u.printf("* network stopped")
				return nil
			}
			u.event(e)
			u.wait(nil)
		case l, ok := <-input:
			if !ok {
				if err := <-readErr; !errors.Is(err, io.EOF) {
					return fmt.Errorf("read input: %w", err)
				}
				return nil // EOF quits like /quit
			}
			if quit := u.handle(ctx, l); quit {
				return nil
			}
		}
	}
}

// tooLong stands for an input line over maxInputLine bytes.
const tooLong = "\x00too long"

// readLine reads one line of at most maxInputLine bytes; a longer line is
// discarded (returned as tooLong) rather than read into memory.
func readLine(r *bufio.Reader) (string, error) {
	var b []byte
	over := false
	for {
		chunk, err := r.ReadSlice('\n')
		if !over && len(b)+len(chunk) <= maxInputLine {
			b = append(b, chunk...)
		} else {
			over, b = true, nil
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil && !(errors.Is(err, io.EOF) && (len(b) > 0 || over)) {
			return "", err
		}
		if over {
			return tooLong, nil
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
}

func (u *UI) printf(format string, args ...any) {
	u.mu.Lock()
	defer u.mu.Unlock()
	fmt.Fprintf(u.out, format+"\n", args...)
}

// handle runs one input line; it reports whether to quit.
func (u *UI) handle(ctx context.Context, l string) (quit bool) {
	if strings.TrimSpace(l) == "" {
		return false
	}
	if l == tooLong {
		u.printf("error: input line over %d bytes ignored", maxInputLine)
		return false
	}
	c, err := command.Parse(l)
	if err != nil {
		u.printf("error: %v", err)
		return false
	}
	switch c.Kind {
	case command.Text, command.Me:
		if u.sel == "" {
			u.printf("error: no peer selected; use /msg <nick> first, or /send <nick> <message>")
			return false
		}
		text := c.Text
		if c.Kind == command.Me {
			text = command.Action(text)
		}
		if app.IsGroupKey(u.sel) {
			u.sendGroupKey(u.sel, text)
			return false
		}
		p, ok := u.node.Peer(u.sel)
		if !ok {
			u.failed++
			u.printf("error: the selected peer is no longer known; /msg <nick> picks another")
			return false
		}
		u.sendTo(ctx, p, text)
	case command.Select:
		if command.IsGroupTarget(c.Target) {
			u.selectGroup(c.Target)
			return false
		}
		if p, ok := u.resolve(c.Target); ok {
			u.sel = p.Key
			u.printf("* plain lines now go to %s", u.name(p))
		}
	case command.Wait:
		u.wait([]string{c.Target})
	case command.Ignore, command.Unignore:
		u.ignore(c)
	case command.Peers:
		u.peers()
	case command.Group, command.Groups:
		u.group(c)
	case command.Send:
		if command.IsGroupTarget(c.Target) {
			u.sendGroup(c.Target, c.Text)
			return false
		}
		c.PreferKnownTarget(func(name string) bool { return len(u.node.Resolve(name)) > 0 })
		u.send(ctx, c.Target, c.Text)
	case command.Nick:
		if err := u.node.SetNickname(c.Target); err != nil {
			u.printf("error: %v", err)
		}
	case command.ID:
		self := u.node.Self()
		if self.Identity == "" {
			u.printf("* you are %s; this node has no identity key", self.Nickname)
		} else {
			u.printf("* you are %s, ID %s", self.Nickname, identity.ID(self.Identity).Grouped())
		}
	case command.Whois:
		if p, ok := u.resolve(c.Target); ok {
			u.whois(p)
		}
	case command.Verify:
		u.verify(c)
	case command.Outbox:
		u.outbox()
	case command.History:
		u.history(c.Target, c.Count)
	case command.Search:
		u.searchHistory(c.Text)
	case command.Resend:
		u.resend(c.Target)
	case command.SendFile, command.Accept, command.Reject, command.Cancel, command.Transfers:
		u.fileCommand(ctx, c)
	case command.Help:
		u.help()
	case command.Quit:
		return true
	default:
		u.printf("error: %s works only in the full-screen UI", strings.SplitN(l, " ", 2)[0])
	}
	return false
}

// resolve finds the one peer a name means, printing why when it cannot.
func (u *UI) resolve(name string) (app.Peer, bool) {
	ps := u.node.Resolve(name)
	switch len(ps) {
	case 0:
		u.printf("error: no peer called %s (/peers lists them)", name)
		return app.Peer{}, false
	case 1:
		return ps[0], true
	}
	choices := make([]string, len(ps))
	for i, p := range ps {
		choices[i] = p.Nickname + "#" + p.Tag()
	}
	u.printf("error: %d peers are called %s: %s; name one as nick#tag", len(ps), name, strings.Join(choices, ", "))
	return app.Peer{}, false
}

func (u *UI) send(ctx context.Context, name, text string) {
	p, ok := u.resolve(name)
	if !ok {
		u.failed++
		return
	}
	u.sendTo(ctx, p, text)
}

func (u *UI) sendTo(ctx context.Context, p app.Peer, text string) {
	ctx, cancel := context.WithTimeout(ctx, sendTimeout)
	defer cancel()
	m, err := u.node.Send(ctx, p.Key, text)
	if err != nil {
		u.failed++
		u.printf("error: %v", err)
		return
	}
	note := ""
	switch {
	case !p.Online:
		note = " (queued: " + u.name(p) + " is offline; it goes when they are back)"
	case p.Original():
		note = " (no receipts: original peer)"
	}
	if !p.Original() {
		u.pendingOut[m.ID] = !p.Online
	}
	u.printf("[%s] you -> %s: %s%s", m.At.Local().Format("15:04:05"), u.name(p), textsafe.Line(m.Text), note)
}

// catchUp prints what the store has that was not printed: every message
// received since (in order, however many), and the fate of messages this
// session sent and reported as queued.
func (u *UI) catchUp() {
	for {
		ch, err := u.node.Changes(u.version, changesBatch)
		if err != nil {
			u.printf("! warning: cannot read messages: %v", err)
			return
		}
		for _, m := range ch {
			u.change(m)
			u.version = m.Version
		}
		if len(ch) < changesBatch {
			return
		}
	}
}

// change prints one store change.
func (u *UI) change(m app.Message) {
	if u.groupChange(m) {
		return
	}
	isNew := m.Seq > u.version
	switch {
	case isNew && !m.Outgoing && u.ignored.Drop(app.PeerKey(m.Peer)):
		// counted by the ignore list; never printed
	case isNew && !m.Outgoing:
		u.printf("[%s] %s: %s%s", m.At.Local().Format("15:04:05"), u.nameOf(m), textsafe.Line(m.Text), senderTime(m.Sent, m.At))
	case m.Outgoing:
		queued, ok := u.pendingOut[m.ID]
		if !ok {
			return
		}
		switch m.State {
		case store.Delivered, store.Read:
			delete(u.pendingOut, m.ID)
			if queued {
				u.printf("* delivered to %s: %s", u.nameOf(m), excerpt(m.Text))
			}
		case store.Failed:
			delete(u.pendingOut, m.ID)
			u.printf("! not delivered to %s: %s (%s)", u.nameOf(m), excerpt(m.Text), textsafe.Line(m.Error))
		case store.SentNoReceipt:
			delete(u.pendingOut, m.ID)
		}
	}
}

// nameOf names the peer of a message's conversation.
func (u *UI) nameOf(m app.Message) string {
	p, ok := u.node.Peer(app.PeerKey(m.Peer))
	if !ok {
		p = app.Peer{Key: app.PeerKey(m.Peer), Nickname: m.From}
	}
	return u.name(p)
}

func excerpt(s string) string {
	s = textsafe.Line(s)
	if r := []rune(s); len(r) > 40 {
		return "“" + string(r[:39]) + "…”"
	}
	return "“" + s + "”"
}

// reportOutbox says, at start, what is still waiting for its peer.
func (u *UI) reportOutbox() {
	ob, err := u.node.Outbox()
	if err != nil || len(ob) == 0 {
		return
	}
	for _, m := range ob {
		u.pendingOut[m.ID] = true
	}
	u.printf("* %d message(s) waiting for their peer; /outbox lists them", len(ob))
}

// outbox lists the messages waiting for their peer.
func (u *UI) outbox() {
	ob, err := u.node.Outbox()
	if err != nil {
		u.printf("error: %v", err)
		return
	}
	if len(ob) == 0 {
		u.printf("* the outbox is empty")
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "* %d message(s) waiting:", len(ob))
	for _, m := range ob {
		fmt.Fprintf(&b, "\n  [%s] to %s: %s (%s, %d attempt(s))", m.At.Local().Format("2 Jan 15:04"), u.nameOf(m), excerpt(m.Text), m.State, m.Attempts)
	}
	u.printf("%s", b.String())
}

// history prints the last n stored messages with a peer.
func (u *UI) history(name string, n int) {
	if command.IsGroupTarget(name) {
		u.groupHistory(name, n)
		return
	}
	p, ok := u.resolve(name)
	if !ok {
		return
	}
	if n <= 0 {
		n = 20
	}
	ms, err := u.node.History(app.ConvOf(p.Key), 0, n)
	if err != nil {
		u.printf("error: %v", err)
		return
	}
	if len(ms) == 0 {
		u.printf("* no messages with %s", u.name(p))
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "* last %d message(s) with %s:", len(ms), u.name(p))
	for _, m := range ms {
		b.WriteString("\n  " + u.historyLine(m))
	}
	u.printf("%s", b.String())
}

func (u *UI) historyLine(m app.Message) string {
	who := u.nameOf(m)
	if m.Outgoing {
		who = "you -> " + who
	}
	line := fmt.Sprintf("[%s] %s: %s", m.At.Local().Format("2 Jan 15:04:05"), who, textsafe.Line(m.Text))
	if m.Outgoing {
		line += " (" + m.State.String() + ")"
	}
	return line
}

// searchHistory prints the messages matching text.
func (u *UI) searchHistory(text string) {
	ms, err := u.node.Search(text, 50)
	if err != nil {
		u.printf("error: %v", err)
		return
	}
	if len(ms) == 0 {
		u.printf("* no message matches %q", text)
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "* %d match(es) for %q, newest first:", len(ms), text)
	for _, m := range ms {
		b.WriteString("\n  " + u.historyLine(m))
	}
	u.printf("%s", b.String())
}

// resend queues the failed messages again (to one peer, or all).
func (u *UI) resend(name string) {
	var only app.PeerKey
	if name != "" {
		p, ok := u.resolve(name)
		if !ok {
			return
		}
		only = p.Key
	}
	n := 0
	var v int64
	for {
		ch, err := u.node.Changes(v, changesBatch)
		if err != nil {
			u.printf("error: %v", err)
			return
		}
		for _, m := range ch {
			v = m.Version
			if m.Outgoing && m.State == store.Failed && (only == "" || app.PeerKey(m.Peer) == only) {
				if _, err := u.node.Resend(m.Conv, m.ID); err == nil {
					u.pendingOut[m.ID] = true
					n++
				}
			}
		}
		if len(ch) < changesBatch {
			break
		}
	}
	u.printf("* %d failed message(s) queued again", n)
}

// name shows a peer's nickname, with its tag when another known peer's
// nickname looks the same (or it looks like the user's own, or holds a
// "#", or is empty). It costs O(1): the name index is kept up to date
// from the events rather than rebuilt from node.Peers().
func (u *UI) name(p app.Peer) string {
	if u.names.needsTag(p.Key, p.Nickname) {
		return textsafe.Name(p.Nickname) + "#" + p.Tag()
	}
	return textsafe.Name(p.Nickname)
}

func (u *UI) peers() {
	ps := u.node.Peers()
	if len(ps) == 0 {
		u.printf("* no peers yet")
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "* %d known peer(s):", len(ps))
	for _, p := range ps {
		fmt.Fprintf(&b, "\n  %-40s %-22s %-11s %s", textsafe.Name(p.Nickname)+"#"+p.Tag(), addr(p), onlineText(p), p.Trust.Label())
	}
	u.printf("%s", b.String())
}

// onlineText is a peer's state for /peers: online, offline, or
// unconfirmed (online, but the bootstrap server has not listed it since
// the connection came back; it goes offline if none does within a grace
// period).
func onlineText(p app.Peer) string {
	switch {
	case p.Online && p.Unconfirmed:
		return "unconfirmed"
	case p.Online:
		return "online"
	}
	return "offline"
}

func addr(p app.Peer) string {
	if p.Addr.IsValid() {
		return p.Addr.String()
	}
	return "-"
}

func (u *UI) whois(p app.Peer) {
	id := "none (original peer, unencrypted)"
	if p.Identity != "" {
		id = identity.ID(p.Identity).Grouped()
	}
	u.printf("* %s: ID %s, address %s, via %s, %s", textsafe.Name(p.Nickname), id, addr(p), p.Route(), p.Trust.Label())
}

func (u *UI) verify(c command.Command) {
	p, ok := u.resolve(c.Target)
	if !ok {
		return
	}
	if c.Confirm {
		if err := u.node.MarkVerified(p.Key); err != nil {
			u.printf("error: %v", err)
			return
		}
		u.printf("* %s is now verified", u.name(p))
		return
	}
	code, err := u.node.SafetyCode(p.Key)
	if err != nil {
		u.printf("error: %v", err)
		return
	}
	u.printf("* safety code with %s: %s\n  Compare it with %s in person or by phone; if it matches, run /verify %s#%s confirm",
		u.name(p), code, textsafe.Name(p.Nickname), textsafe.Name(p.Nickname), p.Tag())
}

func (u *UI) help() {
	var b strings.Builder
	b.WriteString("* commands:")
	for _, s := range command.Specs {
		if s.Only == "tui" {
			continue
		}
		name := s.Usage()
		if len(s.Aliases) > 0 {
			name += " (/" + strings.Join(s.Aliases, ", /") + ")"
		}
		fmt.Fprintf(&b, "\n  %-34s %s", name, s.Help)
	}
	b.WriteString("\n  When several peers share a nickname, name one as nick#tag, with the tag /peers shows:" +
		"\n  /send alice#K3QZ7LM hello. End of input quits like /quit.")
	u.printf("%s", b.String())
}

// event prints one node event as one line (or a few).
func (u *UI) event(e app.Event) {
	switch e := e.(type) {
	case app.PeerJoined:
		u.names.set(e.Peer.Key, e.Peer.Nickname)
		mark := ""
		if e.Peer.Original() {
			mark = ", unencrypted"
		} else if e.Peer.Trust == app.TrustChanged {
			mark = ", KEY CHANGED"
		}
		u.printf("* %s joined (%s%s)", u.name(e.Peer), addr(e.Peer), mark)
	case app.PeerLeft:
		u.printf("* %s left (%s)", u.name(e.Peer), e.Reason)
	case app.PeerUpdated:
		u.names.set(e.Peer.Key, e.Peer.Nickname)
		u.printf("* %s updated (%s, %s, %s)", u.name(e.Peer), addr(e.Peer), onlineText(e.Peer), e.Peer.Trust.Label())
	case app.Notice:
		// Text, not Line: what the nicknames in a notice hide shows
		// ("<U+2062>"), as in names.
		if e.Warning {
			u.printf("! warning: %s", textsafe.Text(e.Text))
		} else {
			u.printf("* %s", textsafe.Text(e.Text))
		}
	case app.SelfChanged:
		u.names.setSelf(e.Self.Nickname)
		u.printf("* you are now %s", textsafe.Name(e.Self.Nickname))
	case app.SourceState:
		u.printf("* bootstrap server: %s", stateText(e.State))
	case app.TransferChanged:
		u.transferEvent(e)
	case app.Resync:
		u.names.rebuild(u.node.Peers())
		u.printf("! warning: output fell behind and %d peer events were dropped (no message was); /peers shows the current state", e.Dropped)
	default:
		u.groupEvent(e)
	}
}

func stateText(s discovery.State) string {
	switch s.Phase {
	case discovery.Online:
		if s.Note != "" {
			return "online (" + textsafe.Line(s.Note) + ")"
		}
		return "online"
	case discovery.Stopped:
		if s.Err != nil {
			return "stopped (" + textsafe.Line(s.Err.Error()) + ")"
		}
		return "stopped"
	case discovery.Retrying:
		t := fmt.Sprintf("retrying in %s", s.RetryIn.Round(time.Second))
		if s.Err != nil {
			t += " (" + textsafe.Line(s.Err.Error()) + ")"
		}
		return t
	default:
		return s.Phase.String()
	}
}

// wait adds names to wait for and drops those now online; it says when
// waiting starts and ends.
func (u *UI) wait(names []string) {
	for _, n := range names {
		u.printf("* waiting for %s to be online", n)
		u.waiting = append(u.waiting, n)
	}
	left := u.waiting[:0]
	for _, n := range u.waiting {
		online := false
		for _, p := range u.node.Resolve(n) {
			online = online || p.Online
		}
		if online {
			u.printf("* %s is online", n)
		} else {
			left = append(left, n)
		}
	}
	u.waiting = left
}

// ignore runs /ignore and /unignore.
func (u *UI) ignore(c command.Command) {
	if c.Kind == command.Ignore && c.Target == "" {
		keys := u.ignored.Keys()
		if len(keys) == 0 {
			u.printf("* nobody is ignored")
		}
		for _, k := range keys {
			name := string(k)
			if p, ok := u.node.Peer(k); ok {
				name = u.name(p)
			}
			u.printf("* ignored: %s (%d message(s) dropped)", name, u.ignored.Dropped(k))
		}
		return
	}
	p, ok := u.resolve(c.Target)
	if !ok {
		return
	}
	if c.Kind == command.Ignore {
		if u.ignored.Add(p.Key) {
			u.printf("* %s is ignored: their messages are dropped", u.name(p))
		} else {
			u.printf("error: %s is already ignored", u.name(p))
		}
		return
	}
	if n, ok := u.ignored.Remove(p.Key); ok {
		u.printf("* %s is no longer ignored (%d message(s) dropped)", u.name(p), n)
	} else {
		u.printf("error: %s is not ignored", u.name(p))
	}
}

// Times a message's sender claims (Message.Sent) are shown only when they
// are plausible, and then only when they differ from the arrival time by
// more than clockSlack.
const (
	clockSlack    = time.Minute
	plausibleSkew = 24 * time.Hour
)

// senderTime is what is said of the time the sender claims, after the
// arrival time: nothing when the clocks agree (within clockSlack) or the
// claim is implausible (more than a day off, as a forged max-int64 or
// negative timestamp is), else the sender's time and how far off it is.
func senderTime(sent, at time.Time) string {
	skew := sent.Sub(at)
	if skew < 0 {
		skew = -skew
	}
	if skew <= clockSlack || skew > plausibleSkew || sent.Before(at.Add(-plausibleSkew)) || sent.After(at.Add(plausibleSkew)) {
		return ""
	}
	dir := "behind"
	if sent.After(at) {
		dir = "ahead"
	}
	return fmt.Sprintf("  (sent %s by their clock, %s %s)", sent.Local().Format("15:04:05"), skew.Round(time.Second), dir)
}

// nameIndex knows, for every peer the UI has heard of, the folded form of
// its nickname (textsafe.Fold) and how many peers share each, so that
// deciding whether a name needs its tag costs O(1) instead of a copy of
// every known peer. It is fed by the events; a Resync rebuilds it, and so
// does growing past maxIndexed (peers the node forgot are never
// reported one by one), which keeps it bounded at amortised O(1) a peer.
type nameIndex struct {
	peers    map[app.PeerKey]indexed
	count    map[string]int // peers per folded nickname
	selfFold string
}

type indexed struct{ nick, fold string }

// maxIndexed bounds the index; past it the index is rebuilt from the
// node's peers.
const maxIndexed = 2 * app.MaxPeers

func newNameIndex() *nameIndex {
	return &nameIndex{peers: map[app.PeerKey]indexed{}, count: map[string]int{}}
}

// foldName is the form names are grouped by: "alice#x" is grouped with
// "alice", as it looks like her name with a tag.
func foldName(nick string) string {
	base, _, _ := strings.Cut(nick, "#")
	return textsafe.Fold(base)
}

func (x *nameIndex) setSelf(nick string) { x.selfFold = foldName(nick) }

// set records that the peer with key is called nick.
func (x *nameIndex) set(key app.PeerKey, nick string) {
	old, ok := x.peers[key]
	if ok && old.nick == nick {
		return
	}
	if !ok && len(x.peers) >= maxIndexed {
		x.peers, x.count = map[app.PeerKey]indexed{}, map[string]int{}
	}
	if ok {
		if x.count[old.fold]--; x.count[old.fold] <= 0 {
			delete(x.count, old.fold)
		}
	}
	f := foldName(nick)
	x.peers[key] = indexed{nick: nick, fold: f}
	x.count[f]++
}

// rebuild starts again from the node's list of peers.
func (x *nameIndex) rebuild(peers []app.Peer) {
	x.peers, x.count = make(map[app.PeerKey]indexed, len(peers)), make(map[string]int, len(peers))
	for _, p := range peers {
		x.set(p.Key, p.Nickname)
	}
}

// needsTag reports whether the peer with key, called nick, must be shown
// with its tag: another known peer's nickname looks the same, it looks
// like the user's own, it holds a "#" or it is empty.
func (x *nameIndex) needsTag(key app.PeerKey, nick string) bool {
	x.set(key, nick)
	f := x.peers[key].fold
	return x.count[f] > 1 || f == x.selfFold || nick == "" || strings.Contains(nick, "#")
}
