package transport

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/parlance-chat/parlance/net/wire"
)

// TestRedialAfterPeerClosed: the receiver closes the kept connection (here
// by its idle timeout); the sender notices and the next Send redials.
func TestRedialAfterPeerClosed(t *testing.T) {
	for _, keyed := range []bool{true, false} {
		name := "plaintext"
		if keyed {
			name = "tls"
		}
		t.Run(name, func(t *testing.T) {
			// Short, but long enough that a loaded machine delivers the
			// message before the idle timeout closes the connection.
			cfg := Config{IdleTimeout: time.Second}
			if keyed {
				cfg.Identity = newID(t)
			}
			alice := newNode(t, Config{Identity: newID(t)})
			bob := newNode(t, cfg)
			if err := alice.Send(context.Background(), bob.dest(), msg("alice", "one")); err != nil {
				t.Fatal(err)
			}
			bob.recv(t)
			eventually(t, "alice notices bob closed the connection", func() bool { return alice.Stats().OpenOutgoing == 0 })
			if err := alice.Send(context.Background(), bob.dest(), msg("alice", "two")); err != nil {
				t.Fatal(err)
			}
			if in := bob.recv(t); in.Message.Content != "two" {
				t.Fatalf("got %+v", in)
			}
			if s := alice.Stats(); s.Dials != 2 {
				t.Fatalf("%d dials, want 2", s.Dials)
			}
		})
	}
}

// TestRedialAfterReceiverRestart: the receiver closes its transport and
// listens again on the same port with the same identity.
func TestRedialAfterReceiverRestart(t *testing.T) {
	bobID := newID(t)
	alice := newNode(t, Config{Identity: newID(t)})
	bob := newNode(t, Config{Identity: bobID})
	if err := alice.Send(context.Background(), bob.dest(), msg("alice", "before")); err != nil {
		t.Fatal(err)
	}
	bob.recv(t)
	addr := bob.addr()
	if err := bob.Close(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "alice notices bob went away", func() bool { return alice.Stats().OpenOutgoing == 0 })
	bob2 := newNode(t, Config{Identity: bobID, ListenAddr: addr.String()})
	if err := alice.Send(context.Background(), bob2.dest(), msg("alice", "after")); err != nil {
		t.Fatal(err)
	}
	if in := bob2.recv(t); in.Message.Content != "after" {
		t.Fatalf("got %+v", in)
	}
}

// failingConn fails every write, as a connection the network dropped.
type failingConn struct{ net.Conn }

func (failingConn) Write([]byte) (int, error) { return 0, errors.New("connection reset (test)") }

// TestRedialOnceAfterWriteError: a write on the kept connection fails; Send
// redials once and the message arrives.
func TestRedialOnceAfterWriteError(t *testing.T) {
	alice := newNode(t, Config{Identity: newID(t)})
	bob := newNode(t, Config{Identity: newID(t)})
	d := bob.dest()
	if err := alice.Send(context.Background(), d, msg("alice", "one")); err != nil {
		t.Fatal(err)
	}
	bob.recv(t)

	p, err := alice.acquire(context.Background(), keyOf(d))
	if err != nil {
		t.Fatal(err)
	}
	p.conn = failingConn{p.conn}
	p.release()

	if err := alice.Send(context.Background(), d, msg("alice", "two")); err != nil {
		t.Fatal(err)
	}
	if in := bob.recv(t); in.Message.Content != "two" {
		t.Fatalf("got %+v", in)
	}
	if s := alice.Stats(); s.Redials != 1 || s.Dials != 2 {
		t.Fatalf("stats %+v, want 1 redial, 2 dials", s)
	}

	// When the redial fails too, Send reports it (and tries no more).
	p, _ = alice.acquire(context.Background(), keyOf(d))
	p.conn = failingConn{p.conn}
	p.release()
	d.Addr = closedPort(t)
	if err := alice.Send(context.Background(), d, msg("alice", "three")); err == nil {
		t.Fatal("Send succeeded with a broken connection and nothing to redial")
	}
	if s := alice.Stats(); s.Redials != 2 || s.Dials != 2 {
		t.Fatalf("stats %+v, want 2 redials, 2 dials", s)
	}
}

func TestIdleOutgoingClosed(t *testing.T) {
	alice := newNode(t, Config{Identity: newID(t), IdleTimeout: 100 * time.Millisecond})
	bob := newNode(t, Config{Identity: newID(t)})
	if err := alice.Send(context.Background(), bob.dest(), msg("alice", "x")); err != nil {
		t.Fatal(err)
	}
	bob.recv(t)
	eventually(t, "the janitor closes the idle connection", func() bool {
		s := alice.Stats()
		return s.OpenOutgoing == 0 && bob.Stats().OpenInbound == 0
	})
	alice.mu.Lock()
	n := len(alice.peers)
	alice.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d peers still kept", n)
	}
}

func TestSendContext(t *testing.T) {
	alice := newNode(t, Config{Identity: newID(t)})
	bob := newNode(t, Config{Identity: newID(t)})
	d := bob.dest()

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := alice.Send(ctx, d, msg("alice", "x")); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled ctx: err = %v", err)
	}

	// A Send waiting for its turn gives up when its ctx ends.
	if err := alice.Send(context.Background(), d, msg("alice", "first")); err != nil {
		t.Fatal(err)
	}
	p, err := alice.acquire(context.Background(), keyOf(d))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err = alice.Send(ctx, d, msg("alice", "blocked"))
	p.release()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want DeadlineExceeded", err)
	}
	if err := alice.Send(context.Background(), d, msg("alice", "after")); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"first", "after"} {
		if in := bob.recv(t); in.Message.Content != want {
			t.Fatalf("got %q, want %q", in.Message.Content, want)
		}
	}
}

func TestCloseAndServeLifecycle(t *testing.T) {
	bob := newNode(t, Config{Identity: newID(t)})
	tr, err := Listen(Config{Identity: newID(t), ListenAddr: "127.0.0.1:0", Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tr.Serve(ctx, func(Inbound) {}) }()

	if err := tr.Send(context.Background(), bob.dest(), msg("alice", "x")); err != nil {
		t.Fatal(err)
	}
	// An inbound connection is open when ctx is cancelled.
	c := dialRaw(t, netip4(tr.Port()))
	c.Write([]byte(`{"from":"bob","content":"x","timestamp":1}` + "\n"))
	eventually(t, "the connection is served", func() bool { return tr.Stats().Received == 1 })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(waitFor):
		t.Fatal("Serve did not return after ctx was cancelled")
	}
	waitClosed(t, c, waitFor)
	if s := tr.Stats(); s.OpenInbound != 0 {
		t.Fatalf("%d inbound connections open after Serve returned", s.OpenInbound)
	}
	// Send works until Close.
	if err := tr.Send(context.Background(), bob.dest(), msg("alice", "y")); err != nil {
		t.Fatal(err)
	}
	if err := tr.Serve(context.Background(), func(Inbound) {}); err == nil {
		t.Fatal("second Serve succeeded")
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	if err := tr.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := tr.Send(context.Background(), bob.dest(), msg("alice", "z")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Send after Close: err = %v", err)
	}
	if err := tr.Serve(context.Background(), func(Inbound) {}); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Serve after Close: err = %v", err)
	}
	bob.recv(t)
	bob.recv(t)
}

// TestCloseDuringTraffic: Close while Sends are in flight ends everything
// (goleak in TestMain checks no goroutine is left).
func TestCloseDuringTraffic(t *testing.T) {
	bob := newNode(t, Config{Identity: newID(t)})
	alice, err := Listen(Config{Identity: newID(t), ListenAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			for {
				if err := alice.Send(context.Background(), bob.dest(), msg("alice", "spam")); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	eventually(t, "traffic flows", func() bool { return bob.Stats().Received > 100 })
	if err := alice.Close(); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		select {
		case err := <-errs:
			if !errors.Is(err, net.ErrClosed) {
				t.Errorf("Send during Close: %v, want net.ErrClosed", err)
			}
		case <-time.After(waitFor):
			t.Fatal("a Send did not return after Close")
		}
	}
}

// TestOutgoingClosesBeforePeerIdles: with the same IdleTimeout on both
// sides, the sender closes its idle connection before the receiver's idle
// timeout would, so a write never races the receiver's close.
func TestOutgoingClosesBeforePeerIdles(t *testing.T) {
	// alice closes an idle outgoing connection after idle/2, looking
	// every idle/4, so at 1 to 1.5 s; bob would at 2 s. With 400 ms, a
	// cleanup loop woken 100 ms late on a loaded machine let bob close
	// first (26 in 300 runs under nice 8 and three busy loops).
	const idle = 2 * time.Second
	alice := newNode(t, Config{Identity: newID(t), IdleTimeout: idle})
	bob := newNode(t, Config{Identity: newID(t), IdleTimeout: idle})
	if err := alice.Send(context.Background(), bob.dest(), msg("alice", "x")); err != nil {
		t.Fatal(err)
	}
	bob.recv(t)
	eventually(t, "the connection is closed", func() bool { return bob.Stats().OpenInbound == 0 })
	if s := bob.Stats(); s.IdleClosed != 0 {
		t.Fatalf("the receiver closed the connection for idleness first (stats %+v)", s)
	}
}

// TestSendBatchOnKeepsTheConnection: a sender with messages in flight
// writes more only on the same connection; once it is gone, nothing is
// written and ErrConnChanged says to send again from the first message
// not acknowledged.
func TestSendBatchOnKeepsTheConnection(t *testing.T) {
	alice := newNode(t, Config{Identity: newID(t)})
	bob := newNode(t, Config{Identity: newID(t)})
	ctx := context.Background()
	first, err := alice.SendBatchOn(ctx, bob.dest(), []wire.Message{msg("alice", "one")}, 0)
	if err != nil || first.Gen == 0 || !first.TwoWay {
		t.Fatalf("first batch: %+v, %v", first, err)
	}
	bob.recv(t)
	same, err := alice.SendBatchOn(ctx, bob.dest(), []wire.Message{msg("alice", "two")}, first.Gen)
	if err != nil || same.Gen != first.Gen {
		t.Fatalf("on the same connection: %+v, %v", same, err)
	}
	bob.recv(t)
	// bob closes the connection: it is gone. The test closes it (not an
	// idle timeout) so that a slow machine cannot close it earlier.
	bob.closeInbound()
	eventually(t, "alice notices bob closed the connection", func() bool { return alice.Stats().OpenOutgoing == 0 })
	if _, err := alice.SendBatchOn(ctx, bob.dest(), []wire.Message{msg("alice", "three")}, first.Gen); !errors.Is(err, ErrConnChanged) {
		t.Fatalf("on a connection that is gone: %v, want ErrConnChanged", err)
	}
	if s := alice.Stats(); s.Sent != 2 || s.Dials != 1 {
		t.Fatalf("after ErrConnChanged: %d lines written, %d dials; want 2 and 1 (nothing written, no redial)", s.Sent, s.Dials)
	}
	again, err := alice.SendBatchOn(ctx, bob.dest(), []wire.Message{msg("alice", "two"), msg("alice", "three")}, 0)
	if err != nil || again.Gen == first.Gen {
		t.Fatalf("again from the first: %+v, %v", again, err)
	}
	if in := bob.recv(t); in.Message.Content != "two" {
		t.Fatalf("got %+v", in)
	}
}
