package bootstrapbench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parlance-chat/parlance/cmd/parlance-bench/internal/wsclient"
)

// Simulated clients. Each is a hand-spoken WebSocket connection
// (wsclient). Idle clients have no goroutine at all: they register, and
// one goroutine sends every client its heartbeat every 10 s; what the
// server sends them (the registered reply, pings every 54 s) waits in
// their socket buffers. Only the push clients of the propagation room
// read, each with a goroutine, since they must take a push from every
// join.

// sourceAddr spreads clients over loopback source addresses,
// 127.1.0.1 and up, perAddr each: one address has only about 28,000
// ephemeral ports.
func sourceAddr(i, perAddr int) netip.Addr {
	n := i/perAddr + 1
	return netip.AddrFrom4([4]byte{127, 1, byte(n >> 8), byte(n)})
}

// registerIdle is the register of idle client i: half are original
// clients (default room, no extensions), half Parlance clients asking for
// pushes, in rooms of 20 (a join is pushed to the 19 others).
func registerIdle(i int) []byte {
	nick := "idle" + strconv.Itoa(i)
	if i%2 == 0 {
		return []byte(`{"type":"register","nickname":"` + nick + `","local_addr":"0.0.0.0:4000"}`)
	}
	return []byte(`{"type":"register","nickname":"` + nick + `","local_addr":"0.0.0.0:4000","features":["push"],"room":"idle` + strconv.Itoa(i/40) + `"}`)
}

// registerPush is a register asking for pushes in room, and for
// peers_joined (several joins in one message) if batch.
func registerPush(nick, room string, batch bool) []byte {
	features := `["push"]`
	if batch {
		features = `["push","peers_joined"]`
	}
	return []byte(`{"type":"register","nickname":"` + nick + `","local_addr":"0.0.0.0:4000","features":` + features + `,"room":"` + room + `"}`)
}

var heartbeat = []byte(`{"type":"heartbeat"}`)

// dialWorkers is how many clients connect at once.
const dialWorkers = 32

// connectAll dials count clients (indexes from first on, for the source
// addresses) with dialWorkers at once, and runs each through setup. It
// returns the connections in index order, or the first error (having
// closed them all).
func connectAll(ctx context.Context, server netip.AddrPort, first, count, perAddr, readBuf int, setup func(i int, c *wsclient.Conn) error) ([]*wsclient.Conn, error) {
	conns := make([]*wsclient.Conn, count)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(dialWorkers, count) {
		wg.Go(func() {
			for ctx.Err() == nil {
				k := int(next.Add(1)) - 1
				if k >= count {
					return
				}
				i := first + k
				c, err := wsclient.Dial(ctx, sourceAddr(i, perAddr), server, readBuf)
				if err == nil {
					err = setup(i, c)
					if err != nil {
						c.Close()
					}
				}
				if err != nil {
					cancel(fmt.Errorf("client %d: %w", i, err))
					return
				}
				conns[k] = c
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		closeAll(conns)
		return nil, err
	}
	return conns, nil
}

func closeAll(conns []*wsclient.Conn) {
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
}

// heartbeater sends every client a heartbeat once per period, spread
// evenly over it, until stopped.
type heartbeater struct {
	mu     sync.Mutex
	conns  []*wsclient.Conn
	errs   atomic.Int64
	cancel context.CancelFunc
	done   chan struct{}
}

const heartbeatPeriod = 10 * time.Second // the original client's

func startHeartbeats() *heartbeater {
	ctx, cancel := context.WithCancel(context.Background())
	h := &heartbeater{cancel: cancel, done: make(chan struct{})}
	go h.run(ctx)
	return h
}

func (h *heartbeater) add(conns ...*wsclient.Conn) {
	h.mu.Lock()
	h.conns = append(h.conns, conns...)
	h.mu.Unlock()
}

func (h *heartbeater) stop() {
	h.cancel()
	<-h.done
}

// run sends, every tick (period/1000), to the clients due by then: the
// whole list once per period, in order. What is due follows the clock,
// not the ticks, so a loaded machine that misses ticks catches up instead
// of letting registrations expire.
func (h *heartbeater) run(ctx context.Context) {
	defer close(h.done)
	const slices = 1000
	t := time.NewTicker(heartbeatPeriod / slices)
	defer t.Stop()
	start := time.Now()
	var sent int64 // heartbeats sent since start
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		h.mu.Lock()
		n := int64(len(h.conns))
		due := int64(float64(time.Since(start)) / float64(heartbeatPeriod) * float64(n))
		todo := make([]*wsclient.Conn, 0, max(due-sent, 0))
		for ; sent < due && n > 0; sent++ {
			todo = append(todo, h.conns[sent%n])
		}
		h.mu.Unlock()
		for _, c := range todo {
			if err := c.WriteText(heartbeat); err != nil {
				h.errs.Add(1)
			}
		}
	}
}

// room is a set of push clients in one room, each with a reader, that
// can watch for one peer_joined or peer_left reaching them all.
type room struct {
	name  string
	batch bool // members ask for peers_joined
	conns []*wsclient.Conn
	// known counts, per member, the members it knows of: the entries of
	// its peer_list and the joins pushed after (peer_joined, entries of
	// peers_joined). A join the list shows already is not pushed.
	known      []atomic.Int64
	registered atomic.Int64 // members that read their registered reply
	frames     atomic.Int64 // frames read by all members
	dead       atomic.Int64 // readers that ended before close
	watch      atomic.Pointer[watch]
	wg         sync.WaitGroup
	closed     atomic.Bool
}

// watch waits for a message containing needle (after prefix) at every
// member.
type watch struct {
	prefix, needle []byte
	sent           time.Time
	seen           []atomic.Bool
	arrivals       []time.Duration // by member; written once each
	remaining      atomic.Int64
	done           chan struct{}
}

func newWatch(members int, prefix, needle string) *watch {
	w := &watch{prefix: []byte(prefix), needle: []byte(needle), seen: make([]atomic.Bool, members),
		arrivals: make([]time.Duration, members), done: make(chan struct{})}
	w.remaining.Store(int64(members))
	return w
}

func (w *watch) arrive(member int, at time.Time) {
	if !w.seen[member].CompareAndSwap(false, true) {
		return
	}
	w.arrivals[member] = at.Sub(w.sent)
	if w.remaining.Add(-1) == 0 {
		close(w.done)
	}
}

var (
	prefixRegistered = []byte(`{"type":"registered"`)
	prefixJoined     = []byte(`{"type":"peer_joined"`)
	prefixBatch      = []byte(`{"type":"peers_joined"`)
	prefixList       = []byte(`{"type":"peer_list"`)
)

// read is member i's reader: it counts what the member reads and reports
// watched messages, until the connection ends.
func (r *room) read(i int, c *wsclient.Conn) {
	defer r.wg.Done()
	buf := make([]byte, 0, 512)
	inBatch := false // reading the frames of a peers_joined or peer_list
	for {
		f, b, err := c.ReadFrame(buf)
		buf = b
		if err != nil {
			if !r.closed.Load() {
				r.dead.Add(1)
			}
			return
		}
		now := time.Now()
		r.frames.Add(1)
		// A peers_joined or peer_list may come in several frames: its
		// entries are counted by their '{' (member nicknames have none).
		if f.Op == wsclient.OpText && (bytes.HasPrefix(f.Payload, prefixBatch) || bytes.HasPrefix(f.Payload, prefixList)) {
			inBatch = true
			r.known[i].Add(-1) // the message's own '{'
		}
		if inBatch {
			r.known[i].Add(int64(bytes.Count(f.Payload, []byte{'{'})))
			inBatch = !f.Fin
		}
		if f.Op != wsclient.OpText || !f.Fin {
			continue // pings (not answered: heartbeats keep us alive), parts of big lists
		}
		switch {
		case bytes.HasPrefix(f.Payload, prefixJoined):
			r.known[i].Add(1)
		case bytes.HasPrefix(f.Payload, prefixRegistered):
			r.registered.Add(1)
		}
		if w := r.watch.Load(); w != nil && bytes.HasPrefix(f.Payload, w.prefix) && bytes.Contains(f.Payload, w.needle) {
			w.arrive(i, now)
		}
	}
}

// maxLag is how many pushes a member may have outstanding while the room
// is built: well under the server's send queue (256), past which it
// disconnects a client for not reading.
const maxLag = 128

// buildRoom registers count clients in the room, one after another,
// asking for pushes. Each register is pushed to every member already in;
// the next is sent only while no member is more than maxLag pushes
// behind, so that the server, not the benchmark, sets the pace, and never
// has to drop a member. Clients are dialled just ahead of their turn (a
// connection silent for a minute is closed by the server), and each is
// handed to hb once registered: a registration without a heartbeat for
// 30 s expires, and its peer_left is pushed to everyone. Member j
// connects to servers[j % len(servers)].
func buildRoom(ctx context.Context, servers []netip.AddrPort, name string, batch bool, first, count, perAddr int, hb *heartbeater, progress io.Writer) (*room, error) {
	r := &room{name: name, batch: batch, known: make([]atomic.Int64, count), conns: make([]*wsclient.Conn, 0, count)}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type dialed struct {
		c   *wsclient.Conn
		err error
	}
	ahead := make(chan dialed, 64)
	go func() {
		defer close(ahead)
		for j := range count {
			i := first + j
			c, err := wsclient.Dial(ctx, sourceAddr(i, perAddr), servers[j%len(servers)], 4096)
			if err != nil {
				err = fmt.Errorf("client %d: %w", i, err)
			}
			select {
			case ahead <- dialed{c, err}:
			case <-ctx.Done():
				if c != nil {
					c.Close()
				}
				return
			}
			if err != nil {
				return
			}
		}
	}()
	fail := func(err error) (*room, error) {
		cancel()
		for d := range ahead { // the dialer ends; close what it made
			if d.c != nil {
				d.c.Close()
			}
		}
		r.close()
		return nil, err
	}
	start := time.Now()
	for j := range count {
		d := <-ahead
		if d.err != nil {
			return fail(d.err)
		}
		r.conns = append(r.conns, d.c)
		r.wg.Add(1)
		go r.read(j, d.c)
		if err := r.waitLag(ctx, j); err != nil {
			return fail(err)
		}
		if err := d.c.WriteText(registerPush("member"+strconv.Itoa(first+j), name, batch)); err != nil {
			return fail(fmt.Errorf("member %d: %w", j, err))
		}
		hb.add(d.c)
		if (j+1)%(max(count/10, 1)) == 0 {
			fmt.Fprintf(progress, "bootstrap: %d of %d members registered (%.1f s)\n", j+1, count, time.Since(start).Seconds())
		}
	}
	deadline := time.Now().Add(time.Minute)
	for r.registered.Load() < int64(count) {
		if time.Now().After(deadline) {
			return fail(fmt.Errorf("%d of %d members registered", r.registered.Load(), count))
		}
		time.Sleep(10 * time.Millisecond)
	}
	return r, nil
}

// waitLag waits until every member registered before member j knows all
// but maxLag of the j members before j (itself included).
func (r *room) waitLag(ctx context.Context, j int) error {
	deadline := time.Now().Add(time.Minute)
	for {
		behind := -1
		for m := range j {
			if int64(j)-r.known[m].Load() > maxLag {
				behind = m
				break
			}
		}
		if behind < 0 {
			return nil
		}
		if d := r.dead.Load(); d > 0 {
			return fmt.Errorf("%d members were disconnected", d)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("member %d is %d members behind after a minute", behind, int64(j)-r.known[behind].Load())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
}

// waitQuiet waits until the members have read nothing for quiet.
func (r *room) waitQuiet(ctx context.Context, quiet, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	last, since := r.frames.Load(), time.Now()
	for time.Since(since) < quiet {
		if time.Now().After(deadline) {
			return fmt.Errorf("room still busy after %v", timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if n := r.frames.Load(); n != last {
			last, since = n, time.Now()
		}
	}
	return nil
}

func (r *room) close() {
	r.closed.Store(true)
	closeAll(r.conns)
	r.wg.Wait()
}
