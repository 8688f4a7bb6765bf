package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
