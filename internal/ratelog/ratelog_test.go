package ratelog

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// record is one log line as the test handler saw it.
type record struct {
	level slog.Level
	msg   string
	held  int64 // the held_back attribute, or -1
}

type memHandler struct {
	mu   sync.Mutex
	recs []record
}

func (h *memHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *memHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *memHandler) WithGroup(string) slog.Handler            { return h }

func (h *memHandler) Handle(_ context.Context, r slog.Record) error {
	rec := record{level: r.Level, msg: r.Message, held: -1}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "held_back" {
			rec.held = a.Value.Int64()
		}
		return true
	})
	h.mu.Lock()
	h.recs = append(h.recs, rec)
	h.mu.Unlock()
	return nil
}

func TestLimiter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &memHandler{}
		l := New(slog.New(h), slog.LevelWarn, time.Minute)
		for range 1000 { // a burst: the first at Warn, the rest at Debug
			l.Log("refused", "remote", "192.0.2.7")
		}
		time.Sleep(30 * time.Second)
		l.Log("refused") // within the period: Debug
		time.Sleep(30 * time.Second)
		l.Log("refused") // a period after the first: Warn, with the count
		time.Sleep(time.Hour)
		l.Log("refused") // nothing held back since

		var warns []record
		debugs := 0
		for _, r := range h.recs {
			switch r.level {
			case slog.LevelWarn:
				warns = append(warns, r)
			case slog.LevelDebug:
				debugs++
			default:
				t.Errorf("unexpected level in %+v", r)
			}
		}
		want := []record{
			{slog.LevelWarn, "refused", -1},
			{slog.LevelWarn, "refused", 1000},
			{slog.LevelWarn, "refused", -1},
		}
		if len(warns) != len(want) {
			t.Fatalf("warn lines %+v, want %+v", warns, want)
		}
		for i := range want {
			if warns[i] != want[i] {
				t.Errorf("warn line %d = %+v, want %+v", i, warns[i], want[i])
			}
		}
		if debugs != 1000 {
			t.Errorf("%d debug lines, want 1000", debugs)
		}
	})
}

func TestLimiterConcurrent(t *testing.T) {
	h := &memHandler{}
	l := New(slog.New(h), slog.LevelInfo, time.Hour)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				l.Log("dropped")
			}
		})
	}
	wg.Wait()
	info := 0
	for _, r := range h.recs {
		if r.level == slog.LevelInfo {
			info++
		}
	}
	if info != 1 || len(h.recs) != 800 {
		t.Fatalf("%d info lines of %d, want 1 of 800", info, len(h.recs))
	}
}
