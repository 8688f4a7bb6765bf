package bootstrapbench

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/parlance-chat/parlance/cmd/parlance-bench/internal/wsclient"
)

// ImplClients makes a child process hold idle clients instead of serving:
// the open-file limit is per process, so 50,000 clients need several.
const ImplClients = "clients"

// clientsEnv tells a clients child what to hold: "first,count,perAddr,"
// followed by the servers' addresses separated by ';'. The clients (and
// source addresses) from first on are split into one block per server.
const clientsEnv = "PARLANCE_BENCH_BOOTSTRAP_CLIENTS"

// clientsMain connects and registers the idle clients (as in the idle
// measurement), prints "ready N", heartbeats, and closes them all when
// stdin closes.
func clientsMain(stdin io.Reader, stdout io.Writer) error {
	parts := strings.SplitN(os.Getenv(clientsEnv), ",", 4)
	if len(parts) != 4 {
		return fmt.Errorf("bad %s", clientsEnv)
	}
	first, err1 := strconv.Atoi(parts[0])
	count, err2 := strconv.Atoi(parts[1])
	perAddr, err3 := strconv.Atoi(parts[2])
	if err1 != nil || err2 != nil || err3 != nil {
		return fmt.Errorf("bad %s", clientsEnv)
	}
	var servers []netip.AddrPort
	for _, s := range strings.Split(parts[3], ";") {
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			return err
		}
		servers = append(servers, ap)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hb := startHeartbeats()
	defer hb.stop()
	var all []*wsclient.Conn
	defer func() { closeAll(all) }()
	// Each server gets a block of consecutive clients (and source
	// addresses, so that no two processes share one).
	block := (count + len(servers) - 1) / len(servers)
	for s, srv := range servers {
		base := first + s*block
		n := min(block, count-s*block)
		if n <= 0 {
			break
		}
		conns, err := connectAll(ctx, srv, base, n, perAddr, 256, func(i int, c *wsclient.Conn) error {
			return c.WriteText(registerIdle(i))
		})
		if err != nil {
			return err
		}
		all = append(all, conns...)
		hb.add(conns...)
	}
	fmt.Fprintf(stdout, "ready %d\n", len(all))
	_, _ = io.Copy(io.Discard, stdin)
	return nil
}

// clientsChild is a running clients child process.
type clientsChild struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan error
}

// startClients starts a child holding count idle clients over servers,
// and waits until they are registered (or the timeout).
func startClients(servers []netip.AddrPort, first, count, perAddr int, timeout time.Duration) (*clientsChild, error) {
	var addrs []string
	for _, s := range servers {
		addrs = append(addrs, s.String())
	}
	logs := &tail{max: 4 << 10}
	cmd, stdin, ready, done, err := startSelf([]string{childEnv + "=" + ImplClients,
		fmt.Sprintf("%s=%d,%d,%d,%s", clientsEnv, first, count, perAddr, strings.Join(addrs, ";"))}, logs)
	if err != nil {
		return nil, err
	}
	c := &clientsChild{cmd: cmd, stdin: stdin, done: done}
	select {
	case line, ok := <-ready:
		if ok && line == fmt.Sprintf("ready %d", count) {
			return c, nil
		}
		c.stop()
		return nil, fmt.Errorf("clients process said %q (logged %q)", line, logs.String())
	case <-time.After(timeout):
		c.stop()
		return nil, fmt.Errorf("clients process not ready within %v (logged %q)", timeout, logs.String())
	}
}

func (c *clientsChild) stop() {
	_ = c.stdin.Close()
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}
