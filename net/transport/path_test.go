package transport

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/parlance-chat/parlance/net/wire"
)

// attachBoth attaches the two ends of a pipe (a stand-in for a relayed
// stream) at a and b at once; a expects identity wantB.
func attachBoth(tb testing.TB, a, b *node, wantB string) (errA, errB error) {
	tb.Helper()
	a.serving(tb)
	b.serving(tb)
	ca, cb := net.Pipe()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { errA = a.Attach(ctx, Dest{Identity: wantB}, ca, PathRelayed) })
	wg.Go(func() { errB = b.Attach(ctx, Dest{Identity: a.dest().Identity}, cb, PathRelayed) })
	wg.Wait()
	return errA, errB
}

// Attach makes any byte stream the kept two-way connection: messages and
// acknowledgements flow both ways on it, and Path says relayed.
func TestAttachCarriesBothWays(t *testing.T) {
	a := newNode(t, Config{Identity: newID(t)})
	b := newNode(t, Config{Identity: newID(t)})
	if got := a.Path(b.dest().Identity); got != PathNone {
		t.Fatalf("path before: %v", got)
	}
	if errA, errB := attachBoth(t, a, b, b.dest().Identity); errA != nil || errB != nil {
		t.Fatalf("attach: a: %v; b: %v", errA, errB)
	}
	if pa, pb := a.Path(b.dest().Identity), b.Path(a.dest().Identity); pa != PathRelayed || pb != PathRelayed {
		t.Fatalf("paths %v, %v; want relayed on both", pa, pb)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	// The destination's address plays no part: the kept connection is
	// found by identity.
	m := msg("alice", "through the relay")
	if twoWay, err := a.SendBatch(ctx, Dest{Addr: b.addr(), Identity: b.dest().Identity}, []wire.Message{m}); err != nil || !twoWay {
		t.Fatalf("send a→b: %v, %v", twoWay, err)
	}
	in := b.recv(t)
	if in.Message.ID != m.ID || in.Reply == nil {
		t.Fatalf("b got %+v", in)
	}
	if err := in.Reply.Reply(wire.Control{Type: wire.ControlAck, IDs: []string{m.ID}}); err != nil {
		t.Fatal(err)
	}
	if ack := a.recv(t); ack.Control == nil || ack.Control.IDs[0] != m.ID {
		t.Fatalf("a got %+v, want the ack", ack)
	}
	m2 := msg("bob", "and back")
	if err := b.Send(ctx, a.dest(), m2); err != nil {
		t.Fatal(err)
	}
	if in := a.recv(t); in.Message.ID != m2.ID {
		t.Fatalf("a got %+v", in)
	}
	if s := a.Stats(); s.Accepted != 0 {
		t.Errorf("a accepted %d connections; the relayed one should be all", s.Accepted)
	}
}

func TestAttachWrongPeerIsRefused(t *testing.T) {
	a := newNode(t, Config{Identity: newID(t)})
	b := newNode(t, Config{Identity: newID(t)})
	errA, _ := attachBoth(t, a, b, newID(t).ID().String())
	if !errors.Is(errA, ErrKeyMismatch) {
		t.Fatalf("a: %v, want a key mismatch", errA)
	}
	if got := a.Path(b.dest().Identity); got != PathNone {
		t.Errorf("path after a refused attach: %v", got)
	}
}

// A connection adopted while messages were in flight on a dialed one is
// a new generation: the outbox's next write on the old one fails with
// ErrConnChanged, so it resends what was in flight.
func TestAdoptIsANewGeneration(t *testing.T) {
	a := newNode(t, Config{Identity: newID(t)})
	b := newNode(t, Config{Identity: newID(t)})
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	sent, err := a.SendBatchOn(ctx, b.dest(), []wire.Message{msg("alice", "dialed")}, 0)
	if err != nil {
		t.Fatal(err)
	}
	b.recv(t)
	if got := a.Path(b.dest().Identity); got != PathDirect {
		t.Fatalf("path after a Send: %v, want direct", got)
	}
	if errA, errB := punchBoth(t, a, b, b.dest().Identity); errA != nil || errB != nil {
		t.Fatalf("punch: %v; %v", errA, errB)
	}
	if got := a.Path(b.dest().Identity); got != PathPunched {
		t.Fatalf("path after the punch: %v, want punched", got)
	}
	if _, err := a.SendBatchOn(ctx, b.dest(), []wire.Message{msg("alice", "x")}, sent.Gen); !errors.Is(err, ErrConnChanged) {
		t.Fatalf("send on the old generation: %v, want ErrConnChanged", err)
	}
}

// Connect dials when there is no kept connection, and keeps the one a
// punch installed meanwhile.
func TestConnect(t *testing.T) {
	a := newNode(t, Config{Identity: newID(t)})
	b := newNode(t, Config{Identity: newID(t)})
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if path, err := a.Connect(ctx, b.dest()); err != nil || path != PathDirect {
		t.Fatalf("connect: %v, %v", path, err)
	}
	if path, err := a.Connect(ctx, b.dest()); err != nil || path != PathDirect || a.Stats().Dials != 1 {
		t.Fatalf("connect again: %v, %v, %d dials; want the kept connection", path, err, a.Stats().Dials)
	}
	a.Close()
	if got := a.Path(b.dest().Identity); got != PathNone {
		t.Errorf("path after Close: %v", got)
	}
	// A peer that is gone: Connect fails within ctx.
	c := newNode(t, Config{Identity: newID(t)})
	gone := c.dest()
	c.Close()
	short, cancel2 := context.WithTimeout(context.Background(), time.Second)
	defer cancel2()
	if _, err := b.Connect(short, gone); err == nil {
		t.Fatal("connect to a closed node succeeded")
	}
}
