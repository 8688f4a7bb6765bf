package line

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/parlance-chat/parlance/app"
	"github.com/parlance-chat/parlance/app/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type fakeNode struct {
	events chan app.Event
	mu     sync.Mutex
	peers  []app.Peer
	sent   []string
	nick   string

	store   *store.Memory
	changed chan struct{}
}

func newFakeNode(nick string, events chan app.Event, peers ...app.Peer) *fakeNode {
	return &fakeNode{events: events, nick: nick, peers: peers, store: store.NewMemory(0), changed: make(chan struct{}, 1)}
}

// receive commits an incoming message, as the node does.
func (f *fakeNode) receive(m app.Message) {
	m.State = store.Received
	if _, err := f.store.Append([]app.Message{m}); err != nil {
		panic(err)
	}
	f.notify()
}

func (f *fakeNode) notify() {
	select {
	case f.changed <- struct{}{}:
	default:
	}
}

func (f *fakeNode) Changed() <-chan struct{} { return f.changed }
func (f *fakeNode) Changes(after int64, limit int) ([]app.Message, error) {
	return f.store.Changes(after, limit)
}
func (f *fakeNode) LastVersion() (int64, error) { return f.store.LastVersion() }
func (f *fakeNode) History(c app.ConvID, before int64, limit int) ([]app.Message, error) {
	return f.store.History(c, before, limit)
}
func (f *fakeNode) Search(q string, limit int) ([]app.Message, error) {
	return f.store.Search(q, limit)
}
func (f *fakeNode) Outbox() ([]app.Message, error) {
	convs, _ := f.store.OutboxConvs()
	var out []app.Message
	for _, c := range convs {
		ms, _ := f.store.Outbox(c, 100)
		out = append(out, ms...)
	}
	return out, nil
}
func (f *fakeNode) Resend(c app.ConvID, id string) (app.Message, error) {
	ch, err := f.store.SetState(c, []string{id}, store.Queued, "")
	if err != nil || len(ch) == 0 {
		return app.Message{}, errors.New("not failed")
	}
	f.notify()
	return ch[0], nil
}

func (f *fakeNode) Events() <-chan app.Event { return f.events }
func (f *fakeNode) Self() app.Self {
	return app.Self{Nickname: f.nick, Identity: strings.Repeat("A", 52), Mode: "local", ListenAddr: "0.0.0.0:4242"}
}
func (f *fakeNode) Peers() []app.Peer {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.peers
}
func (f *fakeNode) Peer(key app.PeerKey) (app.Peer, bool) {
	for _, p := range f.Peers() {
		if p.Key == key {
			return p, true
		}
	}
	return app.Peer{}, false
}

func (f *fakeNode) Resolve(name string) []app.Peer {
	nick, tag, has := strings.Cut(name, "#")
	var out []app.Peer
	for _, p := range f.Peers() {
		if p.Nickname == nick && (!has || strings.HasPrefix(p.Tag(), tag)) {
			out = append(out, p)
		}
	}
	return out
}
func (f *fakeNode) Send(_ context.Context, key app.PeerKey, text string) (app.Message, error) {
	for _, p := range f.Peers() {
		if p.Key == key {
			f.mu.Lock()
			f.sent = append(f.sent, string(key)+":"+text)
			f.mu.Unlock()
			m := app.Message{ID: fmt.Sprintf("%032x", len(f.sent)), Conv: app.ConvOf(key), Peer: string(key), Text: text, Outgoing: true, At: time.Now(), State: store.Queued}
			added, err := f.store.Append([]app.Message{m})
			if err != nil {
				return app.Message{}, err
			}
			f.notify()
			return added[0], nil
		}
	}
	return app.Message{}, errors.New("no such peer")
}
func (f *fakeNode) SetNickname(n string) error {
	f.nick = n
	f.events <- app.SelfChanged{Self: f.Self()}
	return nil
}
func (f *fakeNode) SafetyCode(app.PeerKey) (string, error) { return "11111 22222 33333 44444", nil }
func (f *fakeNode) MarkVerified(app.PeerKey) error         { return nil }

func peer(nick, id string, port uint16, online bool) app.Peer {
	p := app.Peer{Nickname: nick, Identity: id, Online: online, Addr: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port)}
	p.Key = app.PeerKey("id:" + id)
	if id == "" {
		p.Key = app.PeerKey("orig:" + nick)
	}
	return p
}

// punched is an online peer found through the server and reached by
// hole punching.
func punched(nick, id string, port uint16) app.Peer {
	p := peer(nick, id, port, true)
	p.Source, p.Path = "internet", app.PathPunched
	return p
}

// session runs the UI over pipes and returns a function that writes a
// line and one that waits for output containing a string.
type session struct {
	t    *testing.T
	in   *io.PipeWriter
	out  chan string // output lines, read as they come; closed at the end
	done chan error
}

// expectTimeout bounds a wait for output: a limit for a stuck UI, not a
// timing assumption (the wait ends as soon as the line comes).
const expectTimeout = 30 * time.Second

func start(t *testing.T, node Node) *session {
	return startWith(t, node, Options{})
}

// startWith runs the UI over pipes. A goroutine reads the output all the
// time (into a buffer of lines), so the UI never blocks on a write while
// the test waits for it to finish.
func startWith(t *testing.T, node Node, opts Options) *session {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	s := &session{t: t, in: inW, out: make(chan string, 100_000), done: make(chan error, 1)}
	go func() {
		s.done <- RunWith(context.Background(), node, inR, outW, opts)
		outW.Close()
	}()
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		defer close(s.out)
		sc := bufio.NewScanner(outR)
		for sc.Scan() {
			s.out <- sc.Text()
		}
		io.Copy(io.Discard, outR)
	}()
	t.Cleanup(func() {
		inW.Close()
		go func() {
			for range s.out { // let the reader finish
			}
		}()
		<-s.done
		<-readerDone
	})
	s.expect("Parlance: you are me")
	return s
}

func (s *session) send(line string) {
	s.t.Helper()
	if _, err := io.WriteString(s.in, line+"\n"); err != nil {
		s.t.Fatal(err)
	}
}

func (s *session) expect(sub string) string {
	s.t.Helper()
	deadline := time.NewTimer(expectTimeout)
	defer deadline.Stop()
	for {
		select {
		case l, ok := <-s.out:
			if !ok {
				s.t.Fatalf("output ended before %q", sub)
			}
			if strings.Contains(l, sub) {
				return l
			}
		case <-deadline.C:
			s.t.Fatalf("no %q within %v", sub, expectTimeout)
		}
	}
}

func TestCommands(t *testing.T) {
	a1 := strings.Repeat("B", 52)
	a2 := strings.Repeat("C", 52)
	node := newFakeNode("me", make(chan app.Event, 10),
		peer("alice", a1, 5000, true), peer("alice", a2, 5001, true), peer("bob", "", 6000, true), peer("carol", strings.Repeat("D", 52), 7000, false),
		peer("Mary Ann", strings.Repeat("E", 52), 7001, true), peer("Mary", strings.Repeat("F", 52), 7002, true),
		punched("dana", strings.Repeat("G", 52), 7003),
	)
	s := start(t, node)
	tests := []struct{ in, want string }{
		{"/help", "commands:"},
		{"/peers", "7 known peer(s)"},
		{"/send bob hello bob", "you -> bob: hello bob"},
		{"/send alice hi", "2 peers are called alice: alice#BBBBBBB, alice#CCCCCCC"},
		{"/send alice#CCC hi you", "you -> alice#CCCCCCC: hi you"},
		{"/send carol x", "queued: carol is offline"},
		{"/outbox", "to carol: “x” (queued"},
		{"/send Mary Ann see you", "you -> Mary Ann: see you"},
		{`/send "Mary" Ann, hi`, "you -> Mary: Ann, hi"},
		{"/send nobody x", "no peer called nobody"},
		{"/send bob", "usage: /send <nick> <message>"},
		{"hello", "no peer selected; use /msg <nick> first"},
		{"/frob", "/frob: unknown command"},
		{"/clear", "only in the full-screen UI"},
		{"/msg bob", "plain lines now go to bob"},
		{"hello again", "you -> bob: hello again"},
		{"/me waves", "you -> bob: /me waves"},
		{"/id", "ID AAAA-AAAA"},
		{"/whois bob", "none (original peer, unencrypted)"},
		{"/whois dana", "via internet, punched"},
		{"/verify alice#BBB", "safety code with alice#BBBBBBB: 11111 22222 33333 44444"},
		{"/verify alice#BBB confirm", "alice#BBBBBBB is now verified"},
		{"/nick newme", "you are now newme"},
	}
	for _, tt := range tests {
		s.send(tt.in)
		if got := s.expect(tt.want); got == "" {
			t.Errorf("%s: no %q", tt.in, tt.want)
		}
	}
	if len(node.sent) != 7 || node.sent[1] != "id:"+a2+":hi you" || node.sent[3] != "id:"+strings.Repeat("E", 52)+":see you" || node.sent[5] != "orig:bob:hello again" {
		t.Errorf("sent = %q", node.sent)
	}
	s.send("/quit")
	// Some /send failed: the exit code must say so.
	if err := <-s.done; !errors.Is(err, ErrSendFailed) {
		t.Fatalf("Run = %v, want ErrSendFailed", err)
	}
	s.done <- nil // for cleanup
}

func TestEventsPrinted(t *testing.T) {
	bob := peer("bob", "", 6000, true)
	node := newFakeNode("me", make(chan app.Event, 10), bob)
	s := start(t, node)
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.Local)
	node.events <- app.PeerJoined{Peer: bob}
	s.expect("* bob joined (127.0.0.1:6000, unencrypted)")
	node.receive(app.Message{Conv: app.ConvOf(bob.Key), Peer: string(bob.Key), From: "bob", Text: "hi\x1b[2Jthere", Sent: at.Add(-2 * time.Second), At: at})
	if got := s.expect("bob: hithere"); got != "[03:04:05] bob: hithere" {
		t.Errorf("message line = %q, want the arrival time and nothing more", got)
	}
	node.events <- app.Notice{Warning: true, Text: "key mismatch: possible impersonation"}
	s.expect("! warning: key mismatch")
	node.events <- app.PeerLeft{Peer: bob, Reason: "goodbye"}
	s.expect("* bob left (goodbye)")
	close(node.events)
	s.expect("network stopped")
}

// A peer online but unconfirmed says so in /peers and in its update.
func TestPeerUnconfirmed(t *testing.T) {
	bob := peer("bob", "", 6000, true)
	bob.Unconfirmed = true
	node := newFakeNode("me", make(chan app.Event, 10), bob, peer("carol", "", 6001, true))
	s := start(t, node)
	s.send("/peers")
	if got := s.expect("bob#127.0.0.1"); !strings.Contains(got, " unconfirmed ") {
		t.Errorf("/peers line %q, want unconfirmed", got)
	}
	if got := s.expect("carol#127.0.0.1"); !strings.Contains(got, " online ") {
		t.Errorf("/peers line %q, want online", got)
	}
	node.events <- app.PeerUpdated{Peer: bob}
	s.expect("* bob updated (127.0.0.1:6000, unconfirmed, ")
	bob.Unconfirmed = false
	node.events <- app.PeerUpdated{Peer: bob}
	s.expect("* bob updated (127.0.0.1:6000, online, ")
}

func TestEOFQuits(t *testing.T) {
	node := newFakeNode("me", make(chan app.Event))
	s := start(t, node)
	s.in.Close()
	select {
	case err := <-s.done:
		if err != nil {
			t.Fatal(err)
		}
		s.done <- nil
	case <-time.After(2 * time.Second):
		t.Fatal("EOF did not quit")
	}
}

func TestLongInputLine(t *testing.T) {
	node := newFakeNode("me", make(chan app.Event))
	s := start(t, node)
	go func() {
		io.WriteString(s.in, strings.Repeat("x", maxInputLine+10)+"\n/peers\n")
	}()
	s.expect("ignored")
	s.expect("no peers yet")
}

// TestFloodPrintsEveryMessage: a burst far larger than any event buffer
// is printed whole, in order (the UI reads the store, not events).
func TestFloodPrintsEveryMessage(t *testing.T) {
	bob := peer("bob", strings.Repeat("B", 52), 6000, true)
	node := newFakeNode("me", make(chan app.Event), bob)
	s := start(t, node)
	const n = 100_000
	go func() {
		for i := range n {
			node.receive(app.Message{ID: fmt.Sprintf("%032x", i+1), Conv: app.ConvOf(bob.Key), Peer: string(bob.Key), From: "bob", Text: fmt.Sprint("m", i), Sent: time.Now()})
		}
	}()
	for i := range n {
		s.expect(fmt.Sprintf("bob: m%d", i))
	}
}

// TestDeliveredAndFailedLines: a queued message says when it is finally
// delivered; a failed one says so and /resend queues it again.
func TestDeliveredAndFailedLines(t *testing.T) {
	carol := peer("carol", strings.Repeat("D", 52), 7000, false)
	node := newFakeNode("me", make(chan app.Event), carol)
	s := start(t, node)
	s.send("/send carol are you there")
	s.expect("queued: carol is offline")
	s.send("/send carol second")
	s.expect("queued")
	conv := app.ConvOf(carol.Key)
	ob, _ := node.Outbox()
	node.store.SetState(conv, []string{ob[0].ID}, store.Delivered, "")
	node.store.SetState(conv, []string{ob[1].ID}, store.Failed, "not delivered within 7 days")
	node.notify()
	s.expect("* delivered to carol: “are you there”")
	s.expect("! not delivered to carol: “second” (not delivered within 7 days)")
	s.send("/resend carol")
	s.expect("1 failed message(s) queued again")
	s.send("/history carol 5")
	s.expect("last 2 message(s) with carol")
	s.send("/search second")
	s.expect("1 match(es)")
}

// TestWaitPeer: --wait-peer (and /wait) hold the commands back until the
// peer is online; a script's /send then finds it.
func TestWaitPeer(t *testing.T) {
	node := newFakeNode("me", make(chan app.Event, 10))
	s := startWith(t, node, Options{WaitPeers: []string{"bob"}})
	s.expect("waiting for bob to be online")
	s.send("/send bob hi") // read, but held until bob is there
	bob := peer("bob", "", 6000, true)
	node.mu.Lock()
	node.peers = []app.Peer{bob}
	node.mu.Unlock()
	node.events <- app.PeerJoined{Peer: bob}
	s.expect("bob is online")
	s.expect("you -> bob: hi")
	s.send("/wait bob")
	s.expect("bob is online")
	s.send("/quit")
	if err := <-s.done; err != nil {
		t.Fatal(err)
	}
	s.done <- nil
}

func TestIgnoreInLineMode(t *testing.T) {
	bob, carol := peer("bob", "", 6000, true), peer("carol", "", 6001, true)
	node := newFakeNode("me", make(chan app.Event, 10), bob, carol)
	s := start(t, node)
	s.send("/ignore bob")
	s.expect("bob is ignored")
	node.receive(app.Message{Conv: app.ConvOf(bob.Key), Peer: string(bob.Key), From: "bob", Text: "spam"})
	node.receive(app.Message{Conv: app.ConvOf(carol.Key), Peer: string(carol.Key), From: "carol", Text: "not spam"})
	if got := s.expect("carol"); strings.Contains(got, "spam") && !strings.Contains(got, "not spam") {
		t.Fatalf("got %q", got)
	}
	s.send("/unignore bob")
	s.expect("bob is no longer ignored (1 message(s) dropped)")
	s.send("/quit")
	if err := <-s.done; err != nil {
		t.Fatal(err)
	}
	s.done <- nil
}

// TestSenderTime: issue 11, item 6. The arrival time is shown; the
// sender's only when plausible, with the skew.
func TestSenderTime(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.Local)
	tests := []struct {
		name string
		sent time.Time
		want string
	}{
		{"agrees", at.Add(-30 * time.Second), ""},
		{"behind", at.Add(-2 * time.Hour), "  (sent 01:04:05 by their clock, 2h0m0s behind)"},
		{"ahead", at.Add(5 * time.Minute), "  (sent 03:09:05 by their clock, 5m0s ahead)"},
		{"max int64", time.Unix(math.MaxInt64, 0), ""},
		{"negative", time.Unix(-1, 0), ""},
		{"min int64", time.Unix(math.MinInt64, 0), ""},
		{"two days back", at.Add(-48 * time.Hour), ""},
	}
	for _, tt := range tests {
		if got := senderTime(tt.sent, at); got != tt.want {
			t.Errorf("%s: senderTime = %q, want %q", tt.name, got, tt.want)
		}
	}
}

// TestNamesTagged: look-alikes (case, invisible characters, other
// scripts) and the user's own nickname get tags; warnings show what a
// nickname hides (issue 11, items 4, 10, 11).
func TestNamesTagged(t *testing.T) {
	alice := peer("alice", strings.Repeat("B", 52), 5000, true)
	cyr := peer("\u0430lice", strings.Repeat("C", 52), 5001, true)
	mimic := peer("ME", strings.Repeat("D", 52), 5002, true)
	node := newFakeNode("me", make(chan app.Event, 10), alice)
	s := start(t, node)
	node.events <- app.PeerJoined{Peer: alice}
	s.expect("* alice joined")
	node.mu.Lock()
	node.peers = append(node.peers, cyr, mimic)
	node.mu.Unlock()
	node.events <- app.PeerJoined{Peer: cyr}
	s.expect("* \u0430lice<mixed scripts>#CCCCCCC joined")
	node.receive(app.Message{Conv: app.ConvOf(alice.Key), Peer: string(alice.Key), From: "alice", Text: "hi", At: time.Now()})
	s.expect("alice#BBBBBBB: hi")
	node.events <- app.PeerJoined{Peer: mimic}
	s.expect("* ME#DDDDDDD joined")
	node.events <- app.Notice{Warning: true, Text: "alice\u2062 has a different key"}
	s.expect("! warning: alice<U+2062> has a different key")
}
