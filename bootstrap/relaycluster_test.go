package bootstrap

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/parlance-chat/parlance/bootstrap/natsbus"
	"github.com/parlance-chat/parlance/net/identity"
	"github.com/parlance-chat/parlance/net/rendezvous"
)

// memBus is a Bus in memory. Like core NATS, it keeps each publisher's
// order per subject and drops what a subscriber does not take in time
// (its queue holds 4,096 messages).
type memBus struct {
	mu   sync.Mutex
	subs map[string][]*memSub
}

type memSub struct{ ch chan []byte }

func newMemBus() *memBus { return &memBus{subs: make(map[string][]*memSub)} }

func (b *memBus) Publish(subject string, data []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, sub := range b.subs[subject] {
		select {
		case sub.ch <- bytes.Clone(data):
		default:
		}
	}
	return nil
}

func (b *memBus) Subscribe(ctx context.Context, subject string, fn func([]byte)) error {
	sub := &memSub{ch: make(chan []byte, 4096)}
	b.mu.Lock()
	b.subs[subject] = append(b.subs[subject], sub)
	b.mu.Unlock()
	go func() {
		for {
			select {
			case <-ctx.Done():
				b.mu.Lock()
				b.subs[subject] = slices.DeleteFunc(b.subs[subject], func(s *memSub) bool { return s == sub })
				if len(b.subs[subject]) == 0 {
					delete(b.subs, subject)
				}
				b.mu.Unlock()
				return
			case d := <-sub.ch:
				fn(d)
			}
		}
	}()
	return nil
}

// subjects is how many subjects have subscribers.
func (b *memBus) subjects() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs)
}

// clusterRelay runs two servers on one in-memory bus, alice registered
// on the first and bob on the second, and a relay issued by the first.
func clusterRelay(t *testing.T) (s1, s2 *testServer, bus *memBus, alice, bob *rendezvous.Client, ida, idb *identity.Identity, token string) {
	bus = newMemBus()
	s1, s2, alice, bob, ida, idb, token = clusterRelayOn(t, bus, bus)
	return
}

// clusterRelayOn is clusterRelay on the servers' buses b1 and b2.
func clusterRelayOn(t testing.TB, b1, b2 Bus) (s1, s2 *testServer, alice, bob *rendezvous.Client, ida, idb *identity.Identity, token string) {
	// Rates high enough for bulk data not to wait.
	cfg := relayBenchConfig()
	cfg.Bus = b1
	s1 = startServer(t, cfg)
	cfg.Bus = b2
	s2 = startServer(t, cfg)
	alice, ida = runClient(t, s1, "alice")
	bob, idb = runClient(t, s2, "bob")
	waitFor(t, "bob known to the first server", func() bool { return s1.Stats().RemotePeers == 1 })
	token, ok := s1.issueRelay(ida.ID().String(), idb.ID().String())
	if !ok {
		t.Fatal("issueRelay refused a peer registered on another server")
	}
	return
}

// An end on another server is forwarded to the token's server over the
// bus; TLS runs across, bulk data (beyond the bus window) both ways.
func TestRelayAcrossServers(t *testing.T) {
	s1, s2, bus, alice, bob, ida, idb, tok := clusterRelay(t)
	relayAcross(t, s1, s2, alice, bob, ida, idb, tok)
	// Only the cluster's own subscriptions are left: the events, and
	// each server's deliveries and relay joins.
	waitFor(t, "the relay's bus subscriptions gone", func() bool { return bus.subjects() == 5 })
}

// The same over a real NATS server.
func TestRelayAcrossServersNATS(t *testing.T) {
	url := startNATS(t)
	b1, b2 := connectNATS(t, url, "s1"), connectNATS(t, url, "s2")
	s1, s2, alice, bob, ida, idb, tok := clusterRelayOn(t, b1, b2)
	relayAcross(t, s1, s2, alice, bob, ida, idb, tok)
}

func relayAcross(t *testing.T, s1, s2 *testServer, alice, bob *rendezvous.Client, ida, idb *identity.Identity, tok string) {
	ctx := context.Background()
	a, err := alice.DialRelay(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := bob.DialRelay(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ta, tb := tlsPair(t, a, b, ida, idb)
	big := make([]byte, 3<<20) // about 100 messages: past the bus window
	_, _ = rand.Read(big)
	for _, dir := range []struct {
		name string
		w, r net.Conn
	}{{"alice to bob", ta, tb}, {"bob to alice", tb, ta}} {
		errc := make(chan error, 1)
		go func() { _, err := dir.w.Write(big); errc <- err }()
		got := make([]byte, len(big))
		if _, err := io.ReadFull(dir.r, got); err != nil {
			t.Fatalf("%s: %v", dir.name, err)
		}
		if !bytes.Equal(got, big) {
			t.Fatalf("%s: other bytes arrived", dir.name)
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	if st1, st2 := s1.Stats(), s2.Stats(); st1.Relays != 1 || st2.Relays != 1 {
		t.Errorf("relays on the servers: %d and %d, want 1 each", st1.Relays, st2.Relays)
	}
	_ = ta.Close()
	if _, err := tb.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("after alice closed: %v, want EOF", err)
	}
	waitFor(t, "both relays done", func() bool {
		st1, st2 := s1.Stats(), s2.Stats()
		return st1.Relays+st2.Relays == 0 && st1.RelaysDone == 1 && st2.RelaysDone == 1
	})
	if st := s1.Stats(); st.RelayBytes < int64(2*len(big)) {
		t.Errorf("home relayed %d bytes, want at least %d", st.RelayBytes, 2*len(big))
	}
}

// startNATS runs an embedded NATS server on a free loopback port until
// the test ends and returns its URL.
func startNATS(tb testing.TB) string {
	tb.Helper()
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		tb.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		tb.Fatal("NATS server not ready")
	}
	tb.Cleanup(ns.Shutdown)
	return ns.ClientURL()
}

func connectNATS(tb testing.TB, url, name string) *natsbus.Bus {
	tb.Helper()
	b, err := natsbus.Connect(url, name)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = b.Close() })
	return b
}

// Both ends at a server that does not hold the token (a load balancer
// sent them there): both are forwarded. A used token is refused there
// too, by its home.
func TestRelayBothEndsElsewhere(t *testing.T) {
	s1, s2, _, _, _, _, _, tok := clusterRelay(t)
	a, _, _ := dialRelayRaw(t, s2, tok)
	b, _, _ := dialRelayRaw(t, s2, tok)
	if _, status, text := dialRelayRaw(t, s2, tok); status != 403 {
		t.Errorf("third end at the other server: %d %q, want 403", status, text)
	}
	_ = a.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if err := a.WriteMessage(2, []byte("through two servers")); err != nil {
		t.Fatal(err)
	}
	_ = b.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, m, err := b.ReadMessage(); err != nil || string(m) != "through two servers" {
		t.Fatalf("read %q, %v", m, err)
	}
	if st1, st2 := s1.Stats(), s2.Stats(); st1.Relays != 1 || st2.Relays != 2 {
		t.Errorf("relays: home %d, forwarding %d; want 1 and 2", st1.Relays, st2.Relays)
	}
	_ = s2.stop() // the forwarding server goes: the home's relay ends too
	waitFor(t, "home relay ended", func() bool { return s1.Stats().Relays == 0 })
}

// FuzzBusPortReceive feeds a port arbitrary messages from the bus: it
// never panics, never holds more than its window allows, and reads back
// in order what was numbered in order.
func FuzzBusPortReceive(f *testing.F) {
	data := func(n uint64, payload string) []byte {
		return append(binary.BigEndian.AppendUint64([]byte{portData}, n), payload...)
	}
	f.Add(data(0, "hello"), data(1, "world"), []byte{portClose, 3, 232})
	f.Add(data(1, "gap"), []byte{portAck, 0, 0, 0, 0, 0, 0, 0, 9}, []byte{portAccept, '{', '}'})
	f.Add([]byte(`j{"subject":"parlance.bootstrap.relayend.x","peers":["a","b"]}`), []byte{}, []byte{portClose})
	f.Fuzz(func(t *testing.T, m1, m2, m3 []byte) {
		s := New(Config{})
		p := &busPort{s: s, in: "in", accepted: make(chan relayAccept, 1), readable: make(chan struct{}, 1), writable: make(chan struct{}, 1)}
		for _, m := range [][]byte{m1, m2, m3} {
			p.receive(m)
		}
		p.mu.Lock()
		if len(p.inbox) > 2*busWindow || p.acked > p.sent || uint64(len(p.inbox)) != p.next {
			t.Fatalf("inbox %d, next %d, acked %d of %d", len(p.inbox), p.next, p.acked, p.sent)
		}
		if p.out != "" && !strings.HasPrefix(p.out, s.cfg.BusPrefix+subjectRelayEnd) {
			t.Fatalf("out %q", p.out)
		}
		p.mu.Unlock()
	})
}

// The home's limits of relays carrying bytes hold for an end forwarded
// by another server: it is refused there with 503, and the first end
// closed with 1013.
func TestRelaySpliceLimitAcrossServers(t *testing.T) {
	bus := newMemBus()
	s1 := startServer(t, Config{Bus: bus, MaxRelaysPerClient: 1})
	s2 := startServer(t, Config{Bus: bus, MaxRelaysPerClient: 1})
	_, ida := runClient(t, s1, "alice")
	_, idb := runClient(t, s2, "bob")
	waitFor(t, "bob known to the first server", func() bool { return s1.Stats().RemotePeers == 1 })
	tok1, ok1 := s1.issueRelay(ida.ID().String(), idb.ID().String())
	tok2, ok2 := s1.issueRelay(ida.ID().String(), idb.ID().String())
	if !ok1 || !ok2 {
		t.Fatal("issueRelay refused")
	}
	dialRelayRaw(t, s1, tok1)
	dialRelayRaw(t, s2, tok1)
	waitFor(t, "first relay spliced", func() bool { return s1.Stats().Relays == 1 })
	first, _, _ := dialRelayRaw(t, s1, tok2)
	if _, status, text := dialRelayRaw(t, s2, tok2); status != 503 {
		t.Errorf("forwarded end over the limit: %d %q, want 503", status, text)
	}
	_ = first.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := first.ReadMessage(); err == nil || !strings.Contains(err.Error(), "1013") {
		t.Errorf("first end: %v, want close 1013", err)
	}
}
