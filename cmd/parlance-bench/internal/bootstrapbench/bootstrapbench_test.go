package bootstrapbench

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/parlance-chat/parlance/cmd/parlance-bench/internal/report"
)

func TestMain(m *testing.M) {
	if IsChild() { // the benchmark re-executes this test binary as its server
		os.Exit(ChildMain())
	}
	goleak.VerifyTestMain(m)
}

func TestTinyRun(t *testing.T) {
	rep := &report.Report{}
	cfg := Config{Clients: []int{30, 60}, Room: 25, JoinRounds: 3, Steady: 200 * time.Millisecond, Baseline: true, PerAddr: 16}
	if err := Run(context.Background(), cfg, rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Errors) > 0 {
		t.Fatalf("errors: %v", rep.Errors)
	}
	// Four rows per K, five for propagation.
	if len(rep.Rows) != 2*4+5 {
		t.Fatalf("%d rows: %+v", len(rep.Rows), rep.Rows)
	}
	for _, r := range rep.Rows {
		switch {
		case strings.Contains(r.Metric, "connections held"):
			if r.Status != report.Met {
				t.Errorf("%s: %v", r.Metric, r.Value)
			}
		case strings.Contains(r.Metric, "per idle conn"):
			if r.Value <= 0 || r.Baseline == nil || *r.Baseline <= 0 {
				t.Errorf("%s: %v, baseline %v", r.Metric, r.Value, r.Baseline)
			}
		case strings.Contains(r.Metric, "join"):
			if r.Value <= 0 || r.Value > 5000 {
				t.Errorf("%s: %v ms", r.Metric, r.Value)
			}
		}
	}
	prop := rep.Details["bootstrap_propagation"].(*Propagation)
	if len(prop.AllKnow) != 3 || prop.Receiver.Samples != 3*25 {
		t.Errorf("propagation: %+v", prop)
	}
	ours := rep.Details["bootstrap_K60_parlance"].(*Idle)
	base := rep.Details["bootstrap_K60_gorilla"].(*Idle)
	if ours.GoroutinesPerConn > 1.5 || base.GoroutinesPerConn < 1.5 {
		t.Errorf("goroutines per connection: parlance %v, gorilla defaults %v", ours.GoroutinesPerConn, base.GoroutinesPerConn)
	}
}

func TestSourceAddr(t *testing.T) {
	for _, tt := range []struct {
		i, per int
		want   string
	}{{0, 10, "127.1.0.1"}, {9, 10, "127.1.0.1"}, {10, 10, "127.1.0.2"}, {2550, 10, "127.1.1.0"}} {
		if got := sourceAddr(tt.i, tt.per).String(); got != tt.want {
			t.Errorf("sourceAddr(%d, %d) = %s, want %s", tt.i, tt.per, got, tt.want)
		}
	}
}

func TestFitSizes(t *testing.T) {
	rep := &report.Report{}
	got := fitSizes([]int{1000, 10000, 50000, 19000}, 19488, rep)
	want := []int{1000, 10000, 19000}
	if len(got) != len(want) {
		t.Fatalf("fitSizes = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("fitSizes = %v, want %v", got, want)
		}
	}
	if len(rep.Errors) != 1 || !strings.Contains(rep.Errors[0], "K=50000") || !strings.Contains(rep.Errors[0], "K=19000 instead") {
		t.Errorf("errors: %q", rep.Errors)
	}
}

// The one-room measurement: every client gets its list each round, none
// is cut off, and the original is reported skipped without its path.
func TestTinyOneRoom(t *testing.T) {
	rep := &report.Report{}
	cfg := Config{Clients: []int{10}, OneRoom: []int{40}, ListRounds: 2, Steady: 100 * time.Millisecond, PerAddr: 16}
	if err := Run(context.Background(), cfg, rep); err != nil {
		t.Fatal(err)
	}
	r := rep.Details["bootstrap_oneroom_K40_parlance"].(*BigRoom)
	if r.Delivered != 2*40 || r.Disconnected != 0 || len(r.CPURounds) != 2 || r.RSSPerConn <= 0 {
		t.Errorf("one room: %+v", r)
	}
	if !slices.ContainsFunc(rep.Notes[Scenario], func(n string) bool { return strings.Contains(n, "original server was skipped") }) {
		t.Errorf("notes %q do not say the original was skipped", rep.Notes[Scenario])
	}
}

// The nats-server the cluster measurement runs is the one go.mod holds
// for the tests.
func TestNATSServerVersion(t *testing.T) {
	b, err := os.ReadFile("../../../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	if want := "github.com/nats-io/nats-server/v2 " + NATSServerVersion; !strings.Contains(string(b), want) {
		t.Errorf("go.mod does not require %q", want)
	}
}
