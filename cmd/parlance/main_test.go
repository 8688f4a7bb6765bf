package main

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/parlance-chat/parlance/app/config"
)

func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "cfg"))
	badCfg := filepath.Join(dir, "bad.toml")
	os.WriteFile(badCfg, []byte("[network]\nmode = \"wan\"\n"), 0o644)
	unknownCfg := filepath.Join(dir, "unknown.toml")
	os.WriteFile(unknownCfg, []byte("[peer]\ntimeout = 3\n"), 0o644)
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string
	}{
		{"unknown flag", []string{"--frob"}, 2, "flag provided but not defined: -frob\nsee parlance --help\n"},
		{"flag without value", []string{"-n"}, 2, "flag needs an argument: -n\nsee parlance --help\n"},
		{"no nickname", []string{"--ui", "line"}, 2, "a nickname is required"},
		{"bad nickname", []string{"-n", " x"}, 2, "--nickname"},
		{"bad mode flag", []string{"-n", "a", "-m", "wan"}, 2, `--mode: "wan" is not a mode; use "local" (or "lan") or "internet"`},
		{"no terminal", []string{"-n", "a", "-m", "lan"}, 2, "needs a terminal, and standard input or output is not one; use --ui line"},
		{"wait-peer without line mode", []string{"-n", "a", "--wait-peer", "bob", "--ui", "tui"}, 2, "--wait-peer works with --ui line"},
		{"bad ui flag", []string{"-n", "a", "--ui", "gui"}, 2, "--ui"},
		{"bad mode in file", []string{"-n", "a", "-c", badCfg}, 2, badCfg + ":2: network.mode"},
		{"unknown key in file", []string{"-n", "a", "-c", unknownCfg}, 2, unknownCfg + ":2: peer.timeout: unknown key"},
		{"missing config", []string{"-n", "a", "-c", filepath.Join(dir, "nope.toml")}, 2, "--generate-config"},
		{"stray argument", []string{"-n", "a", "extra"}, 2, "unexpected argument \"extra\"\nsee parlance --help\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(tt.args, strings.NewReader(""), &out, &errb)
			if code != tt.wantCode || !strings.Contains(errb.String(), tt.wantOut) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, errb.String(), tt.wantCode, tt.wantOut)
			}
			if out.Len() != 0 {
				t.Errorf("usage error on stdout: %q", out.String())
			}
			// One line of error, one pointer to --help.
			if n := strings.Count(errb.String(), "\n"); n > 2 && !strings.Contains(tt.wantOut, "terminal") {
				t.Errorf("%d lines on stderr: %q", n, errb.String())
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

func TestHelpGoesToStdout(t *testing.T) {
	for _, arg := range []string{"--help", "-h"} {
		var out, errb bytes.Buffer
		if code := run([]string{arg}, nil, &out, &errb); code != 0 {
			t.Fatalf("%s: exit %d", arg, code)
		}
		if !strings.Contains(out.String(), "Usage: parlance") || !strings.Contains(out.String(), "wait-peer NICK") || errb.Len() != 0 {
			t.Fatalf("%s: stdout %q, stderr %q", arg, out.String(), errb.String())
		}
	}
}

func TestVersion(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"--version"}, nil, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "parlance ") {
		t.Fatalf("exit %d, %q", code, out.String())
	}
	tests := []struct {
		name string
		info *debug.BuildInfo
		ok   bool
		want string
	}{
		{"no build info", nil, false, "parlance (devel) (no VCS revision in the build)"},
		{"built with -buildvcs=false", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, true, "parlance (devel) (no VCS revision in the build)"},
		{"module version and revision", &debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123abc"}, {Key: "vcs.modified", Value: "false"}}}, true, "parlance v1.2.3 (revision 0123abc)"},
		{"modified tree", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123abc"}, {Key: "vcs.modified", Value: "true"}}}, true, "parlance (devel) (revision 0123abc, modified)"},
	}
	for _, tt := range tests {
		if got := versionText(tt.info, tt.ok); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestGenerateConfigToStdout(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"--generate-config", "-"}, nil, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if out.String() != config.Commented {
		t.Fatalf("stdout is not the commented config:\n%s", out.String())
	}
	if _, err := os.Stat("-"); err == nil {
		t.Fatal("wrote a file named -")
	}
}
