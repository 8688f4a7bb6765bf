package transport

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

const testProto = "parlance-test/1"

// streamNode is a serving transport whose inbound streams run handle.
func streamNode(tb testing.TB, cfg Config, handle StreamHandler) *node {
	tb.Helper()
	if cfg.Identity == nil {
		cfg.Identity = newID(tb)
	}
	cfg.ListenAddr = "127.0.0.1:0"
	cfg.Logger = testLogger(tb)
	tr, err := Listen(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	if handle != nil {
		if err := tr.HandleStream(testProto, handle); err != nil {
			tb.Fatal(err)
		}
	}
	n := &node{Transport: tr, id: cfg.Identity, got: make(chan Inbound, 100)}
	n.serve(tb)
	return n
}

// echo answers every stream with "<peer ID>:" and then echoes it.
func echo(ctx context.Context, s *Stream) {
	io.WriteString(s, s.Peer()+":")
	io.Copy(s, s)
}

func TestStreamRoundTripProvesBothPeers(t *testing.T) {
	alice := streamNode(t, Config{}, echo)
	bob := streamNode(t, Config{}, echo)
	ctx := context.Background()

	s, err := alice.OpenStream(ctx, bob.dest(), testProto)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Peer() != bob.id.ID().String() || s.Proto() != testProto {
		t.Fatalf("stream peer %q proto %q", s.Peer(), s.Proto())
	}
	payload := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	go func() { s.Write(payload) }()
	want := append([]byte(alice.id.ID().String()+":"), payload...)
	got := make([]byte, len(want))
	if _, err := io.ReadFull(s, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("echo differs")
	}

	// Chat on the same pair still works, on its own connection.
	if err := alice.Send(ctx, bob.dest(), msg("alice", "hi")); err != nil {
		t.Fatal(err)
	}
	if in := bob.recv(t); in.Message.Content != "hi" {
		t.Fatalf("got %+v", in)
	}
	if s := bob.Stats(); s.Accepted != 2 || s.Received != 1 {
		t.Fatalf("bob stats %+v: want 2 connections (stream and chat), 1 message", s)
	}
}

func TestOpenStreamRefusesAnotherKey(t *testing.T) {
	called := make(chan struct{}, 1)
	bob := streamNode(t, Config{}, func(context.Context, *Stream) { called <- struct{}{} })
	alice := streamNode(t, Config{}, nil)
	d := bob.dest()
	d.Identity = newID(t).ID().String() // whom alice expects
	_, err := alice.OpenStream(context.Background(), d, testProto)
	var km *KeyMismatchError
	if !errors.Is(err, ErrKeyMismatch) || !errors.As(err, &km) || km.Got != bob.id.ID().String() {
		t.Fatalf("err = %v, want a key mismatch naming bob's key", err)
	}
	select {
	case <-called:
		t.Fatal("the handler ran for a stream whose client aborted")
	default:
	}
}

func TestOpenStreamErrors(t *testing.T) {
	bob := streamNode(t, Config{}, echo)
	plainOnly := newNode(t, Config{})
	ctx := context.Background()
	noHandler := streamNode(t, Config{}, nil)

	for _, tc := range []struct {
		name string
		from *Transport
		d    Dest
		p    string
		want string
	}{
		{"chat protocol", bob.Transport, bob.dest(), ALPN, "not allowed"},
		{"no identity at the destination", bob.Transport, Dest{Addr: bob.addr()}, testProto, "unencrypted"},
		{"no identity here", plainOnly.Transport, bob.dest(), testProto, "no identity"},
		{"no handler there", bob.Transport, noHandler.dest(), testProto, "handshake"},
		{"nothing listening", bob.Transport, Dest{Addr: closedPort(t), Identity: bob.dest().Identity}, testProto, "refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.from.OpenStream(ctx, tc.d, tc.p)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one saying %q", err, tc.want)
			}
		})
	}
}

func TestHandleStreamRules(t *testing.T) {
	tr, err := Listen(Config{ListenAddr: "127.0.0.1:0", Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if err := tr.HandleStream(testProto, echo); !errors.Is(err, ErrNoIdentity) {
		t.Fatalf("without identity: %v", err)
	}
	n := streamNode(t, Config{}, echo)
	if err := tr.Send(context.Background(), Dest{Addr: n.addr()}, msg("x", "serving?")); err != nil {
		t.Fatal(err)
	}
	n.recv(t) // Serve has begun
	if err := n.HandleStream("x/1", echo); err == nil {
		t.Fatal("HandleStream after Serve succeeded")
	}
}

func TestStreamLimits(t *testing.T) {
	release := make(chan struct{})
	bob := streamNode(t, Config{Streams: StreamConfig{MaxPerPeer: 1}}, func(ctx context.Context, s *Stream) {
		io.WriteString(s, "ok")
		select {
		case <-release:
		case <-ctx.Done():
		}
	})
	defer close(release)
	alice := streamNode(t, Config{Streams: StreamConfig{MaxPerPeer: 2, MaxTotal: 2}}, nil)
	carol := streamNode(t, Config{}, nil)
	ctx := context.Background()

	first, err := alice.OpenStream(ctx, bob.dest(), testProto)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	readOK(t, first)

	// bob serves one stream per peer: alice's second is closed unserved,
	second, err := alice.OpenStream(ctx, bob.dest(), testProto)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(second); len(b) != 0 || err != nil {
		t.Fatalf("second stream got %q, %v; want it closed at once", b, err)
	}
	// but carol's is served.
	cs, err := carol.OpenStream(ctx, bob.dest(), testProto)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	readOK(t, cs)

	// alice opens at most two at once (second is still open).
	if _, err := alice.OpenStream(ctx, bob.dest(), testProto); !errors.Is(err, ErrTooManyStreams) {
		t.Fatalf("third stream: %v, want ErrTooManyStreams", err)
	}
	second.Close()
	third, err := alice.OpenStream(ctx, carol.dest(), testProto)
	if err == nil {
		third.Close() // carol has no handler, so this fails; it must not be the limit
	} else if errors.Is(err, ErrTooManyStreams) {
		t.Fatalf("after closing one: %v", err)
	}
}

func readOK(tb testing.TB, s *Stream) {
	tb.Helper()
	buf := make([]byte, 2)
	if _, err := io.ReadFull(s, buf); err != nil || string(buf) != "ok" {
		tb.Fatalf("read %q, %v", buf, err)
	}
}

func TestStreamIdleTimeout(t *testing.T) {
	ended := make(chan error, 1)
	bob := streamNode(t, Config{Streams: StreamConfig{IdleTimeout: 50 * time.Millisecond}}, func(ctx context.Context, s *Stream) {
		_, err := s.Read(make([]byte, 1))
		ended <- err
	})
	alice := streamNode(t, Config{}, nil)
	s, err := alice.OpenStream(context.Background(), bob.dest(), testProto)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	select {
	case err := <-ended:
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("read ended with %v, want a timeout", err)
		}
	case <-time.After(waitFor):
		t.Fatal("an idle stream's read did not time out")
	}
}

func TestCloseEndsStreams(t *testing.T) {
	started := make(chan struct{})
	bob := streamNode(t, Config{}, func(ctx context.Context, s *Stream) {
		close(started)
		io.Copy(io.Discard, s)
	})
	alice := streamNode(t, Config{}, nil)
	s, err := alice.OpenStream(context.Background(), bob.dest(), testProto)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Write([]byte("x"))
	<-started
	alice.Close()
	if _, err := s.Read(make([]byte, 1)); err == nil {
		t.Fatal("a stream of a closed transport still reads")
	}
}
