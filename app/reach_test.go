package app_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parlance-chat/parlance/app"
	"github.com/parlance-chat/parlance/app/store"
	"github.com/parlance-chat/parlance/net/identity"
	"github.com/parlance-chat/parlance/net/rendezvous"
	"github.com/parlance-chat/parlance/net/transport"
	"github.com/parlance-chat/parlance/net/wire"
)

// The orchestration of reach on loopback: the peers find each other
// through a real bootstrap server, but a fake NAT stands in front of each
// transport (direct dials are dropped; a punch works or not as the test
// says, over a loopback socket pair standing in for the punched socket), and a fake
// coordinator stands in for the server's connect offers and relay (the
// real ones are tested in bootstrap and, with real NATs, in the lab).

// meeting pairs up two callers of one key with the ends of a socket pair.
type meeting struct {
	mu sync.Mutex
	m  map[string]chan net.Conn
}

func (mt *meeting) meet(ctx context.Context, key string) (net.Conn, error) {
	mt.mu.Lock()
	if ch := mt.m[key]; ch != nil {
		delete(mt.m, key)
		mt.mu.Unlock()
		a, b, err := socketPair()
		if err != nil {
			ch <- nil
			return nil, err
		}
		ch <- b
		return a, nil
	}
	ch := make(chan net.Conn, 1)
	mt.m[key] = ch
	mt.mu.Unlock()
	select {
	case c := <-ch:
		if c == nil {
			return nil, errors.New("no socket pair")
		}
		return c, nil
	case <-ctx.Done():
		mt.mu.Lock()
		if mt.m[key] == ch {
			delete(mt.m, key)
		}
		mt.mu.Unlock()
		select {
		case c := <-ch:
			if c != nil {
				c.Close()
			}
		default:
		}
		return nil, ctx.Err()
	}
}

// socketPair is two ends of a loopback TCP connection: buffered like the
// punched socket or relayed stream it stands in for (a net.Pipe is not:
// two TLS close_notify alerts written at once would wait on each other).
func socketPair() (a, b net.Conn, err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept() // nil when the dial failed and ln closed
		accepted <- c
	}()
	a, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		ln.Close()
		<-accepted
		return nil, nil, err
	}
	b = <-accepted
	if b == nil {
		a.Close()
		return nil, nil, errors.New("socket pair: accept failed")
	}
	return a, b, nil
}

// fakeNAT drops direct dials (and stream dials); a punch succeeds (over
// a socket pair) unless punchFails.
type fakeNAT struct {
	*transport.Transport
	self       string
	pipes      *meeting
	punchFails *atomic.Bool
	punches    chan string  // if set, gets the identity of every punch
	streams    atomic.Int32 // streams punched
}

func (f *fakeNAT) Connect(ctx context.Context, d transport.Dest) (transport.Path, error) {
	<-ctx.Done() // the SYN is dropped
	return transport.PathNone, ctx.Err()
}

func (f *fakeNAT) OpenStream(ctx context.Context, d transport.Dest, proto string) (*transport.Stream, error) {
	<-ctx.Done() // the SYN is dropped
	return nil, ctx.Err()
}

func (f *fakeNAT) PunchStream(ctx context.Context, d transport.Dest, proto string, open bool) (*transport.Stream, error) {
	if f.punchFails.Load() {
		<-ctx.Done()
		return nil, transport.ErrPunchFailed
	}
	a, b := f.self, d.Identity
	if a > b {
		a, b = b, a
	}
	c, err := f.pipes.meet(ctx, "punch:"+a+b+proto)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", transport.ErrPunchFailed, err)
	}
	s, err := f.AttachStream(ctx, d, c, proto, open)
	if err == nil {
		f.streams.Add(1)
	}
	return s, err
}

func (f *fakeNAT) Punch(ctx context.Context, d transport.Dest) error {
	if f.punches != nil {
		f.punches <- d.Identity
	}
	if f.punchFails.Load() {
		<-ctx.Done()
		return transport.ErrPunchFailed
	}
	a, b := f.self, d.Identity
	if a > b {
		a, b = b, a
	}
	c, err := f.pipes.meet(ctx, "punch:"+a+b)
	if err != nil {
		return fmt.Errorf("%w: %w", transport.ErrPunchFailed, err)
	}
	return f.Attach(ctx, d, c, transport.PathPunched)
}

// fakeServer arranges connections as the bootstrap server does, and
// relays over socket pairs.
type fakeServer struct {
	relay  bool
	pipes  *meeting
	mu     sync.Mutex
	nodes  map[string]*app.Node
	tokens int
	relays atomic.Int32 // relayed streams dialed (each side counts)
}

// client is the coordinator of the node with identity id.
type fakeClient struct {
	s  *fakeServer
	id string
}

func (c fakeClient) Server() (rendezvous.ServerInfo, bool) {
	return rendezvous.ServerInfo{Features: []string{wire.FeatureReach}, PublicAddr: netip.MustParseAddrPort("198.51.100.1:1")}, true
}

func (c fakeClient) Send(_ context.Context, m wire.ClientMessage) error {
	cm, ok := m.(wire.Connect)
	if !ok {
		return nil
	}
	s := c.s
	s.mu.Lock()
	from, to := s.nodes[c.id], s.nodes[cm.PeerID]
	s.tokens++
	token := ""
	if s.relay {
		token = fmt.Sprintf("tok%d", s.tokens)
	}
	s.mu.Unlock()
	if to == nil {
		from.ServerMessage(rendezvous.ServerInfo{}, wire.ConnectFailed{PeerID: cm.PeerID, Reason: wire.ReasonOffline, Proto: cm.Proto})
		return nil
	}
	// Different public IPs: each punches to the other's public address
	// (which the fake NAT ignores).
	offer := func(id string, port uint16) wire.ConnectOffer {
		return wire.ConnectOffer{PeerID: id, PublicAddr: netip.AddrPortFrom(netip.MustParseAddr("203.0.113.2"), port),
			LocalAddr: netip.MustParseAddrPort("192.168.1.2:1"), Token: token, Relay: token != "", Proto: cm.Proto}
	}
	to.ServerMessage(rendezvous.ServerInfo{}, offer(c.id, 2))
	from.ServerMessage(rendezvous.ServerInfo{}, offer(cm.PeerID, 3))
	return nil
}

func (s *fakeServer) dialRelay(ctx context.Context, token string) (net.Conn, error) {
	s.relays.Add(1)
	return s.pipes.meet(ctx, "relay:"+token)
}

// fakeNATs is alice and bob behind fake NATs, found through a real
// bootstrap server, with the fake coordinator and relay.
type fakeNATs struct {
	alice, bob *realNode
	srv        *fakeServer
	nats       []*fakeNAT // alice's, bob's
	punchFails *atomic.Bool
	bobKey     app.PeerKey // as alice sees bob
}

// startFakeNATs starts them, punching or not; adjust (if set) changes
// each node's options.
func startFakeNATs(t *testing.T, punchFails bool, adjust func(*nodeOpts)) *fakeNATs {
	t.Helper()
	url := startBootstrap(t)
	pipes := &meeting{m: map[string]chan net.Conn{}}
	f := &fakeNATs{srv: &fakeServer{relay: true, pipes: pipes, nodes: map[string]*app.Node{}}, punchFails: &atomic.Bool{}}
	f.punchFails.Store(punchFails)
	opts := func() nodeOpts {
		id, err := identity.Generate()
		if err != nil {
			t.Fatal(err)
		}
		self := id.ID().String()
		o := nodeOpts{id: id, server: url,
			wrap: func(tr *transport.Transport) app.Transport {
				nat := &fakeNAT{Transport: tr, self: self, pipes: pipes, punchFails: f.punchFails}
				f.nats = append(f.nats, nat)
				return nat
			},
			reach: func(*identity.Identity) *app.ReachConfig {
				return &app.ReachConfig{Server: fakeClient{f.srv, self}, RelayDial: f.srv.dialRelay,
					PunchWindow: 300 * time.Millisecond, HeadStart: 100 * time.Millisecond, RepunchInterval: 200 * time.Millisecond}
			}}
		if adjust != nil {
			adjust(&o)
		}
		return o
	}
	f.alice = startNodeWith(t, "alice", 0, opts())
	f.bob = startNodeWith(t, "bob", 0, opts())
	f.srv.mu.Lock()
	f.srv.nodes[f.alice.id.ID().String()], f.srv.nodes[f.bob.id.ID().String()] = f.alice.Node, f.bob.Node
	f.srv.mu.Unlock()
	f.bobKey = waitJoins(t, f.alice, "bob")["bob"]
	waitJoins(t, f.bob, "alice")
	return f
}

func TestReachOverFakeNATs(t *testing.T) {
	for _, tc := range []struct {
		name       string
		punchFails bool
		want       transport.Path
		idle       time.Duration
	}{
		{"punched", false, transport.PathPunched, 0},
		{"relayed when punching fails", true, transport.PathRelayed, 0},
		{"punched again after idle", false, transport.PathPunched, 400 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := startFakeNATs(t, tc.punchFails, func(o *nodeOpts) { o.idle = tc.idle })
			alice, bob, punchFails := f.alice, f.bob, f.punchFails
			keys := map[string]app.PeerKey{"bob": f.bobKey}

			start := time.Now()
			sent, err := alice.Send(context.Background(), keys["bob"], "through the NAT")
			if err != nil {
				t.Fatal(err)
			}
			if got := waitMsg(t, bob, "alice's message", func(m app.Message) bool { return !m.Outgoing }); got.Text != "through the NAT" {
				t.Fatalf("bob got %+v", got)
			}
			waitMsg(t, alice, "bob's acknowledgement", func(m app.Message) bool { return m.ID == sent.ID && m.State == store.Delivered })
			t.Logf("%s: first send to acknowledged in %v", tc.want, time.Since(start))
			waitFor(t, alice, "the path shown", func(e app.PathChanged) bool { return e.Peer.Path == tc.want })
			if p, _ := alice.Peer(keys["bob"]); p.Route() != "internet, "+tc.want.String() {
				t.Errorf("alice's route to bob: %q", p.Route())
			}
			// bob answers on the same connection: no attempt of its own.
			if _, err := bob.Send(context.Background(), app.PeerKey("id:"+alice.id.ID().String()), "and back"); err != nil {
				t.Fatal(err)
			}
			waitMsg(t, alice, "bob's reply", func(m app.Message) bool { return !m.Outgoing && m.Text == "and back" })

			if tc.idle > 0 {
				// The connection ends when idle; the next message
				// punches again instead of waiting on a dial.
				waitFor(t, alice, "the idle connection to end", func(e app.PathChanged) bool { return e.Peer.Path == transport.PathNone })
				if _, err := alice.Send(context.Background(), keys["bob"], "after idle"); err != nil {
					t.Fatal(err)
				}
				waitMsg(t, bob, "the message after idle", func(m app.Message) bool { return m.Text == "after idle" })
				waitFor(t, alice, "the path shown again", func(e app.PathChanged) bool { return e.Peer.Path == transport.PathPunched })
			}
			if tc.want != transport.PathRelayed {
				return
			}
			// Punching works later: the relayed connection is upgraded,
			// and messages go on the punched one.
			punchFails.Store(false)
			waitFor(t, alice, "the upgrade to punched", func(e app.PathChanged) bool { return e.Peer.Path == transport.PathPunched })
			if _, err := alice.Send(context.Background(), keys["bob"], "punched now"); err != nil {
				t.Fatal(err)
			}
			waitMsg(t, bob, "the message after the upgrade", func(m app.Message) bool { return m.Text == "punched now" })
		})
	}
}

func debugLog(t testing.TB, nick string) *slog.Logger {
	if os.Getenv("APP_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("node", nick)
}

// An offer for a peer that no source lists is ignored: a hostile server
// cannot make a node punch towards made-up peers.
func TestReachIgnoresOffersForUnknownPeers(t *testing.T) {
	url := startBootstrap(t)
	pipes := &meeting{m: map[string]chan net.Conn{}}
	srv := &fakeServer{pipes: pipes, nodes: map[string]*app.Node{}}
	punches := make(chan string, 10)
	id, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	alice := startNodeWith(t, "alice", 0, nodeOpts{id: id, server: url,
		wrap: func(tr *transport.Transport) app.Transport {
			return &fakeNAT{Transport: tr, self: id.ID().String(), pipes: pipes, punchFails: &atomic.Bool{}, punches: punches}
		},
		reach: func(*identity.Identity) *app.ReachConfig {
			return &app.ReachConfig{Server: fakeClient{srv, id.ID().String()}, PunchWindow: 100 * time.Millisecond}
		}})
	bob := startNodeWith(t, "bob", 0, nodeOpts{server: url})
	waitJoins(t, alice, "bob")
	offer := func(peer string) wire.ConnectOffer {
		return wire.ConnectOffer{PeerID: peer, PublicAddr: netip.MustParseAddrPort("203.0.113.3:4000"), LocalAddr: netip.MustParseAddrPort("0.0.0.0:4000")}
	}
	stranger, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	alice.ServerMessage(rendezvous.ServerInfo{}, offer(stranger.ID().String()))
	alice.ServerMessage(rendezvous.ServerInfo{}, offer(bob.id.ID().String()))
	select {
	case got := <-punches: // offers are handled in order
		if got != bob.id.ID().String() {
			t.Fatalf("punched towards %s, want only bob", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no punch towards bob")
	}
}
