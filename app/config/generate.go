package config

import (
	"fmt"
	"os"
)

// Commented is the default configuration with every key explained, as
// --generate-config writes it. It parses to Default().
const Commented = `# Parlance configuration. Every key is optional; these are the defaults.
# Looked up at --config PATH, else ./parlance.toml, else
# $XDG_CONFIG_HOME/parlance/parlance.toml. Command-line flags override it.

# Your nickname (1 to 32 bytes, no control characters, no leading or
# trailing spaces). Required here or with -n/--nickname.
# nickname = "alice"

[network]
# "local": find peers on the LAN by multicast.
# "internet": find peers through the bootstrap server.
# "both": both at once; a peer seen both ways is one peer, reached over the
# LAN while the LAN sees it.
mode = "local"
# One URL, or several to fail over between: ["ws://a:8080", "ws://b:8080"].
bootstrap_server = "ws://localhost:8080"
# TCP port for messages; 0 lets the system pick (announced either way).
listen_port = 0
# Internet mode: only peers registered in the same room see each other.
# "" is the shared default room (what original clients use).
room = ""
# Refuse original (unencrypted) peers both ways.
require_encryption = false

[discovery]
# Internet mode: heartbeat to the bootstrap server every N seconds.
heartbeat_interval_secs = 10
# The server drops peers silent this long (informational for the client).
peer_timeout_secs = 30

[peer]
# LAN mode: announce every N seconds (and at once when a new peer appears).
announce_interval_secs = 5
# LAN peers silent this long are shown offline.
timeout_secs = 15

[multicast]
group = "239.255.255.250"
port = 6789
# "" joins and sends on every up, multicast-capable interface;
# a name such as "eth0" or "lo" pins discovery to that interface.
interface = ""

[ui]
# "tui": the full-screen interface. "line": a plain REPL for pipes and scripts.
mode = "tui"
# Ring the terminal bell when a message arrives for a conversation not in view
# (or while the terminal is not focused). The same as "bell" in notify.
bell = false
# How to tell of such a message: "off", or a list of "bell" (the terminal
# bell), "osc777" (a desktop notification in rxvt, foot, WezTerm, Ghostty,
# ...) and "osc9" (iTerm2, Windows Terminal, kitty, ...), e.g. "bell,osc777".
notify = "off"
# Capture the mouse (wheel scrolling, clicks on peers). false leaves it to
# the terminal, to select and copy text; F2 switches while running.
mouse = true
# Log file. "" logs to $XDG_STATE_HOME/parlance/parlance.log in the TUI and
# to standard error in line mode.
log_file = ""
# debug, info, warn or error.
log_level = "warn"
# Tell peers when you have read their messages, and see when they read
# yours (shown only when both of you turn this on).
read_receipts = false

[storage]
# Where identity, history and contacts live. "" means one profile per
# nickname under $XDG_DATA_HOME/parlance/profiles/; a directory set here
# (or with --data-dir) is used as it is, for whatever nickname.
data_dir = ""
# "on": messages are kept in the profile's database (parlance.db).
# "off": history lasts for the session only, as in the original; messages
# still waiting for an offline peer are kept on disk either way.
history = "on"
# A message (or a file offer) waits this many days for an offline peer,
# then is marked failed (expired).
outbox_days = 7

[files]
# Where received files are saved. "" means $XDG_DOWNLOAD_DIR/parlance, else
# ~/Downloads/parlance. A file never replaces another: "name (1).ext".
dir = ""
# "off": every offer waits for /accept or /reject.
# "verified": offers from contacts you verified (/verify) start at once, up
# to auto_accept_max_mb; bigger ones, and everyone else's, wait.
auto_accept = "off"
auto_accept_max_mb = 100
# The largest file accepted, in MiB; bigger offers are refused.
max_file_mb = 4096
# An offer neither accepted nor rejected expires after this many days, on
# both sides.
offer_days = 7

[delivery]
# Leave messages for a peer that stays offline at the bootstrap server,
# sealed to the peer's key (the server cannot read them), and fetch the ones
# left for you; only with a server that offers it (internet or both mode).
mailbox = true
# How long a peer must have been offline before its messages go there.
mailbox_after = "30s"
`

// WriteDefault writes the commented default config to path, refusing to
// overwrite an existing file.
func WriteDefault(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	if _, err := f.WriteString(Commented); err != nil {
		f.Close()
		return fmt.Errorf("write config %s: %w", path, err)
	}
	return f.Close()
}
