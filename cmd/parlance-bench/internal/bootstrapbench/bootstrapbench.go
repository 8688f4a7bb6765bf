// Package bootstrapbench measures the bootstrap (rendezvous) server at
// scale: K simulated clients connect, register and heartbeat against one
// server running in a process of its own, so its memory and CPU are
// measured alone (from /proc, and from the runtime's statistics it
// reports on a loopback HTTP endpoint).
//
// Per K it measures the connections held, the server's memory per idle
// connection (RSS delta and live Go heap plus stacks delta, divided by
// K) and its CPU at steady state, against a baseline server built the
// way gorilla/websocket's chat example is, with the library's defaults.
//
// Join propagation is measured in a room of push clients on the server
// holding the largest K: a new client registers, and the time until every
// member has its peer_joined is taken.
package bootstrapbench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/parlance-chat/parlance/cmd/parlance-bench/internal/report"
	"github.com/parlance-chat/parlance/cmd/parlance-bench/internal/sysinfo"
	"github.com/parlance-chat/parlance/cmd/parlance-bench/internal/wsclient"
)

// Scenario is the name rows carry.
const Scenario = "bootstrap"

// Config says what to measure.
type Config struct {
	// Clients are the numbers K of idle clients, one server each.
	Clients []int
	// Room is the number of push clients in the propagation room (0: no
	// propagation measured), on the server of the largest K.
	Room int
	// JoinRounds is how many joins are timed.
	JoinRounds int
	// OneRoom are the numbers K of original clients put in one room (one
	// server each), with ListRounds rounds of list_peers; none: skipped.
	OneRoom    []int
	ListRounds int
	// ListReadRate caps how fast each client reads its list, in bytes a
	// second (0: as fast as it can).
	ListReadRate int
	// ClusterRoom is the size of a room spread over ClusterServers
	// servers sharing NATS (0: not measured).
	ClusterRoom    int
	ClusterServers int
	// ClusterIdle idle clients are spread over the cluster's servers,
	// held by client processes of their own.
	ClusterIdle int
	// OriginalBootstrap is the path of the original Rust server, run
	// beside ours in the one-room measurement ("": skipped).
	OriginalBootstrap string
	// RoomBatch makes the room's members ask for peers_joined, as
	// parlance does; without it they take one peer_joined per join.
	RoomBatch bool
	// Steady is how long CPU is measured at steady state.
	Steady time.Duration
	// Baseline measures the gorilla-defaults server too.
	Baseline bool
	// PerAddr is how many clients share one loopback source address.
	PerAddr int
	// ProfileDir, if set, receives the Parlance server's heap profile with
	// K clients held and its CPU profile over the steady window, per K.
	ProfileDir string
	// Progress receives a line per step (may be nil).
	Progress io.Writer
}

// Idle is what one server measured with K idle clients.
type Idle struct {
	Impl           string  `json:"impl"`
	K              int     `json:"k"`
	Connections    int     `json:"connections_held"`
	Peers          int     `json:"peers_registered"`
	ConnectSeconds float64 `json:"connect_s"`
	// RSSPerConn is taken at the end of the steady window, after every
	// client sent a heartbeat or more; RSSConnectedPerConn just after
	// they all registered.
	RSSPerConn          float64 `json:"rss_bytes_per_conn"`
	RSSConnectedPerConn float64 `json:"rss_connected_bytes_per_conn"`
	// HeapPerConn is the live heap (after forced GCs). StackPerConn is
	// taken at the end of the steady window without a forced GC (which
	// shrinks stacks that heartbeats grow again); StackAfterGCPerConn
	// right after the forced GCs.
	HeapPerConn         float64 `json:"heap_bytes_per_conn"`
	StackPerConn        float64 `json:"stack_bytes_per_conn"`
	StackAfterGCPerConn float64 `json:"stack_after_gc_bytes_per_conn"`
	HeapInusePerConn    float64 `json:"heap_inuse_bytes_per_conn"`
	SysPerConn          float64 `json:"sys_bytes_per_conn"`
	GoroutinesPerConn   float64 `json:"goroutines_per_conn"`
	RSSBefore           int64   `json:"rss_before"`
	RSSAfter            int64   `json:"rss_after"`
	CPUPercent          float64 `json:"cpu_percent_of_one_core"`
	HeartbeatsPerSec    float64 `json:"heartbeats_per_s"`
	HeartbeatErrors     int64   `json:"heartbeat_errors"`
	// The server's own figures: before any client, with K clients (after
	// a GC), and at the end of the steady window (no GC forced).
	Before, After, Steady serverStats
}

// Propagation is what the join rounds measured.
type Propagation struct {
	Room         int             `json:"room"`
	Batch        bool            `json:"peers_joined"`
	BuildSeconds float64         `json:"build_s"`
	AllKnow      []time.Duration `json:"all_know_ns"` // per round: until the last member had it
	Receiver     report.Latency  `json:"per_receiver"`
}

// Run measures every K and adds rows and notes to rep.
func Run(ctx context.Context, cfg Config, rep *report.Report) error {
	if len(cfg.Clients) == 0 || cfg.Steady <= 0 || cfg.PerAddr <= 0 {
		return errors.New("bootstrap: no client counts, steady time or clients per address")
	}
	progress := cfg.Progress
	if progress == nil {
		progress = io.Discard
	}
	maxK := 0
	for _, k := range append(slices.Clone(cfg.Clients), cfg.OneRoom...) {
		maxK = max(maxK, k)
	}
	need := uint64(maxK + cfg.Room + cfg.JoinRounds + fdSlack)
	limit, err := sysinfo.RaiseFileLimit(need)
	if err != nil {
		rep.Note(Scenario, "open-file limit: %v.", err)
	}
	rep.Note(Scenario, "open-file limit %d in each process (wanted %d): one server process holds at most about %d connections here.", limit, need, int(limit)-fdSlack)
	fits := int(limit) - fdSlack // clients one process can hold

	var largest int
	for _, k := range fitSizes(cfg.Clients, fits, rep) {
		largest = max(largest, k)
		fmt.Fprintf(progress, "bootstrap: K=%d idle clients, parlance server\n", k)
		ours, _, err := measure(ctx, cfg, ImplParlance, k, false, progress)
		if err != nil {
			return fmt.Errorf("bootstrap K=%d: %w", k, err)
		}
		rep.Detail(fmt.Sprintf("bootstrap_K%d_parlance", k), ours)
		var base *Idle
		if cfg.Baseline {
			fmt.Fprintf(progress, "bootstrap: K=%d idle clients, gorilla-defaults baseline server\n", k)
			if base, _, err = measure(ctx, cfg, ImplGorilla, k, false, progress); err != nil {
				return fmt.Errorf("bootstrap K=%d baseline: %w", k, err)
			}
			rep.Detail(fmt.Sprintf("bootstrap_K%d_gorilla", k), base)
		}
		addIdleRows(rep, ours, base)
	}
	if cfg.ClusterRoom > 0 {
		c, err := measureCluster(ctx, cfg, progress)
		if err != nil {
			return fmt.Errorf("bootstrap cluster: %w", err)
		}
		rep.Detail("bootstrap_cluster", c)
		addClusterRows(rep, c)
	}
	if len(cfg.OneRoom) > 0 {
		if err := runBigRoom(ctx, cfg, fits, rep, progress); err != nil {
			return fmt.Errorf("bootstrap: %w", err)
		}
	}
	if cfg.Room > 0 {
		room := min(cfg.Room, fits)
		if room < cfg.Room {
			rep.Errors = append(rep.Errors, fmt.Sprintf("bootstrap: a room of %d does not fit the open-file limit; measured %d", cfg.Room, room))
		}
		idle := min(largest, fits-room-cfg.JoinRounds)
		fmt.Fprintf(progress, "bootstrap: join propagation, %d idle clients and a room of %d push clients\n", idle, room)
		c := cfg
		c.Room = room
		_, prop, err := measure(ctx, c, ImplParlance, idle, true, progress)
		if err != nil {
			return fmt.Errorf("bootstrap propagation: %w", err)
		}
		rep.Detail("bootstrap_propagation", prop)
		addPropagationRows(rep, idle, prop)
	}
	rep.Note(Scenario, "The server runs in a child process (this binary re-executed): bootstrap.Server with its defaults except the caps on connections, connections per IP and peers, raised for simulated clients that all come from a few loopback addresses. RSS and CPU are read from /proc/PID; the live heap and stacks come from runtime.MemStats after two forced GCs.")
	rep.Note(Scenario, "Idle clients are raw WebSocket connections spread over 127.1.0.x source addresses (%d per address): half original clients (default room, no extensions), half Parlance clients asking for pushes in rooms of 20. They register, then send a heartbeat every 10 s (spread evenly, so K/10 a second); they never read, and need no goroutine.", cfg.PerAddr)
	rep.Note(Scenario, "memory per idle conn = (value with K clients - value before any client) / K. RSS is what the OS charges, taken at the end of the steady window (every client has sent a heartbeat); live heap is HeapAlloc after two forced GCs; stacks are StackInuse at the end of the steady window (a forced GC shrinks stacks, and the next heartbeat grows them again). CPU is the server's user+system time over %v of steady state, in %% of one core.", cfg.Steady)
	if cfg.Baseline {
		rep.Note(Scenario, "baseline: a registry server shaped like gorilla/websocket's chat example with the library's defaults (4 KB read and write buffers per connection, a reader and a writer goroutine with its own ping ticker per connection), answering register and heartbeat; measured with the same clients.")
	}
	if cfg.Room > 0 {
		rep.Note(Scenario, "propagation: on a server of its own, holding idle clients as above (as many as fit beside the room, up to the largest K) and %d push clients in one room (every member reads with a goroutine of its own). Building that room costs O(n²): each register is pushed to every member already in, and each new member is sent the room's whole peer_list; the build time is reported. Then %d times a new client registers in the room: the time from writing its register until each member reads its peer_joined; the row is the time until the last member has it (p50/p99 over the rounds), and the per-member time is pooled over all rounds. After each round the joiner leaves and its peer_left reaches everyone before the next.", cfg.Room, cfg.JoinRounds)
		rep.Note(Scenario, "No baseline for propagation: the original server has no pushes; its clients poll list_peers every 5 s, so a join reaches them after 2.5 s on average and 5 s at worst (not measured).")
	}
	return nil
}

// fdSlack is the file descriptors a process needs beside its clients.
const fdSlack = 512

// fitSizes returns the client counts that one process can hold: a count
// over the limit is replaced by the largest that fits (in thousands), and
// the report says so.
func fitSizes(ks []int, fits int, rep *report.Report) []int {
	var out []int
	for _, k := range ks {
		if k > fits {
			sub := fits / 1000 * 1000
			rep.Errors = append(rep.Errors, fmt.Sprintf("bootstrap K=%d: does not fit the open-file limit (one server process can hold about %d connections here; raising the hard limit needs CAP_SYS_RESOURCE): measured K=%d instead", k, fits, sub))
			k = sub
		}
		if k > 0 && !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}

func addIdleRows(rep *report.Report, ours, base *Idle) {
	k := ours.K
	kb := func(b float64) float64 { return b / 1024 }
	prefix := fmt.Sprintf("K=%s: ", report.FormatNumber(float64(k)))
	withBase := func(r report.Row, v func(*Idle) float64) report.Row {
		if base == nil {
			return r
		}
		return r.WithBaseline("gorilla defaults", v(base))
	}
	memTarget := &report.Target{Op: "<=", Value: 8}
	rep.Add(
		report.NewRow(Scenario, prefix+"connections held (registered)", float64(ours.Peers), "", &report.Target{Op: ">=", Value: float64(k)}),
		withBase(report.NewRow(Scenario, prefix+"server RSS per idle conn", kb(ours.RSSPerConn), "KB", memTarget), func(x *Idle) float64 { return kb(x.RSSPerConn) }),
		withBase(report.NewRow(Scenario, prefix+"server live heap + stacks per idle conn", kb(ours.HeapPerConn+ours.StackPerConn), "KB", memTarget), func(x *Idle) float64 { return kb(x.HeapPerConn + x.StackPerConn) }),
		withBase(report.NewRow(Scenario, fmt.Sprintf("%sserver CPU, steady (%s heartbeats/s)", prefix, report.FormatNumber(ours.HeartbeatsPerSec)), ours.CPUPercent, "%", nil), func(x *Idle) float64 { return x.CPUPercent }),
	)
}

// TargetRoom is the room size the propagation target is set for.
const TargetRoom = 10_000

func addPropagationRows(rep *report.Report, k int, p *Propagation) {
	prefix := fmt.Sprintf("room of %s push clients: ", report.FormatNumber(float64(p.Room)))
	ps := report.Percentiles(p.AllKnow, 50, 99)
	var target *report.Target
	note := ""
	if p.Room >= TargetRoom {
		target = &report.Target{Op: "<", Value: 250}
	} else {
		note = fmt.Sprintf("the target (p99 < 250 ms) is for a room of %s: run with --room %d", report.FormatNumber(TargetRoom), TargetRoom)
	}
	var buildTarget *report.Target
	if p.Room >= TargetRoom {
		buildTarget = &report.Target{Op: "<", Value: 30}
	}
	how := "members take peers_joined: the joins that pile up in one message"
	if !p.Batch {
		how = "members take one peer_joined per join (--room-batch=false)"
	}
	rep.Add(
		report.NewRow(Scenario, prefix+"join known to all, p50", report.Ms(ps[0]), "ms", nil),
		report.NewRow(Scenario, prefix+"join known to all, p99", report.Ms(ps[1]), "ms", target).WithNote(note),
		report.NewRow(Scenario, prefix+"join reaches a member, p50", report.Ms(p.Receiver.P50), "ms", nil),
		report.NewRow(Scenario, prefix+"join reaches a member, p99", report.Ms(p.Receiver.P99), "ms", nil),
		report.NewRow(Scenario, prefix+"time to build the room", p.BuildSeconds, "s", buildTarget).
			WithNote(fmt.Sprintf("%s registers one after another, each pushed to every member already in (O(n²) joins, %s), on a server also holding %s idle clients",
				report.FormatNumber(float64(p.Room)), how, report.FormatNumber(float64(k)))),
	)
}

// measure runs one server with k idle clients and, if withRoom, the
// propagation rounds on it.
func measure(ctx context.Context, cfg Config, impl string, k int, withRoom bool, progress io.Writer) (_ *Idle, _ *Propagation, err error) {
	srv, err := startChild(impl)
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		_ = srv.stop()
		if err != nil {
			if logs := srv.logs(); logs != "" {
				err = fmt.Errorf("%w\nthe server logged (last lines):\n%s", err, logs)
			}
		}
	}()
	res := &Idle{Impl: impl, K: k}
	before, err := srv.getStats(true)
	if err != nil {
		return nil, nil, err
	}
	if res.RSSBefore, err = srv.rss(); err != nil {
		return nil, nil, err
	}

	hb := startHeartbeats()
	defer hb.stop()
	start := time.Now()
	conns, err := connectAll(ctx, srv.ws, 0, k, cfg.PerAddr, 256, func(i int, c *wsclient.Conn) error {
		return c.WriteText(registerIdle(i))
	})
	if err != nil {
		return nil, nil, err
	}
	defer closeAll(conns)
	hb.add(conns...)
	if err := waitStats(ctx, srv, 60*time.Second+time.Duration(k)*time.Millisecond, func(s serverStats) bool { return s.Peers == k }); err != nil {
		return nil, nil, fmt.Errorf("wait for %d registrations: %w", k, err)
	}
	res.ConnectSeconds = time.Since(start).Seconds()
	fmt.Fprintf(progress, "bootstrap: %d clients registered in %.1f s\n", k, res.ConnectSeconds)
	if err := waitSettled(ctx, srv); err != nil {
		return nil, nil, err
	}

	if res.RSSAfter, err = srv.rss(); err != nil {
		return nil, nil, err
	}
	after, err := srv.getStats(true)
	if err != nil {
		return nil, nil, err
	}
	if cfg.ProfileDir != "" && impl == ImplParlance && !withRoom {
		file := filepath.Join(cfg.ProfileDir, fmt.Sprintf("bootstrap-K%d-heap.pprof", k))
		if err := srv.saveProfile("/debug/pprof/heap?gc=1", file); err != nil {
			return nil, nil, err
		}
		fmt.Fprintf(progress, "bootstrap: heap profile in %s\n", file)
	}
	perConn := func(a, b uint64) float64 { return (float64(a) - float64(b)) / float64(k) }
	res.RSSConnectedPerConn = float64(res.RSSAfter-res.RSSBefore) / float64(k)
	res.HeapPerConn = perConn(after.HeapAlloc, before.HeapAlloc)
	res.StackAfterGCPerConn = perConn(after.StackInuse, before.StackInuse)
	res.HeapInusePerConn = perConn(after.HeapInuse, before.HeapInuse)
	res.SysPerConn = perConn(after.Sys, before.Sys)
	res.GoroutinesPerConn = float64(after.Goroutines-before.Goroutines) / float64(k)

	if withRoom { // this server is for propagation: no steady state
		prop, err := propagation(ctx, cfg, srv, k, hb, progress)
		if err != nil {
			return nil, nil, fmt.Errorf("propagation: %w", err)
		}
		return res, prop, nil
	}
	cpu0, err := srv.cpu()
	if err != nil {
		return nil, nil, err
	}
	t0 := time.Now()
	profiled := make(chan error, 1)
	if cfg.ProfileDir != "" && impl == ImplParlance {
		file := filepath.Join(cfg.ProfileDir, fmt.Sprintf("bootstrap-K%d-cpu.pprof", k))
		secs := max(1, int(cfg.Steady.Seconds()))
		go func() { profiled <- srv.saveProfile(fmt.Sprintf("/debug/pprof/profile?seconds=%d", secs), file) }()
		fmt.Fprintf(progress, "bootstrap: CPU profile of the steady state in %s\n", file)
	} else {
		profiled <- nil
	}
	select {
	case <-time.After(cfg.Steady):
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
	cpu1, err := srv.cpu()
	if err != nil {
		return nil, nil, err
	}
	res.CPUPercent = 100 * (cpu1 - cpu0).Seconds() / time.Since(t0).Seconds()
	res.HeartbeatsPerSec = float64(k) / heartbeatPeriod.Seconds()
	held, err := srv.getStats(false)
	if err != nil {
		return nil, nil, err
	}
	res.Connections, res.Peers = held.Connections, held.Peers
	res.Before, res.After, res.Steady = before, after, held
	res.HeartbeatErrors = hb.errs.Load()
	res.StackPerConn = perConn(held.StackInuse, before.StackInuse)
	rss, err := srv.rss()
	if err != nil {
		return nil, nil, err
	}
	res.RSSPerConn = float64(rss-res.RSSBefore) / float64(k)
	if err := <-profiled; err != nil {
		return nil, nil, err
	}
	return res, nil, nil
}

// waitStats polls the server until cond holds.
func waitStats(ctx context.Context, srv *child, timeout time.Duration, cond func(serverStats) bool) error {
	deadline := time.Now().Add(timeout)
	for {
		s, err := srv.getStats(false)
		if err != nil {
			return err
		}
		if cond(s) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %v (server: %+v)", timeout, s)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitSettled waits until the server's goroutine count holds still for a
// second (its writers, which end when their queue is empty, are done).
func waitSettled(ctx context.Context, srv *child) error {
	deadline := time.Now().Add(60 * time.Second)
	last, since := -1, time.Now()
	for time.Since(since) < time.Second {
		s, err := srv.getStats(false)
		if err != nil {
			return err
		}
		if s.Goroutines != last {
			last, since = s.Goroutines, time.Now()
		}
		if time.Now().After(deadline) {
			return errors.New("server never settled")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return nil
}

// propagation builds the room and times the joins.
func propagation(ctx context.Context, cfg Config, srv *child, k int, hb *heartbeater, progress io.Writer) (*Propagation, error) {
	fmt.Fprintf(progress, "bootstrap: building a room of %d push clients (O(n²) pushes)\n", cfg.Room)
	rr, err := runRoom(ctx, cfg, []netip.AddrPort{srv.ws}, "propagation", k, cfg.Room, hb, progress)
	if err != nil {
		return nil, err
	}
	return &Propagation{Room: cfg.Room, Batch: cfg.RoomBatch, BuildSeconds: rr.buildSeconds, AllKnow: rr.allKnow, Receiver: rr.receiver}, nil
}

// roomResult is what runRoom measured.
type roomResult struct {
	buildSeconds float64
	allKnow      []time.Duration // per round: until the last member had the join
	receiver     report.Latency  // per member, pooled over the rounds
}

// runRoom builds a room of count push clients (source indexes from first
// on) over servers, then runs cfg.JoinRounds joins, each on the next
// server, timing each join at every member.
func runRoom(ctx context.Context, cfg Config, servers []netip.AddrPort, name string, first, count int, hb *heartbeater, progress io.Writer) (*roomResult, error) {
	start := time.Now()
	r, err := buildRoom(ctx, servers, name, cfg.RoomBatch, first, count, cfg.PerAddr, hb, progress)
	if err != nil {
		return nil, err
	}
	defer r.close()
	if err := r.waitQuiet(ctx, 500*time.Millisecond, 10*time.Minute); err != nil {
		return nil, err
	}
	res := &roomResult{buildSeconds: time.Since(start).Seconds()}
	fmt.Fprintf(progress, "bootstrap: room built in %.1f s; %d joins\n", res.buildSeconds, cfg.JoinRounds)
	var pooled []time.Duration
	for j := range cfg.JoinRounds {
		all, arrivals, err := joinRound(ctx, servers[j%len(servers)], r, j, first+count+j, cfg.PerAddr)
		if err != nil {
			return nil, fmt.Errorf("round %d: %w", j, err)
		}
		res.allKnow = append(res.allKnow, all)
		pooled = append(pooled, arrivals...)
	}
	res.receiver = report.LatencyOf(pooled)
	if d := r.dead.Load(); d > 0 {
		return nil, fmt.Errorf("%d room members were disconnected", d)
	}
	return res, nil
}

// joinRound registers one new client in the room, times its peer_joined
// at every member, then closes it and waits for its peer_left everywhere.
func joinRound(ctx context.Context, server netip.AddrPort, r *room, j, index, perAddr int) (time.Duration, []time.Duration, error) {
	nick := "joiner" + strconv.Itoa(j)
	c, err := wsclient.Dial(ctx, sourceAddr(index, perAddr), server, 4096)
	if err != nil {
		return 0, nil, err
	}
	defer c.Close()
	peerID := make(chan string, 1)
	readDone := make(chan struct{})
	go func() { // the joiner's reader: its peer_id, then discard
		defer close(readDone)
		var buf []byte
		first := true
		for {
			f, b, err := c.ReadFrame(buf)
			buf = b
			if err != nil {
				if first {
					close(peerID)
				}
				return
			}
			if first && f.Op == wsclient.OpText {
				first = false
				var reg struct {
					PeerID string `json:"peer_id"`
				}
				_ = json.Unmarshal(f.Payload, &reg)
				peerID <- reg.PeerID
			}
		}
	}()
	defer func() { c.Close(); <-readDone }()

	w := newWatch(len(r.conns), `{"type":"peer_joined"`, `"nickname":"`+nick+`"`)
	if r.batch {
		w = newWatch(len(r.conns), `{"type":"peers_joined"`, `"nickname":"`+nick+`"`)
	}
	w.sent = time.Now()
	r.watch.Store(w)
	if err := c.WriteText(registerPush(nick, r.name, r.batch)); err != nil {
		return 0, nil, err
	}
	if err := waitWatch(ctx, w, 60*time.Second); err != nil {
		return 0, nil, fmt.Errorf("peer_joined: %w", err)
	}
	var all time.Duration
	for _, a := range w.arrivals {
		all = max(all, a)
	}
	id, ok := <-peerID
	if !ok || id == "" {
		return 0, nil, errors.New("joiner got no peer_id")
	}
	left := newWatch(len(r.conns), `{"type":"peer_left"`, `"`+id+`"`)
	left.sent = time.Now()
	r.watch.Store(left)
	c.Close()
	if err := waitWatch(ctx, left, 60*time.Second); err != nil {
		return 0, nil, fmt.Errorf("peer_left: %w", err)
	}
	r.watch.Store(nil)
	return all, w.arrivals, nil
}

func waitWatch(ctx context.Context, w *watch, timeout time.Duration) error {
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(timeout):
		return fmt.Errorf("%d members still waiting after %v", w.remaining.Load(), timeout)
	}
}
