// Command parlance is the Parlance peer-to-peer messenger: a full-screen
// terminal UI (or a line-mode REPL) over LAN multicast discovery or a
// bootstrap server, with direct, end-to-end encrypted messaging.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/parlance-chat/parlance/app"
	"github.com/parlance-chat/parlance/app/config"
	"github.com/parlance-chat/parlance/net/discovery"
	"github.com/parlance-chat/parlance/net/identity"
	"github.com/parlance-chat/parlance/net/lan"
	"github.com/parlance-chat/parlance/net/rendezvous"
	"github.com/parlance-chat/parlance/net/transport"
	"github.com/parlance-chat/parlance/tui"
	"github.com/parlance-chat/parlance/tui/line"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// exitUsage is the exit code for usage and configuration errors.
const exitUsage = 2

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// options are the command-line flags; empty means "not given".
type options struct {
	nickname, configPath, generate, mode, server, ui string
	logFile, dataDir, iface, room                    string
	version                                          bool
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("parlance", flag.ContinueOnError)
	fs.SetOutput(stderr)
	str := func(p *string, long, short, usage string) {
		fs.StringVar(p, long, "", usage)
		if short != "" {
			fs.StringVar(p, short, "", "short for --"+long)
		}
	}
	str(&o.nickname, "nickname", "n", "your nickname (required unless set in the config)")
	str(&o.configPath, "config", "c", "config file (default ./parlance.toml, then $XDG_CONFIG_HOME/parlance/parlance.toml)")
	str(&o.generate, "generate-config", "", "write a commented default config to `FILE` and exit")
	str(&o.mode, "mode", "m", "local (LAN multicast) or internet (bootstrap server)")
	str(&o.server, "bootstrap-server", "", "bootstrap server `URL` for internet mode, e.g. ws://host:8080")
	str(&o.ui, "ui", "", "tui (full screen, default) or line (REPL for pipes and scripts)")
	str(&o.logFile, "log-file", "", "write logs to `FILE`")
	str(&o.dataDir, "data-dir", "", "directory of the identity key and contacts (default $XDG_DATA_HOME/parlance)")
	str(&o.iface, "interface", "", "pin LAN discovery to one network interface, e.g. eth0")
	str(&o.room, "room", "", "internet mode: the room to join (default: the shared room)")
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: parlance -n NICKNAME [flags]\n\nA peer-to-peer messenger for the terminal.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return o, nil
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "parlance:", err)
		return exitUsage
	}
	if o.version {
		fmt.Fprintln(stdout, "parlance", version)
		return 0
	}
	if o.generate != "" {
		if err := config.WriteDefault(o.generate); err != nil {
			fmt.Fprintln(stderr, "parlance:", err)
			return 1
		}
		fmt.Fprintln(stdout, "wrote", o.generate)
		return 0
	}
	cfg, err := loadConfig(o)
	if err != nil {
		fmt.Fprintln(stderr, "parlance:", err)
		return exitUsage
	}
	if err := start(cfg, stdin, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "parlance:", err)
		return 1
	}
	return 0
}

// loadConfig finds and reads the config file, then applies the flags.
func loadConfig(o options) (config.Config, error) {
	path, err := config.Find(o.configPath)
	if err != nil {
		return config.Config{}, err
	}
	cfg := config.Default()
	if path != "" {
		if cfg, err = config.Load(path); err != nil {
			return config.Config{}, err
		}
	}
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&cfg.Nickname, o.nickname)
	set(&cfg.Network.Mode, o.mode)
	set(&cfg.Network.BootstrapServer, o.server)
	set(&cfg.Network.Room, o.room)
	set(&cfg.UI.Mode, o.ui)
	set(&cfg.UI.LogFile, o.logFile)
	set(&cfg.Storage.DataDir, o.dataDir)
	set(&cfg.Multicast.Interface, o.iface)
	if err := cfg.Validate(); err != nil {
		var ce *config.Error
		if errors.As(err, &ce) {
			// A value from a flag: name the flag, not the file.
			flagOf := map[string]string{"nickname": "--nickname", "network.mode": "--mode", "network.bootstrap_server": "--bootstrap-server", "ui.mode": "--ui", "network.room": "--room"}
			if f := flagOf[ce.Key]; f != "" {
				return config.Config{}, fmt.Errorf("%s: %s", f, ce.Msg)
			}
			if ce.File == "" {
				ce.File = path
			}
		}
		return config.Config{}, err
	}
	if cfg.Nickname == "" {
		return config.Config{}, errors.New("a nickname is required: use -n NICKNAME, or set nickname in the config")
	}
	return cfg, nil
}

// start wires the node together and runs the chosen UI until it quits.
func start(cfg config.Config, stdin io.Reader, stdout, stderr io.Writer) error {
	logger, closeLog, err := openLog(cfg, stderr)
	if err != nil {
		return err
	}
	defer closeLog()

	dataDir, err := cfg.DataDir()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	unlock, err := lockDataDir(dataDir)
	if err != nil {
		return err
	}
	defer unlock()
	id, created, err := identity.LoadOrCreate(dataDir)
	if err != nil {
		return err
	}
	if created {
		logger.Info("created a new identity", "id", id.ID().Grouped(), "dir", dataDir)
	}
	contacts, err := app.OpenContacts(filepath.Join(dataDir, app.ContactsFileName))
	if err != nil {
		return err
	}

	tr, err := transport.Listen(transport.Config{
		Identity:          id,
		ListenAddr:        fmt.Sprintf(":%d", cfg.Network.ListenPort),
		RequireEncryption: cfg.Network.RequireEncryption,
		Logger:            logger.With("part", "transport"),
	})
	if err != nil {
		return fmt.Errorf("listen for messages: %w", err)
	}
	instance := app.NewInstanceID()
	self := discovery.Self{Nickname: cfg.Nickname, Identity: id.ID().String(), Instance: instance, TCPPort: tr.Port()}
	src, err := newSource(cfg, self, id, logger)
	if err != nil {
		tr.Close()
		return err
	}
	node, err := app.NewNode(app.Config{
		Nickname:          cfg.Nickname,
		Identity:          id,
		Instance:          instance,
		Mode:              cfg.Network.Mode,
		Transport:         tr,
		Sources:           []discovery.Source{src},
		Contacts:          contacts,
		RequireEncryption: cfg.Network.RequireEncryption,
		Logger:            logger.With("part", "node"),
	})
	if err != nil {
		tr.Close()
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	nodeCtx, stopNode := context.WithCancel(ctx)
	nodeDone := make(chan error, 1)
	go func() { nodeDone <- node.Run(nodeCtx) }()

	uiErr := runUI(ctx, cfg, node, logger, stdin, stdout)
	stopNode() // says goodbye
	select {
	case err := <-nodeDone:
		if err != nil && uiErr == nil {
			uiErr = err
		}
	case <-time.After(5 * time.Second):
		logger.Warn("network did not stop within 5 s")
	}
	return uiErr
}

func newSource(cfg config.Config, self discovery.Self, id *identity.Identity, logger *slog.Logger) (discovery.Source, error) {
	switch cfg.Network.Mode {
	case config.ModeInternet:
		c, err := rendezvous.New(rendezvous.Config{
			URL:               cfg.Network.BootstrapServer,
			Self:              self,
			Identity:          id,
			Room:              cfg.Network.Room,
			HeartbeatInterval: cfg.HeartbeatInterval(),
			Logger:            logger.With("part", "rendezvous"),
		})
		if err != nil {
			return nil, fmt.Errorf("start internet discovery: %w", err)
		}
		return c, nil
	default:
		group, err := netip.ParseAddr(cfg.Multicast.Group)
		if err != nil {
			return nil, fmt.Errorf("multicast group: %w", err)
		}
		d, err := lan.New(lan.Config{
			Group:            group,
			Port:             uint16(cfg.Multicast.Port),
			Interface:        cfg.Multicast.Interface,
			AnnounceInterval: cfg.AnnounceInterval(),
			PeerTimeout:      cfg.PeerTimeout(),
			Self:             self,
			Identity:         id,
			Logger:           logger.With("part", "lan"),
		})
		if err != nil {
			return nil, fmt.Errorf("start LAN discovery: %w", err)
		}
		return d, nil
	}
}

func runUI(ctx context.Context, cfg config.Config, node *app.Node, logger *slog.Logger, stdin io.Reader, stdout io.Writer) error {
	if cfg.UI.Mode == config.UILine {
		return line.Run(ctx, node, stdin, stdout)
	}
	return tui.Run(ctx, node, tui.Options{Bell: cfg.UI.Bell, Logger: logger.With("part", "tui")})
}

// openLog sets up logging: to the configured file, else to a file in the
// state directory for the TUI (which owns the terminal), else to stderr.
func openLog(cfg config.Config, stderr io.Writer) (*slog.Logger, func(), error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.UI.LogLevel)); err != nil {
		return nil, nil, fmt.Errorf("log level: %w", err)
	}
	path := cfg.UI.LogFile
	if path == "" && cfg.UI.Mode == config.UITUI {
		dir, err := config.StateDir()
		if err != nil {
			return nil, nil, err
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, nil, fmt.Errorf("create state directory: %w", err)
		}
		path = filepath.Join(dir, "parlance.log")
	}
	if path == "" {
		return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})), func() {}, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("open log file: %w (set another with --log-file)", err)
	}
	return slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: level})), func() { f.Close() }, nil
}

// lockDataDir takes an exclusive lock on the data directory, so two
// processes never share one identity (they would see each other as
// themselves).
func lockDataDir(dir string) (func(), error) {
	path := filepath.Join(dir, "lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock data directory: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("another parlance is running with the data directory %s; give this one its own with --data-dir DIR", dir)
		}
		return nil, fmt.Errorf("lock data directory: %w", err)
	}
	return func() { f.Close() }, nil
}
