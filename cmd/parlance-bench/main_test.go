package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/parlance-chat/parlance/cmd/parlance-bench/internal/bootstrapbench"
	"github.com/parlance-chat/parlance/cmd/parlance-bench/internal/report"
)

func TestMain(m *testing.M) {
	if bootstrapbench.IsChild() { // the bootstrap scenario re-executes this binary as its server
		os.Exit(bootstrapbench.ChildMain())
	}
	goleak.VerifyTestMain(m)
}

// tinyArgs runs the scenarios at sizes that take seconds (the discovery
// baseline waits on the original's 5 s timers, so it is left out here;
// its own package tests it with short timers).
var tinyArgs = []string{
	"--quiet",
	"--nodes", "2", "--rounds", "2", "--baseline-rounds", "0",
	"--duration", "100ms", "--rate", "1000",
	"--clients", "40", "--room", "20", "--join-rounds", "2", "--steady", "200ms", "--per-addr", "16",
}

func runBench(t *testing.T, args ...string) (report.Report, string) {
	t.Helper()
	// Ports of this test's own (the discovery package's test uses 30000-31500).
	args = append(args, "--port-base", strconv.Itoa(31600+rand.IntN(300)))
	path := filepath.Join(t.TempDir(), "out.json")
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), append(args, "--json", path), &stdout, &stderr); code != 0 {
		t.Fatalf("exit code %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rep report.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Errors) > 0 {
		t.Errorf("errors: %v", rep.Errors)
	}
	return rep, stdout.String()
}

func TestTinyRun(t *testing.T) {
	rep, table := runBench(t, append([]string{"--scenarios", "discovery,messaging,bootstrap"}, tinyArgs...)...)
	perScenario := map[string]int{}
	for _, r := range rep.Rows {
		perScenario[r.Scenario]++
		if r.Target != nil && r.Status == "" {
			t.Errorf("row %s / %s has a target but no status", r.Scenario, r.Metric)
		}
	}
	want := map[string]int{"discovery": 6, "messaging": 18, "bootstrap": 4 + 5}
	for s, n := range want {
		if perScenario[s] != n {
			t.Errorf("%s: %d rows, want %d", s, perScenario[s], n)
		}
		if !strings.Contains(table, "\n"+s+" ") {
			t.Errorf("table lacks %s rows:\n%s", s, table)
		}
	}
	for _, w := range []string{"SCENARIO", "TARGET", "BASELINE", "RATIO", "machine:", "other processes used", "command: parlance-bench --scenarios discovery,messaging,bootstrap --quiet"} {
		if !strings.Contains(table, w) {
			t.Errorf("table lacks %q", w)
		}
	}
	if rep.Machine.CPUs == 0 || rep.Machine.GoVersion == "" {
		t.Errorf("machine: %+v", rep.Machine)
	}
}

func TestTUIScenario(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go test on the tui package")
	}
	rep, _ := runBench(t, "--quiet", "--scenarios", "tui", "--history", "1000,10000", "--tui-benchtime", "1x")
	if len(rep.Rows) != 6 {
		t.Fatalf("%d rows, want 6: %+v", len(rep.Rows), rep.Rows)
	}
	for _, r := range rep.Rows {
		if r.Value <= 0 || r.Unit != "ms" || r.Target == nil {
			t.Errorf("row %+v", r)
		}
	}
}

func TestStorageScenario(t *testing.T) {
	rep, table := runBench(t, "--quiet", "--scenarios", "storage", "--flood", "300", "--ack-rate", "500", "--ack-duration", "100ms",
		"--stored", "2000", "--stored-baseline", "500", "--stored-convs", "2", "--storage-dir", t.TempDir())
	if len(rep.Rows) != 19 {
		t.Fatalf("%d rows, want 19: %+v", len(rep.Rows), rep.Rows)
	}
	for _, w := range []string{"durable receive throughput", "send to ✓✓ p50", "first TUI frame", "/search", "size per message", "PgUp"} {
		if !strings.Contains(table, w) {
			t.Errorf("table lacks %q", w)
		}
	}
}

func TestBadFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown scenario", []string{"--scenarios", "lan"}, "unknown scenario"},
		{"group of one", []string{"--nodes", "1,10"}, "--nodes"},
		{"not a number", []string{"--clients", "1k"}, "--clients"},
		{"default port in range", []string{"--port-base", "6700"}, "default port 6789"},
		{"argument", []string{"discovery"}, "unexpected argument"},
		{"zero rate", []string{"--rate", "0"}, "--rate"},
		{"empty flood", []string{"--flood", "0"}, "--flood"},
		{"negative stored", []string{"--stored", "-1"}, "--stored"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(context.Background(), tt.args, &stdout, &stderr); code != 2 {
				t.Errorf("exit code %d, want 2", code)
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("stderr %q lacks %q", stderr.String(), tt.want)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"--help"}, &stdout, &stderr); code != 0 {
		t.Errorf("exit code %d", code)
	}
	if !strings.Contains(stderr.String(), "-scenarios") {
		t.Errorf("help lacks the flags:\n%s", stderr.String())
	}
}
