package transport

import (
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
)

// streamBoth opens a stream speaking testProto from a to b over a path
// neither dialed: punched over loopback, or attached to the ends of a
// pipe standing in for a relay. bOpens makes b open it too (both ask).
func streamBoth(tb testing.TB, a, b *node, relayed, bOpens bool) (s *Stream, errA, errB error) {
	tb.Helper()
	a.serving(tb)
	b.serving(tb)
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	var wg sync.WaitGroup
	var sb *Stream
	if relayed {
		ca, cb := net.Pipe()
		wg.Go(func() { s, errA = a.AttachStream(ctx, Dest{Identity: b.dest().Identity}, ca, testProto, true) })
		wg.Go(func() { sb, errB = b.AttachStream(ctx, Dest{Identity: a.dest().Identity}, cb, testProto, bOpens) })
	} else {
		accA, accB, unexpect := expectBoth(tb, a, b)
		defer unexpect()
		wg.Go(func() { s, errA = a.punchAs(ctx, b.dest(), accA, use{proto: testProto, open: true}) })
		wg.Go(func() { sb, errB = b.punchAs(ctx, a.dest(), accB, use{proto: testProto, open: bOpens}) })
	}
	wg.Wait()
	if sb != nil {
		sb.Close()
	}
	if !bOpens && errB == nil && sb != nil {
		tb.Errorf("the serving side got a stream of its own")
	}
	return s, errA, errB
}

func TestPunchedAndRelayedStreams(t *testing.T) {
	for _, relayed := range []bool{false, true} {
		name := map[bool]string{false: "punched", true: "relayed"}[relayed]
		t.Run(name, func(t *testing.T) {
			alice := streamNode(t, Config{}, echo)
			bob := streamNode(t, Config{}, echo)
			s, errA, errB := streamBoth(t, alice, bob, relayed, false)
			if errA != nil || errB != nil {
				t.Fatalf("alice: %v; bob: %v", errA, errB)
			}
			defer s.Close()
			if s.Peer() != bob.id.ID().String() || s.Proto() != testProto {
				t.Fatalf("stream peer %q proto %q", s.Peer(), s.Proto())
			}
			// bob's handler serves it: it names alice, then echoes.
			go io.WriteString(s, "ping")
			want := alice.id.ID().String() + ":ping"
			got := make([]byte, len(want))
			if _, err := io.ReadFull(s, got); err != nil || string(got) != want {
				t.Fatalf("read %q, %v; want %q", got, err, want)
			}
			// The kept connection is not touched: there is none.
			if p := alice.Path(bob.dest().Identity); p != PathNone {
				t.Errorf("alice's path to bob is %v after a stream", p)
			}
		})
	}
}

// Both sides opening the stream (both asked at once) fails before TLS,
// rather than leaving two clients waiting on each other.
func TestAttachedStreamBothOpenFails(t *testing.T) {
	alice := streamNode(t, Config{}, echo)
	bob := streamNode(t, Config{}, echo)
	s, errA, errB := streamBoth(t, alice, bob, true, true)
	if s != nil {
		s.Close()
	}
	if errA == nil || errB == nil || !strings.Contains(errA.Error(), "opens a stream") {
		t.Fatalf("alice: %v; bob: %v; want both to fail", errA, errB)
	}
}

// A stream served without a handler for its protocol is refused before
// anything is sent.
func TestAttachStreamNeedsHandler(t *testing.T) {
	alice := streamNode(t, Config{}, nil)
	bob := streamNode(t, Config{}, echo)
	alice.serving(t)
	ca, cb := net.Pipe()
	defer cb.Close()
	_, err := alice.AttachStream(context.Background(), Dest{Identity: bob.dest().Identity}, ca, testProto, false)
	if err == nil || !strings.Contains(err.Error(), "no handler") {
		t.Fatalf("got %v, want no handler", err)
	}
}
