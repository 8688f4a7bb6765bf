package transport

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

func TestTLSRoundTripReusesOneConnection(t *testing.T) {
	alice := newNode(t, Config{Identity: newID(t)})
	bob := newNode(t, Config{Identity: newID(t)})
	const n = 200
	ctx := context.Background()

	for _, dir := range []struct {
		name     string
		from, to *node
		nick     string
	}{
		{"alice to bob", alice, bob, "alice"},
		{"bob to alice", bob, alice, "bob"},
	} {
		t.Run(dir.name, func(t *testing.T) {
			for i := range n {
				if err := dir.from.Send(ctx, dir.to.dest(), msg(dir.nick, fmt.Sprintf("message %d", i))); err != nil {
					t.Fatalf("send %d: %v", i, err)
				}
			}
			for i := range n {
				in := dir.to.recv(t)
				if want := fmt.Sprintf("message %d", i); in.Message.Content != want || in.Message.From != dir.nick {
					t.Fatalf("got %+v, want %q from %s", in.Message, want, dir.nick)
				}
				if in.Identity != dir.from.id.ID().String() {
					t.Fatalf("Identity = %q, want the sender's %q", in.Identity, dir.from.id.ID())
				}
				if in.Remote.Addr() != loopback {
					t.Fatalf("Remote = %v", in.Remote)
				}
			}
			if s := dir.from.Stats(); s.Dials != 1 || s.Sent != n || s.OpenOutgoing != 1 {
				t.Errorf("sender stats %+v: want 1 dial, %d sent, 1 open", s, n)
			}
			if s := dir.to.Stats(); s.Accepted != 1 || s.TLSConns != 1 || s.Received != n {
				t.Errorf("receiver stats %+v: want 1 TLS connection, %d received", s, n)
			}
		})
	}
}

func TestConcurrentSends(t *testing.T) {
	alice := newNode(t, Config{Identity: newID(t)})
	bob := newNode(t, Config{Identity: newID(t)})
	carol := newNode(t, Config{Identity: newID(t)})
	const senders, each = 8, 50
	var wg sync.WaitGroup
	errs := make(chan error, 2*senders*each)
	for g := range senders {
		for _, to := range []*node{bob, carol} {
			wg.Go(func() {
				for i := range each {
					if err := alice.Send(context.Background(), to.dest(), msg("alice", fmt.Sprintf("%d/%d", g, i))); err != nil {
						errs <- err
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, to := range []*node{bob, carol} {
		seen := map[string]bool{}
		for range senders * each {
			in := to.recv(t)
			if seen[in.Message.Content] {
				t.Fatalf("duplicate %q", in.Message.Content)
			}
			seen[in.Message.Content] = true
		}
		if s := to.Stats(); s.Accepted != 1 {
			t.Errorf("%d connections accepted, want 1", s.Accepted)
		}
	}
	if s := alice.Stats(); s.Dials != 2 {
		t.Errorf("%d dials, want 2 (one per peer)", s.Dials)
	}
}

func TestTLSCaptureHoldsNoPlaintext(t *testing.T) {
	alice := newNode(t, Config{Identity: newID(t)})
	bob := newNode(t, Config{Identity: newID(t)})
	r := newRelay(t, bob.addr())
	d := bob.dest()
	d.Addr = r.addr()

	const secret = "the eagle lands at midnight"
	for i := range 3 {
		if err := alice.Send(context.Background(), d, msg("alice", fmt.Sprintf("%s %d", secret, i))); err != nil {
			t.Fatal(err)
		}
		if in := bob.recv(t); in.Message.Content != fmt.Sprintf("%s %d", secret, i) {
			t.Fatalf("got %q", in.Message.Content)
		}
	}
	captured := r.captured()
	if len(captured) < 500 {
		t.Fatalf("captured only %d bytes: the relay saw no handshake?", len(captured))
	}
	for _, clear := range []string{secret, "eagle", `"content"`, `"from"`, "alice"} {
		if bytes.Contains(captured, []byte(clear)) {
			t.Errorf("capture contains %q in clear", clear)
		}
	}
}

// fakeTLSServer accepts one connection at a time with cert, as a peer at
// an address could, and records the application bytes it receives.
type fakeTLSServer struct {
	ln       net.Listener
	wg       sync.WaitGroup
	mu       sync.Mutex
	received []byte
	accepted int
}

func newFakeTLSServer(t *testing.T, cfg *tls.Config) *fakeTLSServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeTLSServer{ln: ln}
	f.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f.mu.Lock()
			f.accepted++
			f.mu.Unlock()
			tc := tls.Server(c, cfg)
			tc.SetDeadline(time.Now().Add(waitFor))
			if err := tc.Handshake(); err != nil {
				t.Logf("fake server: handshake: %v", err)
			}
			b, _ := io.ReadAll(tc)
			f.mu.Lock()
			f.received = append(f.received, b...)
			f.mu.Unlock()
			c.Close()
		}
	})
	t.Cleanup(func() { ln.Close(); f.wg.Wait() })
	return f
}

func TestImpersonationRefused(t *testing.T) {
	alice := newID(t)
	mallory := newID(t)
	sender := newNode(t, Config{Identity: newID(t)})

	cases := []struct {
		name string
		cfg  func(t *testing.T) *tls.Config
		// mismatch: the fake proves another key. Otherwise the handshake
		// must fail anyway (it cannot prove alice's key).
		mismatch bool
	}{
		{"other key at the address", func(t *testing.T) *tls.Config {
			server, _, err := tlsConfigs(mallory)
			if err != nil {
				t.Fatal(err)
			}
			return server
		}, true},
		{"alice's certificate without her key", func(t *testing.T) *tls.Config {
			real, err := alice.Certificate()
			if err != nil {
				t.Fatal(err)
			}
			server, _, err := tlsConfigs(mallory)
			if err != nil {
				t.Fatal(err)
			}
			server.Certificates = []tls.Certificate{{Certificate: real.Certificate, PrivateKey: mallory.PrivateKey()}}
			return server
		}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fake := newFakeTLSServer(t, tc.cfg(t))
			d := Dest{Addr: addrPortOf(fake.ln.Addr()), Identity: alice.ID().String()}
			before := sender.Stats()
			err := sender.Send(context.Background(), d, msg("bob", "for alice only"))
			if err == nil {
				t.Fatal("Send succeeded against an impostor")
			}
			var km *KeyMismatchError
			if tc.mismatch {
				if !errors.Is(err, ErrKeyMismatch) || !errors.As(err, &km) {
					t.Fatalf("err = %v, want a *KeyMismatchError", err)
				}
				if km.Want != alice.ID().String() || km.Got != mallory.ID().String() || km.Addr != d.Addr {
					t.Fatalf("KeyMismatchError = %+v", km)
				}
				if s := sender.Stats(); s.KeyMismatches != before.KeyMismatches+1 {
					t.Errorf("KeyMismatches = %d", s.KeyMismatches)
				}
			} else if errors.Is(err, ErrKeyMismatch) {
				t.Fatalf("err = %v: the handshake should fail on the signature, not the key", err)
			}
			t.Logf("Send: %v", err)
			fake.ln.Close()
			fake.wg.Wait()
			if fake.accepted != 1 || len(fake.received) != 0 {
				t.Fatalf("fake accepted %d connections and received %q, want 1 and nothing", fake.accepted, fake.received)
			}
			if s := sender.Stats(); s.Sent != before.Sent || s.OpenOutgoing != 0 {
				t.Fatalf("stats after refusal: %+v", s)
			}
		})
	}
}

// TestManInTheMiddleRefused puts a proxy between sender and receiver that
// terminates TLS with its own key towards the sender and opens its own TLS
// connection to the real receiver.
func TestManInTheMiddleRefused(t *testing.T) {
	alice := newNode(t, Config{Identity: newID(t)})
	bob := newNode(t, Config{Identity: newID(t)})
	mallory := newID(t)
	server, client, err := tlsConfigs(mallory)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	intercepted := make(chan int, 1)
	wg.Go(func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		front := tls.Server(c, server)
		front.SetDeadline(time.Now().Add(waitFor))
		if err := front.Handshake(); err != nil {
			t.Logf("mitm: front handshake: %v", err)
			intercepted <- 0
			return
		}
		back, err := tls.Dial("tcp", bob.addr().String(), client)
		if err != nil {
			t.Errorf("mitm: dial bob: %v", err)
			return
		}
		defer back.Close()
		n, _ := io.Copy(back, front)
		intercepted <- int(n)
	})
	t.Cleanup(func() { ln.Close(); wg.Wait() })

	d := bob.dest()
	d.Addr = addrPortOf(ln.Addr())
	err = alice.Send(context.Background(), d, msg("alice", "hello bob"))
	var km *KeyMismatchError
	if !errors.As(err, &km) || km.Got != mallory.ID().String() {
		t.Fatalf("Send through a man in the middle: err = %v, want key mismatch naming mallory", err)
	}
	if n := <-intercepted; n != 0 {
		t.Fatalf("the proxy read %d bytes", n)
	}
	if s := bob.Stats(); s.Accepted != 0 {
		t.Fatalf("bob accepted %d connections", s.Accepted)
	}
	bob.none(t)
}

// TestMismatchDoesNotTryAltAddr: a key mismatch at Addr is an alarm, not
// an unreachable address.
func TestMismatchDoesNotTryAltAddr(t *testing.T) {
	alice := newNode(t, Config{Identity: newID(t)})
	bob := newNode(t, Config{Identity: newID(t)})
	mallory := newNode(t, Config{Identity: newID(t)})
	d := bob.dest()
	d.Addr, d.AltAddr = mallory.addr(), bob.addr()
	if err := alice.Send(context.Background(), d, msg("alice", "x")); !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("err = %v, want ErrKeyMismatch", err)
	}
	eventually(t, "mallory sees the aborted handshake", func() bool { return mallory.Stats().HandshakeFails == 1 })
	mallory.none(t)
	if s := bob.Stats(); s.Accepted != 0 {
		t.Fatalf("AltAddr was dialed after a mismatch")
	}
}

func TestAltAddrWhenAddrUnreachable(t *testing.T) {
	for _, keyed := range []bool{true, false} {
		t.Run(fmt.Sprint("keyed=", keyed), func(t *testing.T) {
			cfg := Config{}
			if keyed {
				cfg.Identity = newID(t)
			}
			alice := newNode(t, Config{Identity: newID(t)})
			bob := newNode(t, cfg)
			d := bob.dest()
			d.Addr, d.AltAddr = closedPort(t), bob.addr()
			if err := alice.Send(context.Background(), d, msg("alice", "via alt")); err != nil {
				t.Fatal(err)
			}
			if in := bob.recv(t); in.Message.Content != "via alt" {
				t.Fatalf("got %+v", in)
			}
		})
	}
}

func TestUnreachable(t *testing.T) {
	alice := newNode(t, Config{Identity: newID(t)})
	d := Dest{Addr: closedPort(t), AltAddr: closedPort(t), Identity: newID(t).ID().String()}
	err := alice.Send(context.Background(), d, msg("alice", "x"))
	if err == nil || errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("err = %v, want a dial error", err)
	}
	if s := alice.Stats(); s.DialErrors != 2 || s.Dials != 0 {
		t.Fatalf("stats %+v, want 2 dial errors", s)
	}
}
