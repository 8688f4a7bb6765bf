package storagebench

import (
	"context"
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
	cfg := Config{Flood: 500, Rate: 1000, Duration: 100 * time.Millisecond, Stored: 3000, BaselineStored: 1000, Conversations: 3, Dir: t.TempDir()}
	if err := Run(context.Background(), cfg, rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Rows) != 19 {
		t.Fatalf("%d rows, want 19", len(rep.Rows))
	}
	for _, r := range rep.Rows {
		if r.Value <= 0 {
			t.Errorf("row %q: %v", r.Metric, r.Value)
		}
		if r.Baseline == nil || *r.Baseline <= 0 {
			t.Errorf("row %q has no baseline", r.Metric)
		}
	}
	res := rep.Details["storage"].(*Result)
	if res.Acked.Latency.Samples != 100 || res.Receive.Messages != 500 || res.Stored.Messages != 3000 {
		t.Errorf("%+v", res)
	}
	if s := res.Stored.Searches[0]; s.Hits == 0 { // a common word
		t.Errorf("search %q found nothing", s.Query)
	}
}

func TestCorpus(t *testing.T) {
	a, b := newCorpus(7), newCorpus(7)
	for range 100 {
		x, y := a.text(), b.text()
		if x != y || x == "" {
			t.Fatalf("%q, %q", x, y)
		}
	}
	if len(a.words) != vocabulary {
		t.Errorf("%d words", len(a.words))
	}
}
