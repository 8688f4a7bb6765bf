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
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/charmbracelet/x/term"
	"golang.org/x/sys/unix"

	"github.com/parlance-chat/parlance/app"
	"github.com/parlance-chat/parlance/app/config"
	"github.com/parlance-chat/parlance/app/group"
	"github.com/parlance-chat/parlance/app/store/sqlite"
	"github.com/parlance-chat/parlance/net/discovery"
	"github.com/parlance-chat/parlance/net/identity"
	"github.com/parlance-chat/parlance/net/lan"
	"github.com/parlance-chat/parlance/net/mailbox"
	"github.com/parlance-chat/parlance/net/rendezvous"
	"github.com/parlance-chat/parlance/net/transport"
	"github.com/parlance-chat/parlance/net/wire"
	"github.com/parlance-chat/parlance/tui"
	"github.com/parlance-chat/parlance/tui/line"
)

// version, when set at build time with -ldflags "-X main.version=...",
// replaces the module version of the build info.
var version = ""

// exitUsage is the exit code for usage and configuration errors.
const exitUsage = 2

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// options are the command-line flags; empty means "not given".
type options struct {
	nickname, configPath, generate, mode, ui string
	servers                                  []string
	logFile, dataDir, iface, room, waitPeers string
	version                                  bool
}

// errUsage is a mistake on the command line, already described.
var errUsage = errors.New("usage")

// parseFlags reads the command line. --help prints the usage to stdout
// (flag.ErrHelp); a mistake is one line on stderr plus a pointer to
// --help (errUsage).
func parseFlags(args []string, stdout, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("parlance", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported below, the usage on --help
	str := func(p *string, long, short, usage string) {
		fs.StringVar(p, long, "", usage)
		if short != "" {
			fs.StringVar(p, short, "", "short for --"+long)
		}
	}
	str(&o.nickname, "nickname", "n", "your nickname (required unless set in the config)")
	str(&o.configPath, "config", "c", "config file (default ./parlance.toml, then $XDG_CONFIG_HOME/parlance/parlance.toml)")
	str(&o.generate, "generate-config", "", "write a commented default config to `FILE` and exit")
	str(&o.mode, "mode", "m", "local (LAN multicast; lan works too), internet (bootstrap server) or both")
	fs.Func("bootstrap-server", "bootstrap server `URL` for internet and both modes, e.g. ws://host:8080 (repeat it to fail over between several)", func(v string) error {
		o.servers = append(o.servers, v)
		return nil
	})
	str(&o.ui, "ui", "", "tui (full screen, default) or line (REPL for pipes and scripts)")
	str(&o.logFile, "log-file", "", "write logs to `FILE`")
	str(&o.dataDir, "data-dir", "", "directory of the identity key and contacts (default $XDG_DATA_HOME/parlance)")
	str(&o.iface, "interface", "", "pin LAN discovery to one network interface, e.g. eth0")
	str(&o.room, "room", "", "internet mode: the room to join (default: the shared room)")
	str(&o.waitPeers, "wait-peer", "", "line mode: wait until the peers `NICK[,NICK...]` are online before reading commands (for scripts)")
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stdout, "Usage: parlance -n NICKNAME [flags]\n\nA peer-to-peer messenger for the terminal.\n\nFlags:\n")
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return o, err
		}
		fmt.Fprintf(stderr, "parlance: %v\nsee parlance --help\n", err)
		return o, errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "parlance: unexpected argument %q\nsee parlance --help\n", fs.Arg(0))
		return o, errUsage
	}
	return o, nil
}

// versionText is the module version and VCS revision from the build
// info; a build without VCS stamping (-buildvcs=false, go run) says so.
func versionText(info *debug.BuildInfo, ok bool) string {
	v := version
	if v == "" && ok {
		v = info.Main.Version
	}
	if v == "" {
		v = "(devel)"
	}
	rev, modified := "", false
	if ok {
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	switch {
	case rev == "":
		return "parlance " + v + " (no VCS revision in the build)"
	case modified:
		return "parlance " + v + " (revision " + rev + ", modified)"
	}
	return "parlance " + v + " (revision " + rev + ")"
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		return exitUsage
	}
	if o.version {
		fmt.Fprintln(stdout, versionText(debug.ReadBuildInfo()))
		return 0
	}
	if o.generate == "-" {
		fmt.Fprint(stdout, config.Commented)
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
		fmt.Fprintf(stderr, "parlance: %v\nsee parlance --help\n", err)
		return exitUsage
	}
	var wait []string
	if o.waitPeers != "" {
		if cfg.UI.Mode != config.UILine {
			fmt.Fprintln(stderr, "parlance: --wait-peer works with --ui line\nsee parlance --help")
			return exitUsage
		}
		for _, n := range strings.Split(o.waitPeers, ",") {
			if n = strings.TrimSpace(n); n != "" {
				wait = append(wait, n)
			}
		}
	}
	if cfg.UI.Mode == config.UITUI && !isTerminal(stdin, stdout) {
		fmt.Fprintln(stderr, "parlance: the full-screen UI needs a terminal, and standard input or output is not one; use --ui line for pipes and scripts")
		return exitUsage
	}
	if err := start(cfg, wait, stdin, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "parlance:", err)
		return 1
	}
	return 0
}

// isTerminal reports whether both in and out are terminals.
func isTerminal(in io.Reader, out io.Writer) bool {
	for _, f := range []any{in, out} {
		fd, ok := f.(interface{ Fd() uintptr })
		if !ok || !term.IsTerminal(fd.Fd()) {
			return false
		}
	}
	return true
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
	set(&cfg.Network.Mode, config.NormalizeMode(o.mode))
	if len(o.servers) > 0 {
		cfg.Network.BootstrapServer = o.servers
	}
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
// Everything it opens is closed, in reverse order, on every path out.
func start(cfg config.Config, waitPeers []string, stdin io.Reader, stdout, stderr io.Writer) (err error) {
	var closers closeStack
	defer func() {
		if cerr := closers.close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	logger, closeLog, err := openLog(cfg, stderr)
	if err != nil {
		return err
	}
	closers.push(func() error { closeLog(); return nil })

	dataDir, err := openProfile(cfg, logger)
	if err != nil {
		return err
	}
	unlock, err := lockDataDir(dataDir)
	if err != nil {
		return err
	}
	closers.push(func() error { unlock(); return nil })
	id, created, err := identity.LoadOrCreate(dataDir)
	if err != nil {
		return err
	}
	if created {
		logger.Info("created a new identity", "id", id.ID().Grouped(), "dir", dataDir)
	}
	st, err := openStore(cfg, dataDir, logger)
	if err != nil {
		return err
	}
	closers.push(st.Close)
	var groups group.Store // nil: in memory, as with history = "off"
	var groupRecords app.RecordStore
	if cfg.Storage.History == config.HistoryOn {
		groupRecords = st
		gs, err := group.OpenFileStore(filepath.Join(dataDir, GroupsFileName))
		if err != nil {
			return err
		}
		if gs.Skipped > 0 {
			logger.Warn("group store: unreadable lines skipped (the members' catch-up brings them back)", "lines", gs.Skipped)
		}
		if gs.Compacted {
			logger.Info("group store compacted", "dead_lines", gs.Dead)
		}
		closers.push(gs.Close)
		groups = gs
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
	closers.push(tr.Close)
	instance := app.NewInstanceID()
	self := discovery.Self{Nickname: cfg.Nickname, Identity: id.ID().String(), Instance: instance, TCPPort: tr.Port()}
	// The bootstrap client hands its extension messages (connect offers,
	// mailbox answers) to the node, which exists once the sources do; it
	// sends none before the node runs.
	var nodeReady atomic.Pointer[app.Node]
	onServerMessage := func(si rendezvous.ServerInfo, m wire.ServerMessage) {
		if n := nodeReady.Load(); n != nil {
			n.ServerMessage(si, m)
		}
	}
	features := []string{wire.FeatureReach}
	if cfg.Delivery.Mailbox {
		features = append(features, wire.FeatureMailbox)
	}
	srcs, rv, err := newSources(cfg, self, id, logger, features, onServerMessage)
	if err != nil {
		return err
	}
	mbox, err := mailboxConfig(cfg, rv, dataDir, st, logger)
	if err != nil {
		return err
	}
	var reach *app.ReachConfig
	if rv != nil {
		reach = &app.ReachConfig{Server: rv, RelayDial: rv.DialRelay}
	}
	files, err := filesConfig(cfg, st)
	if err != nil {
		return err
	}
	node, err := app.NewNode(app.Config{
		Nickname:          cfg.Nickname,
		Identity:          id,
		Instance:          instance,
		Mode:              cfg.Network.Mode,
		Transport:         tr,
		Sources:           srcs,
		Store:             st,
		GroupStore:        groups,
		GroupRecords:      groupRecords,
		OutboxTTL:         cfg.OutboxTTL(),
		ReadReceipts:      cfg.UI.ReadReceipts,
		RequireEncryption: cfg.Network.RequireEncryption,
		Files:             files,
		Mailbox:           mbox,
		Reach:             reach,
		Logger:            logger.With("part", "node"),
	})
	if err != nil {
		return err
	}
	nodeReady.Store(node)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	nodeCtx, stopNode := context.WithCancel(ctx)
	nodeDone := make(chan error, 1)
	go func() { nodeDone <- node.Run(nodeCtx) }()

	uiErr := runUI(ctx, cfg, node, logger, waitPeers, stdin, stdout)
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

// closeStack closes what start opened, last opened first.
type closeStack []func() error

func (s *closeStack) push(f func() error) { *s = append(*s, f) }

func (s *closeStack) close() error {
	var errs []error
	for i := len(*s) - 1; i >= 0; i-- {
		if err := (*s)[i](); err != nil {
			errs = append(errs, err)
		}
	}
	*s = nil
	return errors.Join(errs...)
}

// filesConfig is the node's file transfer from [files]. The node owns the
// engine it makes: the end of node.Run stops it (downloads keep their
// checkpoints and resume at the next start).
// Transfer records live in the profile's database.
func filesConfig(cfg config.Config, records app.RecordStore) (*app.FilesConfig, error) {
	dir, err := cfg.DownloadDir()
	if err != nil {
		return nil, err
	}
	return &app.FilesConfig{
		Dir:                dir,
		Store:              app.TransferStore(records),
		MaxSize:            int64(cfg.Files.MaxFileMB) << 20,
		AutoAcceptVerified: cfg.Files.AutoAccept == config.AutoAcceptVerified,
		AutoAcceptMax:      int64(cfg.Files.AutoAcceptMaxMB) << 20,
		OfferFor:           cfg.OfferTTL(),
	}, nil
}

// DatabaseFileName is the profile's SQLite database.
const DatabaseFileName = "parlance.db"

// GroupsFileName is the file, in the data directory, of the groups' ops
// and messages (group.FileStore), with history = "on".
const GroupsFileName = "groups.jsonl"

// openStore opens the profile's database, importing an older data
// directory's contacts.json the first time.
func openStore(cfg config.Config, dataDir string, logger *slog.Logger) (*sqlite.Store, error) {
	path := filepath.Join(dataDir, DatabaseFileName)
	st, err := sqlite.Open(path, sqlite.Options{History: cfg.Storage.History == config.HistoryOn, Logger: logger.With("part", "store")})
	if err != nil {
		return nil, err
	}
	imported, err := st.ImportContactsJSON(filepath.Join(dataDir, app.ContactsFileName))
	if err != nil {
		st.Close()
		return nil, err
	}
	if imported {
		logger.Info("imported contacts.json into the database", "dir", dataDir)
	}
	return st, nil
}

// openProfile returns this run's data directory, creating it: the one
// --data-dir (or [storage] data_dir) names, else the nickname's profile.
// A data directory from before profiles existed (its identity.pem at the
// top) is adopted, by copy, by the first nickname that starts: its
// identity, contacts and trust carry over; the originals stay in place.
func openProfile(cfg config.Config, logger *slog.Logger) (string, error) {
	dir, perNick, err := cfg.ProfileDir()
	if err != nil {
		return "", err
	}
	if !perNick {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return "", fmt.Errorf("create data directory %s: %w", dir, err)
		}
		return dir, nil
	}
	base := filepath.Dir(filepath.Dir(dir))
	_, errProfiles := os.Stat(filepath.Join(base, config.ProfilesDir))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("create profile directory %s: %w", dir, err)
	}
	if errors.Is(errProfiles, fs.ErrNotExist) {
		if adopted, err := adoptLegacy(base, dir); err != nil {
			return "", err
		} else if adopted {
			logger.Info("the data directory's identity and contacts now belong to this nickname's profile", "from", base, "to", dir)
		}
	}
	return dir, nil
}

// adoptLegacy copies identity.pem and contacts.json from a data directory
// of the layout before profiles into a new, empty profile.
func adoptLegacy(base, profile string) (bool, error) {
	src := filepath.Join(base, identity.KeyFileName)
	if _, err := os.Stat(src); err != nil {
		return false, nil
	}
	for _, name := range []string{identity.KeyFileName, app.ContactsFileName} {
		b, err := os.ReadFile(filepath.Join(base, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("adopt %s into the profile: %w", name, err)
		}
		if err := os.WriteFile(filepath.Join(profile, name), b, 0o600); err != nil {
			return false, fmt.Errorf("adopt %s into the profile %s: %w", name, profile, err)
		}
	}
	return true, nil
}

// mailboxConfig turns on the sealed mailbox when [delivery] mailbox is on
// and a bootstrap server is used: the profile's mailbox key (created the
// first time, beside identity.pem) and the state kept in the database.
func mailboxConfig(cfg config.Config, rc *rendezvous.Client, dataDir string, st *sqlite.Store, logger *slog.Logger) (*app.MailboxConfig, error) {
	if !cfg.Delivery.Mailbox || rc == nil {
		return nil, nil
	}
	key, created, err := mailbox.LoadOrCreateKey(dataDir)
	if err != nil {
		return nil, err
	}
	if created {
		logger.Info("created a mailbox key", "dir", dataDir)
	}
	return &app.MailboxConfig{Server: rc, Key: key, After: cfg.MailboxAfter(), Records: st}, nil
}

// newSources makes the ways of finding peers the mode asks for: the
// bootstrap server, LAN multicast, or both (the server's client first: it
// opens nothing until it runs, while the LAN's sockets open here). The
// bootstrap client, if any, is also returned: it asks the server for
// features (reach, the mailbox) and gives their messages to onMessage.
func newSources(cfg config.Config, self discovery.Self, id *identity.Identity, logger *slog.Logger,
	features []string, onMessage func(rendezvous.ServerInfo, wire.ServerMessage)) ([]discovery.Source, *rendezvous.Client, error) {
	var srcs []discovery.Source
	var rv *rendezvous.Client
	if cfg.UsesServer() {
		c, err := rendezvous.New(rendezvous.Config{
			URLs:              cfg.Network.BootstrapServer,
			Self:              self,
			Identity:          id,
			Room:              cfg.Network.Room,
			HeartbeatInterval: cfg.HeartbeatInterval(),
			Features:          features,
			OnMessage:         onMessage,
			Logger:            logger.With("part", "rendezvous"),
		})
		if err != nil {
			return nil, nil, fmt.Errorf("start internet discovery: %w", err)
		}
		srcs = append(srcs, c)
		rv = c
	}
	if cfg.UsesLAN() {
		group, err := netip.ParseAddr(cfg.Multicast.Group)
		if err != nil {
			return nil, nil, fmt.Errorf("multicast group: %w", err)
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
			return nil, nil, fmt.Errorf("start LAN discovery: %w", err)
		}
		srcs = append(srcs, d)
	}
	return srcs, rv, nil
}

func runUI(ctx context.Context, cfg config.Config, node *app.Node, logger *slog.Logger, waitPeers []string, stdin io.Reader, stdout io.Writer) error {
	if cfg.UI.Mode == config.UILine {
		return line.RunWith(ctx, node, stdin, stdout, line.Options{WaitPeers: waitPeers})
	}
	bell, desktop := cfg.UI.NotifyMethods()
	room := ""
	if cfg.UsesServer() {
		room = cfg.Network.Room
	}
	return tui.Run(ctx, node, tui.Options{
		Bell:    bell,
		Desktop: desktop,
		NoMouse: !cfg.UI.Mouse,
		Room:    room,
		Logger:  logger.With("part", "tui"),
	})
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
			return nil, fmt.Errorf("another parlance is running with the profile %s (same nickname?); use another nickname, or give this one its own directory with --data-dir DIR", dir)
		}
		return nil, fmt.Errorf("lock data directory: %w", err)
	}
	return func() { f.Close() }, nil
}
