package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCommentedIsDefault(t *testing.T) {
	c, err := Parse("gen.toml", []byte(Commented))
	if err != nil {
		t.Fatal(err)
	}
	if c != Default() {
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
		{"bad mode", "[network]\nmode = \"wan\"\n", 2, []string{"network.mode", `"local"`, `"lan"`, `"internet"`}},
		{"bad notify", "[ui]\nnotify = \"bell,popup\"\n", 2, []string{"ui.notify", `"popup"`, `"osc777"`}},
		{"bad nickname", "nickname = \" bob\"\n", 1, []string{"nickname", "spaces"}},
		{"long nickname", "nickname = \"" + strings.Repeat("x", 33) + "\"\n", 1, []string{"nickname", "32"}},
		{"bad group", "[multicast]\ngroup = \"10.0.0.1\"\n", 2, []string{"multicast.group"}},
		{"bad port", "[multicast]\nport = 70000\n", 2, []string{"multicast.port"}},
		{"bad ui", "[ui]\nmode = \"gui\"\n", 2, []string{"ui.mode"}},
		{"bad server", "[network]\nbootstrap_server = \"http://x\"\n", 2, []string{"bootstrap_server", "ws://"}},
		{"timeout below interval", "[peer]\nannounce_interval_secs = 20\n", 0, []string{"peer.timeout_secs"}},
		{"not toml", "[network\n", 1, []string{"p.toml"}},
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
