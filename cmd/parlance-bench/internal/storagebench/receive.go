package storagebench

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/parlance-chat/parlance/app"
	"github.com/parlance-chat/parlance/app/store"
	"github.com/parlance-chat/parlance/app/store/sqlite"
	"github.com/parlance-chat/parlance/cmd/parlance-bench/internal/report"
	"github.com/parlance-chat/parlance/net/discovery"
	"github.com/parlance-chat/parlance/net/identity"
	"github.com/parlance-chat/parlance/net/transport"
)

// textSize is the length of the texts of the receive measures.
const textSize = 100

// Receive is the outcome of a durable-receive flood.
type Receive struct {
	Messages  int     `json:"messages"`
	PerSecond float64 `json:"msgs_per_s"`
	// SendPerSecond is how fast alice's Node.Send queued the flood.
	SendPerSecond float64 `json:"send_msgs_per_s"`
	// CommittedAfter is when bob had committed the last message,
	// DeliveredAfter when alice's store had them all Delivered (from
	// the first Send).
	CommittedAfter time.Duration `json:"committed_after_ns"`
	DeliveredAfter time.Duration `json:"delivered_after_ns"`
	// CPUPerMessage is the CPU time (user and system) this process
	// used during the flood per message: alice, bob, TLS and the
	// stores. Unlike the rate, it hardly depends on what else runs on
	// the machine.
	CPUPerMessage time.Duration `json:"cpu_per_message_ns"`
}

// Acked is the outcome of the send-to-✓✓ load.
type Acked struct {
	Rate    int            `json:"rate"`
	Latency report.Latency `json:"latency"`
}

// pair is alice and bob, running, alice knowing bob.
type pair struct {
	alice, bob           *app.Node
	aliceStore, bobStore store.Store
	to                   app.PeerKey
	cancel               context.CancelFunc
	wg                   sync.WaitGroup
	errs                 chan error
}

// staticSource reports one peer, once, and never loses it.
type staticSource struct{ peer discovery.Peer }

func (s staticSource) Run(ctx context.Context, h discovery.Handler) error {
	h.Sighting(discovery.Sighting{Kind: discovery.Seen, Peer: s.peer, Source: "static"})
	<-ctx.Done()
	return nil
}

func (staticSource) SetNickname(string) {}

// openSQLite opens a fresh SQLite store, history on, in dir.
func openSQLite(dir, name string) (store.Store, error) {
	d, err := os.MkdirTemp(dir, name+"-")
	if err != nil {
		return nil, err
	}
	return sqlite.Open(filepath.Join(d, "parlance.db"), sqlite.Options{History: true})
}

// newPair starts two nodes over TLS with the given stores; the pair owns
// the stores and closes them.
func newPair(aliceStore, bobStore store.Store) (p *pair, err error) {
	p = &pair{aliceStore: aliceStore, bobStore: bobStore, errs: make(chan error, 2)}
	var closers []func() error
	defer func() {
		if err != nil {
			for _, c := range closers {
				c()
			}
			aliceStore.Close()
			bobStore.Close()
		}
	}()
	aliceID, err := identity.Generate()
	if err != nil {
		return nil, err
	}
	bobID, err := identity.Generate()
	if err != nil {
		return nil, err
	}
	bobTr, err := transport.Listen(transport.Config{Identity: bobID, ListenAddr: "127.0.0.1:0"})
	if err != nil {
		return nil, err
	}
	closers = append(closers, bobTr.Close)
	aliceTr, err := transport.Listen(transport.Config{Identity: aliceID, ListenAddr: "127.0.0.1:0"})
	if err != nil {
		return nil, err
	}
	closers = append(closers, aliceTr.Close)
	bobPeer := discovery.Peer{Nickname: "bob", Instance: app.NewInstanceID(), Identity: bobID.ID().String(),
		Addr: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), bobTr.Port())}
	if p.bob, err = app.NewNode(app.Config{Nickname: "bob", Identity: bobID, Transport: bobTr, Instance: bobPeer.Instance, Store: bobStore}); err != nil {
		return nil, err
	}
	if p.alice, err = app.NewNode(app.Config{Nickname: "alice", Identity: aliceID, Transport: aliceTr, Store: aliceStore,
		Sources: []discovery.Source{staticSource{bobPeer}}}); err != nil {
		return nil, err
	}
	p.to = app.KeyOf(bobPeer)
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	for _, n := range []*app.Node{p.alice, p.bob} {
		p.wg.Add(2)
		go func() { defer p.wg.Done(); p.errs <- n.Run(ctx) }()
		go func() { // peer events are not needed: drain them
			defer p.wg.Done()
			for range n.Events() {
			}
		}()
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if peer, ok := p.alice.Peer(p.to); ok && peer.Online {
			return p, nil
		}
		if time.Now().After(deadline) {
			p.close()
			return nil, errors.New("alice never learned of bob")
		}
		time.Sleep(time.Millisecond)
	}
}

// close stops the nodes and closes the stores.
func (p *pair) close() error {
	if p.cancel == nil {
		return nil
	}
	p.cancel()
	p.cancel = nil
	errs := []error{<-p.errs, <-p.errs}
	p.wg.Wait()
	return errors.Join(append(errs, p.aliceStore.Close(), p.bobStore.Close())...)
}

// text is message i of a load: its number and padding to textSize bytes.
func text(load string, i int) string {
	s := fmt.Sprintf("%s %010d ", load, i)
	return s + strings.Repeat("x", textSize-len(s))
}

// pending reports whether alice's store still has messages to bob that
// are not Delivered.
func (p *pair) pending() (bool, error) {
	ms, err := p.aliceStore.Outbox(app.ConvOf(p.to), 1)
	return len(ms) > 0, err
}

// waitDelivered waits until alice's outbox to bob is empty.
func (p *pair) waitDelivered(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		pend, err := p.pending()
		if err != nil {
			return err
		}
		if !pend {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("messages still not delivered after %v", timeout)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// warmUp sends a few messages and waits until they are delivered: the
// connection, its handshake and the first commits are out of the way.
func (p *pair) warmUp(ctx context.Context) error {
	for i := range 200 {
		if _, err := p.alice.Send(ctx, p.to, text("warm", i)); err != nil {
			return fmt.Errorf("warm up: %w", err)
		}
	}
	if err := p.waitDelivered(ctx, 10*time.Second); err != nil {
		return fmt.Errorf("warm up: %w", err)
	}
	return nil
}

// measureReceive floods n messages from alice (in memory) to bob (SQLite
// or in memory).
func measureReceive(ctx context.Context, dir string, bobSQLite bool, n int) (Receive, error) {
	var bobStore store.Store = store.NewMemory(0)
	if bobSQLite {
		var err error
		if bobStore, err = openSQLite(dir, "bob"); err != nil {
			return Receive{}, err
		}
	}
	p, err := newPair(store.NewMemory(2*n+1000), bobStore)
	if err != nil {
		return Receive{}, err
	}
	defer p.close()
	if err := p.warmUp(ctx); err != nil {
		return Receive{}, err
	}
	v0, err := p.bobStore.LastVersion()
	if err != nil {
		return Receive{}, err
	}

	var sendErr error
	var sentAll atomic.Int64 // ns after start when the last Send returned
	cpu0, err := cpuTime()
	if err != nil {
		return Receive{}, err
	}
	start := time.Now()
	go func() {
		for i := range n {
			if _, err := p.alice.Send(ctx, p.to, text("flood", i)); err != nil {
				sendErr = err
				break
			}
		}
		sentAll.Store(int64(time.Since(start)))
	}()
	var res Receive
	// A busy machine may be slow, but bob must keep committing.
	const stall = 30 * time.Second
	lastV, progressed := v0, time.Now()
	for res.DeliveredAfter == 0 {
		time.Sleep(200 * time.Microsecond)
		if err := ctx.Err(); err != nil {
			return Receive{}, err
		}
		v, err := p.bobStore.LastVersion()
		if err != nil {
			return Receive{}, err
		}
		if v != lastV {
			lastV, progressed = v, time.Now()
		} else if time.Since(progressed) > stall && v-v0 < int64(n) {
			return Receive{}, fmt.Errorf("bob committed nothing for %v (%d of %d messages)", stall, v-v0, n)
		}
		if res.CommittedAfter == 0 && v-v0 >= int64(n) {
			res.CommittedAfter = time.Since(start)
		}
		if res.CommittedAfter != 0 && time.Since(start)-res.CommittedAfter > stall {
			return Receive{}, fmt.Errorf("bob committed every message, but alice had not seen them all acknowledged %v later", stall)
		}
		if sentAll.Load() == 0 {
			continue
		}
		if sendErr != nil {
			return Receive{}, fmt.Errorf("send: %w", sendErr)
		}
		pend, err := p.pending()
		if err != nil {
			return Receive{}, err
		}
		if !pend {
			res.DeliveredAfter = time.Since(start)
		}
	}
	cpu, err := cpuTime()
	if err != nil {
		return Receive{}, err
	}
	res.CPUPerMessage = (cpu - cpu0) / time.Duration(n)
	// Bob committed each message exactly once (receipts leave his
	// version alone: he only receives).
	v, err := p.bobStore.LastVersion()
	if err != nil {
		return Receive{}, err
	}
	if v-v0 != int64(n) {
		return Receive{}, fmt.Errorf("bob committed %d messages, want %d", v-v0, n)
	}
	if res.CommittedAfter == 0 {
		res.CommittedAfter = res.DeliveredAfter
	}
	res.Messages = n
	res.PerSecond = float64(n) / res.DeliveredAfter.Seconds()
	res.SendPerSecond = float64(n) / time.Duration(sentAll.Load()).Seconds()
	return res, p.close()
}

// measureAcked sends at rate for d and times each message from just
// before Send to alice's store showing it Delivered.
func measureAcked(ctx context.Context, dir string, useSQLite bool, rate int, d time.Duration) (Acked, error) {
	var aliceStore, bobStore store.Store = store.NewMemory(0), store.NewMemory(0)
	if useSQLite {
		var err error
		if aliceStore, err = openSQLite(dir, "alice"); err != nil {
			return Acked{}, err
		}
		if bobStore, err = openSQLite(dir, "bob"); err != nil {
			aliceStore.Close()
			return Acked{}, err
		}
	}
	p, err := newPair(aliceStore, bobStore)
	if err != nil {
		return Acked{}, err
	}
	defer p.close()
	if err := p.warmUp(ctx); err != nil {
		return Acked{}, err
	}

	n := max(int(d.Seconds()*float64(rate)), 1)
	ids := make([]string, n)
	index := make(map[string]int, n)
	for i := range ids {
		ids[i] = app.NewMessageID()
		index[ids[i]] = i
	}
	base := time.Now()
	sent := make([]atomic.Int64, n)
	acked := make([]int64, n) // written by the reader only
	var got atomic.Int64
	version, err := p.aliceStore.LastVersion()
	if err != nil {
		return Acked{}, err
	}
	stop := make(chan struct{})
	readerDone := make(chan struct{})
	go func() { // alice's reader, as her UI: Changed, then Changes
		defer close(readerDone)
		for {
			select {
			case <-p.alice.Changed():
			case <-stop:
				return
			}
			for {
				ch, err := p.alice.Changes(version, 4096)
				if err != nil || len(ch) == 0 {
					break
				}
				at := time.Since(base).Nanoseconds()
				for _, m := range ch {
					version = m.Version
					if i, ok := index[m.ID]; ok && m.State == store.Delivered && acked[i] == 0 {
						acked[i] = at
						got.Add(1)
					}
				}
			}
		}
	}()
	defer func() { close(stop); <-readerDone }()

	interval := time.Second / time.Duration(rate)
	for i := range n {
		if wait := time.Duration(i)*interval - time.Since(base); wait > 0 {
			time.Sleep(wait)
		}
		sent[i].Store(time.Since(base).Nanoseconds())
		if _, err := p.alice.SendWithID(ctx, p.to, ids[i], text("paced", i)); err != nil {
			return Acked{}, err
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for got.Load() < int64(n) {
		if time.Now().After(deadline) {
			return Acked{}, fmt.Errorf("%d of %d messages Delivered within 10 s of the last send", got.Load(), n)
		}
		if err := ctx.Err(); err != nil {
			return Acked{}, err
		}
		time.Sleep(time.Millisecond)
	}
	// got counted every one: the reader's writes of acked are visible.
	ds := make([]time.Duration, n)
	for i := range ds {
		ds[i] = time.Duration(acked[i] - sent[i].Load())
	}
	return Acked{Rate: rate, Latency: report.LatencyOf(ds)}, nil
}

// cpuTime is the CPU time (user and system) this process used so far.
func cpuTime() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, fmt.Errorf("read the CPU time used: %w", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}
