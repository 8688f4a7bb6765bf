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
	"github.com/parlance-chat/parlance/net/discovery"
	"github.com/parlance-chat/parlance/net/identity"
	"github.com/parlance-chat/parlance/tui/command"
	"github.com/parlance-chat/parlance/tui/textsafe"
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
	// names knows which nicknames are shared, to tag them; the event
	// loop's goroutine owns it.
	names *nameIndex
}

// Run reads commands from in and prints events to out until /quit, EOF on
// in, the node's event stream closing, or ctx being cancelled.
func Run(ctx context.Context, node Node, in io.Reader, out io.Writer) error {
	u := &UI{node: node, out: out, now: time.Now, names: newNameIndex()}
	self := node.Self()
	u.names.setSelf(self.Nickname)
	u.names.rebuild(node.Peers())
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

	events := node.Events()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-events:
			if !ok {
				u.printf("* network stopped")
				return nil
			}
			u.event(e)
		case l, ok := <-lines:
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
	case command.Text:
		u.printf("error: line mode has no selected peer; use /send <nick> <message>")
	case command.Peers:
		u.peers()
	case command.Send:
		c.PreferKnownTarget(func(name string) bool { return len(u.node.Resolve(name)) > 0 })
		u.send(ctx, c.Target, c.Text)
	case command.Nick:
		if err := u.node.SetNickname(c.Target); err != nil {
			u.printf("error: %s", textsafe.Text(err.Error()))
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
		return
	}
	ctx, cancel := context.WithTimeout(ctx, sendTimeout)
	defer cancel()
	m, err := u.node.Send(ctx, p.Key, text)
	if err != nil {
		u.printf("error: %s", textsafe.Text(err.Error()))
		return
	}
	u.printf("[%s] you -> %s: %s", m.At.Local().Format("15:04:05"), u.name(p), textsafe.Line(m.Text))
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
		state := "offline"
		if p.Online {
			state = "online"
		}
		fmt.Fprintf(&b, "\n  %-40s %-22s %-7s %s", textsafe.Name(p.Nickname)+"#"+p.Tag(), addr(p), state, p.Trust)
	}
	u.printf("%s", b.String())
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
	u.printf("* %s: ID %s, address %s, via %s, %s", textsafe.Name(p.Nickname), id, addr(p), p.Source, p.Trust)
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
	case app.MessageReceived:
		m := e.Message
		p, ok := u.node.Peer(m.Peer)
		if !ok {
			p = app.Peer{Key: m.Peer, Nickname: m.From}
		}
		u.names.set(p.Key, p.Nickname)
		u.printf("[%s] %s: %s%s", m.At.Local().Format("15:04:05"), u.name(p), textsafe.Line(m.Text), senderTime(m.Sent, m.At))
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
		u.printf("* %s updated (%s, %s)", u.name(e.Peer), addr(e.Peer), e.Peer.Trust)
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
	case app.Resync:
		u.names.rebuild(u.node.Peers())
		u.printf("! warning: output fell behind and %d events were dropped; /peers shows the current state", e.Dropped)
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
