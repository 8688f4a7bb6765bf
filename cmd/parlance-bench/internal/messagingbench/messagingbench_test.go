package messagingbench

import (
	"context"
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
	if err := Run(context.Background(), Config{Duration: 100 * time.Millisecond, Rate: 1000}, rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Rows) != 18 {
		t.Fatalf("%d rows, want 18", len(rep.Rows))
	}
	for _, r := range rep.Rows {
		if strings.Contains(r.Metric, "dropped") {
			if r.Value < 0 || r.Value > 100 {
				t.Errorf("row %q: %v", r.Metric, r.Value)
			}
			continue
		}
		if r.Value <= 0 {
			t.Errorf("row %q: %v", r.Metric, r.Value)
		}
		if !strings.HasPrefix(r.Metric, "(c)") && !strings.Contains(r.Metric, "dropped") && r.Ratio == nil {
			t.Errorf("row %q has no ratio to (c)", r.Metric)
		}
	}
	for _, m := range Methods {
		res := rep.Details["messaging "+m.Label].(*Result)
		if res.Paced.Samples != 100 || res.Flood.Messages == 0 || res.PingPong.Samples == 0 {
			t.Errorf("%s: %+v", m.Label, res)
		}
		if m.ConnPerMessage && res.Dials < uint64(res.Paced.Samples+res.Flood.Messages) {
			t.Errorf("%s: %d dials for more messages", m.Label, res.Dials)
		}
	}
}
