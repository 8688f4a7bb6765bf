// Package discoverybench measures LAN discovery end to end: whole
// Parlance nodes (app.Node with net/lan and a transport) on loopback
// multicast, pinned to interface "lo" and to ports of the run's own.
//
// Two patterns, each for several group sizes N:
//
//   - together: N nodes start one right after another; the time from the
//     first start until every node knows every other.
//   - join: one node starts beside N-1 that have been running a while;
//     the time until it knows all of them and all of them know it. Then it
//     stops, and the time from its stop until every other node has
//     removed it is the goodbye-to-removal time.
//
// The baseline is the same nodes with the original's behaviour
// (lan.Config.LikeOriginal): announces only at start and every 5 s, no
// immediate re-announce, no goodbye (so removal waits for the 15 s
// expiry, swept every 5 s).
package discoverybench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/parlance-chat/parlance/cmd/parlance-bench/internal/report"
	"github.com/parlance-chat/parlance/net/lan"
)

// Scenario is the name rows carry.
const Scenario = "discovery"

// Config says what to measure.
type Config struct {
	Sizes []int // group sizes N, each at least 2
	// Rounds of each pattern per size for Parlance, run one after
	// another.
	Rounds int
	// BaselineRounds of each pattern per size for the original's
	// behaviour. Each waits seconds for the 5 s announce timer, so they
	// all run at once, each on its own port.
	BaselineRounds int
	// Original is the baseline's timing (zero: DefaultOriginalTiming);
	// tests shorten it.
	Original OriginalTiming
	// Ports hands out multicast ports; never lan.DefaultPort.
	Ports *Ports
	// Progress receives a line per step (may be nil).
	Progress io.Writer
}

// Ports hands out consecutive port numbers from a base.
type Ports struct {
	mu   sync.Mutex
	next uint16
}

// NewPorts hands out ports from base up.
func NewPorts(base uint16) *Ports { return &Ports{next: base} }

// Next returns an unused port number; it never returns lan.DefaultPort.
func (p *Ports) Next() uint16 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.next == lan.DefaultPort {
		p.next++
	}
	n := p.next
	p.next++
	return n
}

// oursTimeout bounds each wait of a Parlance round: a round that goes
// past it fails. settleAfterRound lets the re-announce gaps of a group
// pass between join rounds.
const (
	oursTimeout      = 10 * time.Second
	settleAfterRound = lan.DefaultReannounceGap + 50*time.Millisecond
)

// result holds the samples of one behaviour at one size.
type result struct {
	together []time.Duration // start of the first node to all pairs known
	join     []time.Duration // joiner's start to all pairs known
	removal  []time.Duration // joiner's stop to removed by every other node
}

// Run measures every size and adds the rows and notes to rep.
func Run(ctx context.Context, cfg Config, rep *report.Report) error {
	if cfg.Ports == nil {
		return errors.New("discovery: no ports")
	}
	for _, n := range cfg.Sizes {
		if n < 2 {
			return fmt.Errorf("discovery: group size %d: need at least 2", n)
		}
	}
	progress := cfg.Progress
	if progress == nil {
		progress = io.Discard
	}
	if cfg.Original == (OriginalTiming{}) {
		cfg.Original = DefaultOriginalTiming
	}

	base := map[int]*result{}
	if cfg.BaselineRounds > 0 {
		o := cfg.Original
		fmt.Fprintf(progress, "discovery: original behaviour, %d rounds of each pattern per size at once (up to %v)\n", cfg.BaselineRounds, 3*o.Announce+o.Announce/2+o.Timeout+o.Sweep)
		var err error
		base, err = runBaseline(ctx, cfg)
		if err != nil {
			return err
		}
	}
	for _, n := range cfg.Sizes {
		fmt.Fprintf(progress, "discovery: parlance, N=%d, %d rounds of each pattern\n", n, cfg.Rounds)
		res, err := runOurs(ctx, cfg, n)
		if err != nil {
			return err
		}
		addRows(rep, n, cfg, res, base[n])
	}
	rep.Note(Scenario, "Whole nodes (app.Node + net/lan + transport) on loopback multicast, interface %q, ports of this run's own; a node knows a peer when its PeerJoined event is read.", Interface)
	rep.Note(Scenario, "together: N nodes start %v apart; time from the last start until every node knows every other. join: one node starts beside N-1 running ones; time from its start until it knows them all and they all know it. p50/p99 are over rounds (%d per size for parlance; with so few, p99 is the worst round).", Stagger, cfg.Rounds)
	rep.Note(Scenario, "goodbye: time from stopping the joiner until every other node has removed it. The original sends no goodbye: its peers drop a silent peer after 15 s, swept every 5 s.")
	rep.Note(Scenario, "baseline: the same nodes with lan.Config.LikeOriginal (announce at start and every 5 s only, no immediate re-announce, no goodbye), %d rounds per pattern and size, run at once on separate ports (starting at random times within 2.5 s) since each waits seconds on timers; the joiner starts at a random phase of the group's 5 s announce cycle.", cfg.BaselineRounds)
	return nil
}

func addRows(rep *report.Report, n int, cfg Config, ours, base *result) {
	var discoveryTarget *report.Target
	if n == 10 {
		discoveryTarget = &report.Target{Op: "<", Value: 200}
	}
	removalTarget := &report.Target{Op: "<", Value: 50}
	add := func(metric string, samples []time.Duration, p float64, target *report.Target, baseSamples []time.Duration) {
		row := report.NewRow(Scenario, fmt.Sprintf("N=%d %s p%g", n, metric, p), report.Ms(report.Percentile(samples, p)), "ms", target)
		if base != nil && len(baseSamples) > 0 {
			row = row.WithBaseline("original", report.Ms(report.Percentile(baseSamples, p)))
		}
		rep.Add(row)
	}
	var bt, bj, br []time.Duration
	if base != nil {
		bt, bj, br = base.together, base.join, base.removal
	}
	add("together: all know all", ours.together, 50, nil, bt)
	add("together: all know all", ours.together, 99, discoveryTarget, bt)
	add("join: all know all", ours.join, 50, nil, bj)
	add("join: all know all", ours.join, 99, discoveryTarget, bj)
	add("goodbye: removed everywhere", ours.removal, 50, nil, br)
	add("goodbye: removed everywhere", ours.removal, 99, removalTarget, br)
	rep.Detail(fmt.Sprintf("discovery_N%d", n), map[string]any{
		"rounds": cfg.Rounds, "baseline_rounds": cfg.BaselineRounds,
		"parlance_together_ms": msList(ours.together), "parlance_join_ms": msList(ours.join), "parlance_removal_ms": msList(ours.removal),
		"original_together_ms": msList(bt), "original_join_ms": msList(bj), "original_removal_ms": msList(br),
	})
}

func msList(ds []time.Duration) []float64 {
	out := make([]float64, len(ds))
	for i, d := range ds {
		out[i] = report.Ms(d)
	}
	return out
}

// runOurs runs the rounds of both patterns at size n, one after another.
func runOurs(ctx context.Context, cfg Config, n int) (*result, error) {
	res := &result{}
	for range cfg.Rounds {
		d, err := roundTogether(ctx, cfg.Ports.Next(), n, ours, oursTimeout)
		if err != nil {
			return nil, fmt.Errorf("discovery: together N=%d: %w", n, err)
		}
		res.together = append(res.together, d)
	}

	// One group for every join round: each round a new node joins it and
	// leaves again.
	port := cfg.Ports.Next()
	tr := newTracker()
	group, err := startGroup(ctx, port, n-1, ours, tr, oursTimeout)
	if err != nil {
		return nil, fmt.Errorf("discovery: join N=%d: %w", n, err)
	}
	defer stopAll(group)
	// The group's own start set off re-announces; let them all pass.
	time.Sleep(5 * lan.DefaultReannounceGap)
	for i := range cfg.Rounds {
		time.Sleep(settleAfterRound) // let the group's re-announce gaps pass
		joinD, removeD, err := joinAndLeave(ctx, port, group, fmt.Sprint("joiner", i), ours, tr, oursTimeout, oursTimeout)
		if err != nil {
			return nil, fmt.Errorf("discovery: join N=%d: %w", n, err)
		}
		res.join = append(res.join, joinD)
		res.removal = append(res.removal, removeD)
	}
	if err := stopAll(group); err != nil {
		return nil, fmt.Errorf("discovery: stop group: %w", err)
	}
	return res, nil
}

// roundTogether starts n nodes one after another on a fresh port and
// returns the time until every node knows every other.
func roundTogether(ctx context.Context, port uint16, n int, b behaviour, timeout time.Duration) (time.Duration, error) {
	tr := newTracker()
	nodes, err := startNodes(port, n, "node", b, tr, Stagger)
	defer stopAll(nodes)
	if err != nil {
		return 0, err
	}
	last, err := tr.waitAll(ctx, allPairs(nodes), false, timeout)
	if err != nil {
		return 0, err
	}
	return last.Sub(nodes[n-1].started), stopAll(nodes)
}

// Stagger is the time between the starts of the nodes of a together
// round. Without it, whether a node's socket opens before or after
// another's first announce would be a race, decided by the scheduler.
const Stagger = 5 * time.Millisecond

func startNodes(port uint16, n int, prefix string, b behaviour, tr *tracker, stagger time.Duration) ([]*node, error) {
	nodes := make([]*node, 0, n)
	for i := range n {
		if i > 0 {
			time.Sleep(stagger)
		}
		x, err := startNode(port, fmt.Sprint(prefix, i), b, tr)
		if err != nil {
			return nodes, err
		}
		nodes = append(nodes, x)
	}
	return nodes, nil
}

// startGroup starts n nodes and waits until they all know each other.
func startGroup(ctx context.Context, port uint16, n int, b behaviour, tr *tracker, timeout time.Duration) ([]*node, error) {
	group, err := startNodes(port, n, "member", b, tr, 0)
	if err == nil {
		_, err = tr.waitAll(ctx, allPairs(group), false, timeout)
	}
	if err != nil {
		stopAll(group)
		return nil, err
	}
	return group, nil
}

// joinAndLeave starts a node beside group, waits until all pairs know each
// other, stops it and waits until every group member removed it.
func joinAndLeave(ctx context.Context, port uint16, group []*node, name string, b behaviour, tr *tracker, joinTimeout, leaveTimeout time.Duration) (join, removal time.Duration, err error) {
	start := time.Now()
	j, err := startNode(port, name, b, tr)
	if err != nil {
		return 0, 0, err
	}
	last, err := tr.waitAll(ctx, pairsWith(j, group), false, joinTimeout)
	if err != nil {
		j.stop()
		return 0, 0, err
	}
	stopped := time.Now()
	j.cancel() // the goodbye goes out at once (unless like the original)
	gone, err := tr.waitAll(ctx, observersOf(j, group), true, leaveTimeout)
	if stopErr := j.stop(); err == nil {
		err = stopErr
	}
	if err != nil {
		return 0, 0, err
	}
	return last.Sub(start), gone.Sub(stopped), nil
}

// runBaseline runs every baseline round of every size at once.
func runBaseline(ctx context.Context, cfg Config) (map[int]*result, error) {
	o := cfg.Original
	original := originalBehaviour(o)
	// One interval plus slack to discover; the expiry and a sweep plus
	// slack to remove.
	baselineTimeout := o.Announce + o.Announce/2 + time.Second
	expiryTimeout := o.Timeout + o.Sweep + o.Announce + time.Second
	out := map[int]*result{}
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	for _, n := range cfg.Sizes {
		res := &result{}
		out[n] = res
		for range cfg.BaselineRounds {
			togetherPort, joinPort := cfg.Ports.Next(), cfg.Ports.Next()
			wg.Go(func() {
				// Rounds start at random times, so that they do not all
				// compete for the CPU at the same instant.
				time.Sleep(time.Duration(rand.Int64N(int64(o.Announce / 2))))
				d, err := roundTogether(ctx, togetherPort, n, original, baselineTimeout)
				if err != nil {
					fail(fmt.Errorf("discovery: original together N=%d: %w", n, err))
					return
				}
				mu.Lock()
				res.together = append(res.together, d)
				mu.Unlock()
			})
			wg.Go(func() {
				port := joinPort
				tr := newTracker()
				group, err := startGroup(ctx, port, n-1, original, tr, baselineTimeout)
				if err != nil {
					fail(fmt.Errorf("discovery: original join N=%d: %w", n, err))
					return
				}
				defer stopAll(group)
				// Join at a random phase of the group's announce cycle.
				time.Sleep(time.Duration(rand.Int64N(int64(o.Announce))))
				joinD, removeD, err := joinAndLeave(ctx, port, group, "joiner", original, tr, baselineTimeout, expiryTimeout)
				if err != nil {
					fail(fmt.Errorf("discovery: original join N=%d: %w", n, err))
					return
				}
				mu.Lock()
				res.join = append(res.join, joinD)
				res.removal = append(res.removal, removeD)
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	return out, errors.Join(errs...)
}
