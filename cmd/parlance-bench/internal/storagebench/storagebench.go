// Package storagebench measures what keeping every message costs (issue 9,
// "nothing lost"): two whole nodes over TLS on 127.0.0.1 where the
// receiver commits each message to its store before it acknowledges it,
// and a large SQLite history opened, searched and paged as the TUI does.
//
//   - durable receive: a flood from alice (in-memory store, so the sender
//     is not the bottleneck) to bob, whose store is SQLite with history and
//     the search index on; messages committed by bob and acknowledged
//     (Delivered in alice's store) a second. Baseline: the same flood with
//     bob's store in memory.
//   - send to ✓✓: alice sends at a steady rate, SQLite on both sides; the
//     time from just before Node.Send to the moment alice's store shows the
//     message Delivered, read as a UI reads it (Changed, then Changes).
//     Baseline: the same with in-memory stores.
//   - stored history: a SQLite database of Stored messages (bulk Append in
//     big batches, texts of varied words, several conversations); the time
//     to open it and draw the TUI's first frame, /search, the database's
//     size per message, and History pages deep in the oldest part.
//     Baseline: the same on a database of BaselineStored messages.
package storagebench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/parlance-chat/parlance/cmd/parlance-bench/internal/report"
)

// Scenario is the name rows carry.
const Scenario = "storage"

// Config says what to measure.
type Config struct {
	// Flood is the number of messages of the durable-receive flood.
	Flood int
	// Rate (messages a second) and Duration of the send-to-✓✓ load.
	Rate     int
	Duration time.Duration
	// Stored and BaselineStored are the sizes of the two databases of
	// the stored-history measures (0 skips them).
	Stored, BaselineStored int
	// Conversations the stored messages are spread over.
	Conversations int
	// Dir holds the databases (a temporary directory in it, removed at
	// the end); "" is the system's temporary directory.
	Dir string
	// Progress receives a line per step (may be nil).
	Progress io.Writer
}

// Result is everything measured, for the JSON.
type Result struct {
	Receive         Receive `json:"receive"`
	ReceiveBaseline Receive `json:"receive_baseline"`
	Acked           Acked   `json:"acked"`
	AckedBaseline   Acked   `json:"acked_baseline"`
	Stored          *Stored `json:"stored,omitempty"`
	StoredBaseline  *Stored `json:"stored_baseline,omitempty"`
}

// Run measures everything and adds the rows and notes to rep.
func Run(ctx context.Context, cfg Config, rep *report.Report) error {
	switch {
	case cfg.Flood < 1 || cfg.Rate < 1 || cfg.Duration <= 0:
		return errors.New("storage: flood, rate and duration must be positive")
	case cfg.Stored < 0 || cfg.BaselineStored < 0:
		return errors.New("storage: stored sizes must not be negative")
	}
	if cfg.Conversations < 1 {
		cfg.Conversations = 8
	}
	progress := cfg.Progress
	if progress == nil {
		progress = io.Discard
	}
	dir, err := os.MkdirTemp(cfg.Dir, "parlance-storagebench-")
	if err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	defer os.RemoveAll(dir)

	res := &Result{}
	fmt.Fprintf(progress, "storage: durable receive, a flood of %d messages, bob's store in memory (baseline)\n", cfg.Flood)
	if res.ReceiveBaseline, err = measureReceive(ctx, dir, false, cfg.Flood); err != nil {
		return fmt.Errorf("storage: durable receive, memory: %w", err)
	}
	fmt.Fprintf(progress, "storage: durable receive, a flood of %d messages, bob's store SQLite\n", cfg.Flood)
	if res.Receive, err = measureReceive(ctx, dir, true, cfg.Flood); err != nil {
		return fmt.Errorf("storage: durable receive, sqlite: %w", err)
	}
	fmt.Fprintf(progress, "storage: send to ✓✓ at %d msgs/s for %v, memory stores (baseline)\n", cfg.Rate, cfg.Duration)
	if res.AckedBaseline, err = measureAcked(ctx, dir, false, cfg.Rate, cfg.Duration); err != nil {
		return fmt.Errorf("storage: send to ✓✓, memory: %w", err)
	}
	fmt.Fprintf(progress, "storage: send to ✓✓ at %d msgs/s for %v, SQLite stores\n", cfg.Rate, cfg.Duration)
	if res.Acked, err = measureAcked(ctx, dir, true, cfg.Rate, cfg.Duration); err != nil {
		return fmt.Errorf("storage: send to ✓✓, sqlite: %w", err)
	}
	if cfg.Stored > 0 && cfg.BaselineStored > 0 {
		for _, s := range []struct {
			n   int
			out **Stored
		}{{cfg.BaselineStored, &res.StoredBaseline}, {cfg.Stored, &res.Stored}} {
			fmt.Fprintf(progress, "storage: stored history of %d messages in %d conversations\n", s.n, cfg.Conversations)
			st, err := measureStored(ctx, dir, s.n, cfg.Conversations, progress)
			if err != nil {
				return fmt.Errorf("storage: stored history of %d messages: %w", s.n, err)
			}
			*s.out = st
		}
	}
	rep.Detail("storage", res)
	addRows(rep, cfg, res)
	rep.Note(Scenario, "Two whole nodes (app.Node + TLS transport) on 127.0.0.1. bob's SQLite store is a file in a temporary directory (WAL, synchronous=NORMAL, history on, FTS5 search index on): each batch of received messages is committed before its acknowledgement is written.")
	rep.Note(Scenario, "durable receive: alice (in-memory store) sends %d messages back to back with Node.Send; the figure is messages ÷ the time from the first Send to the last one Delivered in alice's store (committed by bob and acknowledged). Baseline: bob's store in memory (store.Memory, the node's default). CPU time per message: this process's user+system time during the flood ÷ messages (both nodes run in it); on a busy machine it is the steadier figure, and 1 s ÷ it is the rate one free core would give.", cfg.Flood)
	rep.Note(Scenario, "send to ✓✓: open loop at %d msgs/s for %v (sleeping to each due time); from just before alice's Node.Send to alice's reader seeing the message Delivered through Changed/Changes, as the UI does. SQLite on both sides; baseline: in-memory stores on both sides.", cfg.Rate, cfg.Duration)
	if res.Stored != nil {
		rep.Note(Scenario, "stored history: a database built with Store.Append in batches of %d (texts of 1-30 words drawn Zipf-like from a 5,000-word vocabulary, %d conversations, both directions, ids as on the wire); baseline: the same with %d messages, in the same run.", buildBatch, cfg.Conversations, cfg.BaselineStored)
		rep.Note(Scenario, "first frame: sqlite.Open + app.NewNode (which lists the stored conversations) + tui.New (opens the first conversation: one History page) + a 120×35 resize + View, true colour; the identity and the listening transport are made before the clock starts. warm: the file in the page cache (median of %d); cold: its pages dropped from the cache first (fsync + posix_fadvise DONTNEED; median of %d).", openRounds, openRounds)
		rep.Note(Scenario, "search: Store.Search(query, 200) as /search runs it, median of %d. PgUp deep: Store.History(conv, before, 200) at random points of the oldest 10%% of a conversation. TUI PgUp: Update(PgUp) + View from the newest page up, each step timed; some steps read an older page.", searchRounds)
		rep.Note(Scenario, "size: the database file after Close (the WAL checkpointed into it) ÷ messages; texts average %.0f bytes.", res.Stored.MeanText)
	}
	return nil
}

func addRows(rep *report.Report, cfg Config, r *Result) {
	ms := func(d time.Duration) float64 { return report.Ms(d) }
	const mem = "memory"
	rep.Add(
		report.NewRow(Scenario, "durable receive throughput (SQLite, search index on)", r.Receive.PerSecond, "msgs/s", &report.Target{Op: ">=", Value: 50_000}).
			WithBaseline(mem, r.ReceiveBaseline.PerSecond),
		report.NewRow(Scenario, "  alice's Send rate during it", r.Receive.SendPerSecond, "msgs/s", nil).
			WithBaseline(mem, r.ReceiveBaseline.SendPerSecond),
		report.NewRow(Scenario, "  CPU time per message (both nodes, TLS, stores)", report.Us(r.Receive.CPUPerMessage), "µs", nil).
			WithBaseline(mem, report.Us(r.ReceiveBaseline.CPUPerMessage)),
		report.NewRow(Scenario, fmt.Sprintf("send to ✓✓ p50 at %s msgs/s (SQLite both sides)", report.FormatNumber(float64(cfg.Rate))), ms(r.Acked.Latency.P50), "ms", &report.Target{Op: "<", Value: 1}).
			WithBaseline(mem, ms(r.AckedBaseline.Latency.P50)),
		report.NewRow(Scenario, fmt.Sprintf("send to ✓✓ p99 at %s msgs/s (SQLite both sides)", report.FormatNumber(float64(cfg.Rate))), ms(r.Acked.Latency.P99), "ms", nil).
			WithBaseline(mem, ms(r.AckedBaseline.Latency.P99)),
	)
	s, b := r.Stored, r.StoredBaseline
	if s == nil || b == nil {
		return
	}
	base := fmt.Sprintf("%s msgs", report.FormatNumber(float64(b.Messages)))
	at := fmt.Sprintf(" (%s msgs)", report.FormatNumber(float64(s.Messages)))
	row := func(metric string, v, bv float64, unit string, t *report.Target) report.Row {
		return report.NewRow(Scenario, metric+at, v, unit, t).WithBaseline(base, bv)
	}
	under := func(v float64) *report.Target { return &report.Target{Op: "<", Value: v} }
	rep.Add(
		row("open + first TUI frame, warm", ms(s.FirstFrame.P50), ms(b.FirstFrame.P50), "ms", under(200)),
		row("open + first TUI frame, cold cache", ms(s.FirstFrameCold.P50), ms(b.FirstFrameCold.P50), "ms", under(200)),
	)
	for i, q := range s.Searches {
		rep.Add(row(fmt.Sprintf("/search %q (%s matches)", q.Query, matches(q.Hits)), ms(q.Time.P50), ms(b.Searches[i].Time.P50), "ms", under(50)))
	}
	rep.Add(
		row("database size per message", s.BytesPerMessage, b.BytesPerMessage, "bytes", nil),
		row("PgUp deep in old history: History page of 200, p50", ms(s.Page.P50), ms(b.Page.P50), "ms", under(16)),
		row("PgUp deep in old history: History page of 200, p99", ms(s.Page.P99), ms(b.Page.P99), "ms", under(16)),
		row("PgUp deep in old history: CPU time per page", ms(s.PageCPU), ms(b.PageCPU), "ms", nil),
		row("TUI PgUp (Update + View), p50 of steps", ms(s.TUIPgUp.P50), ms(b.TUIPgUp.P50), "ms", under(16)),
		row("TUI PgUp (Update + View), max of steps (reads a page)", ms(s.TUIPgUp.Max), ms(b.TUIPgUp.Max), "ms", under(16)),
		row("building: Append rate (batches of 10,000)", s.AppendPerSecond, b.AppendPerSecond, "msgs/s", nil),
	)
}

// matches shows a search's number of hits (the store returns at most 200).
func matches(n int) string {
	if n >= searchLimit {
		return fmt.Sprintf("≥%d", searchLimit)
	}
	return fmt.Sprint(n)
}
