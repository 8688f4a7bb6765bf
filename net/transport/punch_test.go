package transport

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/parlance-chat/parlance/net/wire"
)

// serving waits until n's Serve has installed its handler (Punch needs it).
func (n *node) serving(tb testing.TB) {
	tb.Helper()
	deadline := time.Now().Add(waitFor)
	for n.handle.Load() == nil {
		if time.Now().After(deadline) {
			tb.Fatal("Serve did not start")
		}
		time.Sleep(time.Millisecond)
	}
}

// punchBoth runs a punch from a to b (expecting identity wantB at b) and
// one from b to a at the same time. Both register before either dials:
// loopback has no NAT to hold the first SYN back until the other side
// punches, so without it the first SYN could reach a listener that is not
// expecting it.
func punchBoth(tb testing.TB, a, b *node, wantB string) (errA, errB error) {
	tb.Helper()
	accA, accB, unexpect := expectBoth(tb, a, b)
	defer unexpect()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { errA = a.punch(ctx, Dest{Addr: b.addr(), Identity: wantB}, accA) })
	wg.Go(func() { errB = b.punch(ctx, a.dest(), accB) })
	wg.Wait()
	return errA, errB
}

// expectBoth registers a punch from a to b and one from b to a, once
// both serve; unexpect ends them.
func expectBoth(tb testing.TB, a, b *node) (accA, accB <-chan net.Conn, unexpect func()) {
	tb.Helper()
	a.serving(tb)
	b.serving(tb)
	accA, unA, err := a.punches.expect(b.addr())
	if err != nil {
		tb.Fatal(err)
	}
	accB, unB, err := b.punches.expect(a.addr())
	if err != nil {
		unA()
		tb.Fatal(err)
	}
	return accA, accB, func() { unA(); unB() }
}

func TestPunchLoopbackBothWays(t *testing.T) {
	a := newNode(t, Config{Identity: newID(t)})
	b := newNode(t, Config{Identity: newID(t)})
	if errA, errB := punchBoth(t, a, b, b.dest().Identity); errA != nil || errB != nil {
		t.Fatalf("punch: a: %v; b: %v", errA, errB)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()

	// a → b, acknowledged on the same connection.
	m := msg("alice", "over the punched path")
	twoWay, err := a.SendBatch(ctx, b.dest(), []wire.Message{m})
	if err != nil || !twoWay {
		t.Fatalf("send a→b: twoWay %v, err %v", twoWay, err)
	}
	in := b.recv(t)
	if in.Message.ID != m.ID || in.Identity != a.dest().Identity || in.Reply == nil {
		t.Fatalf("b got %+v", in)
	}
	if err := in.Reply.Reply(wire.Control{Type: wire.ControlAck, IDs: []string{m.ID}}); err != nil {
		t.Fatal(err)
	}
	if ack := a.recv(t); ack.Control == nil || ack.Control.IDs[0] != m.ID || ack.Identity != b.dest().Identity {
		t.Fatalf("a got %+v, want the ack", ack)
	}

	// b → a on the same connection.
	m2 := msg("bob", "and back")
	if err := b.Send(ctx, a.dest(), m2); err != nil {
		t.Fatal(err)
	}
	if in := a.recv(t); in.Message.ID != m2.ID || in.Identity != b.dest().Identity {
		t.Fatalf("a got %+v", in)
	}
	for name, n := range map[string]*node{"a": a, "b": b} {
		if s := n.Stats(); s.Dials != 1 || s.Accepted != 0 || s.OpenOutgoing != 1 {
			t.Errorf("%s: dials %d, accepted %d, open outgoing %d; want one punched connection and nothing else",
				name, s.Dials, s.Accepted, s.OpenOutgoing)
		}
	}
}

func TestPunchWrongPeerIsRefused(t *testing.T) {
	a := newNode(t, Config{Identity: newID(t)})
	b := newNode(t, Config{Identity: newID(t)})
	someoneElse := newID(t).ID().String()
	errA, errB := punchBoth(t, a, b, someoneElse)
	var km *KeyMismatchError
	if !errors.As(errA, &km) || km.Got != b.dest().Identity || km.Want != someoneElse {
		t.Fatalf("a: %v, want a key mismatch", errA)
	}
	// When b is the TLS client its handshake ends before a checks b's
	// key (TLS 1.3): its punch may succeed, and the connection then ends
	// as a refuses it.
	if errB == nil {
		deadline := time.Now().Add(waitFor)
		for b.Stats().OpenOutgoing != 0 {
			if time.Now().After(deadline) {
				t.Fatal("b: the connection a refused is still open")
			}
			time.Sleep(time.Millisecond)
		}
	}
	if s := a.Stats(); s.KeyMismatches != 1 || s.OpenOutgoing != 0 {
		t.Fatalf("a: key mismatches %d, open outgoing %d", s.KeyMismatches, s.OpenOutgoing)
	}
}

func TestPunchNobodyAnswersFailsAtTheWindow(t *testing.T) {
	a := newNode(t, Config{Identity: newID(t)})
	a.serving(t)
	// A port nobody listens on: every try is refused (as by a router
	// that rejects), until the window ends.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gone := addrPortOf(l.Addr())
	l.Close()
	const window = 300 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), window)
	defer cancel()
	start := time.Now()
	err = a.Punch(ctx, Dest{Addr: gone, Identity: newID(t).ID().String()})
	if !errors.Is(err, ErrPunchFailed) {
		t.Fatalf("punch: %v, want ErrPunchFailed", err)
	}
	if took := time.Since(start); took > window+2*time.Second {
		t.Fatalf("punch took %v with a window of %v", took, window)
	}
}

func TestPunchChecksItsDestination(t *testing.T) {
	a := newNode(t, Config{Identity: newID(t)})
	plain := newNode(t, Config{})
	some := netip.MustParseAddrPort("127.0.0.1:9")
	for _, tc := range []struct {
		name string
		n    *node
		d    Dest
	}{
		{"no identity", a, Dest{Addr: some}},
		{"no address", a, Dest{Identity: newID(t).ID().String()}},
		{"ourselves", a, Dest{Addr: some, Identity: a.dest().Identity}},
		{"we have no identity", plain, Dest{Addr: some, Identity: a.dest().Identity}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.n.Punch(context.Background(), tc.d); err == nil {
				t.Fatal("punch succeeded")
			}
		})
	}
}

// TestListenFixedPortTwice: the listener sets SO_REUSEPORT (for Punch),
// but a second transport on a port one already holds still fails.
func TestListenFixedPortTwice(t *testing.T) {
	a := newNode(t, Config{Identity: newID(t)})
	tr, err := Listen(Config{Identity: newID(t), ListenAddr: a.addr().String()})
	if err == nil {
		tr.Close()
		t.Fatalf("a second transport listens on %v too", a.addr())
	}
}
