package group

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/parlance-chat/parlance/net/identity"
	"github.com/parlance-chat/parlance/net/wire"
)

// testIdentity returns a fixed identity per seed, so runs repeat.
func testIdentity(seed byte) *identity.Identity {
	return identity.FromPrivateKey(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize)))
}

// signOp signs op as who, on top of parents.
func signOp(who *identity.Identity, op wire.GroupOp, parents ...wire.OpHash) wire.GroupOp {
	op.Parents = parents
	op.Signer, op.Key = string(who.ID()), who.PublicKey()
	if op.Time == 0 {
		op.Time = 1700000000000
	}
	op.Sig = who.Sign(op.SignedBytes())
	return op
}

// signMessage makes a message of who, numbered seq.
func signMessage(who *identity.Identity, g wire.GroupID, seq uint64, time int64, text string) wire.GroupMessage {
	m := wire.GroupMessage{Group: g, Sender: string(who.ID()), Key: who.PublicKey(), Seq: seq, Time: time, Text: text}
	copy(m.ID[:], fmt.Sprintf("%s%d", who.ID()[:8], seq))
	m.Sig = who.Sign(m.SignedBytes())
	return m
}

// logRecorder is a DropLogger that keeps the lines.
type logRecorder struct {
	mu    sync.Mutex
	lines []string
}

func (l *logRecorder) Log(msg string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprint(append([]any{msg}, args...)...))
}

func (l *logRecorder) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.lines)
}

// testNet routes the engines' Outgoing lines to each other through the
// wire encoding, in order, and records what each engine showed.
type testNet struct {
	t     testing.TB
	peers map[identity.ID]*testPeer
	queue []delivery
}

type testPeer struct {
	name    string
	id      *identity.Identity
	store   *MemoryStore
	e       *Engine
	log     *logRecorder
	offline bool
	got     []wire.GroupMessage // messages shown, in arrival order
	frames  int                 // frames received
	invites []Invitation
	errs    []error
}

type delivery struct {
	from, to identity.ID
	line     []byte
}

func newTestNet(t testing.TB, names ...string) (*testNet, []*testPeer) {
	n := &testNet{t: t, peers: make(map[identity.ID]*testPeer)}
	var out []*testPeer
	clock := time.UnixMilli(1700000000000)
	var mu sync.Mutex
	now := func() time.Time { // every call a millisecond later
		mu.Lock()
		defer mu.Unlock()
		clock = clock.Add(time.Millisecond)
		return clock
	}
	for i, name := range names {
		p := &testPeer{name: name, id: testIdentity(byte(i + 1)), store: NewMemoryStore(), log: &logRecorder{}}
		e, err := New(Config{Identity: p.id, Store: p.store, Log: p.log, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		p.e = e
		n.peers[p.id.ID()] = p
		out = append(out, p)
	}
	return n, out
}

// send queues out, as sent by from; lines to offline peers are lost.
func (n *testNet) send(from *testPeer, out []Outgoing) {
	for _, o := range out {
		for _, to := range o.To {
			n.queue = append(n.queue, delivery{from.id.ID(), to, o.Line})
		}
	}
}

// run delivers until nothing is left.
func (n *testNet) run() {
	n.t.Helper()
	for steps := 0; len(n.queue) > 0; steps++ {
		if steps > 100000 {
			n.t.Fatal("the engines do not settle")
		}
		d := n.queue[0]
		n.queue = n.queue[1:]
		to := n.peers[d.to]
		if to == nil || to.offline {
			continue
		}
		to.frames++
		f, err := wire.ParseGroupFrame(d.line)
		if err != nil {
			n.t.Fatalf("line %q does not parse: %v", d.line, err)
		}
		res, err := to.e.Receive(d.from, f)
		if err != nil {
			to.errs = append(to.errs, err)
		}
		to.got = append(to.got, res.Messages...)
		if res.Invitation != nil {
			to.invites = append(to.invites, *res.Invitation)
		}
		n.send(to, res.Out)
	}
}

// must returns a function that fails the test on err and returns out:
// must(t)(e.Invite(...)).
func must(t testing.TB) func([]Outgoing, error) []Outgoing {
	return func(out []Outgoing, err error) []Outgoing {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
}

// membersOf lists a state's member IDs (with "*" after admins).
func membersOf(st State) []string {
	var out []string
	for _, m := range st.Members() {
		s := m.ID.Short()
		if m.Admin {
			s += "*"
		}
		out = append(out, s)
	}
	return out
}

// say sends text from p to group gid and delivers it.
func (n *testNet) say(p *testPeer, gid wire.GroupID, text string) {
	n.t.Helper()
	_, out, err := p.e.Send(gid, text)
	if err != nil {
		n.t.Fatal(err)
	}
	n.send(p, out)
	n.run()
}
