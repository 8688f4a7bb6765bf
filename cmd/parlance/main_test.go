package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/parlance-chat/parlance/app/config"
)

func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "cfg"))
	badCfg := filepath.Join(dir, "bad.toml")
	os.WriteFile(badCfg, []byte("[network]\nmode = \"lan\"\n"), 0o644)
	unknownCfg := filepath.Join(dir, "unknown.toml")
	os.WriteFile(unknownCfg, []byte("[peer]\ntimeout = 3\n"), 0o644)
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string
	}{
		{"help", []string{"--help"}, 0, "Usage: parlance"},
		{"version", []string{"--version"}, 0, "parlance "},
		{"unknown flag", []string{"--frob"}, 2, "flag provided but not defined"},
		{"no nickname", []string{"--ui", "line"}, 2, "a nickname is required"},
		{"bad nickname", []string{"-n", " x"}, 2, "--nickname"},
		{"bad mode flag", []string{"-n", "a", "-m", "lan"}, 2, `--mode: "lan" is not a mode; use "local" or "internet"`},
		{"bad ui flag", []string{"-n", "a", "--ui", "gui"}, 2, "--ui"},
		{"bad mode in file", []string{"-n", "a", "-c", badCfg}, 2, badCfg + ":2: network.mode"},
		{"unknown key in file", []string{"-n", "a", "-c", unknownCfg}, 2, unknownCfg + ":2: peer.timeout: unknown key"},
		{"missing config", []string{"-n", "a", "-c", filepath.Join(dir, "nope.toml")}, 2, "--generate-config"},
		{"stray argument", []string{"-n", "a", "extra"}, 2, `unexpected argument "extra"`},
		{"bad second server flag", []string{"-n", "a", "--bootstrap-server", "ws://a:1", "--bootstrap-server", "http://b"}, 2, `--bootstrap-server: "http://b" must start with ws://`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(tt.args, strings.NewReader(""), &out, &errb)
			all := out.String() + errb.String()
			if code != tt.wantCode || !strings.Contains(all, tt.wantOut) {
				t.Fatalf("exit %d, output %q; want %d and %q", code, all, tt.wantCode, tt.wantOut)
			}
		})
	}
}

func TestGenerateConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.toml")
	var out, errb bytes.Buffer
	if code := run([]string{"--generate-config", path}, nil, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if code := run([]string{"--generate-config", path}, nil, &out, &errb); code == 0 {
		t.Fatal("--generate-config overwrote an existing file")
	}
	// The generated file loads (with a nickname from the flag).
	if _, err := loadConfig(options{configPath: path, nickname: "x"}); err != nil {
		t.Fatal(err)
	}
}

// --bootstrap-server repeats: every URL is kept, in order, over the file's.
func TestBootstrapServerFlags(t *testing.T) {
	o, err := parseFlags([]string{"-n", "a", "--bootstrap-server", "ws://a:1", "--bootstrap-server", "ws://b:2"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir())
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	cfg, err := loadConfig(o)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Network.BootstrapServer; !slices.Equal(got, config.ServerURLs{"ws://a:1", "ws://b:2"}) {
		t.Errorf("servers %v", got)
	}
}
