package sqlite

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/parlance-chat/parlance/app/store"
	"github.com/parlance-chat/parlance/app/store/storetest"
)

func TestMain(m *testing.M) {
	if helperMain() {
		return
	}
	goleak.VerifyTestMain(m)
}

// openTemp opens a store in a new file of t's temp directory, closed when
// the test ends.
func openTemp(t testing.TB, opts Options) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "parlance.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	for _, history := range []bool{true, false} {
		name := map[bool]string{true: "HistoryOn", false: "HistoryOff"}[history]
		t.Run(name, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) store.Store { return openTemp(t, Options{History: history}) })
		})
	}
}

// TestConcurrentUse appends, reads changes and changes states from several
// goroutines at once (run with -race).
func TestConcurrentUse(t *testing.T) {
	s := openTemp(t, Options{History: true})
	const writers, batches = 4, 25
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conv := store.ConvID(fmt.Sprint("id:", w))
			for i := range batches {
				added, err := s.Append([]store.Message{{Conv: conv, ID: fmt.Sprint(i), Text: "hi", Outgoing: true, State: store.Queued}})
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := s.SetState(conv, []string{added[0].ID}, store.Sent, ""); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	// A reader catching up by Version while they write.
	seen := map[int64]bool{}
	var after int64
	for finished := false; ; {
		page, err := s.Changes(after, 10)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range page {
			seen[m.Seq] = true
			after = m.Version
		}
		if len(page) == 0 && finished {
			break
		}
		select {
		case <-done:
			finished = true
		default:
		}
	}
	if len(seen) != writers*batches {
		t.Fatalf("the reader saw %d messages, want %d", len(seen), writers*batches)
	}
	if ob := ok(s.OutboxConvs()); len(ob) != writers {
		t.Fatalf("outbox convs %v", ob)
	}
}
