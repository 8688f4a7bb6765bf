// Package messagingbench measures messaging end to end between two whole
// Parlance nodes on loopback: from just before alice's Node.Send to the
// moment bob's MessageReceived event is read from his event channel.
//
// Three methods: (a) the kept-open plaintext connection, (b) the kept-open
// TLS 1.3 connection, (c) the original's method, a new TCP connection per
// message (transport.Config.ConnPerMessage, plaintext). Under three loads:
//
//   - ping-pong: the next message is sent when the previous one arrived;
//     one-way latency of an unloaded link.
//   - flood: alice sends back to back from one goroutine; the throughput.
//   - paced: a fixed rate (open loop: latency counts from when a message
//     was due, so a stalled sender does not hide its delay); latency
//     under a steady load.
//
// Messages carry 100 bytes of text.
package messagingbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/parlance-chat/parlance/app"
	"github.com/parlance-chat/parlance/cmd/parlance-bench/internal/report"
	"github.com/parlance-chat/parlance/net/discovery"
	"github.com/parlance-chat/parlance/net/identity"
	"github.com/parlance-chat/parlance/net/transport"
)

// Scenario is the name rows carry.
const Scenario = "messaging"

// ContentSize is the length of every message's text.
const ContentSize = 100

// Config says what to measure.
type Config struct {
	// Duration of each load of each method.
	Duration time.Duration
	// Rate of the paced load, in messages a second.
	Rate int
	// Progress receives a line per step (may be nil).
	Progress io.Writer
}

// Method is a way of carrying messages.
type Method struct {
	Label string // "(a) plain"
	TLS   bool
	// ConnPerMessage: a new TCP connection per message, as the original.
	ConnPerMessage bool
}

// Methods are the three compared.
var Methods = []Method{
	{Label: "(a) plain"},
	{Label: "(b) tls", TLS: true},
	{Label: "(c) conn-per-msg", ConnPerMessage: true},
}

// Result is what one method measured.
type Result struct {
	PingPong   Latency `json:"pingpong"`
	Flood      Flood   `json:"flood"`
	Paced      Latency `json:"paced"`
	PacedRate  int     `json:"paced_rate"`
	Dials      uint64  `json:"dials"`
	DropEvents uint64  `json:"dropped_events"`
}

// Latency is a latency distribution.
type Latency = report.Latency

// Flood is the outcome of the flood load.
type Flood struct {
	Messages  int     `json:"messages"`
	PerSecond float64 `json:"msgs_per_s"`
	// EventsDropped counts the MessageReceived events bob's node dropped
	// because its event channel was full (the messages were stored).
	EventsDropped uint64 `json:"events_dropped"`
}

// Run measures every method and adds the rows and notes to rep.
func Run(ctx context.Context, cfg Config, rep *report.Report) error {
	if cfg.Duration <= 0 || cfg.Rate <= 0 {
		return errors.New("messaging: duration and rate must be positive")
	}
	progress := cfg.Progress
	if progress == nil {
		progress = io.Discard
	}
	results := make([]*Result, len(Methods))
	for i, m := range Methods {
		fmt.Fprintf(progress, "messaging: %s, 3 loads of %v\n", m.Label, cfg.Duration)
		r, err := Measure(ctx, m, cfg)
		if err != nil {
			return fmt.Errorf("messaging %s: %w", m.Label, err)
		}
		results[i] = r
		rep.Detail("messaging "+m.Label, r)
	}
	addRows(rep, cfg, results)
	rep.Note(Scenario, "Two whole nodes (app.Node + transport) on 127.0.0.1, 100-byte messages; one-way latency from just before alice's Node.Send to bob's MessageReceived event read from his channel (one clock).")
	rep.Note(Scenario, "unloaded: ping-pong, one message in flight. throughput: flood from one goroutine, messages received ÷ time from the first send to the last arrival. loaded: open-loop at %d msgs/s for %v (latency counted from when each message was due).", cfg.Rate, cfg.Duration)
	rep.Note(Scenario, "events dropped: the share of MessageReceived events bob's node dropped during the flood because its 4096-event channel was full (the node never blocks the network on its reader). The messages themselves were received and stored; throughput counts them where bob's transport hands them to his node.")
	rep.Note(Scenario, "(c) is the original's method: dial, write one line, close, for every message (plaintext). go test -bench Messages ./net/transport measures the transport alone.")
	return nil
}

func addRows(rep *report.Report, cfg Config, rs []*Result) {
	a, c := rs[0], rs[2]
	us := func(d time.Duration) float64 { return report.Us(d) }
	for i, m := range Methods {
		r := rs[i]
		var p50T, tputT *report.Target
		switch i {
		case 0:
			p50T = &report.Target{Op: "<", Value: 50}
			tputT = &report.Target{Op: ">", Value: 200_000}
		case 1:
			lim := 1.5 * us(a.PingPong.P50)
			p50T = &report.Target{Op: "<=", Value: lim, Text: fmt.Sprintf("≤ 1.5×(a) = %s µs", report.FormatNumber(lim))}
			floor := a.Flood.PerSecond / 1.5
			tputT = &report.Target{Op: ">=", Value: floor, Text: fmt.Sprintf("≥ (a)/1.5 = %s msgs/s", report.FormatNumber(floor))}
		}
		base := func(row report.Row, v float64) report.Row {
			if i == 2 {
				return row
			}
			return row.WithBaseline("(c)", v)
		}
		rep.Add(
			base(report.NewRow(Scenario, m.Label+": latency p50, unloaded", us(r.PingPong.P50), "µs", p50T), us(c.PingPong.P50)),
			base(report.NewRow(Scenario, m.Label+": latency p99, unloaded", us(r.PingPong.P99), "µs", nil), us(c.PingPong.P99)),
			base(report.NewRow(Scenario, m.Label+": throughput", r.Flood.PerSecond, "msgs/s", tputT), c.Flood.PerSecond),
			base(report.NewRow(Scenario, fmt.Sprintf("%s: latency p50 at %s msgs/s", m.Label, report.FormatNumber(float64(r.PacedRate))), us(r.Paced.P50), "µs", nil), us(c.Paced.P50)),
			base(report.NewRow(Scenario, fmt.Sprintf("%s: latency p99 at %s msgs/s", m.Label, report.FormatNumber(float64(r.PacedRate))), us(r.Paced.P99), "µs", nil), us(c.Paced.P99)),
			report.NewRow(Scenario, m.Label+": UI events dropped in the flood", 100*float64(r.Flood.EventsDropped)/float64(max(r.Flood.Messages, 1)), "%", nil),
		)
	}
}

// pair is two nodes, alice sending to bob, and bob's event reader.
type pair struct {
	alice, bob     *app.Node
	aliceTr, bobTr *transport.Transport
	to             app.PeerKey
	cancel         context.CancelFunc
	done           chan error // one result per node
	read           chan struct{}
	stop           chan struct{} // closed after the nodes stopped: readBob returns
	base           time.Time
	cur            atomic.Pointer[load]
	nextLoad       int
}

// load is the record of one load: when each message was sent (or due)
// and when it arrived, in nanoseconds since the pair's base.
type load struct {
	id      string // two digits at the start of every message
	sent    []atomic.Int64
	arrived []int64 // written by the reader only
	got     atomic.Int64
	signal  chan int // ping-pong: each arrival's index
}

// Measure runs the three loads over one method.
func Measure(ctx context.Context, m Method, cfg Config) (*Result, error) {
	p, err := newPair(m)
	if err != nil {
		return nil, err
	}
	defer p.close()
	res := &Result{PacedRate: cfg.Rate}
	if _, err := p.pingPong(ctx, 200, time.Second); err != nil { // warm up: dial, handshake
		return nil, fmt.Errorf("warm up: %w", err)
	}
	if res.PingPong, err = p.pingPong(ctx, 1<<30, cfg.Duration); err != nil {
		return nil, fmt.Errorf("ping-pong: %w", err)
	}
	if res.Flood, err = p.flood(ctx, cfg.Duration); err != nil {
		return nil, fmt.Errorf("flood: %w", err)
	}
	if res.Paced, err = p.paced(ctx, cfg.Rate, cfg.Duration); err != nil {
		return nil, fmt.Errorf("paced: %w", err)
	}
	res.Dials = p.aliceTr.Stats().Dials
	res.DropEvents = p.bob.DroppedEvents()
	if !m.ConnPerMessage && res.Dials != 1 {
		return nil, fmt.Errorf("%d dials over a kept connection", res.Dials)
	}
	return res, p.close()
}

// staticSource reports one peer, once, and never loses it.
type staticSource struct{ peer discovery.Peer }

func (s staticSource) Run(ctx context.Context, h discovery.Handler) error {
	h.Sighting(discovery.Sighting{Kind: discovery.Seen, Peer: s.peer, Source: "static"})
	<-ctx.Done()
	return nil
}

func (staticSource) SetNickname(string) {}

func newPair(m Method) (*pair, error) {
	var aliceID, bobID *identity.Identity
	if m.TLS {
		var err error
		if aliceID, err = identity.Generate(); err != nil {
			return nil, err
		}
		if bobID, err = identity.Generate(); err != nil {
			return nil, err
		}
	}
	bobCfg := transport.Config{Identity: bobID, ListenAddr: "127.0.0.1:0"}
	if m.ConnPerMessage {
		// The original receiver has no limit; do not let ours refuse
		// connections that alice closed but bob has yet to read.
		bobCfg.MaxInbound = 1 << 14
		bobCfg.MaxInboundPerIP = 1 << 14 // every connection comes from 127.0.0.1
	}
	bobTr, err := transport.Listen(bobCfg)
	if err != nil {
		return nil, err
	}
	aliceTr, err := transport.Listen(transport.Config{Identity: aliceID, ListenAddr: "127.0.0.1:0", ConnPerMessage: m.ConnPerMessage})
	if err != nil {
		bobTr.Close()
		return nil, err
	}
	bobPeer := discovery.Peer{Nickname: "bob", Instance: app.NewInstanceID(), Addr: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), bobTr.Port())}
	if bobID != nil {
		bobPeer.Identity = bobID.ID().String()
	}
	bob, err := app.NewNode(app.Config{Nickname: "bob", Identity: bobID, Transport: bobTr, Instance: bobPeer.Instance})
	if err != nil {
		bobTr.Close()
		aliceTr.Close()
		return nil, err
	}
	alice, err := app.NewNode(app.Config{Nickname: "alice", Identity: aliceID, Transport: aliceTr, Sources: []discovery.Source{staticSource{bobPeer}}})
	if err != nil {
		bobTr.Close()
		aliceTr.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &pair{alice: alice, bob: bob, aliceTr: aliceTr, bobTr: bobTr, to: app.KeyOf(bobPeer), cancel: cancel,
		done: make(chan error, 2), read: make(chan struct{}), stop: make(chan struct{}), base: time.Now()}
	go func() { p.done <- alice.Run(ctx) }()
	go func() { p.done <- bob.Run(ctx) }()
	go p.readBob()
	go func() { // alice's events are not needed: drain them
		for range alice.Events() {
		}
	}()
	// Wait until alice knows bob.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if peer, ok := alice.Peer(p.to); ok && peer.Online {
			return p, nil
		}
		if time.Now().After(deadline) {
			p.close()
			return nil, errors.New("alice never learned of bob")
		}
		time.Sleep(time.Millisecond)
	}
}

func (p *pair) close() error {
	if p.cancel == nil {
		return nil
	}
	p.cancel()
	p.cancel = nil
	err := errors.Join(<-p.done, <-p.done)
	close(p.stop)
	<-p.read
	return err
}

func (p *pair) now() int64 { return time.Since(p.base).Nanoseconds() }

// readBob records every message bob's node commits against the current
// load, reading his store as a UI does (Changed, then Changes).
func (p *pair) readBob() {
	defer close(p.read)
	go func() { // bob's peer events are not needed: drain them
		for range p.bob.Events() {
		}
	}()
	var version int64
	for {
		select {
		case <-p.bob.Changed():
		case <-p.stop:
			return
		}
		for {
			ch, err := p.bob.Changes(version, 4096)
			if err != nil || len(ch) == 0 {
				break
			}
			at := p.now()
			for _, m := range ch {
				if m.Seq > version && !m.Outgoing {
					p.arrived(m.Text, at)
				}
				version = m.Version
			}
		}
	}
}

// arrived records message text, read at time at.
func (p *pair) arrived(text string, at int64) {
	{
		l := p.cur.Load()
		if l == nil || len(text) < 12 || text[:2] != l.id {
			return // from an earlier load
		}
		i := 0
		for _, c := range text[2:12] {
			i = i*10 + int(c-'0')
		}
		if i >= len(l.arrived) {
			return
		}
		l.arrived[i] = at
		l.got.Add(1)
		if l.signal != nil {
			l.signal <- i
		}
	}
}

// newLoad starts a record for up to n messages.
func (p *pair) newLoad(n int, pingPong bool) *load {
	p.nextLoad++
	l := &load{id: fmt.Sprintf("%02d", p.nextLoad%100), sent: make([]atomic.Int64, n), arrived: make([]int64, n)}
	if pingPong {
		l.signal = make(chan int, 1)
	}
	p.cur.Store(l)
	return l
}

// text builds message i of load l: the load id, i in ten digits, and
// padding up to ContentSize bytes.
func (l *load) text(buf []byte, i int) string {
	copy(buf, l.id)
	for k, v := 11, i; k >= 2; k, v = k-1, v/10 {
		buf[k] = byte('0' + v%10)
	}
	return string(buf) // one allocation, as a UI's string would be
}

func newTextBuf() []byte { return []byte(strings.Repeat("x", ContentSize)) }

func (p *pair) send(ctx context.Context, text string) error {
	_, err := p.alice.Send(ctx, p.to, text)
	return err
}

// pingPong sends up to n messages one at a time for at most d.
func (p *pair) pingPong(ctx context.Context, n int, d time.Duration) (Latency, error) {
	n = min(n, int(d/time.Microsecond)+1) // no link is faster than 1 µs a round
	l := p.newLoad(n, true)
	buf := newTextBuf()
	end := time.Now().Add(d)
	sent := 0
	for sent < n && time.Now().Before(end) {
		text := l.text(buf, sent)
		l.sent[sent].Store(p.now())
		if err := p.send(ctx, text); err != nil {
			return Latency{}, err
		}
		select {
		case <-l.signal:
		case <-time.After(5 * time.Second):
			return Latency{}, fmt.Errorf("message %d did not arrive within 5 s", sent)
		case <-ctx.Done():
			return Latency{}, ctx.Err()
		}
		sent++
	}
	return latencies(l, sent), nil
}

// flood sends back to back for d, then waits until bob's node has
// received everything. Arrival is counted where bob's transport hands
// each message to his node (which stores it and emits an event): at this
// rate the node's event channel may overflow, and a dropped event must
// not count as a lost message.
func (p *pair) flood(ctx context.Context, d time.Duration) (Flood, error) {
	p.newLoad(0, false) // the reader ignores the flood's events
	received0 := p.bobTr.Stats().Received
	dropped0 := p.bob.DroppedEvents()
	buf := newTextBuf()
	l := &load{id: "ff"}
	start := time.Now()
	first := time.Now()
	sent := 0
	for time.Since(start) < d {
		if err := p.send(ctx, l.text(buf, sent)); err != nil {
			return Flood{}, err
		}
		sent++
	}
	deadline := time.Now().Add(10 * time.Second)
	for p.bobTr.Stats().Received-received0 < uint64(sent) {
		if time.Now().After(deadline) {
			return Flood{}, fmt.Errorf("%d of %d messages arrived within 10 s of the last send", p.bobTr.Stats().Received-received0, sent)
		}
		if err := ctx.Err(); err != nil {
			return Flood{}, err
		}
		time.Sleep(50 * time.Microsecond)
	}
	took := time.Since(first)
	// Let bob's event reader catch up before the next load.
	time.Sleep(100 * time.Millisecond)
	return Flood{Messages: sent, PerSecond: float64(sent) / took.Seconds(), EventsDropped: p.bob.DroppedEvents() - dropped0}, nil
}

// paced sends rate messages a second for d, each at its due time.
func (p *pair) paced(ctx context.Context, rate int, d time.Duration) (Latency, error) {
	n := int(d.Seconds() * float64(rate))
	l := p.newLoad(n, false)
	buf := newTextBuf()
	began := p.now()
	for i := range n {
		text := l.text(buf, i)
		due := began + int64(i)*int64(time.Second)/int64(rate)
		// Spin rather than sleep: sleeps are far coarser than the
		// interval. (No Gosched: a yielding spinner is stolen by the
		// idle P, and then no P sleeps in the network poller to wake
		// the receiver promptly.)
		for p.now() < due {
		}
		l.sent[i].Store(due)
		if err := p.send(ctx, text); err != nil {
			return Latency{}, err
		}
	}
	if err := waitArrived(ctx, l, n); err != nil {
		return Latency{}, err
	}
	return latencies(l, n), nil
}

// waitArrived waits until n messages of l arrived.
func waitArrived(ctx context.Context, l *load, n int) error {
	deadline := time.Now().Add(10 * time.Second)
	for l.got.Load() < int64(n) {
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d messages arrived within 10 s of the last send", l.got.Load(), n)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		time.Sleep(100 * time.Microsecond)
	}
	return nil
}

// latencies computes the distribution of the first n messages of l. Every
// one of them has arrived: the caller saw l.got (or a signal) count them,
// which orders the reader's writes of arrived before these reads.
func latencies(l *load, n int) Latency {
	ds := make([]time.Duration, n)
	for i := range n {
		ds[i] = time.Duration(l.arrived[i] - l.sent[i].Load())
	}
	return report.LatencyOf(ds)
}
