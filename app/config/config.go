// Package config loads parlance.toml: the original's schema ([network],
// [discovery], [peer]) plus Parlance's own keys. Unknown keys, wrong types
// and bad values are errors that name the file, the key and the line.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"

	"github.com/parlance-chat/parlance/net/wire"
)

// FileName is the config file's name in the places it is looked for.
const FileName = "parlance.toml"

// Config is the whole configuration. Field names follow the TOML keys.
type Config struct {
	Nickname  string    `toml:"nickname"`
	Network   Network   `toml:"network"`
	Discovery Discovery `toml:"discovery"`
	Peer      PeerCfg   `toml:"peer"`
	Multicast Multicast `toml:"multicast"`
	UI        UI        `toml:"ui"`
	Storage   Storage   `toml:"storage"`
	Files     Files     `toml:"files"`
	Delivery  Delivery  `toml:"delivery"`
}

// Delivery is the [delivery] table.
type Delivery struct {
	// Mailbox leaves messages for a peer that stays offline, sealed to
	// its key, at the bootstrap server (one that offers it), and fetches
	// the ones left for you.
	Mailbox bool `toml:"mailbox"`
	// MailboxAfter is how long a peer must have been offline before its
	// queued messages go to its mailbox (a Go duration, e.g. "30s").
	MailboxAfter string `toml:"mailbox_after"`
}

// MailboxAfter is [delivery] mailbox_after (Validate checked it).
func (c Config) MailboxAfter() time.Duration {
	d, _ := time.ParseDuration(c.Delivery.MailboxAfter)
	return d
}

// Files is the [files] table: file transfer.
type Files struct {
	// Dir is where received files are saved; "" means
	// $XDG_DOWNLOAD_DIR/parlance, else ~/Downloads/parlance (DownloadDir).
	Dir string `toml:"dir"`
	// AutoAccept is "off" (every offer waits for /accept) or "verified"
	// (offers from verified contacts up to AutoAcceptMaxMB start at once).
	AutoAccept      string `toml:"auto_accept"`
	AutoAcceptMaxMB int    `toml:"auto_accept_max_mb"`
	// MaxFileMB is the largest offer accepted, in MiB.
	MaxFileMB int `toml:"max_file_mb"`
	// OfferDays is how long an offer neither accepted nor rejected waits
	// before it expires, on either side. (An offer to an offline peer
	// waits for it [storage] outbox_days, like a message.)
	OfferDays int `toml:"offer_days"`
}

// [files] auto_accept values.
const (
	AutoAcceptOff      = "off"
	AutoAcceptVerified = "verified"
)

// maxFileMBLimit bounds [files] max_file_mb and auto_accept_max_mb (1 TiB).
const maxFileMBLimit = 1 << 20

// DownloadDir is where received files go: [files] dir (a leading ~ is the
// home directory), else $XDG_DOWNLOAD_DIR/parlance, else
// ~/Downloads/parlance.
func (c Config) DownloadDir() (string, error) {
	if d := c.Files.Dir; d != "" {
		if d == "~" || strings.HasPrefix(d, "~/") {
			home, err := os.UserHomeDir()
			if err != nil {
				return "", fmt.Errorf("files.dir: expand ~: %w", err)
			}
			d = filepath.Join(home, d[1:])
		}
		return d, nil
	}
	return xdgDir("XDG_DOWNLOAD_DIR", "Downloads")
}

// Network is the [network] table.
type Network struct {
	Mode              string     `toml:"mode"`
	BootstrapServer   ServerURLs `toml:"bootstrap_server"`
	ListenPort        int        `toml:"listen_port"`
	Room              string     `toml:"room"`
	RequireEncryption bool       `toml:"require_encryption"`
}

// Discovery is the [discovery] table: the bootstrap client's timing (the
// original's names).
type Discovery struct {
	HeartbeatIntervalSecs int `toml:"heartbeat_interval_secs"`
	PeerTimeoutSecs       int `toml:"peer_timeout_secs"`
}

// PeerCfg is the [peer] table: LAN announce timing (the original's names).
type PeerCfg struct {
	AnnounceIntervalSecs int `toml:"announce_interval_secs"`
	TimeoutSecs          int `toml:"timeout_secs"`
}

// Multicast is the [multicast] table.
type Multicast struct {
	Group     string `toml:"group"`
	Port      int    `toml:"port"`
	Interface string `toml:"interface"`
}

// UI is the [ui] table.
type UI struct {
	Mode     string `toml:"mode"`
	Bell     bool   `toml:"bell"`
	Notify   string `toml:"notify"`
	Mouse    bool   `toml:"mouse"`
	LogFile  string `toml:"log_file"`
	LogLevel string `toml:"log_level"`
	// ReadReceipts tells peers when you read their messages, and shows
	// when they read yours (only when both turn it on).
	ReadReceipts bool `toml:"read_receipts"`
}

// Notification methods of [ui] notify, a comma-separated list ("off" for
// none).
const (
	NotifyOff    = "off"
	NotifyBell   = "bell"   // the terminal bell
	NotifyOSC777 = "osc777" // desktop notification: ESC ] 777 ; notify (rxvt, foot, WezTerm, Ghostty, ...)
	NotifyOSC9   = "osc9"   // desktop notification: ESC ] 9 (iTerm2, Windows Terminal, kitty, ...)
)

// NotifyMethods splits [ui] notify into its methods; bell = true adds the
// bell. Validate has checked the names.
func (u UI) NotifyMethods() (bell bool, desktop []string) {
	bell = u.Bell
	for _, m := range strings.Split(u.Notify, ",") {
		switch m = strings.TrimSpace(m); m {
		case NotifyBell:
			bell = true
		case NotifyOSC777, NotifyOSC9:
			desktop = append(desktop, m)
		}
	}
	return bell, desktop
}

// Storage is the [storage] table.
type Storage struct {
	DataDir string `toml:"data_dir"`
	// History is "on" (messages kept in the data directory's database)
	// or "off" (kept in memory for the session, as the original does;
	// the outbox is still kept on disk).
	History string `toml:"history"`
	// OutboxDays is how long a message waits for an offline peer before
	// it is marked failed.
	OutboxDays int `toml:"outbox_days"`
}

// History values.
const (
	HistoryOn  = "on"
	HistoryOff = "off"
)

// Mode values.
const (
	ModeLocal    = "local"
	ModeInternet = "internet"
	// ModeBoth runs LAN discovery and the bootstrap client together.
	ModeBoth = "both"
	// ModeLAN is accepted for ModeLocal (see NormalizeMode).
	ModeLAN = "lan"
	UITUI   = "tui"
	UILine  = "line"
)

// NormalizeMode maps the alias "lan" to "local".
func NormalizeMode(mode string) string {
	if mode == ModeLAN {
		return ModeLocal
	}
	return mode
}

// UsesServer reports whether the mode finds peers through the bootstrap
// server (internet or both).
func (c Config) UsesServer() bool {
	return c.Network.Mode == ModeInternet || c.Network.Mode == ModeBoth
}

// UsesLAN reports whether the mode finds peers by LAN multicast (local or
// both).
func (c Config) UsesLAN() bool {
	return c.Network.Mode == ModeLocal || c.Network.Mode == ModeBoth
}

// Default returns the configuration used when there is no file.
func Default() Config {
	return Config{
		Network:   Network{Mode: ModeLocal, BootstrapServer: ServerURLs{"ws://localhost:8080"}},
		Discovery: Discovery{HeartbeatIntervalSecs: 10, PeerTimeoutSecs: 30},
		Peer:      PeerCfg{AnnounceIntervalSecs: 5, TimeoutSecs: 15},
		Multicast: Multicast{Group: "239.255.255.250", Port: 6789},
		UI:        UI{Mode: UITUI, LogLevel: "warn", Notify: NotifyOff, Mouse: true},
		Storage:   Storage{History: HistoryOn, OutboxDays: 7},
		Files:     Files{AutoAccept: AutoAcceptOff, AutoAcceptMaxMB: 100, MaxFileMB: 4096, OfferDays: 7},
		Delivery:  Delivery{Mailbox: true, MailboxAfter: "30s"},
	}
}

// Error is a problem with a config file, naming the file and, where known,
// the key and line.
type Error struct {
	File string
	Line int    // 0 when unknown
	Key  string // dotted, "" when unknown
	Msg  string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// maxFile bounds the config file size.
const maxFile = 1 << 20

// Load reads and checks the config file at path, on top of the defaults.
func Load(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	if len(b) > maxFile {
		return Config{}, &Error{File: path, Msg: fmt.Sprintf("%d bytes is over the %d byte limit for a config file", len(b), maxFile)}
	}
	return Parse(path, b)
}

// Parse decodes config bytes; name is used in errors.
func Parse(name string, b []byte) (Config, error) {
	c := Default()
	dec := toml.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Config{}, decodeError(name, err)
	}
	c.Network.Mode = NormalizeMode(c.Network.Mode)
	if err := c.Validate(); err != nil {
		var ce *Error
		if errors.As(err, &ce) {
			ce.File = name
			ce.Line = lineOfKey(b, ce.Key)
		}
		return Config{}, err
	}
	return c, nil
}

// decodeError turns go-toml's errors into an *Error.
func decodeError(name string, err error) error {
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) && len(strict.Errors) > 0 {
		de := strict.Errors[0]
		line, _ := de.Position()
		key := strings.Join(de.Key(), ".")
		return &Error{File: name, Line: line, Key: key, Msg: "unknown key (see parlance --generate-config for every key)"}
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		line, _ := de.Position()
		return &Error{File: name, Line: line, Key: strings.Join(de.Key(), "."), Msg: typeMessage(de.Error())}
	}
	return &Error{File: name, Msg: err.Error()}
}

// typeRE matches go-toml's wrong-type message.
var typeRE = regexp.MustCompile(`cannot decode TOML (\w+) into struct field \S+ of type (\w+)`)

// typeMessage turns go-toml's wrong-type message, which names Go types,
// into one a user understands.
func typeMessage(msg string) string {
	m := typeRE.FindStringSubmatch(msg)
	if m == nil {
		return strings.TrimPrefix(msg, "toml: ")
	}
	want := map[string]string{"int": "a whole number", "string": "a quoted string", "bool": "true or false"}[m[2]]
	if want == "" {
		want = m[2]
	}
	return fmt.Sprintf("wrong type: want %s, not a TOML %s", want, m[1])
}

// lineOfKey finds the line where a dotted key is set, for errors found
// after decoding (0 if not found).
func lineOfKey(b []byte, dotted string) int {
	if dotted == "" {
		return 0
	}
	table, key := "", dotted
	if i := strings.LastIndexByte(dotted, '.'); i >= 0 {
		table, key = dotted[:i], dotted[i+1:]
	}
	cur := ""
	for i, line := range strings.Split(string(b), "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "[") && strings.HasSuffix(t, "]") {
			cur = strings.TrimSpace(strings.Trim(t, "[]"))
			continue
		}
		if k, _, ok := strings.Cut(t, "="); ok && cur == table && strings.TrimSpace(k) == key {
			return i + 1
		}
	}
	return 0
}

// Validate checks values that decode but make no sense.
func (c Config) Validate() error {
	bad := func(key, format string, args ...any) error {
		return &Error{Key: key, Msg: fmt.Sprintf(format, args...)}
	}
	if c.Nickname != "" {
		if err := wire.ValidateNickname(c.Nickname); err != nil {
			return bad("nickname", "%v", err)
		}
	}
	switch c.Network.Mode {
	case ModeLocal, ModeInternet, ModeBoth:
	default:
		return bad("network.mode", "%q is not a mode; use %q (or %q), %q or %q", c.Network.Mode, ModeLocal, ModeLAN, ModeInternet, ModeBoth)
	}
	if c.UsesServer() && len(c.Network.BootstrapServer) == 0 {
		return bad("network.bootstrap_server", "%s mode needs a bootstrap server URL, e.g. \"ws://host:8080\"", c.Network.Mode)
	}
	for _, u := range c.Network.BootstrapServer {
		if err := checkServerURL(u); err != nil {
			return bad("network.bootstrap_server", "%v", err)
		}
	}
	if c.Network.ListenPort < 0 || c.Network.ListenPort > 65535 {
		return bad("network.listen_port", "%d is not a port (0 to 65535; 0 lets the system pick)", c.Network.ListenPort)
	}
	if err := wire.ValidateRoom(c.Network.Room); err != nil {
		return bad("network.room", "%v", err)
	}
	for _, f := range []struct {
		key string
		v   int
	}{
		{"discovery.heartbeat_interval_secs", c.Discovery.HeartbeatIntervalSecs},
		{"discovery.peer_timeout_secs", c.Discovery.PeerTimeoutSecs},
		{"peer.announce_interval_secs", c.Peer.AnnounceIntervalSecs},
		{"peer.timeout_secs", c.Peer.TimeoutSecs},
	} {
		if f.v < 1 || f.v > 3600 {
			return bad(f.key, "%d is out of range; use 1 to 3600 seconds", f.v)
		}
	}
	if c.Peer.TimeoutSecs <= c.Peer.AnnounceIntervalSecs {
		return bad("peer.timeout_secs", "%d must be longer than peer.announce_interval_secs (%d), or peers expire between announces", c.Peer.TimeoutSecs, c.Peer.AnnounceIntervalSecs)
	}
	g, err := netip.ParseAddr(c.Multicast.Group)
	if err != nil || !g.Is4() || !g.IsMulticast() {
		return bad("multicast.group", "%q is not an IPv4 multicast address (224.0.0.0/4), e.g. 239.255.255.250", c.Multicast.Group)
	}
	if c.Multicast.Port < 1 || c.Multicast.Port > 65535 {
		return bad("multicast.port", "%d is not a port (1 to 65535)", c.Multicast.Port)
	}
	switch c.UI.Mode {
	case UITUI, UILine:
	default:
		return bad("ui.mode", "%q is not a UI; use %q or %q", c.UI.Mode, UITUI, UILine)
	}
	for _, m := range strings.Split(c.UI.Notify, ",") {
		switch strings.TrimSpace(m) {
		case NotifyOff, NotifyBell, NotifyOSC777, NotifyOSC9:
		default:
			return bad("ui.notify", "%q is not a notification method; use %q, or a list of %q, %q and %q such as \"bell,osc777\"", m, NotifyOff, NotifyBell, NotifyOSC777, NotifyOSC9)
		}
	}
	switch c.UI.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return bad("ui.log_level", "%q is not a level; use debug, info, warn or error", c.UI.LogLevel)
	}
	switch c.Storage.History {
	case HistoryOn, HistoryOff:
	default:
		return bad("storage.history", "%q is not a choice; use %q or %q", c.Storage.History, HistoryOn, HistoryOff)
	}
	if c.Storage.OutboxDays < 1 || c.Storage.OutboxDays > 3650 {
		return bad("storage.outbox_days", "%d is out of range; use 1 to 3650 days", c.Storage.OutboxDays)
	}
	if d, err := time.ParseDuration(c.Delivery.MailboxAfter); err != nil || d <= 0 || d > 30*24*time.Hour {
		return bad("delivery.mailbox_after", "%q is not a duration from 1s to 720h, such as \"30s\" or \"5m\"", c.Delivery.MailboxAfter)
	}
	switch c.Files.AutoAccept {
	case AutoAcceptOff, AutoAcceptVerified:
	default:
		return bad("files.auto_accept", "%q is not a choice; use %q (ask every time) or %q (verified contacts, up to auto_accept_max_mb)", c.Files.AutoAccept, AutoAcceptOff, AutoAcceptVerified)
	}
	if c.Files.MaxFileMB < 1 || c.Files.MaxFileMB > maxFileMBLimit {
		return bad("files.max_file_mb", "%d is out of range; use 1 to %d MiB", c.Files.MaxFileMB, maxFileMBLimit)
	}
	if c.Files.AutoAcceptMaxMB < 0 || c.Files.AutoAcceptMaxMB > c.Files.MaxFileMB {
		return bad("files.auto_accept_max_mb", "%d is out of range; use 0 to max_file_mb (%d)", c.Files.AutoAcceptMaxMB, c.Files.MaxFileMB)
	}
	if c.Files.OfferDays < 1 || c.Files.OfferDays > 3650 {
		return bad("files.offer_days", "%d is out of range; use 1 to 3650 days", c.Files.OfferDays)
	}
	return nil
}

// OfferTTL is how long a file offer waits for an answer.
func (c Config) OfferTTL() time.Duration {
	return time.Duration(c.Files.OfferDays) * 24 * time.Hour
}

// OutboxTTL is how long a message waits for its peer.
func (c Config) OutboxTTL() time.Duration {
	return time.Duration(c.Storage.OutboxDays) * 24 * time.Hour
}

// ServerURLs is bootstrap_server: one URL ("ws://a", as the original
// reads it) or several (["ws://a", "ws://b"]) that the client fails over
// between.
type ServerURLs []string

// UnmarshalText reads the one-URL form.
func (u *ServerURLs) UnmarshalText(b []byte) error {
	*u = ServerURLs{string(b)}
	return nil
}

func checkServerURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q is not a URL: %v", s, err)
	}
	if u.Scheme != "ws" && u.Scheme != "wss" {
		return fmt.Errorf("%q must start with ws:// or wss://", s)
	}
	if u.Host == "" {
		return fmt.Errorf("%q has no host", s)
	}
	return nil
}

// AnnounceInterval and the other accessors turn the seconds of the file
// into durations.
func (c Config) AnnounceInterval() time.Duration {
	return time.Duration(c.Peer.AnnounceIntervalSecs) * time.Second
}

// PeerTimeout is how long a silent LAN peer stays online.
func (c Config) PeerTimeout() time.Duration { return time.Duration(c.Peer.TimeoutSecs) * time.Second }

// HeartbeatInterval is the bootstrap client's heartbeat period.
func (c Config) HeartbeatInterval() time.Duration {
	return time.Duration(c.Discovery.HeartbeatIntervalSecs) * time.Second
}

// Find returns the config file to use: explicit if given (it must exist),
// else ./parlance.toml, else the user's config directory's
// parlance/parlance.toml, else "" (use the defaults).
func Find(explicit string) (string, error) {
	if explicit != "" {
		if _, err := os.Stat(explicit); err != nil {
			return "", fmt.Errorf("config file: %w (create one with --generate-config %s)", err, explicit)
		}
		return explicit, nil
	}
	candidates := []string{FileName}
	if dir, err := os.UserConfigDir(); err == nil {
		candidates = append(candidates, filepath.Join(dir, "parlance", FileName))
	}
	for _, p := range candidates {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", nil
}

// DataDir is the base of Parlance's data: [storage] data_dir, else
// $XDG_DATA_HOME/parlance, else ~/.local/share/parlance. See ProfileDir.
func (c Config) DataDir() (string, error) {
	if c.Storage.DataDir != "" {
		return c.Storage.DataDir, nil
	}
	return xdgDir("XDG_DATA_HOME", ".local/share")
}

// ProfilesDir is the directory, under the default data directory, that
// holds one profile per nickname.
const ProfilesDir = "profiles"

// ProfileDir is where this run's identity key, database and contacts
// live. With [storage] data_dir (or --data-dir) set, it is that directory
// itself. Otherwise each nickname has a profile of its own under the data
// directory, profiles/<nickname>, so that two people (or two terminals)
// on one account each keep their own identity; the same nickname gets the
// same identity back after a restart.
func (c Config) ProfileDir() (dir string, perNick bool, err error) {
	if c.Storage.DataDir != "" {
		return c.Storage.DataDir, false, nil
	}
	base, err := c.DataDir()
	if err != nil {
		return "", false, err
	}
	return filepath.Join(base, ProfilesDir, ProfileName(c.Nickname)), true, nil
}

// ProfileName turns a nickname into a directory name: letters, digits,
// '-', '_' and '.' stay; every other byte (spaces, '/', non-ASCII) is
// written %XX; a leading '.' too, so that no name is hidden or means "..".
func ProfileName(nick string) string {
	var b strings.Builder
	for i := 0; i < len(nick); i++ {
		ch := nick[i]
		switch {
		case ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z', ch >= '0' && ch <= '9', ch == '-', ch == '_', ch == '.' && i > 0:
			b.WriteByte(ch)
		default:
			fmt.Fprintf(&b, "%%%02X", ch)
		}
	}
	return b.String()
}

// StateDir is where the log goes by default: $XDG_STATE_HOME/parlance, else
// ~/.local/state/parlance.
func StateDir() (string, error) { return xdgDir("XDG_STATE_HOME", ".local/state") }

func xdgDir(env, fallback string) (string, error) {
	if d := os.Getenv(env); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "parlance"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find home directory: %w (set %s)", err, env)
	}
	return filepath.Join(home, fallback, "parlance"), nil
}
