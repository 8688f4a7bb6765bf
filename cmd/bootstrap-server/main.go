// Command bootstrap-server runs Parlance's rendezvous server: peers on
// different networks register over WebSocket, learn each other's
// addresses and then message each other directly over TCP.
//
//	bootstrap-server [--host 0.0.0.0] [--port 8080]
//
// Clients reach it as ws://HOST:PORT (any path; /healthz reports health).
// It runs until SIGINT or SIGTERM, then closes every connection with a
// close frame and exits 0.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/parlance-chat/parlance/bootstrap"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stderr))
}

// run parses args, serves until ctx is cancelled and returns the exit
// code: 0 after a clean stop (and for --help), 2 for bad flags, 1 if
// serving fails.
func run(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("bootstrap-server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	host := fs.String("host", "0.0.0.0", "IP address to listen on (an IP literal, e.g. 0.0.0.0, 127.0.0.1 or ::)")
	port := fs.Uint("port", 8080, "TCP port to listen on (0 picks a free one)")
	maxConns := fs.Int("max-conns", bootstrap.DefaultMaxConns, "maximum open connections")
	maxPerIP := fs.Int("max-conns-per-ip", bootstrap.DefaultMaxConnsPerIP, "maximum connections from one IP address")
	maxPeers := fs.Int("max-peers", bootstrap.DefaultMaxPeers, "maximum registered peers")
	peerTimeout := fs.Duration("peer-timeout", bootstrap.DefaultPeerTimeout, "drop a peer after this long without a heartbeat")
	verbose := fs.Bool("verbose", false, "log every connection and registration")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: bootstrap-server [flags]\n\n"+
			"Parlance rendezvous server: keeps a registry of online peers over WebSocket\n"+
			"(clients connect to ws://HOST:PORT) so that they can message each other directly.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "bootstrap-server: unexpected argument %q (see --help)\n", fs.Arg(0))
		return 2
	}
	ip, err := netip.ParseAddr(*host)
	if err != nil || ip.Zone() != "" {
		fmt.Fprintf(stderr, "bootstrap-server: --host must be an IP address such as 0.0.0.0, 127.0.0.1 or ::, not %q\n", *host)
		return 2
	}
	if *port > 65535 {
		fmt.Fprintf(stderr, "bootstrap-server: --port must be 0 to 65535, not %d\n", *port)
		return 2
	}

	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	addr := net.JoinHostPort(ip.String(), strconv.Itoa(int(*port)))
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		log.Error("cannot listen", "addr", addr, "err", err)
		return 1
	}
	srv := bootstrap.New(bootstrap.Config{
		MaxConns:      *maxConns,
		MaxConnsPerIP: *maxPerIP,
		MaxPeers:      *maxPeers,
		PeerTimeout:   *peerTimeout,
		Logger:        log,
	})
	log.Info("bootstrap server listening", "addr", ln.Addr().String(), "url", "ws://"+ln.Addr().String())
	start := time.Now()
	if err := srv.Serve(ctx, ln); err != nil {
		log.Error("server failed", "err", err)
		return 1
	}
	log.Info("bootstrap server stopped", "uptime", time.Since(start).Round(time.Second))
	return 0
}
