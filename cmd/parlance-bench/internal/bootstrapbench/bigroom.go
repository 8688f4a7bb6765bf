package bootstrapbench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parlance-chat/parlance/cmd/parlance-bench/internal/report"
	"github.com/parlance-chat/parlance/cmd/parlance-bench/internal/sysinfo"
	"github.com/parlance-chat/parlance/cmd/parlance-bench/internal/wsclient"
)

// ImplOriginal is the original Rust server, run from
// Config.OriginalBootstrap.
const ImplOriginal = "original"

// BigRoom is what one server measured with K original clients in its
// one (default) room, all asking for the peer list at once each round.
type BigRoom struct {
	Impl       string    `json:"impl"`
	K          int       `json:"k"`
	RSSPerConn float64   `json:"rss_bytes_per_conn"`
	CPURounds  []float64 `json:"cpu_s_per_round"`
	// Delivered counts the whole peer_lists read, Disconnected the
	// clients the server cut off, over all rounds.
	Delivered    int `json:"lists_delivered"`
	Disconnected int `json:"clients_disconnected"`
}

// bigRoomServer is a server process for the big-room measurement.
type bigRoomServer struct {
	ws   netip.AddrPort
	pid  int
	stop func() error
}

// startBigRoomServer starts our server (a child process) or the original
// one (the binary at path).
func startBigRoomServer(impl, path string) (*bigRoomServer, error) {
	if impl == ImplParlance {
		c, err := startChild(ImplParlance)
		if err != nil {
			return nil, err
		}
		return &bigRoomServer{ws: c.ws, pid: c.pid, stop: c.stop}, nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0") // a free port, given to the original
	if err != nil {
		return nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	cmd := exec.Command(path, "--host", "127.0.0.1", "--port", strconv.Itoa(port))
	logs := &tail{max: 8 << 10}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the original server %s: %w", path, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stop := func() error {
		_ = cmd.Process.Kill()
		<-done
		return nil
	}
	addr := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err := net.DialTimeout("tcp", addr.String(), time.Second); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			_ = stop()
			return nil, fmt.Errorf("the original server did not listen on %v (logged %q)", addr, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return &bigRoomServer{ws: addr, pid: cmd.Process.Pid, stop: stop}, nil
}

var originalRegister = func(i int) []byte {
	return []byte(`{"type":"register","nickname":"orig` + strconv.Itoa(i) + `","local_addr":"0.0.0.0:4000"}`)
}

// measureBigRoom connects k original clients to one server, all in the
// default room, then runs rounds of list_peers: every client asks at once
// and reads its whole list as fast as it can (k readers on the
// benchmark's share of the machine: slow readers of big lists).
func measureBigRoom(ctx context.Context, cfg Config, impl string, k int, progress io.Writer) (*BigRoom, error) {
	srv, err := startBigRoomServer(impl, cfg.OriginalBootstrap)
	if err != nil {
		return nil, err
	}
	defer func() { _ = srv.stop() }()
	res := &BigRoom{Impl: impl, K: k}
	rss0, err := sysinfo.RSS(srv.pid)
	if err != nil {
		return nil, err
	}
	hb := startHeartbeats()
	defer hb.stop()
	conns, err := connectAll(ctx, srv.ws, 0, k, cfg.PerAddr, 4096, func(i int, c *wsclient.Conn) error {
		if cfg.ListReadRate > 0 { // a slow link: the window, too, is small
			if err := c.SetReadBuffer(16 << 10); err != nil {
				return err
			}
		}
		if err := c.WriteText(originalRegister(i)); err != nil {
			return err
		}
		_ = c.SetReadDeadline(time.Now().Add(time.Minute))
		for { // its registered reply (a Parlance server may ping first)
			f, err := c.SkimFrame(32)
			if err != nil {
				return fmt.Errorf("registered: %w", err)
			}
			if f.Op == wsclient.OpText {
				return nil
			}
		}
	})
	if err != nil {
		return nil, err
	}
	defer closeAll(conns)
	hb.add(conns...)
	rss1, err := sysinfo.RSS(srv.pid)
	if err != nil {
		return nil, err
	}
	res.RSSPerConn = float64(rss1-rss0) / float64(k)
	fmt.Fprintf(progress, "bootstrap: one room, %s server, %d original clients registered; RSS %.1f KB per connection\n", impl, k, res.RSSPerConn/1000)

	alive := make([]bool, k)
	for i := range alive {
		alive[i] = true
	}
	for round := range cfg.ListRounds {
		cpu0, err := sysinfo.CPUTime(srv.pid)
		if err != nil {
			return nil, err
		}
		var delivered, lost atomic.Int64
		var wg sync.WaitGroup
		for i, c := range conns {
			if !alive[i] {
				continue
			}
			wg.Go(func() {
				if err := readList(c, cfg.ListReadRate); err != nil {
					alive[i] = false
					lost.Add(1)
					return
				}
				delivered.Add(1)
			})
		}
		wg.Wait()
		cpu1, err := sysinfo.CPUTime(srv.pid)
		if err != nil {
			return nil, err
		}
		res.CPURounds = append(res.CPURounds, (cpu1 - cpu0).Seconds())
		res.Delivered += int(delivered.Load())
		res.Disconnected += int(lost.Load())
		fmt.Fprintf(progress, "bootstrap: one room, %s server, K=%d, round %d: %d lists, %d clients disconnected, server CPU %.1f s\n",
			impl, k, round+1, delivered.Load(), lost.Load(), (cpu1 - cpu0).Seconds())
	}
	return res, nil
}

var prefixPeerList = []byte(`{"type":"peer_list"`)

// readList asks for the peer list and reads until the whole of it has
// arrived (pings skipped: the heartbeats keep the connection), at most
// rate bytes a second if rate > 0 (a slow link).
func readList(c *wsclient.Conn, rate int) error {
	if err := c.WriteText([]byte(`{"type":"list_peers"}`)); err != nil {
		return err
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Minute))
	inList := false
	start, read := time.Now(), 0
	for {
		f, err := c.SkimFrame(len(prefixPeerList))
		if err != nil {
			return err
		}
		if read += f.Size; rate > 0 {
			if ahead := time.Duration(float64(read)/float64(rate)*float64(time.Second)) - time.Since(start); ahead > 0 {
				time.Sleep(ahead)
			}
		}
		if f.Op == wsclient.OpText {
			inList = bytes.Equal(f.Payload, prefixPeerList)
		}
		if inList && f.Fin && (f.Op == wsclient.OpText || f.Op == wsclient.OpContinuation) {
			return nil
		}
	}
}

// runBigRoom measures every K of Config.OneRoom on our server and, given
// its path, the original's.
func runBigRoom(ctx context.Context, cfg Config, fits int, rep *report.Report, progress io.Writer) error {
	impls := []string{ImplParlance}
	if cfg.OriginalBootstrap != "" {
		impls = append(impls, ImplOriginal)
	} else {
		rep.Note(Scenario, "one room: the original server was skipped (give its binary with --original-bootstrap PATH).")
	}
	for _, k := range cfg.OneRoom {
		if k > fits {
			rep.Errors = append(rep.Errors, fmt.Sprintf("bootstrap: one room of %d does not fit the open-file limit; skipped", k))
			continue
		}
		byImpl := map[string]*BigRoom{}
		for _, impl := range impls {
			r, err := measureBigRoom(ctx, cfg, impl, k, progress)
			if err != nil {
				return fmt.Errorf("one room, %s, K=%d: %w", impl, k, err)
			}
			rep.Detail(fmt.Sprintf("bootstrap_oneroom_K%d_%s", k, impl), r)
			byImpl[impl] = r
		}
		addBigRoomRows(rep, byImpl[ImplParlance], byImpl[ImplOriginal], filepath.Base(cfg.OriginalBootstrap))
	}
	rep.Note(Scenario, "one room: K original clients (no extensions) in the default room of one server, heartbeating every 10 s. RSS per connection = (RSS with K registered - before) / K. Then %d rounds: every client sends list_peers at once and reads its whole list (K readers sharing the benchmark's CPU, each at most %d bytes/s with a 16 KB socket receive buffer if that is not 0: slow readers of lists of K entries); CPU is the server's user+system time per round; a client the server cuts off is counted and not used again.", cfg.ListRounds, cfg.ListReadRate)
	return nil
}

// addBigRoomRows adds the rows of one K; the baseline, if measured, is
// named after the binary given (the original's, normally).
func addBigRoomRows(rep *report.Report, ours, orig *BigRoom, origName string) {
	prefix := fmt.Sprintf("one room, K=%s original clients: ", report.FormatNumber(float64(ours.K)))
	meanCPU := func(r *BigRoom) float64 {
		if len(r.CPURounds) == 0 {
			return 0
		}
		t := 0.0
		for _, c := range r.CPURounds {
			t += c
		}
		return t / float64(len(r.CPURounds))
	}
	withOrig := func(row report.Row, v func(*BigRoom) float64) report.Row {
		if orig == nil {
			return row
		}
		return row.WithBaseline(origName, v(orig))
	}
	rep.Add(
		withOrig(report.NewRow(Scenario, prefix+"server RSS per connection", ours.RSSPerConn/1000, "KB", &report.Target{Op: "<=", Value: 8}),
			func(r *BigRoom) float64 { return r.RSSPerConn / 1000 }),
		withOrig(report.NewRow(Scenario, prefix+"server CPU per list_peers round", meanCPU(ours), "s", nil), meanCPU),
		withOrig(report.NewRow(Scenario, prefix+"clients disconnected", float64(ours.Disconnected), "", &report.Target{Op: "<=", Value: 0}),
			func(r *BigRoom) float64 { return float64(r.Disconnected) }),
	)
}
