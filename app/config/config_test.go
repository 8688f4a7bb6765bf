package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestCommentedIsDefault(t *testing.T) {
	c, err := Parse("gen.toml", []byte(Commented))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Fatalf("generated config parses to %+v, want the defaults %+v", c, Default())
	}
}

func TestModeLANAndNotify(t *testing.T) {
	c, err := Parse("p.toml", []byte("[network]\nmode = \"lan\"\n[ui]\nnotify = \"bell, osc777,osc9\"\nmouse = false\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Network.Mode != ModeLocal {
		t.Errorf("mode lan became %q, want local", c.Network.Mode)
	}
	bell, desktop := c.UI.NotifyMethods()
	if !bell || len(desktop) != 2 || desktop[0] != NotifyOSC777 || desktop[1] != NotifyOSC9 || c.UI.Mouse {
		t.Errorf("notify: bell %v, desktop %v, mouse %v", bell, desktop, c.UI.Mouse)
	}
	if bell, desktop := Default().UI.NotifyMethods(); bell || len(desktop) != 0 {
		t.Errorf("default notifies: bell %v, desktop %v", bell, desktop)
	}
	old := Default().UI
	old.Bell = true
	if bell, _ := old.NotifyMethods(); !bell {
		t.Error("bell = true no longer rings")
	}
}

func TestOriginalFileAccepted(t *testing.T) {
	orig := `[network]
mode = "local"
bootstrap_server = "ws://localhost:8080"

[discovery]
heartbeat_interval_secs = 10
peer_timeout_secs = 30

[peer]
announce_interval_secs = 5
timeout_secs = 15
`
	if _, err := Parse("orig.toml", []byte(orig)); err != nil {
		t.Fatalf("the original's config is refused: %v", err)
	}
}

func TestModes(t *testing.T) {
	for _, tt := range []struct {
		mode            string
		lan, usesServer bool
	}{
		{"local", true, false},
		{"lan", true, false},
		{"internet", false, true},
		{"both", true, true},
	} {
		c, err := Parse("p.toml", []byte("[network]\nmode = \""+tt.mode+"\"\n"))
		if err != nil {
			t.Fatalf("mode %q: %v", tt.mode, err)
		}
		if c.UsesLAN() != tt.lan || c.UsesServer() != tt.usesServer {
			t.Errorf("mode %q: LAN %v, server %v; want %v, %v", tt.mode, c.UsesLAN(), c.UsesServer(), tt.lan, tt.usesServer)
		}
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name, file string
		wantLine   int
		wantIn     []string
	}{
		{"unknown key", "[network]\nmode = \"local\"\nmodee = \"x\"\n", 3, []string{"network.modee", "unknown key"}},
		{"unknown table", "[nope]\nx = 1\n", 1, []string{"nope", "unknown key"}},
		{"wrong type", "[peer]\ntimeout_secs = \"15\"\n", 2, []string{"peer.timeout_secs", "want a whole number, not a TOML string"}},
		{"wrong type bool", "[ui]\nbell = 1\n", 2, []string{"ui.bell", "want true or false"}},
		{"two bad keys, the first reported", "[discovery]\nheartbeat_interval_secs = 0\n[peer]\ntimeout_secs = 0\n", 2, []string{"discovery.heartbeat_interval_secs"}},
		{"bad mode", "[network]\nmode = \"wan\"\n", 2, []string{"network.mode", `"local"`, `"lan"`, `"internet"`, `"both"`}},
		{"both without a server", "[network]\nmode = \"both\"\nbootstrap_server = \"\"\n", 0, []string{"bootstrap_server"}},
		{"bad notify", "[ui]\nnotify = \"bell,popup\"\n", 2, []string{"ui.notify", `"popup"`, `"osc777"`}},
		{"bad nickname", "nickname = \" bob\"\n", 1, []string{"nickname", "spaces"}},
		{"long nickname", "nickname = \"" + strings.Repeat("x", 33) + "\"\n", 1, []string{"nickname", "32"}},
		{"bad group", "[multicast]\ngroup = \"10.0.0.1\"\n", 2, []string{"multicast.group"}},
		{"bad port", "[multicast]\nport = 70000\n", 2, []string{"multicast.port"}},
		{"bad ui", "[ui]\nmode = \"gui\"\n", 2, []string{"ui.mode"}},
		{"bad server", "[network]\nbootstrap_server = \"http://x\"\n", 2, []string{"bootstrap_server", "ws://"}},
		{"timeout below interval", "[peer]\nannounce_interval_secs = 20\n", 0, []string{"peer.timeout_secs"}},
		{"not toml", "[network\n", 1, []string{"p.toml"}},
		{"bad auto_accept", "[files]\nauto_accept = \"always\"\n", 2, []string{"files.auto_accept", `"verified"`}},
		{"max_file_mb zero", "[files]\nmax_file_mb = 0\n", 2, []string{"files.max_file_mb"}},
		{"bad mailbox_after", "[delivery]\nmailbox_after = \"soon\"\n", 2, []string{"delivery.mailbox_after", `"30s"`}},
		{"mailbox_after zero", "[delivery]\nmailbox_after = \"0s\"\n", 2, []string{"delivery.mailbox_after"}},
		{"auto accept over max", "[files]\nmax_file_mb = 10\nauto_accept_max_mb = 11\n", 3, []string{"files.auto_accept_max_mb", "max_file_mb (10)"}},
		{"offer_days zero", "[files]\noffer_days = 0\n", 2, []string{"files.offer_days", "1 to 3650 days"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("p.toml", []byte(tt.file))
			if err == nil {
				t.Fatal("accepted")
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %T is not *Error: %v", err, err)
			}
			if ce.File != "p.toml" || (tt.wantLine != 0 && ce.Line != tt.wantLine) {
				t.Errorf("error %q: file %q line %d, want line %d", err, ce.File, ce.Line, tt.wantLine)
			}
			for _, s := range tt.wantIn {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
		})
	}
}

func TestFindAndWrite(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "xdg"))
	if p, err := Find(""); err != nil || p != "" {
		t.Fatalf("Find with no files = %q, %v", p, err)
	}
	xdg := filepath.Join(dir, "xdg", "parlance", FileName)
	os.MkdirAll(filepath.Dir(xdg), 0o755)
	if err := WriteDefault(xdg); err != nil {
		t.Fatal(err)
	}
	if err := WriteDefault(xdg); err == nil {
		t.Fatal("WriteDefault overwrote a file")
	}
	if p, _ := Find(""); p != xdg {
		t.Fatalf("Find = %q, want the XDG file %q", p, xdg)
	}
	os.WriteFile(FileName, []byte(Commented), 0o644)
	if p, _ := Find(""); p != FileName {
		t.Fatalf("Find = %q, want ./%s first", p, FileName)
	}
	if _, err := Find(filepath.Join(dir, "missing.toml")); err == nil || !strings.Contains(err.Error(), "--generate-config") {
		t.Fatalf("explicit missing file: %v", err)
	}
}

// bootstrap_server takes one URL, as the original reads it, or several.
func TestBootstrapServers(t *testing.T) {
	tests := []struct {
		in      string
		want    ServerURLs
		wantErr string
	}{
		{`bootstrap_server = "ws://a:1"`, ServerURLs{"ws://a:1"}, ""},
		{`bootstrap_server = ["ws://a:1", "wss://b:2"]`, ServerURLs{"ws://a:1", "wss://b:2"}, ""},
		{`bootstrap_server = ["ws://a:1", "http://b"]`, nil, "network.bootstrap_server"},
		{"mode = \"internet\"\nbootstrap_server = []", nil, "internet mode needs a bootstrap server URL"},
	}
	for _, tc := range tests {
		c, err := Parse("t.toml", []byte("[network]\n"+tc.in+"\n"))
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: error %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !slices.Equal(c.Network.BootstrapServer, tc.want) {
			t.Errorf("%s: %v %v, want %v", tc.in, c.Network.BootstrapServer, err, tc.want)
		}
	}
}

func TestDownloadDir(t *testing.T) {
	home, err := os.UserHomeDir()
	if err != nil {
		t.Skip("no home directory")
	}
	tests := []struct {
		dir, xdg, want string
	}{
		{"", "", filepath.Join(home, "Downloads", "parlance")},
		{"", "/x/dl", "/x/dl/parlance"},
		{"", "relative", filepath.Join(home, "Downloads", "parlance")},
		{"/srv/in", "/x/dl", "/srv/in"},
		{"~/in", "", filepath.Join(home, "in")},
	}
	for _, tt := range tests {
		t.Setenv("XDG_DOWNLOAD_DIR", tt.xdg)
		c := Default()
		c.Files.Dir = tt.dir
		got, err := c.DownloadDir()
		if err != nil || got != tt.want {
			t.Errorf("dir %q, XDG %q: %q, %v; want %q", tt.dir, tt.xdg, got, err, tt.want)
		}
	}
}
