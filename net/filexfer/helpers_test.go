package filexfer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/parlance-chat/parlance/net/identity"
	"github.com/parlance-chat/parlance/net/transport"
)

func TestMain(m *testing.M) {
	if os.Getenv(receiverEnv) != "" { // a process of BenchmarkChatLatencyTwoProcesses
		os.Exit(runBenchReceiver())
	}
	goleak.VerifyTestMain(m)
}

// waitFor bounds every wait (generous: the machine may be busy).
const waitFor = 60 * time.Second

// network maps peer IDs to addresses, like the node's registry.
type network struct {
	mu    sync.Mutex
	addrs map[string]netip.AddrPort
}

func newNetwork() *network { return &network{addrs: make(map[string]netip.AddrPort)} }

func (n *network) set(id string, a netip.AddrPort) {
	n.mu.Lock()
	n.addrs[id] = a
	n.mu.Unlock()
}

func (n *network) dest(id string) transport.Dest {
	n.mu.Lock()
	defer n.mu.Unlock()
	return transport.Dest{Addr: n.addrs[id], Identity: id}
}

// peer is a transport plus an engine, as a node will wire them.
type peer struct {
	tb      testing.TB
	net     *network
	id      *identity.Identity
	cfg     Config // the engine's, for restarts
	tr      *transport.Transport
	stopSrv func()
	eng     atomic.Pointer[Engine]
	events  chan Event
	// wrap, if set, wraps every stream this peer dials.
	wrap atomic.Pointer[func(io.ReadWriteCloser) io.ReadWriteCloser]
}

// newPeer starts a peer; cfg's DownloadDir defaults to a temporary one.
func newPeer(tb testing.TB, n *network, cfg Config) *peer {
	tb.Helper()
	id, err := identity.Generate()
	if err != nil {
		tb.Fatal(err)
	}
	if cfg.DownloadDir == "" {
		cfg.DownloadDir = tb.TempDir()
	}
	if cfg.Store == nil {
		cfg.Store = NewMemStore()
	}
	if cfg.RetryMin == 0 {
		cfg.RetryMin = 10 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	p := &peer{tb: tb, net: n, id: id, cfg: cfg, events: make(chan Event, 1000)}
	p.start()
	tb.Cleanup(p.stop)
	return p
}

func (p *peer) ID() string { return p.id.ID().String() }

// start runs the transport and the engine.
func (p *peer) start() {
	tb := p.tb
	tr, err := transport.Listen(transport.Config{Identity: p.id, ListenAddr: "127.0.0.1:0", Logger: p.cfg.Logger})
	if err != nil {
		tb.Fatal(err)
	}
	if err := tr.HandleStream(ALPN, func(ctx context.Context, s *transport.Stream) {
		if e := p.eng.Load(); e != nil {
			e.ServeConn(ctx, s.Peer(), s)
		}
	}); err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() {
		defer close(served)
		tr.Serve(ctx, func(transport.Inbound) {})
	}()
	p.tr = tr
	p.stopSrv = func() { cancel(); tr.Close(); <-served }
	p.net.set(p.ID(), netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), tr.Port()))

	cfg := p.cfg
	cfg.Dial = func(ctx context.Context, peer string) (io.ReadWriteCloser, error) {
		s, err := tr.OpenStream(ctx, p.net.dest(peer), ALPN)
		if err != nil {
			return nil, err
		}
		if w := p.wrap.Load(); w != nil {
			return (*w)(s), nil
		}
		return s, nil
	}
	cfg.OnEvent = func(ev Event) {
		select {
		case p.events <- ev:
		default:
			tb.Errorf("event channel full")
		}
	}
	e, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	p.eng.Store(e)
}

// stop closes the engine and the transport (a restart, or the test's end).
func (p *peer) stop() {
	if e := p.eng.Swap(nil); e != nil {
		e.Close()
	}
	if p.stopSrv != nil {
		p.stopSrv()
		p.stopSrv = nil
	}
}

func (p *peer) restart() {
	p.stop()
	p.start()
}

func (p *peer) engine() *Engine { return p.eng.Load() }

// await reads events until one of kind for transfer id (any id if "")
// arrives, and returns it. Events of a final kind it does not expect fail
// the test.
func (p *peer) await(kind EventKind, id string) Event {
	p.tb.Helper()
	timeout := time.After(waitFor)
	for {
		select {
		case ev := <-p.events:
			if id != "" && ev.Transfer.ID != id {
				continue
			}
			if ev.Kind == kind {
				return ev
			}
			if ev.Kind.Final() {
				p.tb.Fatalf("got %v (%s), waiting for %v", ev.Kind, ev.Transfer.Error, kind)
			}
		case <-timeout:
			p.tb.Fatalf("no %v event for %q", kind, id)
		}
	}
}

// writeFile writes size pseudo-random bytes to a file in a new temporary
// directory and returns its path and SHA-256.
func writeFile(tb testing.TB, name string, size int64) (string, [32]byte) {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), name)
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	r := rand.NewChaCha8([32]byte{byte(size), byte(size >> 8)})
	if _, err := io.CopyN(io.MultiWriter(f, h), r, size); err != nil {
		tb.Fatal(err)
	}
	var sum [32]byte
	h.Sum(sum[:0])
	return path, sum
}

func fileHash(tb testing.TB, path string) [32]byte {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		tb.Fatal(err)
	}
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}

// dirNames lists a directory.
func dirNames(tb testing.TB, dir string) []string {
	tb.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// gate wraps the first stream a peer dials: after `after` bytes read it
// signals reached and then holds the reader until release is closed (or
// the stream is closed); then, with drop, it ends the stream.
type gate struct {
	after   int64
	drop    bool
	reached chan struct{}
	release chan struct{}
	used    atomic.Bool
}

func newGate(after int64, drop bool) *gate {
	return &gate{after: after, drop: drop, reached: make(chan struct{}), release: make(chan struct{})}
}

// install makes p's next dialled stream a gated one.
func (g *gate) install(p *peer) {
	w := func(c io.ReadWriteCloser) io.ReadWriteCloser {
		if g.used.Swap(true) {
			return c
		}
		return &gatedConn{ReadWriteCloser: c, g: g, closed: make(chan struct{})}
	}
	p.wrap.Store(&w)
}

type gatedConn struct {
	io.ReadWriteCloser
	g      *gate
	read   int64
	once   sync.Once
	closed chan struct{}
	cOnce  sync.Once
}

func (c *gatedConn) Read(b []byte) (int, error) {
	if c.read >= c.g.after {
		c.once.Do(func() { close(c.g.reached) })
		select {
		case <-c.g.release:
		case <-c.closed:
			return 0, errors.New("gate: closed")
		}
		if c.g.drop {
			c.Close()
			return 0, errors.New("gate: connection dropped")
		}
	}
	if rest := c.g.after - c.read; rest > 0 && int64(len(b)) > rest {
		b = b[:rest]
	}
	n, err := c.ReadWriteCloser.Read(b)
	c.read += int64(n)
	return n, err
}

func (c *gatedConn) Close() error {
	c.cOnce.Do(func() { close(c.closed) })
	return c.ReadWriteCloser.Close()
}

func waitClosed(tb testing.TB, ch <-chan struct{}, what string) {
	tb.Helper()
	select {
	case <-ch:
	case <-time.After(waitFor):
		tb.Fatalf("timed out waiting for %s", what)
	}
}

func equalBytes(a, b [32]byte) bool { return bytes.Equal(a[:], b[:]) }
