package line

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parlance-chat/parlance/app"
	"github.com/parlance-chat/parlance/net/discovery"
	"github.com/parlance-chat/parlance/net/transport"
	"github.com/parlance-chat/parlance/net/wire"
)

// BenchmarkFloodThenMessage is the attack of issue 11, item 5 on a whole
// app.Node with line mode reading its events: n forged announces (each a
// new peer) arrive as fast as the node takes them, then bob's message; the
// figure is the time from the message reaching the node to its line being
// written ("ms-to-shown"). announces=0 is the baseline in the same run.
func BenchmarkFloodThenMessage(b *testing.B) {
	for _, n := range []int{0, 100_000} {
		b.Run(fmt.Sprintf("announces=%d", n), func(b *testing.B) {
			var total time.Duration
			for b.Loop() {
				total += floodThenMessage(b, n)
			}
			b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms-to-shown")
		})
	}
}

// benchSource hands its handler to the benchmark.
type benchSource struct{ h chan discovery.Handler }

func (s *benchSource) Run(ctx context.Context, h discovery.Handler) error {
	s.h <- h
	<-ctx.Done()
	return nil
}
func (s *benchSource) SetNickname(string) {}

// benchTransport hands its inbound handler to the benchmark.
type benchTransport struct{ handle chan func(transport.Inbound) }

func (t *benchTransport) Port() uint16 { return 4242 }
func (t *benchTransport) Serve(ctx context.Context, handle func(transport.Inbound)) error {
	t.handle <- handle
	<-ctx.Done()
	return nil
}
func (t *benchTransport) SendBatchOn(context.Context, transport.Dest, []wire.Message, uint64) (transport.Sent, error) {
	return transport.Sent{}, nil
}
func (t *benchTransport) SendFrame(context.Context, transport.Dest, []byte) error         { return nil }
func (t *benchTransport) SendControl(context.Context, transport.Dest, wire.Control) error { return nil }
func (t *benchTransport) Close() error                                                    { return nil }

// watchWriter signals when a line containing marker is written.
type watchWriter struct {
	marker     []byte
	once       sync.Once
	seen       chan time.Time
	bannerOnce sync.Once
	banner     chan struct{} // closed when the start banner is written
}

func (w *watchWriter) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte("Parlance: you are")) {
		w.bannerOnce.Do(func() { close(w.banner) })
	}
	if bytes.Contains(p, w.marker) {
		w.once.Do(func() { w.seen <- time.Now() })
	}
	return len(p), nil
}

func floodThenMessage(b *testing.B, n int) time.Duration {
	src := &benchSource{h: make(chan discovery.Handler, 1)}
	tr := &benchTransport{handle: make(chan func(transport.Inbound), 1)}
	node, err := app.NewNode(app.Config{Nickname: "alice", Transport: tr, Sources: []discovery.Source{src}})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	nodeDone := make(chan error, 1)
	go func() { nodeDone <- node.Run(ctx) }()
	out := &watchWriter{marker: []byte("the real message"), seen: make(chan time.Time, 1), banner: make(chan struct{})}
	uiDone := make(chan error, 1)
	inR, inW := io.Pipe()
	go func() { uiDone <- Run(ctx, node, inR, out) }()
	h, handle := <-src.h, <-tr.handle
	// The UI prints its banner once it has read where the store stands:
	// a message before that would count as old and not be printed.
	select {
	case <-out.banner:
	case <-time.After(time.Minute):
		b.Fatal("no banner within a minute")
	}

	bobID := strings.Repeat("B", 52)
	h.Sighting(discovery.Sighting{Kind: discovery.Seen, Source: "lan", TTL: time.Minute, Peer: discovery.Peer{
		Nickname: "bob", Identity: bobID, Instance: "bob", Addr: netip.MustParseAddrPort("192.0.2.1:4000")}})
	for i := range n {
		id := fmt.Sprintf("%052d", i)
		h.Sighting(discovery.Sighting{Kind: discovery.Seen, Source: "lan", TTL: time.Minute, Peer: discovery.Peer{
			Nickname: "m" + id[46:], Identity: id, Instance: id, Addr: netip.MustParseAddrPort("192.0.2.66:4000")}})
	}
	start := time.Now()
	handle(transport.Inbound{Identity: bobID, Message: wire.Message{From: "bob", Content: "the real message", Timestamp: start.Unix()}})
	var shown time.Time
	select {
	case shown = <-out.seen:
	case <-time.After(2 * time.Minute):
		b.Fatal("message not shown within 2 minutes")
	}
	cancel()
	inW.Close()
	<-uiDone
	<-nodeDone
	return shown.Sub(start)
}
