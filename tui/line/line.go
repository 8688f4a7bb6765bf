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
	"github.com/parlance-chat/parlance/tui/ignore"
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

	sel     app.PeerKey  // the peer /msg selected: plain lines go to it
	waiting []string     // names /wait or --wait-peer wait for; no input is read meanwhile
	failed  int          // /send commands (or plain lines) that failed
	ignored *ignore.List // /ignore
}

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
// When a message could not be sent, it returns an error wrapping
// ErrSendFailed.
func RunWith(ctx context.Context, node Node, in io.Reader, out io.Writer, opts Options) error {
	u := &UI{node: node, out: out, now: time.Now, ignored: ignore.New()}
	err := u.run(ctx, in, opts)
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
		case e, ok := <-events:
			if !ok {
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
		p, ok := u.node.Peer(u.sel)
		if !ok {
			u.failed++
			u.printf("error: the selected peer is no longer known; /msg <nick> picks another")
			return false
		}
		u.sendTo(ctx, p, text)
	case command.Select:
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
	case command.Send:
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
	u.printf("[%s] you -> %s: %s", m.At.Local().Format("15:04:05"), u.name(p), textsafe.Line(m.Text))
}

// name shows a peer's nickname, with its tag when another known peer has
// the same nickname.
func (u *UI) name(p app.Peer) string {
	for _, q := range u.node.Peers() {
		if q.Key != p.Key && textsafe.Fold(q.Nickname) == textsafe.Fold(p.Nickname) {
			return textsafe.Name(p.Nickname) + "#" + p.Tag()
		}
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
		fmt.Fprintf(&b, "\n  %-40s %-22s %-7s %s", textsafe.Name(p.Nickname)+"#"+p.Tag(), addr(p), state, p.Trust.Label())
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
	u.printf("* %s: ID %s, address %s, via %s, %s", textsafe.Name(p.Nickname), id, addr(p), p.Source, p.Trust.Label())
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
		if !m.Outgoing && u.ignored.Drop(m.Peer) {
			return
		}
		p, ok := u.node.Peer(m.Peer)
		if !ok {
			p = app.Peer{Key: m.Peer, Nickname: m.From}
		}
		u.printf("[%s] %s: %s", m.Sent.Local().Format("15:04:05"), u.name(p), textsafe.Line(m.Text))
	case app.PeerJoined:
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
		u.printf("* %s updated (%s, %s)", u.name(e.Peer), addr(e.Peer), e.Peer.Trust.Label())
	case app.Notice:
		if e.Warning {
			u.printf("! warning: %s", textsafe.Line(e.Text))
		} else {
			u.printf("* %s", textsafe.Line(e.Text))
		}
	case app.SelfChanged:
		u.printf("* you are now %s", e.Self.Nickname)
	case app.SourceState:
		u.printf("* bootstrap server: %s", stateText(e.State))
	case app.Resync:
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
