package lan

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/parlance-chat/parlance/net/discovery"
	"github.com/parlance-chat/parlance/net/wire"
)

// Tests of Run's timing on a fake network, in a synctest bubble: time is
// fake, so intervals and gaps are checked exactly and at once.

type fakePacket struct {
	b   []byte
	src netip.Addr
}

type fakeReceiver struct {
	in        chan fakePacket
	closed    chan struct{}
	closeOnce sync.Once
}

func (r *fakeReceiver) Receive(b []byte) (int, netip.Addr, error) {
	select {
	case p := <-r.in:
		return copy(b, p.b), p.src, nil
	case <-r.closed:
		return 0, netip.Addr{}, net.ErrClosed
	}
}

func (r *fakeReceiver) Close() error {
	r.closeOnce.Do(func() { close(r.closed) })
	return nil
}

type fakeSender struct {
	mu   sync.Mutex
	sent []wire.Datagram
}

func (s *fakeSender) Send(b []byte, deadline time.Time) error {
	dg, err := wire.ParseDatagram(b)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.sent = append(s.sent, dg)
	s.mu.Unlock()
	return nil
}

func (s *fakeSender) Close() error       { return nil }
func (s *fakeSender) String() string     { return "fake0" }
func (s *fakeSender) Source() netip.Addr { return fakeOwnAddr }

// fakeOwnAddr is the address a fake node sends from.
var fakeOwnAddr = netip.MustParseAddr("192.0.2.1")

func (s *fakeSender) all() []wire.Datagram {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]wire.Datagram(nil), s.sent...)
}

type fakeNode struct {
	d      *Discovery
	recv   *fakeReceiver
	send   *fakeSender
	rec    *recorder
	cancel context.CancelFunc
	done   chan error
}

var fakeSrc = netip.MustParseAddr("192.0.2.7")

// newFakeNode makes a Discovery on a fake network; call it inside a
// synctest bubble.
func newFakeNode(t *testing.T, cfg Config) *fakeNode {
	t.Helper()
	cfg.Logger = testLogger(t)
	if cfg.Self.Nickname == "" {
		cfg.Self = discovery.Self{Nickname: "alice", Identity: "id-alice", Instance: "inst-alice", TCPPort: 5000}
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeNode{
		recv: &fakeReceiver{in: make(chan fakePacket), closed: make(chan struct{})},
		send: &fakeSender{},
		rec:  newRecorder(),
	}
	f.d = newDiscovery(cfg, f.recv, []sender{f.send})
	return f
}

func (f *fakeNode) start() {
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel, f.done = cancel, make(chan error, 1)
	go func() { f.done <- f.d.Run(ctx, f.rec) }()
	synctest.Wait()
}

func (f *fakeNode) stop(t *testing.T) {
	t.Helper()
	f.cancel()
	if err := <-f.done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

// deliver hands a datagram to the node and waits until it is handled.
func (f *fakeNode) deliver(t *testing.T, dg wire.Datagram) {
	t.Helper()
	b, err := dg.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	f.recv.in <- fakePacket{b: b, src: fakeSrc}
	synctest.Wait()
}

// announces counts the announces sent so far.
func (f *fakeNode) announces() int {
	n := 0
	for _, dg := range f.send.all() {
		if dg.Type == wire.TypeAnnounce {
			n++
		}
	}
	return n
}

func (f *fakeNode) wantAnnounces(t *testing.T, when string, want int) {
	t.Helper()
	if got := f.announces(); got != want {
		t.Errorf("%s: %d announces sent, want %d", when, got, want)
	}
}

// peerAnnounce is the announce of a peer named bob, run as instance,
// with identity "id-"+instance.
func peerAnnounce(instance string) wire.Datagram {
	return wire.Datagram{Type: wire.TypeAnnounce, Nickname: "bob", TCPPort: 4242, Instance: instance, Identity: "id-" + instance}
}

func TestPeriodicAnnounce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeNode(t, Config{AnnounceInterval: 5 * time.Second})
		f.start()
		f.wantAnnounces(t, "at start", 1)
		time.Sleep(5 * time.Second)
		synctest.Wait()
		f.wantAnnounces(t, "after one interval", 2)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		f.wantAnnounces(t, "after three intervals", 4)
		f.stop(t)

		sent := f.send.all()
		want := wire.Datagram{Type: wire.TypeAnnounce, Nickname: "alice", TCPPort: 5000, Instance: "inst-alice", Identity: "id-alice"}
		if sent[0] != want {
			t.Errorf("announce = %+v, want %+v", sent[0], want)
		}
		bye := wire.Datagram{Type: wire.TypeGoodbye, Nickname: "alice", Instance: "inst-alice", Identity: "id-alice"}
		if last := sent[len(sent)-1]; last != bye {
			t.Errorf("last datagram = %+v, want goodbye %+v", last, bye)
		}
	})
}

func TestReannounceCoalesces(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeNode(t, Config{AnnounceInterval: time.Hour, PeerTimeout: time.Hour, ReannounceGap: time.Second})
		f.start()
		f.wantAnnounces(t, "at start", 1)

		f.deliver(t, peerAnnounce("peer0"))
		f.wantAnnounces(t, "after the first new peer", 2)
		for i := 1; i < 50; i++ {
			f.deliver(t, peerAnnounce(fmt.Sprint("peer", i)))
		}
		f.wantAnnounces(t, "after 49 more new peers within the gap", 2)
		time.Sleep(time.Second)
		synctest.Wait()
		f.wantAnnounces(t, "at the end of the gap", 3)
		time.Sleep(time.Minute)
		synctest.Wait()
		f.wantAnnounces(t, "a minute later", 3)

		f.deliver(t, peerAnnounce("peer0"))
		f.wantAnnounces(t, "after a known peer", 3)
		f.deliver(t, peerAnnounce("peer-new"))
		f.wantAnnounces(t, "after a new peer past the gap", 4)

		if got := len(f.rec.all()); got != 52 {
			t.Errorf("%d sightings, want 52 (one per announce)", got)
		}
		f.stop(t)
	})
}

func TestLikeOriginalAnnouncesOnlyOnTheInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeNode(t, Config{AnnounceInterval: 5 * time.Second, ReannounceGap: time.Second, LikeOriginal: true})
		f.start()
		f.wantAnnounces(t, "at start", 1)
		for i := range 3 {
			f.deliver(t, peerAnnounce(fmt.Sprint("peer", i)))
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		f.wantAnnounces(t, "after new peers", 1)
		time.Sleep(3 * time.Second)
		synctest.Wait()
		f.wantAnnounces(t, "after one interval", 2)
		if got := len(f.rec.all()); got != 3 {
			t.Errorf("%d sightings, want 3", got)
		}
		f.stop(t)
		for _, dg := range f.send.all() {
			if dg.Type == wire.TypeGoodbye {
				t.Errorf("goodbye sent: %+v", dg)
			}
		}
	})
}

func TestReannounceAfterExpiryAndGoodbye(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeNode(t, Config{AnnounceInterval: time.Hour, PeerTimeout: 15 * time.Second, ReannounceGap: time.Second})
		f.start()
		f.deliver(t, peerAnnounce("bob"))
		f.wantAnnounces(t, "new peer", 2)

		time.Sleep(2 * time.Second)
		f.deliver(t, peerAnnounce("bob"))
		f.wantAnnounces(t, "peer heard again", 2)

		time.Sleep(16 * time.Second)
		f.deliver(t, peerAnnounce("bob"))
		f.wantAnnounces(t, "peer back after expiry", 3)

		bye := peerAnnounce("bob")
		bye.Type, bye.TCPPort = wire.TypeGoodbye, 0
		f.deliver(t, bye)
		f.deliver(t, peerAnnounce("bob"))
		f.wantAnnounces(t, "peer back after goodbye, within the gap", 3)
		time.Sleep(time.Second)
		synctest.Wait()
		f.wantAnnounces(t, "peer back after goodbye, at the end of the gap", 4)

		gone := f.rec.all()[3]
		want := discovery.Sighting{
			Kind:   discovery.Gone,
			Source: SourceName,
			Reason: "goodbye",
			Peer:   discovery.Peer{Nickname: "bob", Identity: "id-bob", Instance: "bob", Addr: netip.AddrPortFrom(fakeSrc, 0)},
		}
		if gone != want {
			t.Errorf("goodbye sighting = %+v, want %+v", gone, want)
		}
		f.stop(t)
	})
}

func TestOwnDatagramsIgnored(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeNode(t, Config{})
		f.start()
		own := peerAnnounce("inst-alice")
		f.deliver(t, own)
		own.Type, own.TCPPort = wire.TypeGoodbye, 0
		f.deliver(t, own)
		if got := f.rec.all(); len(got) != 0 {
			t.Errorf("sightings of own datagrams: %+v", got)
		}
		f.wantAnnounces(t, "after own datagrams", 1)
		f.stop(t)
	})
}

func TestSetNickname(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeNode(t, Config{AnnounceInterval: time.Hour})
		f.d.SetNickname("early")
		f.start()
		f.wantAnnounces(t, "at start after SetNickname", 1)

		f.d.SetNickname("carol")
		synctest.Wait()
		f.d.SetNickname(" bad name")
		synctest.Wait()
		f.stop(t)

		var names []string
		for _, dg := range f.send.all() {
			names = append(names, dg.Type+":"+dg.Nickname)
		}
		want := []string{"announce:early", "announce:carol", "goodbye:carol"}
		if len(names) != len(want) {
			t.Fatalf("sent %v, want %v", names, want)
		}
		for i := range want {
			if names[i] != want[i] {
				t.Fatalf("sent %v, want %v", names, want)
			}
		}
	})
}

func TestHandlerGetsNothingAfterRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeNode(t, Config{})
		f.start()
		f.deliver(t, peerAnnounce("bob"))
		f.stop(t)
		// Run returned: the reader is gone, and the receiver is closed.
		select {
		case f.recv.in <- fakePacket{b: []byte(`{}`), src: fakeSrc}:
			t.Error("a reader is still running after Run returned")
		default:
		}
		if got := len(f.rec.all()); got != 1 {
			t.Errorf("%d sightings, want 1", got)
		}
	})
}
