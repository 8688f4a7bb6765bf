package lan

import (
	"context"
	"encoding/json"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/net/ipv4"

	"github.com/parlance-chat/parlance/net/discovery"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// Every test on real sockets uses interface "lo" and a port of its own:
// a random base in 20000-29000 plus a counter, never DefaultPort.
const testInterface = "lo"

var (
	portBase = 20000 + rand.IntN(9000)
	portSeq  atomic.Int32
	tcpSeq   atomic.Int32
)

func testPort() uint16 { return uint16(portBase + int(portSeq.Add(1))) }

// waitTimeout bounds every wait for a datagram or sighting. It is well
// under the tests' AnnounceInterval, so a test that passes shows that
// what it waited for did not need the periodic announce.
const (
	waitTimeout          = 5 * time.Second
	testAnnounceInterval = 10 * time.Second
)

var loopback = netip.MustParseAddr("127.0.0.1")

// recorder is a discovery.Handler that keeps every sighting.
type recorder struct {
	mu        sync.Mutex
	sightings []discovery.Sighting
	times     []time.Time // when each sighting was reported
	notify    chan struct{}
}

func newRecorder() *recorder { return &recorder{notify: make(chan struct{}, 1)} }

func (r *recorder) Sighting(s discovery.Sighting) {
	r.mu.Lock()
	r.sightings = append(r.sightings, s)
	r.times = append(r.times, time.Now())
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

func (r *recorder) State(discovery.State) {}

func (r *recorder) all() []discovery.Sighting {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]discovery.Sighting(nil), r.sightings...)
}

// waitFor waits until a sighting matches, and fails the test after
// waitTimeout.
func (r *recorder) waitFor(tb testing.TB, what string, match func(discovery.Sighting) bool) discovery.Sighting {
	tb.Helper()
	s, _ := r.waitForAt(tb, what, match)
	return s
}

// waitForAt is waitFor that also returns when the sighting was reported.
func (r *recorder) waitForAt(tb testing.TB, what string, match func(discovery.Sighting) bool) (discovery.Sighting, time.Time) {
	tb.Helper()
	timeout := time.NewTimer(waitTimeout)
	defer timeout.Stop()
	for {
		r.mu.Lock()
		for i, s := range r.sightings {
			if match(s) {
				at := r.times[i]
				r.mu.Unlock()
				return s, at
			}
		}
		r.mu.Unlock()
		select {
		case <-r.notify:
		case <-timeout.C:
			tb.Fatalf("timed out after %v waiting for %s; sightings: %+v", waitTimeout, what, r.all())
		}
	}
}

// node is a Discovery on lo with its recorder.
type node struct {
	d      *Discovery
	self   discovery.Self
	rec    *recorder
	cancel context.CancelFunc
	done   chan error
}

func loConfig(tb testing.TB, port uint16, nickname string) Config {
	return Config{
		Port:             port,
		Interface:        testInterface,
		AnnounceInterval: testAnnounceInterval,
		PeerTimeout:      30 * time.Second,
		Self: discovery.Self{
			Nickname: nickname,
			Identity: "id-" + randomInstance(),
			TCPPort:  uint16(40000 + tcpSeq.Add(1)),
		},
		Logger: testLogger(tb),
	}
}

// newNode opens a Discovery (not yet running) and arranges for it to be
// stopped or closed when the test ends.
func newNode(tb testing.TB, cfg Config) *node {
	tb.Helper()
	if cfg.Interface != testInterface || cfg.Port == DefaultPort {
		tb.Fatalf("test config must pin interface %q and a test port, got %q port %d", testInterface, cfg.Interface, cfg.Port)
	}
	d, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	n := &node{d: d, self: d.cfg.Self, rec: newRecorder()}
	tb.Cleanup(func() {
		if n.done != nil {
			n.stop(tb)
		} else {
			_ = d.Close()
		}
	})
	return n
}

func (n *node) start() {
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel, n.done = cancel, make(chan error, 1)
	go func() { n.done <- n.d.Run(ctx, n.rec) }()
}

// stop cancels Run and waits for it; it may be called more than once.
func (n *node) stop(tb testing.TB) {
	tb.Helper()
	n.cancel()
	select {
	case err, ok := <-n.done:
		if ok && err != nil {
			tb.Errorf("Run: %v", err)
		}
		if ok {
			close(n.done)
		}
	case <-time.After(waitTimeout):
		tb.Fatalf("Run did not return within %v of cancel", waitTimeout)
	}
}

// sees matches an announce of other, with its address.
func (n *node) sees(other *node) func(discovery.Sighting) bool {
	addr := netip.AddrPortFrom(loopback, other.self.TCPPort)
	return func(s discovery.Sighting) bool {
		return s.Kind == discovery.Seen && s.Peer.Instance == other.self.Instance &&
			s.Peer.Identity == other.self.Identity && s.Peer.Addr == addr
	}
}

// logCounter is a slog handler that writes to the test's output and
// counts the records whose message starts with a prefix.
type logCounter struct {
	slog.Handler
	prefix string
	n      *atomic.Int32
}

func (h logCounter) Enabled(context.Context, slog.Level) bool { return true }

func (h logCounter) Handle(ctx context.Context, r slog.Record) error {
	if h.prefix != "" && strings.HasPrefix(r.Message, h.prefix) {
		h.n.Add(1)
	}
	return h.Handler.Handle(ctx, r)
}

func (h logCounter) WithAttrs(as []slog.Attr) slog.Handler {
	h.Handler = h.Handler.WithAttrs(as)
	return h
}

func (h logCounter) WithGroup(name string) slog.Handler {
	h.Handler = h.Handler.WithGroup(name)
	return h
}

func testLogger(tb testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tb.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// countingLogger logs to the test's output and counts records whose
// message starts with prefix.
func countingLogger(tb testing.TB, prefix string) (*slog.Logger, *atomic.Int32) {
	n := new(atomic.Int32)
	h := slog.NewTextHandler(tb.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})
	return slog.New(logCounter{Handler: h, prefix: prefix, n: n}), n
}

func loInterface(tb testing.TB) *net.Interface {
	tb.Helper()
	ifi, err := net.InterfaceByName(testInterface)
	if err != nil {
		tb.Fatal(err)
	}
	return ifi
}

// plainSender is a socket like the original's sender: plain UDP, with
// only the multicast interface set (to lo).
type plainSender struct {
	conn *net.UDPConn
	dst  netip.AddrPort
}

func newPlainSender(tb testing.TB, port uint16) *plainSender {
	tb.Helper()
	conn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, 0)))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = conn.Close() })
	if err := ipv4.NewPacketConn(conn).SetMulticastInterface(loInterface(tb)); err != nil {
		tb.Fatal(err)
	}
	return &plainSender{conn: conn, dst: netip.AddrPortFrom(DefaultGroup, port)}
}

func (s *plainSender) send(tb testing.TB, b []byte) {
	tb.Helper()
	_ = s.conn.SetWriteDeadline(time.Now().Add(waitTimeout))
	if _, err := s.conn.WriteToUDPAddrPort(b, s.dst); err != nil {
		tb.Fatalf("send %d bytes: %v", len(b), err)
	}
}

// newPlainReceiver is a plain socket that joined the group on lo.
func newPlainReceiver(tb testing.TB, port uint16) *net.UDPConn {
	tb.Helper()
	conn, err := net.ListenMulticastUDP("udp4", loInterface(tb), net.UDPAddrFromAddrPort(netip.AddrPortFrom(DefaultGroup, port)))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = conn.Close() })
	return conn
}

// receiveFrom reads datagrams until one is a JSON object that matches, and
// returns its bytes and source.
func receiveFrom(tb testing.TB, conn *net.UDPConn, match func(raw map[string]any) bool) ([]byte, netip.AddrPort) {
	tb.Helper()
	buf := make([]byte, 1<<16)
	if err := conn.SetReadDeadline(time.Now().Add(waitTimeout)); err != nil {
		tb.Fatal(err)
	}
	for {
		n, src, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			tb.Fatalf("receive: %v", err)
		}
		var raw map[string]any
		if json.Unmarshal(buf[:n], &raw) == nil && match(raw) {
			return append([]byte(nil), buf[:n]...), src
		}
	}
}

func fromInstance(instance string) func(map[string]any) bool {
	return func(raw map[string]any) bool { return raw["instance"] == instance }
}
