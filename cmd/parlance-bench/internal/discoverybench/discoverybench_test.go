package discoverybench

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/parlance-chat/parlance/cmd/parlance-bench/internal/report"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestTinyRun(t *testing.T) {
	rep := &report.Report{}
	cfg := Config{
		Sizes:          []int{2, 3},
		Rounds:         2,
		BaselineRounds: 1,
		Original:       OriginalTiming{Announce: 300 * time.Millisecond, Timeout: 600 * time.Millisecond, Sweep: 100 * time.Millisecond},
		Ports:          NewPorts(uint16(30000 + rand.IntN(1500))),
	}
	if err := Run(context.Background(), cfg, rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Rows) != 12 {
		t.Fatalf("%d rows, want 12: %+v", len(rep.Rows), rep.Rows)
	}
	for _, r := range rep.Rows {
		if r.Value <= 0 || r.Baseline == nil || *r.Baseline <= 0 {
			t.Errorf("row %q: value %v baseline %v", r.Metric, r.Value, r.Baseline)
		}
		// Ours rely on the re-announce and the goodbye, the baseline on
		// the expiry: at least the timeout after the last announce.
		if strings.Contains(r.Metric, "goodbye") && *r.Baseline < 600-300 {
			t.Errorf("row %q: baseline removal %v ms came before the expiry", r.Metric, *r.Baseline)
		}
		// No upper bound on the time: that is for the benchmark to show;
		// on a busy machine a tiny run can take seconds (issue 11, item 13).
	}
}
