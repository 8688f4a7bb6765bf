package bootstrapbench

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/parlance-chat/parlance/cmd/parlance-bench/internal/report"
)

// NATSServerVersion is the nats-server the cluster measurement runs
// (with go run; it is never built into this binary): the version go.mod
// requires for the tests (TestNATSServerVersion checks).
const NATSServerVersion = "v2.15.3"

// Cluster is what the cluster measurement found: a room of push clients
// spread over servers that share one registry through NATS.
type Cluster struct {
	Servers      int             `json:"servers"`
	Room         int             `json:"room"`
	BuildSeconds float64         `json:"build_s"`
	AllKnow      []time.Duration `json:"all_know_ns"` // per round: until the last member, on any server, had it
	Receiver     report.Latency  `json:"per_receiver"`
	// Idle clients held by client processes of their own: registered
	// (all servers), the fewest registrations one server knows (its own
	// and the others'), RSS per connection averaged over the servers.
	Idle           int     `json:"idle"`
	Held           int     `json:"held"`
	KnownMin       int     `json:"known_min"`
	RSSPerConn     float64 `json:"rss_bytes_per_conn"`
	ConnectSeconds float64 `json:"connect_s"`
}

// clientsPerProcess is how many idle clients one clients process holds
// (under the 20,000 open files a process may have here).
const clientsPerProcess = 15_000

// startNATSServer runs nats-server on a free loopback port (go run, in a
// process group of its own so that stop ends the compiled server too).
func startNATSServer(progress io.Writer) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	fmt.Fprintf(progress, "bootstrap: starting nats-server %s on 127.0.0.1:%d (go run; the first time compiles it)\n", NATSServerVersion, port)
	cmd := exec.Command("go", "run", "github.com/nats-io/nats-server/v2@"+NATSServerVersion, "-a", "127.0.0.1", "-p", strconv.Itoa(port))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	logs := &tail{max: 4 << 10}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("start nats-server: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	stop := func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for deadline := time.Now().Add(5 * time.Minute); ; {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return "nats://" + addr, stop, nil
		}
		select {
		case <-done:
			return "", nil, fmt.Errorf("nats-server ended: %s", logs.String())
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			return "", nil, fmt.Errorf("nats-server did not listen within 5 minutes: %s", logs.String())
		}
	}
}

// measureCluster runs cfg.ClusterServers Parlance servers on one NATS
// server, builds a room of cfg.ClusterRoom push clients spread over them
// (member j on server j mod n), and times joins: each round a client
// registers on the next server, and the time until every member, on every
// server, has its join is taken.
func measureCluster(ctx context.Context, cfg Config, progress io.Writer) (*Cluster, error) {
	url, stopNATS, err := startNATSServer(progress)
	if err != nil {
		return nil, err
	}
	defer stopNATS()
	var servers []netip.AddrPort
	var children []*child
	for range cfg.ClusterServers {
		c, err := startChild(ImplParlance, natsEnv+"="+url)
		if err != nil {
			return nil, err
		}
		defer func() { _ = c.stop() }()
		servers = append(servers, c.ws)
		children = append(children, c)
	}
	res := &Cluster{Servers: len(servers), Room: cfg.ClusterRoom, Idle: cfg.ClusterIdle}
	if cfg.ClusterIdle > 0 {
		var rss0 int64
		for _, c := range children {
			r, err := c.rss()
			if err != nil {
				return nil, err
			}
			rss0 += r
		}
		start := time.Now()
		first := cfg.ClusterRoom + cfg.JoinRounds + 1000 // source addresses apart from the room's
		for p := 0; p*clientsPerProcess < cfg.ClusterIdle; p++ {
			n := min(clientsPerProcess, cfg.ClusterIdle-p*clientsPerProcess)
			fmt.Fprintf(progress, "bootstrap: cluster: clients process %d connects %d idle clients\n", p+1, n)
			cp, err := startClients(servers, first+p*clientsPerProcess, n, cfg.PerAddr, 15*time.Minute)
			if err != nil {
				return nil, err
			}
			defer cp.stop()
		}
		res.ConnectSeconds = time.Since(start).Seconds()
		// Wait until every server knows every registration.
		deadline := time.Now().Add(2 * time.Minute)
		for {
			held, known := 0, cfg.ClusterIdle
			var rss int64
			for _, c := range children {
				st, err := c.getStats(false)
				if err != nil {
					return nil, err
				}
				held += st.Peers
				known = min(known, st.Peers+st.RemotePeers)
				r, err := c.rss()
				if err != nil {
					return nil, err
				}
				rss += r
			}
			res.Held, res.KnownMin = held, known
			res.RSSPerConn = float64(rss-rss0) / float64(max(held, 1))
			if (held == cfg.ClusterIdle && known == cfg.ClusterIdle) || time.Now().After(deadline) {
				break
			}
			time.Sleep(time.Second)
		}
		fmt.Fprintf(progress, "bootstrap: cluster: %d idle clients held in %.1f s; the fewest one server knows: %d\n", res.Held, res.ConnectSeconds, res.KnownMin)
	}
	hb := startHeartbeats()
	defer hb.stop()
	fmt.Fprintf(progress, "bootstrap: cluster of %d servers: building a room of %d push clients spread over them\n", len(servers), cfg.ClusterRoom)
	rr, err := runRoom(ctx, cfg, servers, "cluster", 0, cfg.ClusterRoom, hb, progress)
	if err != nil {
		return nil, err
	}
	res.BuildSeconds, res.AllKnow, res.Receiver = rr.buildSeconds, rr.allKnow, rr.receiver
	return res, nil
}

func addClusterRows(rep *report.Report, c *Cluster) {
	prefix := fmt.Sprintf("%d servers over NATS, room of %s push clients: ", c.Servers, report.FormatNumber(float64(c.Room)))
	ps := report.Percentiles(c.AllKnow, 50, 99)
	if c.Idle > 0 {
		idle := fmt.Sprintf("%d servers over NATS, %s idle clients: ", c.Servers, report.FormatNumber(float64(c.Idle)))
		rep.Add(
			report.NewRow(Scenario, idle+"clients held (registered)", float64(c.Held), "", &report.Target{Op: ">=", Value: float64(c.Idle)}),
			report.NewRow(Scenario, idle+"registrations known to every server (fewest)", float64(c.KnownMin), "", &report.Target{Op: ">=", Value: float64(c.Idle)}),
			report.NewRow(Scenario, idle+"server RSS per connection", c.RSSPerConn/1000, "KB", nil),
		)
	}
	rep.Add(
		report.NewRow(Scenario, prefix+"join known to all (every server), p50", report.Ms(ps[0]), "ms", nil),
		report.NewRow(Scenario, prefix+"join known to all (every server), p99", report.Ms(ps[1]), "ms", nil),
		report.NewRow(Scenario, prefix+"join reaches a member, p99", report.Ms(c.Receiver.P99), "ms", nil),
		report.NewRow(Scenario, prefix+"time to build the room", c.BuildSeconds, "s", nil),
	)
	rep.Note(Scenario, "cluster: %d Parlance servers (child processes) share one registry through a nats-server %s (go run, a process of its own); the room's members are spread over them round-robin; each join round registers a client on the next server and times its peers_joined/peer_joined at every member of every server.", c.Servers, NATSServerVersion)
}
