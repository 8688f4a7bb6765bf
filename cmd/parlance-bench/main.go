// Command parlance-bench runs Parlance's end-to-end benchmark scenarios on
// loopback and prints a table of each figure beside its target and a
// baseline measured in the same run (the original's behaviour where there
// is one); --json also writes the results to a file.
//
//	parlance-bench [--scenarios discovery,messaging,bootstrap,tui,storage] [--json FILE] [sizes...]
//
// Scenarios:
//
//   - discovery: LAN discovery of N nodes on loopback multicast
//     (interface lo, ports of the run's own), against the original's
//     announce-every-5-s behaviour.
//   - messaging: latency and throughput between two nodes, kept-open
//     plaintext and TLS connections against the original's connection per
//     message.
//   - bootstrap: K clients on one bootstrap server in a child process:
//     memory per connection, CPU, join propagation; against a server with
//     gorilla/websocket's defaults.
//   - tui: the TUI's cost per keystroke and incoming message (the tui
//     package's go test benchmarks; needs the source tree and the go
//     command).
//   - storage: what keeping every message costs: durable receive
//     throughput (committed to SQLite, then acknowledged) against an
//     in-memory store, send to ✓✓ latency, and a large stored history
//     opened, searched and paged (against a small one).
//
// Every scenario is bounded in time; at the default sizes all of them take
// a few minutes. Nothing leaves the machine: everything is on 127.0.0.0/8.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/parlance-chat/parlance/cmd/parlance-bench/internal/bootstrapbench"
	"github.com/parlance-chat/parlance/cmd/parlance-bench/internal/discoverybench"
	"github.com/parlance-chat/parlance/cmd/parlance-bench/internal/messagingbench"
	"github.com/parlance-chat/parlance/cmd/parlance-bench/internal/report"
	"github.com/parlance-chat/parlance/cmd/parlance-bench/internal/storagebench"
	"github.com/parlance-chat/parlance/cmd/parlance-bench/internal/sysinfo"
	"github.com/parlance-chat/parlance/cmd/parlance-bench/internal/tuibench"
	"github.com/parlance-chat/parlance/net/lan"
)

func main() {
	if bootstrapbench.IsChild() { // re-executed as the bootstrap scenario's server
		os.Exit(bootstrapbench.ChildMain())
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// allScenarios in the order they run.
var allScenarios = []string{discoverybench.Scenario, messagingbench.Scenario, bootstrapbench.Scenario, tuibench.Scenario, storagebench.Scenario}

// options are the parsed flags.
type options struct {
	scenarios  []string
	jsonPath   string
	cpuProfile string
	quiet      bool
	timeout    time.Duration

	discovery discoverybench.Config
	portBase  uint

	messaging messagingbench.Config

	bootstrap bootstrapbench.Config

	tui tuibench.Config

	storage storagebench.Config
}

// run parses args, runs the scenarios and returns the exit code: 0 when
// every scenario ran (missed targets included: they are results), 1 when
// one failed, 2 for bad flags.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	opts, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "parlance-bench: %v\n", err)
		return 2
	}
	progress := stderr
	if opts.quiet {
		progress = io.Discard
	}
	machine := sysinfo.Machine()
	machine.LoadStart = sysinfo.LoadAverage()
	machine.OthersCPU = -1
	cpuStart, cpuErr := sysinfo.SampleCPU()
	rep := &report.Report{
		Machine: machine,
		Command: strings.TrimSpace("parlance-bench " + strings.Join(args, " ")),
		Started: time.Now(),
	}
	if opts.cpuProfile != "" {
		f, err := os.Create(opts.cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "parlance-bench: %v\n", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "parlance-bench: %v\n", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	failed := false
	for _, s := range opts.scenarios {
		sctx, cancel := context.WithTimeout(ctx, opts.timeout)
		start := time.Now()
		fmt.Fprintf(progress, "== %s\n", s)
		err := runScenario(sctx, s, opts, progress, rep)
		if err != nil && errors.Is(sctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("%w (the scenario ran over --timeout %v)", err, opts.timeout)
		}
		cancel()
		if err != nil {
			failed = true
			rep.Errors = append(rep.Errors, fmt.Sprintf("%s: %v", s, err))
			fmt.Fprintf(progress, "== %s failed: %v\n", s, err)
		} else {
			fmt.Fprintf(progress, "== %s done in %s\n", s, time.Since(start).Round(100*time.Millisecond))
		}
		if ctx.Err() != nil {
			break
		}
	}
	rep.Duration = time.Since(rep.Started)
	rep.Machine.LoadEnd = sysinfo.LoadAverage()
	if cpuEnd, err := sysinfo.SampleCPU(); err == nil && cpuErr == nil {
		rep.Machine.OthersCPU = cpuStart.OthersPercent(cpuEnd)
	}
	if err := rep.WriteTable(stdout); err != nil {
		fmt.Fprintf(stderr, "parlance-bench: %v\n", err)
		return 1
	}
	if opts.jsonPath != "" {
		if err := rep.WriteJSON(opts.jsonPath); err != nil {
			fmt.Fprintf(stderr, "parlance-bench: %v\n", err)
			return 1
		}
	}
	if failed || ctx.Err() != nil {
		return 1
	}
	return 0
}

func runScenario(ctx context.Context, name string, opts *options, progress io.Writer, rep *report.Report) error {
	switch name {
	case discoverybench.Scenario:
		cfg := opts.discovery
		cfg.Ports = discoverybench.NewPorts(uint16(opts.portBase))
		cfg.Progress = progress
		return discoverybench.Run(ctx, cfg, rep)
	case messagingbench.Scenario:
		cfg := opts.messaging
		cfg.Progress = progress
		return messagingbench.Run(ctx, cfg, rep)
	case bootstrapbench.Scenario:
		cfg := opts.bootstrap
		cfg.Progress = progress
		return bootstrapbench.Run(ctx, cfg, rep)
	case tuibench.Scenario:
		cfg := opts.tui
		cfg.Progress = nil // go test's own output is noisy; the table has it
		return tuibench.Run(ctx, cfg, rep)
	case storagebench.Scenario:
		cfg := opts.storage
		cfg.Progress = progress
		return storagebench.Run(ctx, cfg, rep)
	}
	return fmt.Errorf("unknown scenario %q", name)
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("parlance-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &options{}
	scenarios := fs.String("scenarios", strings.Join(allScenarios, ","), "scenarios to run, comma-separated: "+strings.Join(allScenarios, ", "))
	fs.StringVar(&o.jsonPath, "json", "", "also write the results to `FILE` as JSON")
	fs.BoolVar(&o.quiet, "quiet", false, "no progress lines on stderr")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of this process (discovery, messaging and the bootstrap clients run in it) to `FILE`")
	fs.DurationVar(&o.timeout, "timeout", 15*time.Minute, "give up on a scenario after this long")

	nodes := fs.String("nodes", "2,10,50", "discovery: group sizes N")
	fs.IntVar(&o.discovery.Rounds, "rounds", 20, "discovery: rounds of each pattern per size (Parlance, one after another)")
	fs.IntVar(&o.discovery.BaselineRounds, "baseline-rounds", 5, "discovery: rounds of each pattern per size with the original's behaviour (all at once; 0 skips the baseline)")
	fs.UintVar(&o.portBase, "port-base", 0, "discovery: first multicast port to use (0: random in 30000-31500; the default 6789 is never used)")

	fs.DurationVar(&o.messaging.Duration, "duration", 2*time.Second, "messaging: length of each load (ping-pong, flood, paced) of each method")
	fs.IntVar(&o.messaging.Rate, "rate", 10_000, "messaging: messages a second of the paced load")

	clients := fs.String("clients", "1000,10000,50000", "bootstrap: numbers K of idle clients (one server each)")
	fs.IntVar(&o.bootstrap.Room, "room", 2000, "bootstrap: push clients in the join-propagation room (0 skips it); building it costs O(n²) pushes: 10000 (the target's size) takes about 9 minutes on 2 cores")
	fs.IntVar(&o.bootstrap.JoinRounds, "join-rounds", 20, "bootstrap: timed joins into the room")
	oneRoom := fs.String("one-room", "", "bootstrap: numbers K of original clients in one room, one server each, e.g. 2000,5000,19000 (empty skips it): RSS per connection, CPU per list_peers round, clients disconnected")
	fs.IntVar(&o.bootstrap.ClusterRoom, "cluster-room", 0, "bootstrap: push clients in a room spread over --cluster-servers servers sharing a NATS server (started with go run; 0 skips it)")
	fs.IntVar(&o.bootstrap.ClusterServers, "cluster-servers", 3, "bootstrap: servers in the cluster measurement")
	fs.IntVar(&o.bootstrap.ClusterIdle, "cluster-idle", 0, "bootstrap: idle clients spread over the cluster's servers, held by client processes of their own (15,000 each), e.g. 50000")
	fs.IntVar(&o.bootstrap.ListRounds, "list-rounds", 3, "bootstrap: rounds of list_peers in the one-room measurement")
	fs.IntVar(&o.bootstrap.ListReadRate, "list-read-rate", 0, "bootstrap: one-room clients read their lists at most this many `bytes/s` each (0: as fast as they can); e.g. 16384 for a slow link")
	fs.StringVar(&o.bootstrap.OriginalBootstrap, "original-bootstrap", "", "bootstrap: `PATH` of the original Rust bootstrap-server, measured beside ours in the one-room measurement (skipped without)")
	fs.BoolVar(&o.bootstrap.RoomBatch, "room-batch", true, "bootstrap: room members ask for peers_joined (several joins in one message), as parlance does; false: one peer_joined per join")
	fs.DurationVar(&o.bootstrap.Steady, "steady", 10*time.Second, "bootstrap: how long server CPU is measured at steady state")
	fs.BoolVar(&o.bootstrap.Baseline, "bootstrap-baseline", true, "bootstrap: also measure a server with gorilla/websocket's defaults")
	fs.IntVar(&o.bootstrap.PerAddr, "per-addr", 10_000, "bootstrap: clients per loopback source address (127.1.0.x)")
	fs.StringVar(&o.bootstrap.ProfileDir, "profile", "", "bootstrap: save the server's heap profile (clients held) and CPU profile (steady state) per K in `DIR`")

	history := fs.String("history", "1000,10000,100000", "tui: messages in the conversation (among 1000, 10000, 100000)")
	fs.StringVar(&o.tui.BenchTime, "tui-benchtime", "1s", "tui: go test -benchtime for each benchmark")

	fs.IntVar(&o.storage.Flood, "flood", 100_000, "storage: messages of the durable-receive flood")
	fs.IntVar(&o.storage.Rate, "ack-rate", 1000, "storage: messages a second of the send-to-✓✓ load")
	fs.DurationVar(&o.storage.Duration, "ack-duration", 3*time.Second, "storage: length of the send-to-✓✓ load")
	fs.IntVar(&o.storage.Stored, "stored", 1_000_000, "storage: messages in the large stored history (0 skips the stored-history measures)")
	fs.IntVar(&o.storage.BaselineStored, "stored-baseline", 10_000, "storage: messages in the baseline stored history")
	fs.IntVar(&o.storage.Conversations, "stored-convs", 8, "storage: conversations the stored messages are spread over")
	fs.StringVar(&o.storage.Dir, "storage-dir", "", "storage: directory for the databases (default: the system's temporary directory); the 1,000,000-message one takes a few hundred MB")

	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: parlance-bench [flags]\n\n"+
			"Runs Parlance's end-to-end benchmarks on loopback and prints each figure beside\n"+
			"its target and a baseline measured in the same run. Run it from the source tree\n"+
			"(the tui scenario uses go test): go run ./cmd/parlance-bench\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (see --help)", fs.Arg(0))
	}

	var err error
	if o.scenarios, err = parseScenarios(*scenarios); err != nil {
		return nil, err
	}
	if o.discovery.Sizes, err = parseInts("--nodes", *nodes, 2); err != nil {
		return nil, err
	}
	if o.bootstrap.Clients, err = parseInts("--clients", *clients, 1); err != nil {
		return nil, err
	}
	if *oneRoom != "" {
		if o.bootstrap.OneRoom, err = parseInts("--one-room", *oneRoom, 1); err != nil {
			return nil, err
		}
	}
	if o.tui.History, err = parseInts("--history", *history, 1); err != nil {
		return nil, err
	}
	switch {
	case o.discovery.Rounds < 1:
		return nil, errors.New("--rounds must be at least 1")
	case o.discovery.BaselineRounds < 0:
		return nil, errors.New("--baseline-rounds must not be negative")
	case o.portBase > 65000:
		return nil, errors.New("--port-base must be at most 65000")
	case o.portBase != 0 && o.portBase <= lan.DefaultPort && lan.DefaultPort < o.portBase+512:
		return nil, fmt.Errorf("--port-base %d: the run uses up to 512 ports from it, which would include the default port %d", o.portBase, lan.DefaultPort)
	case o.messaging.Duration <= 0 || o.messaging.Rate <= 0:
		return nil, errors.New("--duration and --rate must be positive")
	case o.bootstrap.Room < 0 || o.bootstrap.JoinRounds < 1 && o.bootstrap.Room > 0:
		return nil, errors.New("--room must not be negative, and --join-rounds at least 1")
	case o.bootstrap.Steady <= 0 || o.bootstrap.PerAddr < 1:
		return nil, errors.New("--steady and --per-addr must be positive")
	case o.storage.Flood < 1 || o.storage.Rate < 1 || o.storage.Duration <= 0:
		return nil, errors.New("--flood, --ack-rate and --ack-duration must be positive")
	case o.storage.Stored < 0 || o.storage.BaselineStored < 1 && o.storage.Stored > 0 || o.storage.Conversations < 1:
		return nil, errors.New("--stored must not be negative, --stored-baseline and --stored-convs at least 1")
	case o.timeout <= 0:
		return nil, errors.New("--timeout must be positive")
	}
	if o.portBase == 0 {
		o.portBase = uint(30000 + rand.IntN(1500))
	}
	return o, nil
}

func parseScenarios(s string) ([]string, error) {
	var out []string
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if !slices.Contains(allScenarios, name) {
			return nil, fmt.Errorf("--scenarios: unknown scenario %q (known: %s)", name, strings.Join(allScenarios, ", "))
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("--scenarios: none given")
	}
	// Run in the fixed order, whatever the order given.
	slices.SortFunc(out, func(a, b string) int { return slices.Index(allScenarios, a) - slices.Index(allScenarios, b) })
	return out, nil
}

func parseInts(flagName, s string, least int) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < least {
			return nil, fmt.Errorf("%s: %q is not a whole number of at least %d", flagName, f, least)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no sizes given", flagName)
	}
	return out, nil
}
