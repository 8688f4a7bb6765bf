package bootstrapbench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/parlance-chat/parlance/bootstrap"
	"github.com/parlance-chat/parlance/bootstrap/natsbus"
	"github.com/parlance-chat/parlance/cmd/parlance-bench/internal/sysinfo"
)

// The server runs in a child process, so that its memory and CPU are
// measured alone: the benchmark re-executes its own binary with
// childEnv set. The child serves the WebSocket server and, on another
// loopback port, /stats; it prints one line with both addresses and runs
// until its stdin closes (the parent ended or is done with it).

// childEnv names the implementation the child serves.
const childEnv = "PARLANCE_BENCH_BOOTSTRAP_CHILD"

// natsEnv, if set, is the NATS URL a Parlance child server shares its
// registry over (bootstrap-server --nats).
const natsEnv = "PARLANCE_BENCH_BOOTSTRAP_NATS"

// Implementations the child can serve.
const (
	ImplParlance = "parlance"         // bootstrap.Server
	ImplGorilla  = "gorilla-defaults" // the gorilla chat example's shape
)

// IsChild reports whether this process was started as a benchmark
// server. main (and TestMain) call ChildMain then, instead of their own
// work.
func IsChild() bool { return os.Getenv(childEnv) != "" }

// ChildMain runs the benchmark server and returns the exit code.
func ChildMain() int {
	if err := childMain(os.Getenv(childEnv), os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bootstrap bench server:", err)
		return 1
	}
	return 0
}

// serverStats is what /stats reports.
type serverStats struct {
	Connections  int    `json:"connections"`
	Peers        int    `json:"peers"`
	Goroutines   int    `json:"goroutines"`
	HeapAlloc    uint64 `json:"heap_alloc"` // live heap after a GC when asked for
	HeapInuse    uint64 `json:"heap_inuse"`
	StackInuse   uint64 `json:"stack_inuse"`
	HeapIdle     uint64 `json:"heap_idle"`
	HeapReleased uint64 `json:"heap_released"`
	NextGC       uint64 `json:"next_gc"`
	NumGC        uint32 `json:"num_gc"`
	Sys          uint64 `json:"sys"`
	RSS          int64  `json:"rss"`
	RemotePeers  int    `json:"remote_peers"` // other servers' (Parlance with NATS)
}

type statsFunc func() (connections, peers, remote int)

func childMain(impl string, stdin io.Reader, stdout io.Writer) error {
	if _, err := sysinfo.RaiseFileLimit(1 << 20); err != nil {
		fmt.Fprintln(os.Stderr, "bootstrap bench server: warning:", err)
	}
	if impl == ImplClients {
		return clientsMain(stdin, stdout)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() { // the parent closes stdin when it is done (or dies)
		_, _ = io.Copy(io.Discard, stdin)
		stop()
	}()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	statsLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	var serve func(context.Context, net.Listener) error
	var counts statsFunc
	switch impl {
	case ImplParlance:
		if os.Getenv("GOGC") == "" { // as bootstrap-server runs
			debug.SetGCPercent(bootstrap.DefaultGCPercent)
		}
		cfg := ServerConfig()
		// Only what goes wrong is logged at Info: expiries, clients cut
		// off for not reading.
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
		if url := os.Getenv(natsEnv); url != "" {
			bus, err := natsbus.Connect(url, "parlance-bench server")
			if err != nil {
				return err
			}
			defer func() { _ = bus.Close() }()
			cfg.Bus = bus
		}
		srv := bootstrap.New(cfg)
		serve = srv.Serve
		counts = func() (int, int, int) { s := srv.Stats(); return s.Connections, s.Peers, s.RemotePeers }
	case ImplGorilla:
		srv := newGorillaServer()
		serve = srv.serve
		counts = srv.counts
	default:
		return fmt.Errorf("unknown implementation %q", impl)
	}
	mux := http.NewServeMux()
	mux.Handle("/stats", statsHandler(counts))
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.Handle("/debug/pprof/heap", pprof.Handler("heap"))
	statsSrv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = statsSrv.Serve(statsLn) }()
	defer statsSrv.Close()
	fmt.Fprintf(stdout, "ready ws=%s stats=%s\n", ln.Addr(), statsLn.Addr())
	return serve(ctx, ln)
}

// ServerConfig is the bootstrap.Config the benchmark runs: the defaults,
// but for the connection and peer caps, which would refuse the simulated
// clients (all from a few loopback addresses).
func ServerConfig() bootstrap.Config {
	return bootstrap.Config{MaxConns: 1 << 22, MaxConnsPerIP: 1 << 22, MaxPeers: 1 << 22}
}

func statsHandler(counts statsFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("gc") != "" {
			runtime.GC()
			runtime.GC()
		}
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		rss, _ := sysinfo.RSS(os.Getpid())
		conns, peers, remote := counts()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(serverStats{
			Connections: conns, Peers: peers, RemotePeers: remote, Goroutines: runtime.NumGoroutine(),
			HeapAlloc: m.HeapAlloc, HeapInuse: m.HeapInuse, StackInuse: m.StackInuse, Sys: m.Sys, RSS: rss,
			HeapIdle: m.HeapIdle, HeapReleased: m.HeapReleased, NextGC: m.NextGC, NumGC: m.NumGC,
		})
	})
}

// child is a running benchmark server process.
type child struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *tail // the end of what it logged
	ws     netip.AddrPort
	base   string // http://addr of /stats and /debug/pprof
	stats  string // http://addr/stats
	pid    int
	done   chan error
}

// startChild starts a benchmark server of the given implementation,
// with env added to its environment.
func startChild(impl string, env ...string) (*child, error) {
	logs := &tail{max: 8 << 10}
	cmd, stdin, lines, done, err := startSelf(append([]string{childEnv + "=" + impl}, env...), logs)
	if err != nil {
		return nil, err
	}
	c := &child{cmd: cmd, stdin: stdin, stderr: logs, pid: cmd.Process.Pid, done: done}
	var line string
	select {
	case line = <-lines:
	case <-time.After(10 * time.Second):
	}
	var ws, stats string
	if _, err := fmt.Sscanf(line, "ready ws=%s stats=%s", &ws, &stats); err != nil {
		c.stop()
		return nil, fmt.Errorf("server process did not start (said %q; logged %q)", line, logs.String())
	}
	if c.ws, err = netip.ParseAddrPort(ws); err != nil {
		c.stop()
		return nil, fmt.Errorf("server address %q: %w", ws, err)
	}
	c.base = "http://" + stats
	c.stats = c.base + "/stats"
	return c, nil
}

// startSelf re-executes this binary with env added, logging to logs. It
// returns the process, its stdin (closing it asks the process to end),
// a channel of the first line it prints, and one that gets Wait's result.
func startSelf(env []string, logs *tail) (*exec.Cmd, io.WriteCloser, <-chan string, chan error, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("find own binary: %w", err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = logs
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, nil, nil, nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, nil, nil, fmt.Errorf("start a child process: %w", err)
	}
	lines := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_, _ = io.Copy(io.Discard, stdout)
		done <- cmd.Wait()
	}()
	return cmd, stdin, lines, done, nil
}

// stop ends the server process: stdin closed, then SIGKILL after 10 s.
func (c *child) stop() error {
	defer statsClient.CloseIdleConnections()
	_ = c.stdin.Close()
	select {
	case err := <-c.done:
		return err
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
		return errors.New("server process did not stop within 10 s; killed")
	}
}

var statsClient = &http.Client{Timeout: 30 * time.Second}

// getStats asks the server for its counters; gc forces a collection
// first, so the heap figures are the live heap.
func (c *child) getStats(gc bool) (serverStats, error) {
	url := c.stats
	if gc {
		url += "?gc=1"
	}
	resp, err := statsClient.Get(url)
	if err != nil {
		return serverStats{}, fmt.Errorf("server stats: %w", err)
	}
	defer resp.Body.Close()
	var s serverStats
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		return serverStats{}, fmt.Errorf("server stats: %w", err)
	}
	return s, nil
}

// saveProfile fetches a profile of the server (path: /debug/pprof/...)
// into file.
func (c *child) saveProfile(path, file string) error {
	client := &http.Client{Timeout: 5 * time.Minute}
	resp, err := client.Get(c.base + path)
	if err != nil {
		return fmt.Errorf("fetch profile: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetch profile %s: %s", path, resp.Status)
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return fmt.Errorf("save profile: %w", err)
	}
	f, err := os.Create(file)
	if err != nil {
		return fmt.Errorf("save profile: %w", err)
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("save profile: %w", err)
	}
	return f.Close()
}

// rss and cpu read the server process from /proc, from outside.
func (c *child) rss() (int64, error)         { return sysinfo.RSS(c.pid) }
func (c *child) cpu() (time.Duration, error) { return sysinfo.CPUTime(c.pid) }

// logs returns the end of what the server logged.
func (c *child) logs() string { return c.stderr.String() }

// tail keeps the last max bytes written to it.
type tail struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
