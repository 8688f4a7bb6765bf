// Command bootstrap-server runs Parlance's rendezvous server: peers on
// different networks register over WebSocket, learn each other's
// addresses and then message each other directly over TCP.
//
//	bootstrap-server [--host 0.0.0.0] [--port 8080]
//	                 [--tls-cert FILE --tls-key FILE]
//	                 [--trusted-proxy CIDR]... [--public-url URL]...
//	                 [--nats nats://HOST:4222 [--nats-prefix P]]
//	                 [--relay=false] [--max-relays N] [--max-relays-per-client N]
//	                 [--relay-rate BYTES_PER_SEC]
//
// Clients reach it as ws://HOST:PORT, or wss://HOST:PORT with
// --tls-cert and --tls-key (any path; /healthz reports health). Behind a
// reverse proxy (one that terminates TLS, say), --trusted-proxy names the
// proxy's addresses: connections from them count as coming from the
// client that X-Forwarded-For names. --public-url names the URLs clients
// use, which identity proofs must be bound to. With --nats, servers on one
// NATS server (and prefix) share one registry: clients of any see each
// other. It relays the TLS connection of two peers that cannot reach each
// other directly (--relay=false turns that off). It runs until SIGINT or
// SIGTERM, then closes every connection with a close frame and exits 0.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/parlance-chat/parlance/bootstrap"
	"github.com/parlance-chat/parlance/bootstrap/natsbus"
	"github.com/parlance-chat/parlance/net/wire"
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
	maxPerIP := fs.Int("max-conns-per-ip", bootstrap.DefaultMaxConnsPerIP, "maximum connections from one IPv4 address or IPv6 /64")
	maxPeers := fs.Int("max-peers", bootstrap.DefaultMaxPeers, "maximum registered peers")
	peerTimeout := fs.Duration("peer-timeout", bootstrap.DefaultPeerTimeout, "drop a peer after this long without a heartbeat")
	registerTimeout := fs.Duration("register-timeout", bootstrap.DefaultRegisterTimeout, "close a connection that has not registered for this long")
	tlsCert := fs.String("tls-cert", "", "serve wss:// with this PEM certificate (chain) file; needs --tls-key")
	tlsKey := fs.String("tls-key", "", "PEM private key file of --tls-cert")
	var proxies []netip.Prefix
	fs.Func("trusted-proxy", "address or CIDR of a reverse proxy whose X-Forwarded-For names the client (repeatable, or comma-separated)", func(v string) error {
		for _, item := range strings.Split(v, ",") {
			p, err := parsePrefix(strings.TrimSpace(item))
			if err != nil {
				return err
			}
			proxies = append(proxies, p)
		}
		return nil
	})
	var publicURLs []string
	fs.Func("public-url", "a URL clients use to reach this server, e.g. wss://chat.example.org; identity proofs must name one (repeatable)", func(v string) error {
		if _, err := wire.NormalizeServerURL(v); err != nil {
			return err
		}
		publicURLs = append(publicURLs, v)
		return nil
	})
	natsURL := fs.String("nats", "", "share the registry with the other servers on this NATS server, e.g. nats://127.0.0.1:4222")
	natsPrefix := fs.String("nats-prefix", bootstrap.DefaultBusPrefix, "NATS subject prefix: servers with the same one share a registry")
	relay := fs.Bool("relay", true, "relay the (TLS) connection of two peers that cannot reach each other directly; false turns it off")
	maxRelays := fs.Int("max-relays", bootstrap.DefaultMaxRelays, "maximum relays carrying bytes at once (tokens: 4 times as many)")
	maxRelaysPerClient := fs.Int("max-relays-per-client", bootstrap.DefaultMaxRelaysPerClient, "maximum relays carrying bytes at once of one identity (tokens: 4 times as many)")
	relayRate := fs.Int("relay-rate", bootstrap.DefaultRelayRate, "bytes per second that the relays of one identity carry together")
	mailOn := fs.Bool("mailbox", true, "keep sealed messages for offline peers (clients with a proved identity that ask for it); --mailbox=false turns it off")
	mailDir := fs.String("mailbox-dir", "", "keep the mailbox in this directory (one file per message and per key), so a restart loses no mail; default: in memory only")
	mailPerRecipient := fs.Int("mailbox-max-per-recipient", bootstrap.DefaultMailPerRecipient, "messages kept for one recipient")
	mailPerSender := fs.Int("mailbox-max-per-sender", bootstrap.DefaultMailPerSender, "messages one sender may have waiting, for all recipients")
	mailMB := fs.Int("mailbox-max-mb", bootstrap.DefaultMailTotalBytes>>20, "MiB of sealed messages kept in total")
	mailAge := fs.Duration("mailbox-max-age", bootstrap.DefaultMailMaxAge, "drop a message not fetched within this long")
	gcPercent := fs.Int("gc-percent", bootstrap.DefaultGCPercent, "garbage collection target: the heap may grow this many percent over the live heap before a collection (as GOGC; lower: less memory per connection, more CPU)")
	memLimit := fs.Int64("memory-limit-mb", 0, "soft memory limit in MiB: the garbage collector works harder as the process nears it (0: none)")
	verbose := fs.Bool("verbose", false, "log every connection and registration")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: bootstrap-server [flags]\n\n"+
			"Parlance rendezvous server: keeps a registry of online peers over WebSocket\n"+
			"(clients connect to ws://HOST:PORT, or wss://HOST:PORT with --tls-cert and --tls-key)\n"+
			"so that they can message each other directly, or through its relay (at /relay)\n"+
			"when they cannot.\n\nFlags:\n")
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
	for _, f := range []struct {
		name string
		v    int
	}{{"max-relays", *maxRelays}, {"max-relays-per-client", *maxRelaysPerClient}, {"relay-rate", *relayRate}} {
		if f.v < 1 {
			fmt.Fprintf(stderr, "bootstrap-server: --%s must be at least 1, not %d (--relay=false turns the relay off)\n", f.name, f.v)
			return 2
		}
	}
	if *port > 65535 {
		fmt.Fprintf(stderr, "bootstrap-server: --port must be 0 to 65535, not %d\n", *port)
		return 2
	}
	if *gcPercent < 1 || *memLimit < 0 {
		fmt.Fprintf(stderr, "bootstrap-server: --gc-percent must be at least 1 and --memory-limit-mb at least 0\n")
		return 2
	}
	debug.SetGCPercent(*gcPercent)
	if *memLimit > 0 {
		debug.SetMemoryLimit(*memLimit << 20)
	}
	var tlsConfig *tls.Config
	switch {
	case (*tlsCert == "") != (*tlsKey == ""):
		fmt.Fprintf(stderr, "bootstrap-server: --tls-cert and --tls-key go together\n")
		return 2
	case *tlsCert != "":
		cert, err := tls.LoadX509KeyPair(*tlsCert, *tlsKey)
		if err != nil {
			fmt.Fprintf(stderr, "bootstrap-server: load --tls-cert %s / --tls-key %s: %v\n", *tlsCert, *tlsKey, err)
			return 2
		}
		// HTTP/1.1 only: WebSocket upgrades do not run over HTTP/2.
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}, MinVersion: tls.VersionTLS12}
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
	scheme := "ws://"
	if tlsConfig != nil {
		ln = tls.NewListener(ln, tlsConfig)
		scheme = "wss://"
	}
	var bus bootstrap.Bus
	if *natsURL != "" {
		nb, err := natsbus.Connect(*natsURL, "bootstrap-server "+ln.Addr().String())
		if err != nil {
			_ = ln.Close()
			log.Error("cannot share the registry: is the NATS server running?", "err", err)
			return 1
		}
		defer func() { _ = nb.Close() }()
		bus = nb
		log.Info("sharing the registry over NATS", "url", *natsURL, "prefix", *natsPrefix)
	}
	var mail *bootstrap.MailStore
	if *mailOn {
		mail, err = bootstrap.OpenMailStore(bootstrap.MailConfig{
			Dir:             *mailDir,
			MaxPerRecipient: *mailPerRecipient,
			MaxPerSender:    *mailPerSender,
			MaxTotalBytes:   int64(*mailMB) << 20,
			MaxAge:          *mailAge,
			Logger:          log.With("part", "mailbox"),
		})
		if err != nil {
			_ = ln.Close()
			log.Error("cannot open the mailbox: fix --mailbox-dir, or run with --mailbox=false", "err", err)
			return 1
		}
		where := "in memory (lost at restart; --mailbox-dir keeps it)"
		if *mailDir != "" {
			where = *mailDir
		}
		log.Info("sealed mailbox on", "store", where)
	}
	srv := bootstrap.New(bootstrap.Config{
		Bus:                bus,
		BusPrefix:          *natsPrefix,
		MaxConns:           *maxConns,
		MaxConnsPerIP:      *maxPerIP,
		MaxPeers:           *maxPeers,
		PeerTimeout:        *peerTimeout,
		RegisterTimeout:    *registerTimeout,
		TrustedProxies:     proxies,
		PublicURLs:         publicURLs,
		NoRelay:            !*relay,
		MaxRelays:          *maxRelays,
		MaxRelaysPerClient: *maxRelaysPerClient,
		RelayRate:          *relayRate,
		Mailbox:            mail,
		Logger:             log,
	})
	log.Info("bootstrap server listening", "addr", ln.Addr().String(), "url", scheme+ln.Addr().String(), "relay", *relay)
	if len(publicURLs) == 0 {
		log.Info("no --public-url: identity proofs are checked against the Host header clients send; set --public-url on a server reachable from the internet")
	}
	start := time.Now()
	if err := srv.Serve(ctx, ln); err != nil {
		log.Error("server failed", "err", err)
		return 1
	}
	log.Info("bootstrap server stopped", "uptime", time.Since(start).Round(time.Second))
	return 0
}

// parsePrefix reads a CIDR, or a single address as a prefix of its own.
func parsePrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an address or CIDR", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}
