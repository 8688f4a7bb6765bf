package line

import (
	"bufio"
	"context"
	"errors"
	"io"
	"math"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/parlance-chat/parlance/app"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type fakeNode struct {
	events chan app.Event
	mu     sync.Mutex
	peers  []app.Peer
	sent   []string
	nick   string
}

func (f *fakeNode) Events() <-chan app.Event { return f.events }
func (f *fakeNode) Self() app.Self {
	return app.Self{Nickname: f.nick, Identity: strings.Repeat("A", 52), Mode: "local", ListenAddr: "0.0.0.0:4242"}
}
func (f *fakeNode) Peers() []app.Peer { return f.peers }
func (f *fakeNode) Peer(key app.PeerKey) (app.Peer, bool) {
	for _, p := range f.peers {
		if p.Key == key {
			return p, true
		}
	}
	return app.Peer{}, false
}

func (f *fakeNode) Resolve(name string) []app.Peer {
	nick, tag, has := strings.Cut(name, "#")
	var out []app.Peer
	for _, p := range f.peers {
		if p.Nickname == nick && (!has || strings.HasPrefix(p.Tag(), tag)) {
			out = append(out, p)
		}
	}
	return out
}
func (f *fakeNode) Send(_ context.Context, key app.PeerKey, text string) (app.Message, error) {
	for _, p := range f.peers {
		if p.Key == key {
			if !p.Online {
				return app.Message{}, errors.New("send to " + p.Nickname + ": peer is offline (not delivered)")
			}
			f.mu.Lock()
			f.sent = append(f.sent, string(key)+":"+text)
			f.mu.Unlock()
			return app.Message{Text: text, Outgoing: true, At: time.Now()}, nil
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

// session runs the UI over pipes and returns a function that writes a
// line and one that waits for output containing a string.
type session struct {
	t    *testing.T
	in   *io.PipeWriter
	out  chan string // output lines; closed at the end of the output
	done chan error
}

// expectTimeout bounds a wait for output: a limit for a stuck UI, not a
// timing assumption (the wait ends as soon as the line comes).
const expectTimeout = 30 * time.Second

func start(t *testing.T, node *fakeNode) *session {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	s := &session{t: t, in: inW, out: make(chan string, 1000), done: make(chan error, 1)}
	go func() {
		s.done <- Run(context.Background(), node, inR, outW)
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
	node := &fakeNode{events: make(chan app.Event, 10), nick: "me", peers: []app.Peer{
		peer("alice", a1, 5000, true), peer("alice", a2, 5001, true), peer("bob", "", 6000, true), peer("carol", strings.Repeat("D", 52), 7000, false),
		peer("Mary Ann", strings.Repeat("E", 52), 7001, true), peer("Mary", strings.Repeat("F", 52), 7002, true),
	}}
	s := start(t, node)
	tests := []struct{ in, want string }{
		{"/help", "commands:"},
		{"/peers", "6 known peer(s)"},
		{"/send bob hello bob", "you -> bob: hello bob"},
		{"/send alice hi", "2 peers are called alice: alice#BBBBBBB, alice#CCCCCCC"},
		{"/send alice#CCC hi you", "you -> alice#CCCCCCC: hi you"},
		{"/send carol x", "peer is offline"},
		{"/send Mary Ann see you", "you -> Mary Ann: see you"},
		{`/send "Mary" Ann, hi`, "you -> Mary: Ann, hi"},
		{"/send nobody x", "no peer called nobody"},
		{"/send bob", "usage: /send <nick> <message>"},
		{"hello", "use /send <nick> <message>"},
		{"/frob", "/frob: unknown command"},
		{"/msg bob", "only in the full-screen UI"},
		{"/id", "ID AAAA-AAAA"},
		{"/whois bob", "none (original peer, unencrypted)"},
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
	if len(node.sent) != 4 || node.sent[1] != "id:"+a2+":hi you" || node.sent[2] != "id:"+strings.Repeat("E", 52)+":see you" {
		t.Errorf("sent = %q", node.sent)
	}
	s.send("/quit")
	if err := <-s.done; err != nil {
		t.Fatal(err)
	}
	s.done <- nil // for cleanup
}

func TestEventsPrinted(t *testing.T) {
	node := &fakeNode{events: make(chan app.Event, 10), nick: "me"}
	bob := peer("bob", "", 6000, true)
	node.peers = []app.Peer{bob}
	s := start(t, node)
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.Local)
	node.events <- app.PeerJoined{Peer: bob}
	s.expect("* bob joined (127.0.0.1:6000, unencrypted)")
	node.events <- app.MessageReceived{Message: app.Message{Peer: bob.Key, From: "bob", Text: "hi\x1b[2Jthere", Sent: at.Add(-2 * time.Second), At: at}}
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
	node := &fakeNode{events: make(chan app.Event, 10), nick: "me"}
	alice := peer("alice", strings.Repeat("B", 52), 5000, true)
	cyr := peer("\u0430lice", strings.Repeat("C", 52), 5001, true)
	mimic := peer("ME", strings.Repeat("D", 52), 5002, true)
	node.peers = []app.Peer{alice}
	s := start(t, node)
	node.events <- app.PeerJoined{Peer: alice}
	s.expect("* alice joined")
	node.peers = append(node.peers, cyr, mimic)
	node.events <- app.PeerJoined{Peer: cyr}
	s.expect("* \u0430lice<mixed scripts>#CCCCCCC joined")
	node.events <- app.MessageReceived{Message: app.Message{Peer: alice.Key, From: "alice", Text: "hi", At: time.Now()}}
	s.expect("alice#BBBBBBB: hi")
	node.events <- app.PeerJoined{Peer: mimic}
	s.expect("* ME#DDDDDDD joined")
	node.events <- app.Notice{Warning: true, Text: "alice\u2062 has a different key"}
	s.expect("! warning: alice<U+2062> has a different key")
}

func TestEOFQuits(t *testing.T) {
	node := &fakeNode{events: make(chan app.Event), nick: "me"}
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
	node := &fakeNode{events: make(chan app.Event), nick: "me"}
	s := start(t, node)
	go func() {
		io.WriteString(s.in, strings.Repeat("x", maxInputLine+10)+"\n/peers\n")
	}()
	s.expect("ignored")
	s.expect("no peers yet")
}
